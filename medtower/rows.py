"""Query results as JSON-safe rows: the one conversion the alerts, their plans and the trace share.

DuckDB and PostgreSQL return DECIMAL/NUMERIC as ``Decimal`` and dates as ``date``: a row keeps a number a
number (int when integral, so ``shortage_qty > 0`` compares numbers and JSON shows ``25``, not ``25.0``), a
date an ISO string, and NULL, NaN and pandas' NA all become ``None`` ("no value", never 0).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import duckdb


def is_missing(value: Any) -> bool:
    """NULL, NaN and pandas' NA all count as 'no value'."""
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "NaT")
    except (TypeError, ValueError):
        return False


def number_text(value: Any) -> str:
    """A number as a person reads it: 34565.0 -> ``34,565``; 2.5 -> ``2.5``; 1.2345 -> ``1.23``.

    The grids' ``mtNumber`` (dashboards/assets) writes the same: thousands separated, at most two decimals,
    none on a whole number. Missing is ``""``; a value that is no number is its text.
    """
    if is_missing(value):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def jsonable(value: Any) -> Any:
    """One query value as JSON-safe data that still compares as a number when it is one."""
    if is_missing(value):
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None if value.is_nan() else float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """The rows of a query as dicts of JSON-safe values (``jsonable``)."""
    cur = con.execute(sql, params) if params is not None else con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()]
