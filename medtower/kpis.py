"""KPI values from the marts: the one calculator behind `medtower kpis`, dashboards and alerts.

The KPI *logic* lives in dbt (dbt_project/kpi-definitions.md, models/intermediate/kpis/): every member of
a KPI's population is a row of ``marts.fct_kpi_events`` (ratio and sample KPIs, dated) or of
``marts.fct_kpi_intervals`` (counts at a date, as half-open date intervals). This module only aggregates:

- ratio:  sum(numerator) / sum(denominator) over events with ``A - P < event_date <= A``; None when
  no event falls in the window (an empty population is never 0 nor 1);
- p50/p90: percentiles with linear interpolation of ``numerator`` over the same events; None when empty;
- count_open: rows with ``start_date <= A and (end_date is null or end_date > A)``. A count has no
  population that could be empty: with no row it is 0, never None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pandas as pd

Aggregation = Literal["ratio", "p50", "p90", "count_open"]

EVENTS = "marts.fct_kpi_events"
INTERVALS = "marts.fct_kpi_intervals"
SEVERITIES = ("minor", "major", "critical")


@dataclass(frozen=True)
class Kpi:
    id: str
    label: str
    unit: str
    aggregation: Aggregation
    higher_is_better: bool
    target: float | None
    source: str
    """The ``kpi_id`` of its rows in the marts (the p50 and p90 cycle times share one sample)."""


CATALOG: tuple[Kpi, ...] = (
    Kpi("otif_rate", "Customer OTIF", "ratio", "ratio", True, 0.95, "otif_rate"),
    Kpi("supplier_otd_rate", "Supplier on-time delivery", "ratio", "ratio", True, 0.95, "supplier_otd_rate"),
    Kpi(
        "incoming_lot_reject_rate",
        "Incoming lot reject rate",
        "ratio",
        "ratio",
        False,
        0.02,
        "incoming_lot_reject_rate",
    ),
    Kpi("first_pass_yield", "First pass yield", "ratio", "ratio", True, 0.97, "first_pass_yield"),
    Kpi(
        "lot_release_cycle_time_p50_hours",
        "Lot release cycle time, median",
        "hours",
        "p50",
        False,
        48.0,
        "lot_release_cycle_time_hours",
    ),
    Kpi(
        "lot_release_cycle_time_p90_hours",
        "Lot release cycle time, p90",
        "hours",
        "p90",
        False,
        120.0,
        "lot_release_cycle_time_hours",
    ),
    Kpi("open_ncr_count", "Open nonconformances", "count", "count_open", False, None, "open_ncr_count"),
    Kpi("overdue_capa_count", "Overdue CAPAs", "count", "count_open", False, 0, "overdue_capa_count"),
    Kpi("late_wo_count", "Late work orders", "count", "count_open", False, 0, "late_wo_count"),
    Kpi(
        "traceability_completeness",
        "Traceability completeness",
        "ratio",
        "ratio",
        True,
        1.0,
        "traceability_completeness",
    ),
    Kpi(
        "expiring_released_lots_90d",
        "Released lots expiring within 90 days",
        "count",
        "count_open",
        False,
        None,
        "expiring_released_lots_90d",
    ),
)
KPIS: dict[str, Kpi] = {k.id: k for k in CATALOG}

# Event KPIs whose event_date is something that has happened (not a due date that may lie ahead):
# the latest of these dates is "the latest date with data".
_OCCURRED_EVENT_KPIS = (
    "incoming_lot_reject_rate",
    "first_pass_yield",
    "traceability_completeness",
    "lot_release_cycle_time_hours",
)


def known_sites(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select site_id from marts.dim_sites order by site_id").fetchall()]


def _check_site(con: duckdb.DuckDBPyConnection, site: str | None) -> None:
    if site is None:
        return
    sites = known_sites(con)
    if site not in sites:
        raise ValueError(f"unknown site {site!r}; known sites: {', '.join(sites) or '(none)'}")


def latest_data_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The latest local date on which something the KPIs count happened (today when the marts are empty)."""
    placeholders = ", ".join("?" for _ in _OCCURRED_EVENT_KPIS)
    row = con.execute(
        f"select max(event_date) from {EVENTS} where kpi_id in ({placeholders})", list(_OCCURRED_EVENT_KPIS)
    ).fetchone()
    if row is None or row[0] is None:
        row = con.execute(f"select max(event_date) from {EVENTS}").fetchone()
    if row is None or row[0] is None:
        return dt.date.today()
    return row[0]


