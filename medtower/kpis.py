"""The KPI registry (``CATALOG``) and the one calculator behind `medtower kpis`, pages, review and alerts.

``CATALOG`` is where a KPI lives: its label, unit, aggregation, target and direction, the page its tile
opens, and the ``source`` whose rows the dbt models produce. Every consumer reads it: the Overview tiles,
the KPI review page and pack, the weekly review email, `medtower kpis`, the alert rules (which name KPIs
by id and are checked against it) and the dbt unions, whose lists of models are checked to be exactly
``event_models()`` and ``interval_models()`` (tests/core/test_kpi_registry.py).

The KPI *logic* lives in dbt (dbt_project/kpi-definitions.md, models/intermediate/kpis/): every member of
a KPI's population is a row of ``marts.fct_kpi_events`` (dated members) or of ``marts.fct_kpi_intervals``
(members at a date, as half-open date intervals). An event counts at A only when it is in the window,
``A - P < event_date <= A``, and known at A, ``counted_from_date <= A < counted_until_date`` (a null
bound is no bound). This module only aggregates:

- ratio:  sum(numerator) / sum(denominator) over the events; None when no event counts (an empty
  population is never 0 nor 1);
- p50/p90: percentiles with linear interpolation of ``numerator`` over the same events; None when empty;
- count_open: interval rows with ``start_date <= A and (end_date is null or end_date > A)``;
- count_window: sum(numerator) of the events (unacknowledged PO lines ordered in the window);
- days_on_hand: sum(amount) of the interval rows open at A (the stock value) / (sum(numerator) of the
  events / P) (the average daily value consumed); None without consumption.
  A count has no population that could be empty: with no row it is 0, never None.

A member without a site of its own (an NCR with no lot, a CAPA whose NCRs span sites) has site_id null:
it counts in the all-sites value and in the "no site" part of ``kpis_by_site``, so the parts add up.
An as-of date after the date the marts were built for is refused (``AsOfBeyondDataError``): the marts
know nothing of later days, and counts carried forward would look like real numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pandas as pd

Aggregation = Literal["ratio", "p50", "p90", "count_open", "count_window", "days_on_hand"]
COUNTS: frozenset[str] = frozenset({"count_open", "count_window"})
EVENT_AGGREGATIONS: frozenset[str] = frozenset({"ratio", "p50", "p90", "count_window", "days_on_hand"})
INTERVAL_AGGREGATIONS: frozenset[str] = frozenset({"count_open", "days_on_hand"})

EVENTS = "marts.fct_kpi_events"
INTERVALS = "marts.fct_kpi_intervals"
SEVERITIES = ("minor", "major", "critical")


@dataclass(frozen=True)
class Kpi:
    """One KPI of kpi-definitions.md, as every consumer shows it.

    ``source`` is the ``kpi_id`` of its rows in the marts (the p50 and p90 cycle times share one sample)
    and names its dbt models: ``int_kpi_events__<source>`` and/or ``int_kpi_intervals__<source>``.
    ``target`` None: no single number is good (said on the review as "no target"); ``page`` is where
    its tile drills in.
    """

    id: str
    label: str
    unit: str
    aggregation: Aggregation
    higher_is_better: bool
    target: float | None
    source: str
    page: str = "/kpi-review"

    @property
    def is_count(self) -> bool:
        return self.aggregation in COUNTS


CATALOG: tuple[Kpi, ...] = (
    Kpi("otif_rate", "Customer OTIF", "ratio", "ratio", True, 0.95, "otif_rate", "/delivery"),
    Kpi(
        "supplier_otd_rate",
        "Supplier on-time delivery",
        "ratio",
        "ratio",
        True,
        0.95,
        "supplier_otd_rate",
        "/suppliers",
    ),
    Kpi(
        "incoming_lot_reject_rate",
        "Incoming lot reject rate",
        "ratio",
        "ratio",
        False,
        0.02,
        "incoming_lot_reject_rate",
        "/quality",
    ),
    Kpi("first_pass_yield", "First pass yield", "ratio", "ratio", True, 0.97, "first_pass_yield", "/wip"),
    Kpi(
        "lot_release_cycle_time_p50_hours",
        "Lot release cycle time, median",
        "hours",
        "p50",
        False,
        48.0,
        "lot_release_cycle_time_hours",
        "/lots",
    ),
    Kpi(
        "lot_release_cycle_time_p90_hours",
        "Lot release cycle time, p90",
        "hours",
        "p90",
        False,
        120.0,
        "lot_release_cycle_time_hours",
        "/lots",
    ),
    Kpi(
        "open_ncr_count",
        "Open nonconformances",
        "count",
        "count_open",
        False,
        None,
        "open_ncr_count",
        "/quality",
    ),
    Kpi(
        "overdue_capa_count",
        "Overdue CAPAs",
        "count",
        "count_open",
        False,
        0,
        "overdue_capa_count",
        "/quality",
    ),
    Kpi("late_wo_count", "Late work orders", "count", "count_open", False, 0, "late_wo_count", "/wip"),
    Kpi(
        "traceability_completeness",
        "Traceability completeness",
        "ratio",
        "ratio",
        True,
        1.0,
        "traceability_completeness",
        "/traceability",
    ),
    Kpi(
        "expiring_released_lots_90d",
        "Released lots expiring within 90 days",
        "count",
        "count_open",
        False,
        None,
        "expiring_released_lots_90d",
        "/inventory",
    ),
    # Stock is bad both ways (capital tied up, or a stock-out): no single target is right for every plant.
    Kpi(
        "inventory_days_on_hand",
        "Inventory days on hand",
        "days",
        "days_on_hand",
        False,
        None,
        "inventory_days_on_hand",
        "/inventory",
    ),
    # Suppliers confirm a PO within two days by EDI 855 or the portal; later, planners plan on hope.
    Kpi(
        "supplier_ack_days_p50",
        "Supplier acknowledgment, median",
        "days",
        "p50",
        False,
        2.0,
        "supplier_ack_days",
        "/suppliers",
    ),
    # Lines ordered today are rightly unacknowledged: a count without a target, read with the median.
    Kpi(
        "unacknowledged_po_lines",
        "PO lines not acknowledged",
        "count",
        "count_window",
        False,
        None,
        "unacknowledged_po_lines",
        "/suppliers",
    ),
    # The cycle time follows each product's quoted lead time: no plant-wide target.
    Kpi(
        "order_cycle_time_days_p50",
        "Order cycle time, median",
        "days",
        "p50",
        False,
        None,
        "order_cycle_time_days",
        "/delivery",
    ),
)
KPIS: dict[str, Kpi] = {k.id: k for k in CATALOG}


def event_models() -> list[str]:
    """The dbt models unioned into marts.fct_kpi_events, as the registry implies them (sorted)."""
    return sorted({f"int_kpi_events__{k.source}" for k in CATALOG if k.aggregation in EVENT_AGGREGATIONS})


def interval_models() -> list[str]:
    """The dbt models unioned into marts.fct_kpi_intervals, as the registry implies them (sorted)."""
    return sorted(
        {f"int_kpi_intervals__{k.source}" for k in CATALOG if k.aggregation in INTERVAL_AGGREGATIONS}
    )


def status(value: float | int | None, kpi: Kpi) -> str | None:
    """green at or better than target, amber within 10 % of it, red beyond; None without value or target.

    Why here: the tiles, the review page and pack and the weekly email colour a KPI the same way.
    """
    return status_against(value, kpi.target, kpi.higher_is_better)


def status_label(status: str | None, target: float | None) -> str:
    """The status as the review pack and the weekly email write it: the colour, else why there is none."""
    if isinstance(status, str):
        return status
    return "no target" if target is None or (isinstance(target, float) and math.isnan(target)) else "no value"


def status_against(value: float | int | None, target: float | None, higher_is_better: bool) -> str | None:
    """``status`` for a bare target and direction (a target of 0 has a slack of 1)."""
    if value is None or target is None or (isinstance(value, float) and math.isnan(value)):
        return None
    goal = float(target)
    slack = abs(goal) * 0.1 or 1.0
    if higher_is_better:
        return "green" if value >= goal else "amber" if value >= goal - slack else "red"
    return "green" if value <= goal else "amber" if value <= goal + slack else "red"


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
            # one value per build (the marts are tables rebuilt whole): any row says it, no scan needed
            f"select max(d) from ((select as_of_date as d from {EVENTS} limit 1)"
            f" union all (select as_of_date from {INTERVALS} limit 1))"
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


@dataclass(frozen=True)
class _Schema:
    """What the KPI marts carry: marts built before the bounds and amounts still read (as unbounded, 1)."""

    event_bounds: bool
    interval_amount: bool

    def known_at(self, alias: str, as_of: str) -> str:
        """SQL: the event is known at ``as_of``."""
        if not self.event_bounds:
            return "true"
        return (
            f"({alias}.counted_from_date is null or {alias}.counted_from_date <= {as_of})"
            f" and ({alias}.counted_until_date is null or {alias}.counted_until_date > {as_of})"
        )

    def amount(self, alias: str) -> str:
        return f"{alias}.amount" if self.interval_amount else "1.0"


_CURRENT = _Schema(event_bounds=True, interval_amount=True)


def _with_schema(
    con: duckdb.DuckDBPyConnection,
    schema: _Schema | None,
    run: Callable[[_Schema], tuple[list[Any], list[Any], list[Any]]],
) -> tuple[list[Any], list[Any], list[Any]]:
    """``run`` on the current marts; marts built before the bounds and amounts are looked up and read
    as they are (a look-up only then, so the usual call costs no schema query)."""
    if schema is not None:
        return run(schema)
    try:
        return run(_CURRENT)
    except duckdb.BinderException:
        older = _schema(con)
        if older == _CURRENT:
            raise
        return run(older)


def _schema(con: duckdb.DuckDBPyConnection) -> _Schema:
    rows = con.execute(
        """select table_name, column_name from information_schema.columns
        where table_schema = 'marts' and column_name in ('counted_from_date', 'amount')"""
    ).fetchall()
    have = set(rows)
    return _Schema(
        event_bounds=(EVENTS.split(".")[1], "counted_from_date") in have,
        interval_amount=(INTERVALS.split(".")[1], "amount") in have,
    )


def _sample_sources() -> list[str]:
    """The sources percentiles are taken of: the percentile query reads only their events, the sums query
    all the others (each event is read by one of the two)."""
    return sorted({k.source for k in CATALOG if k.aggregation in ("p50", "p90")})


def _unknown_in(schema: _Schema) -> set[str]:
    """KPIs that marts built before the acknowledgment bounds cannot give: a count of 0 unacknowledged
    lines would be a wrong number, so until the next build they are None (n/a), never 0."""
    if schema.event_bounds:
        return set()
    return {k.id for k in CATALOG if k.aggregation == "count_window"}


def _empty(k: Kpi) -> int | None:
    return 0 if k.is_count else None


def _value(
    k: Kpi,
    ratio: tuple[Any, Any, Any] | None,
    sample: tuple[Any, Any] | None,
    count: tuple[Any, Any] | None,
    period_days: int,
) -> float | int | None:
    """One KPI from the aggregates of its source: (sum num, sum den, n), (p50, p90), (n, sum amount)."""
    if k.aggregation == "ratio":
        if ratio is None:
            return None
        num, den, n = ratio
        return float(num) / float(den) if n and den else None
    if k.aggregation in ("p50", "p90"):
        if sample is None:
            return None
        value = sample[0 if k.aggregation == "p50" else 1]
        return None if value is None else float(value)
    if k.aggregation == "count_open":
        return int(count[0]) if count else 0
    if k.aggregation == "count_window":
        return int(ratio[0] or 0) if ratio else 0
    # days_on_hand: stock value at A / (value consumed in the window / P)
    consumed = float(ratio[0] or 0) if ratio else 0.0
    if consumed <= 0:
        return None
    stock = float(count[1] or 0) if count else 0.0
    return stock / (consumed / period_days)


def _values(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Sequence[dt.date],
    period_days: int,
    site: str | None,
    schema: _Schema | None = None,
) -> dict[dt.date, dict[str, Any]]:
    """Every catalog KPI at every date, set-based (three queries whatever the number of dates)."""
    if period_days < 1:
        raise ValueError(f"period_days must be at least 1, got {period_days}")
    dates = sorted(set(as_of_dates))
    out: dict[dt.date, dict[str, Any]] = {d: {k.id: _empty(k) for k in CATALOG} for d in dates}
    if not dates:
        return out
    site_filter = "and k.site_id = ?" if site is not None else ""
    site_params = [site] if site is not None else []
    dates_cte = "with d as (select unnest(?::date[]) as as_of)"

    def aggregates(schema: _Schema) -> tuple[list[Any], list[Any], list[Any]]:
        known = schema.known_at("k", "d.as_of")

        ratio_rows = con.execute(
            f"""{dates_cte}
            select d.as_of, k.kpi_id, sum(k.numerator), sum(k.denominator), count(*)
            from d join {EVENTS} k
              on k.event_date > d.as_of - cast(? as integer) and k.event_date <= d.as_of
            where k.kpi_id not in (select unnest(?::varchar[])) and {known} {site_filter}
            group by d.as_of, k.kpi_id""",
            [dates, period_days, _sample_sources(), *site_params],
        ).fetchall()
        sample_rows = con.execute(
            f"""{dates_cte}
            select d.as_of, k.kpi_id,
                   quantile_cont(cast(k.numerator as double), 0.5),
                   quantile_cont(cast(k.numerator as double), 0.9)
            from d join {EVENTS} k
              on k.event_date > d.as_of - cast(? as integer) and k.event_date <= d.as_of
            where k.kpi_id in (select unnest(?::varchar[])) and k.numerator is not null
              and {known} {site_filter}
            group by d.as_of, k.kpi_id""",
            [dates, period_days, _sample_sources(), *site_params],
        ).fetchall()
        count_rows = con.execute(
            f"""{dates_cte}
            select d.as_of, k.kpi_id, count(*), sum({schema.amount("k")})
            from d join {INTERVALS} k
              on k.start_date <= d.as_of and (k.end_date is null or k.end_date > d.as_of)
            where 1 = 1 {site_filter}
            group by d.as_of, k.kpi_id""",
            [dates, *site_params],
        ).fetchall()
        return ratio_rows, sample_rows, count_rows

    used: list[_Schema] = []

    def recorded(schema: _Schema) -> tuple[list[Any], list[Any], list[Any]]:
        used.append(schema)
        return aggregates(schema)

    ratio_rows, sample_rows, count_rows = _with_schema(con, schema, recorded)
    unknown = _unknown_in(used[-1])

    ratios = {(d, kpi): (num, den, n) for d, kpi, num, den, n in ratio_rows}
    samples = {(d, kpi): (p50, p90) for d, kpi, p50, p90 in sample_rows}
    counts = {(d, kpi): (n, amount) for d, kpi, n, amount in count_rows}
    for d in dates:
        for k in CATALOG:
            key = (d, k.source)
            if k.id in unknown:
                out[d][k.id] = None
                continue
            out[d][k.id] = _value(k, ratios.get(key), samples.get(key), counts.get(key), period_days)
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

    Ratios carry numerator and denominator, counts their count (``numerator``); days on hand the stock
    value at A (``numerator``) and the average daily value consumed (``denominator``); percentiles carry
    their sample size ``n`` only, since a median of medians is not the median.
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
    used: list[_Schema] = []

    def aggregates(schema: _Schema) -> tuple[list[Any], list[Any], list[Any]]:
        used.append(schema)
        known = schema.known_at("k", "cast(? as date)")
        known_params = [day, day] if known != "true" else []
        window = "k.event_date > cast(? as date) - cast(? as integer) and k.event_date <= cast(? as date)"
        ratio_rows = con.execute(
            f"""select k.site_id, k.kpi_id, sum(k.numerator), sum(k.denominator), count(*)
            from {EVENTS} k
            where k.kpi_id not in (select unnest(?::varchar[])) and {window} and {known}
            group by all""",
            [_sample_sources(), day, period_days, day, *known_params],
        ).fetchall()
        sample_rows = con.execute(
            f"""select k.site_id, k.kpi_id, count(*),
                   quantile_cont(cast(k.numerator as double), 0.5),
                   quantile_cont(cast(k.numerator as double), 0.9)
            from {EVENTS} k
            where k.kpi_id in (select unnest(?::varchar[])) and k.numerator is not null
              and {window} and {known}
            group by all""",
            [_sample_sources(), day, period_days, day, *known_params],
        ).fetchall()
        count_rows = con.execute(
            f"""select k.site_id, k.kpi_id, count(*), sum({schema.amount("k")}) from {INTERVALS} k
            where k.start_date <= cast(? as date) and (k.end_date is null or k.end_date > cast(? as date))
            group by all""",
            [day, day],
        ).fetchall()
        return ratio_rows, sample_rows, count_rows

    ratio_rows, sample_rows, count_rows = _with_schema(con, None, aggregates)
    schema = used[-1]
    ratios = {(site, kpi): (num, den, n) for site, kpi, num, den, n in ratio_rows}
    samples = {(site, kpi): (n, p50, p90) for site, kpi, n, p50, p90 in sample_rows}
    counts = {(site, kpi): (n, amount) for site, kpi, n, amount in count_rows}
    overall = _values(con, [day], period_days, None, schema)[day]

    unknown = _unknown_in(schema)

    def part(k: Kpi, site: str | None) -> SitePart:
        key = (site, k.source)
        if k.id in unknown:
            return SitePart(None, None, None, 0)
        if k.aggregation == "count_open":
            n = int(counts.get(key, (0, None))[0])
            return SitePart(n, float(n), None, n)
        if k.aggregation == "count_window":
            n = int(ratios.get(key, (0, None, 0))[0] or 0)
            return SitePart(n, float(n), None, n)
        if k.aggregation == "days_on_hand":
            consumed, _, n_events = ratios.get(key, (None, None, 0))
            stock = float(counts.get(key, (0, 0.0))[1] or 0.0)
            daily = float(consumed or 0.0) / period_days
            value = _value(k, ratios.get(key), None, counts.get(key), period_days)
            return SitePart(value, stock, daily, int(n_events))
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
        if k.id in unknown:
            totals[k.id] = SitePart(None, None, None, 0)
        elif k.is_count:
            total = sum(int(p.numerator or 0) for p in parts)
            totals[k.id] = SitePart(overall[k.id], float(total), None, total)
        elif k.aggregation in ("ratio", "days_on_hand"):
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

    @property
    def status(self) -> str | None:
        """green / amber / red against the target (``status``), None without a value or a target."""
        return status_against(self.value, self.target, self.higher_is_better)


def review(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, period_days: int = 30, site: str | None = None
) -> list[ReviewRow]:
    """The KPI review (the period to ``as_of`` against the ``period_days`` before and the target).

    Why one function: the review page, the HTML review pack and the weekly review email must show the
    same numbers for the same site, date and period; the previous period ends at ``as_of - period_days``.
    """
    current = compute_kpis(con, as_of, period_days, site)["kpis"]
    previous = compute_kpis(con, as_of - dt.timedelta(days=period_days), period_days, site)["kpis"]
    return review_rows(current, previous)


def review_rows(
    current: dict[str, float | int | None], previous: dict[str, float | int | None]
) -> list[ReviewRow]:
    """The review's rows, in catalog order, from the KPI values of the period and of the one before
    (the page gets them from its cached series, the email from ``review``: the same rows either way)."""
    return [
        ReviewRow(k.id, k.label, k.unit, current[k.id], previous.get(k.id), k.target, k.higher_is_better)
        for k in CATALOG
        if k.id in current
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
