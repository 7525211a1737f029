"""Emergency plans computed from the marts, carried by shortage and quality alerts (email and app).

A plan is ``{"kind", "summary", "sections": [{"id", "title", "lines", "rows"}], "data": {...}}``: sections
render the same in the email and on the Alerts page; ``data`` keeps the raw numbers for tests and tools.
Each section is computed on its own: a section whose mart is missing or fails says so in the plan
instead of taking the whole plan (or the alert) down.

Shortage plan, for one material at one site (the time-phased shortage of ``marts.fct_shortages``):

- what is hit: the short work orders, what they make, the customer orders that depend on them;
- substitutes: approved substitutes (``fct_substitute_availability``: change control approved, not ended
  before the as-of date) valid on the need date (from ``valid_from`` to ``valid_to``), with released
  unexpired stock left after their own demand;
- suppliers: open PO lines with their ASNs, the approved suppliers of the material with planned lead times,
  and one drafted expedite request per supplier with open lines;
- re-forecast: each open PO line's expected arrival = due date + the supplier's delay (actual - planned lead
  time days), median and p90, in whole days rounded up. The delay history is the supplier's for this
  material (``fct_supplier_lead_time_stats``); when the pair has none, the supplier's PO lines of every
  material (percentiles over ``fct_purchase_order_lines.lead_time_delta_days``, linear interpolation like
  the mart); when the supplier has none, the due date as given. Each line says which history it used.
  Recovery date: the first day on which stock available now plus expected arrivals cover the cumulative
  requirement of every short work order;
- re-sequenced work orders: in need-date order, each work order runs now if the stock available now still
  covers it (a large one that does not fit waits and smaller later ones may go ahead); a waiting one runs
  from the day expected arrivals (median) cover it.

Quality plan, for a lot with a failed incoming inspection or a critical NCR: the suspect lots (the lot, and
for a purchased lot the lots of the same material from the same supplier received from ``lookback_days``
before the exception on), everything made from them by forward genealogy (``medtower.trace``), the stock to
put on hold, and the shipped devices with their customers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from alerts.plans.common import MAX_SECTION_ROWS, SUSPECT_LOOKBACK_DAYS, id_list, percentile
from alerts.plans.quality import quality_plan, quality_plans, suspect_lots
from alerts.plans.shortage import shortage_plan, shortage_plans, supplier_delays
from alerts.state import Instance

# One alert's plan (the CLI, tests, a caller with one alert).
PLAN_BUILDERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Instance, dt.date], dict[str, Any]]] = {
    "shortage": shortage_plan,
    "quality": quality_plan,
}
# The plans of every alert of a rule that needs one, set-based (what the engine calls): each lever's inputs
# in one query for all the alerts, each plan assembled from its rows. The same plans as one by one.
BATCH_PLAN_BUILDERS: dict[
    str,
    Callable[[duckdb.DuckDBPyConnection, list[Instance], dt.date], dict[str, dict[str, Any] | Exception]],
] = {
    "shortage": shortage_plans,
    "quality": quality_plans,
}

__all__ = [
    "BATCH_PLAN_BUILDERS",
    "MAX_SECTION_ROWS",
    "PLAN_BUILDERS",
    "SUSPECT_LOOKBACK_DAYS",
    "id_list",
    "percentile",
    "quality_plan",
    "quality_plans",
    "shortage_plan",
    "shortage_plans",
    "supplier_delays",
    "suspect_lots",
]