def _values(
    con: duckdb.DuckDBPyConnection, as_of_dates: Sequence[dt.date], period_days: int, site: str | None
) -> dict[dt.date, dict[str, Any]]:
    """Every catalog KPI at every date, set-based (three queries whatever the number of dates)."""
    if period_days < 1:
        raise ValueError(f"period_days must be at least 1, got {period_days}")
    dates = sorted(set(as_of_dates))
    out: dict[dt.date, dict[str, Any]] = {
        d: {k.id: (0 if k.aggregation == "count_open" else None) for k in CATALOG} for d in dates
    }
    if not dates:
        return out
    site_filter = "and k.site_id = ?" if site is not None else ""
    site_params = [site] if site is not None else []
    dates_cte = "with d as (select unnest(?::date[]) as as_of)"

    ratio_rows = con.execute(
        f"""{dates_cte}
        select d.as_of, k.kpi_id, sum(k.numerator), sum(k.denominator), count(*)
        from d join {EVENTS} k
          on k.event_date > d.as_of - cast(? as integer) and k.event_date <= d.as_of
        where 1 = 1 {site_filter}
        group by d.as_of, k.kpi_id""",
        [dates, period_days, *site_params],
    ).fetchall()
    sample_rows = con.execute(
        f"""{dates_cte}
        select d.as_of, k.kpi_id,
               quantile_cont(cast(k.numerator as double), 0.5),
               quantile_cont(cast(k.numerator as double), 0.9)
        from d join {EVENTS} k
          on k.event_date > d.as_of - cast(? as integer) and k.event_date <= d.as_of
        where k.numerator is not null {site_filter}
        group by d.as_of, k.kpi_id""",
        [dates, period_days, *site_params],
    ).fetchall()
    count_rows = con.execute(
        f"""{dates_cte}
        select d.as_of, k.kpi_id, count(*)
        from d join {INTERVALS} k
          on k.start_date <= d.as_of and (k.end_date is null or k.end_date > d.as_of)
        where 1 = 1 {site_filter}
        group by d.as_of, k.kpi_id""",
        [dates, *site_params],
    ).fetchall()

    ratios = {(d, kpi): (num, den, n) for d, kpi, num, den, n in ratio_rows}
    samples = {(d, kpi): (p50, p90) for d, kpi, p50, p90 in sample_rows}
    counts = {(d, kpi): n for d, kpi, n in count_rows}
    for d in dates:
        for k in CATALOG:
            key = (d, k.source)
            if k.aggregation == "ratio" and key in ratios:
                num, den, n = ratios[key]
                out[d][k.id] = float(num) / float(den) if n and den else None
            elif k.aggregation in ("p50", "p90") and key in samples:
                value = samples[key][0 if k.aggregation == "p50" else 1]
                out[d][k.id] = None if value is None else float(value)
            elif k.aggregation == "count_open":
                out[d][k.id] = int(counts.get(key, 0))
    return out


def compute_kpis(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | None,
    period_days: int = 30,
    site: str | None = None,
) -> dict[str, Any]:
    """Every single-number KPI of kpi-definitions.md at ``as_of`` (None: the latest date with data)."""
    _check_site(con, site)
    day = as_of if as_of is not None else latest_data_date(con)
    values = _values(con, [day], period_days, site)[day]
    return {"as_of": day.isoformat(), "period_days": period_days, "site": site, "kpis": values}


def kpi_series(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Iterable[dt.date],
    period_days: int = 30,
    site: str | None = None,
) -> pd.DataFrame:
    """KPI values over many as-of dates, long format (as_of, kpi_id, value), for trend charts."""
    _check_site(con, site)
    values = _values(con, list(as_of_dates), period_days, site)
    rows = [
        {"as_of": d, "kpi_id": kpi_id, "value": value}
        for d, by_kpi in values.items()
        for kpi_id, value in by_kpi.items()
    ]
    return pd.DataFrame(rows, columns=["as_of", "kpi_id", "value"])


def open_ncr_by_severity(
    con: duckdb.DuckDBPyConnection, as_of: dt.date | None, site: str | None = None
) -> dict[str, int]:
    """open_ncr_count split by severity (every severity present, 0 when none is open)."""
    _check_site(con, site)
    day = as_of if as_of is not None else latest_data_date(con)
    site_filter = "and site_id = ?" if site is not None else ""
    rows = con.execute(
        f"""select category, count(*) from {INTERVALS}
        where kpi_id = 'open_ncr_count' and start_date <= ? and (end_date is null or end_date > ?)
        {site_filter}
        group by category""",
        [day, day, *([site] if site is not None else [])],
    ).fetchall()
    out = dict.fromkeys(SEVERITIES, 0)
    for category, n in rows:
        out[str(category)] = int(n)
    return out
