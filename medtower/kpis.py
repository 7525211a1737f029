"""KPI values from the marts: the one calculator behind `medtower kpis`, dashboards and alerts.

The KPI *logic* lives in dbt (dbt_project/kpi-definitions.md, models/intermediate/kpis/): every member of
a KPI's population is a row of ``marts.fct_kpi_events`` (ratio and sample KPIs, dated) or of
``marts.fct_kpi_intervals`` (counts at a date, as half-open date intervals). This module only aggregates:

- ratio:  sum(numerator) / sum(denominator) over events with ``A - P < event_date <= A``; None when
  no event falls in the window (an empty population is never 0 nor 1);
- p50/p90: percentiles with linear interpolation of ``numerator`` over the same events; None when empty;
- count_open: rows with ``start_date <= A and (end_date is null or end_date > A)``. A count has no
  population that could be empty: with no row it is 0, never None.

A member without a site of its own (an NCR with no lot, a CAPA whose NCRs span sites) has site_id null:
it counts in the all-sites value and in the "no site" part of ``kpis_by_site``, so the parts add up.
An as-of date after the date the marts were built for is refused (``AsOfBeyondDataError``): the marts
know nothing of later days, and counts carried forward would look like real numbers.
"""

from __future__ import annotations

import datetime as dt
import math
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


class UnknownSiteError(ValueError):
    """A site id that is not in marts.dim_sites (a typo in a URL or on the command line)."""


class AsOfBeyondDataError(ValueError):
    """An as-of date later than the date the warehouse was built for."""


