"""Queries behind the pages, one module a domain: functions of (connection, filters) returning DataFrames.

They read the ``marts`` schema (and ``meta`` for data health) only, aggregate or
LIMIT in SQL so a page never ships a whole table to the browser, and honour the
global filters: ``site`` (None = all sites), the as-of date ``A`` and the window of
``P`` days ending at A (kpi-definitions.md). ``base`` holds what they share; ``shell``
the sites and as-of dates every page needs; the others are named for their page.
"""