def known_sites(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select site_id from marts.dim_sites order by site_id").fetchall()]


def check_site(con: duckdb.DuckDBPyConnection, site: str | None) -> None:
    """Raise UnknownSiteError naming the known sites; None (all sites) always passes."""
    if site is None:
        return
    sites = known_sites(con)
    if site not in sites:
        raise UnknownSiteError(f"unknown site {site!r}; known sites: {', '.join(sites) or '(none)'}")


def warehouse_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The as-of date the KPI marts were built for (dbt var ``as_of``), None when they cannot say.

    None for empty marts and for marts built before they carried ``as_of_date``: no date is refused then.
    """
    try:
        row = con.execute(
            f"select max(d) from (select max(as_of_date) as d from {EVENTS}"
            f" union all select max(as_of_date) from {INTERVALS})"
        ).fetchone()
    except duckdb.BinderException:
        return None
    if row is None or row[0] is None:
        return None
    value = row[0]
    return value.date() if isinstance(value, dt.datetime) else value


def check_as_of(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Raise AsOfBeyondDataError when ``as_of`` is after the date the warehouse was built for."""
    built = warehouse_as_of(con)
    if built is not None and as_of > built:
        raise AsOfBeyondDataError(
            f"as-of {as_of.isoformat()} is after the warehouse's data: the marts were built as of "
            f"{built.isoformat()} and know nothing of later days. Choose a date up to {built.isoformat()}, "
            f"or rebuild for {as_of.isoformat()} (`medtower run DIR --as-of {as_of.isoformat()}`) once "
            "that day's data is loaded."
        )


def default_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The as-of date used when none is given: the warehouse's build date, else the latest with data."""
    return warehouse_as_of(con) or latest_data_date(con)


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
    """Every single-number KPI of kpi-definitions.md at ``as_of``.

    ``as_of`` None: the date the warehouse was built for, the date the dashboards open on (the latest
    date with data for marts that do not record it).
    """
    check_site(con, site)
    day = default_as_of(con) if as_of is None else as_of
    check_as_of(con, day)
    values = _values(con, [day], period_days, site)[day]
    return {"as_of": day.isoformat(), "period_days": period_days, "site": site, "kpis": values}


def kpi_series(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Iterable[dt.date],
    period_days: int = 30,
    site: str | None = None,
) -> pd.DataFrame:
    """KPI values over many as-of dates, long format (as_of, kpi_id, value), for trend charts."""
    check_site(con, site)
    dates = list(as_of_dates)
    if dates:
        check_as_of(con, max(dates))
    values = _values(con, dates, period_days, site)
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
    check_site(con, site)
    day = default_as_of(con) if as_of is None else as_of
    check_as_of(con, day)
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


NO_SITE = "no site"


@dataclass(frozen=True)
class SitePart:
    """One KPI at one site (None: the members without a site), with what makes it add up.

    Ratios carry numerator and denominator, counts their count (``numerator``); percentiles carry their
    sample size ``n`` only, since a median of medians is not the median.
    """

    value: float | int | None
    numerator: float | None
    denominator: float | None
    n: int


def kpis_by_site(
    con: duckdb.DuckDBPyConnection, as_of: dt.date | None, period_days: int = 30
) -> dict[str, Any]:
    """Every KPI per known site, for the members without a site (key None) and for all sites.

    Why: per-site figures must add up to the all-sites figure. Sums of numerators, denominators and
    counts over ``sites`` (None included) equal those of ``all``; ``all`` is exactly compute_kpis(site=None).
    """
    day = default_as_of(con) if as_of is None else as_of
    check_as_of(con, day)
    if period_days < 1:
        raise ValueError(f"period_days must be at least 1, got {period_days}")
    sites: list[str | None] = [*known_sites(con), None]
    ratio_rows = con.execute(
        f"""select site_id, kpi_id, sum(numerator), sum(denominator), count(*)
        from {EVENTS}
        where event_date > cast(? as date) - cast(? as integer) and event_date <= cast(? as date)
        group by all""",
        [day, period_days, day],
    ).fetchall()
    sample_rows = con.execute(
        f"""select site_id, kpi_id, count(*),
               quantile_cont(cast(numerator as double), 0.5), quantile_cont(cast(numerator as double), 0.9)
        from {EVENTS}
        where numerator is not null
          and event_date > cast(? as date) - cast(? as integer) and event_date <= cast(? as date)
        group by all""",
        [day, period_days, day],
    ).fetchall()
    count_rows = con.execute(
        f"""select site_id, kpi_id, count(*) from {INTERVALS}
        where start_date <= cast(? as date) and (end_date is null or end_date > cast(? as date))
        group by all""",
        [day, day],
    ).fetchall()
    ratios = {(site, kpi): (num, den, n) for site, kpi, num, den, n in ratio_rows}
    samples = {(site, kpi): (n, p50, p90) for site, kpi, n, p50, p90 in sample_rows}
    counts = {(site, kpi): n for site, kpi, n in count_rows}
    overall = _values(con, [day], period_days, None)[day]

    def part(k: Kpi, site: str | None) -> SitePart:
        key = (site, k.source)
        if k.aggregation == "count_open":
            n = int(counts.get(key, 0))
            return SitePart(n, float(n), None, n)
        if k.aggregation == "ratio":
            num, den, n = ratios.get(key, (None, None, 0))
            value = float(num) / float(den) if n and den else None
            return SitePart(
                value, None if num is None else float(num), None if den is None else float(den), int(n)
            )
        n, p50, p90 = samples.get(key, (0, None, None))
        value = p50 if k.aggregation == "p50" else p90
        return SitePart(None if value is None else float(value), None, None, int(n))

    by_kpi: dict[str, dict[str | None, SitePart]] = {}
    totals: dict[str, SitePart] = {}
    for k in CATALOG:
        by_kpi[k.id] = {site: part(k, site) for site in sites}
        parts = by_kpi[k.id].values()
        if k.aggregation == "count_open":
            total = sum(int(p.numerator or 0) for p in parts)
            totals[k.id] = SitePart(overall[k.id], float(total), None, total)
        elif k.aggregation == "ratio":
            nums = [p.numerator for p in parts if p.numerator is not None]
            dens = [p.denominator for p in parts if p.denominator is not None]
            totals[k.id] = SitePart(
                overall[k.id],
                sum(nums) if nums else None,
                sum(dens) if dens else None,
                sum(p.n for p in parts),
            )
        else:
            totals[k.id] = SitePart(overall[k.id], None, None, sum(p.n for p in parts))
    return {
        "as_of": day.isoformat(),
        "period_days": period_days,
        "sites": sites,
        "kpis": by_kpi,
        "all": totals,
    }


@dataclass(frozen=True)
class ReviewRow:
    """One KPI of a review: this period, the one before, the catalog target and the change."""

    kpi_id: str
    label: str
    unit: str
    value: float | int | None
    previous: float | int | None
    target: float | None
    higher_is_better: bool

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def review(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, period_days: int = 30, site: str | None = None
) -> list[ReviewRow]:
    """The KPI review (the period to ``as_of`` against the ``period_days`` before and the target).

    Why one function: the review page, the HTML review pack and the weekly review email must show the
    same numbers for the same site, date and period; the previous period ends at ``as_of - period_days``.
    """
    current = compute_kpis(con, as_of, period_days, site)["kpis"]
    previous = compute_kpis(con, as_of - dt.timedelta(days=period_days), period_days, site)["kpis"]
    return [
        ReviewRow(k.id, k.label, k.unit, current[k.id], previous[k.id], k.target, k.higher_is_better)
        for k in CATALOG
    ]


def format_value(value: float | int | None, unit: str | None) -> str:
    """A KPI value as people read it: ratios as %, hours with h, counts as integers; n/a when empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("ratio", "fraction", "rate", "%", "percent"):
        return f"{100 * float(value):.1f} %"
    if unit in ("hours", "h"):
        return f"{float(value):,.1f} h"
    if unit in ("days", "d"):
        return f"{float(value):,.1f} d"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" + (f" {unit}" if unit else "")
    return f"{int(value):,}" + (f" {unit}" if unit and unit not in ("count",) else "")


def format_change(value: float | int | None, previous: float | int | None, unit: str | None) -> str:
    """The change against the previous period: percentage points for ratios, plain units otherwise."""
    if value is None or previous is None:
        return "no previous value"
    diff = value - previous
    if unit in ("ratio", "fraction", "rate", "%", "percent"):
        return f"{diff * 100:+.1f} pp vs prev."
    if isinstance(value, int) and isinstance(previous, int):
        return f"{diff:+,d} vs prev."
    return f"{diff:+,.1f} vs prev."
