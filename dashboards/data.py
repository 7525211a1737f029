"""Queries behind the pages: plain functions of (connection, filters) returning DataFrames.

They read the ``marts`` schema (and ``meta`` for data health) only, aggregate or
LIMIT in SQL so a page never ships a whole table to the browser, and honour the
global filters: ``site`` (None = all sites), the as-of date ``A`` and the window of
``P`` days ending at A (kpi-definitions.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from dashboards.filters import Filters

ROW_LIMIT = 500


class MartMissingError(LookupError):
    """A mart the page needs has not been built (yet) in this warehouse."""


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    try:
        return con.execute(sql, params or []).df()
    except duckdb.CatalogException as exc:
        raise MartMissingError(str(exc).split("\n")[0]) from exc


def _site_clause(f: Filters, column: str = "site_id") -> tuple[str, list[Any]]:
    if f.site:
        return f" and {column} = ?", [f.site]
    return "", []


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


# --- shell ------------------------------------------------------------------------------------


def sites(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _df(con, "select site_id, name, timezone from marts.dim_sites order by site_id")


def data_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The as-of date the marts were built for (the newest data the warehouse describes)."""
    if relation_exists(con, "marts", "fct_inventory_by_lot"):
        row = con.execute("select max(as_of_date) from marts.fct_inventory_by_lot").fetchone()
        if row and row[0] is not None:
            return pd.Timestamp(row[0]).date()
    if relation_exists(con, "marts", "fct_lot_state_history"):
        row = con.execute("select max(valid_from_date) from marts.fct_lot_state_history").fetchone()
        if row and row[0] is not None:
            return pd.Timestamp(row[0]).date()
    return None


def filter_problem(con: duckdb.DuckDBPyConnection, f: Filters) -> str | None:
    """Why these filters cannot be answered (unknown site, as-of after the data), or None when they can."""
    if f.site:
        known = [str(s) for s in sites(con)["site_id"]]
        if f.site not in known:
            return (
                f"Unknown site {f.site!r} in the link; known sites: {', '.join(known) or '(none)'}. "
                "Pick a site in the Site filter, or clear it for all sites."
            )
    built = build_as_of(con)
    if built is not None and f.as_of > built:
        return (
            f"As of {f.as_of.isoformat()} is after the warehouse's data, which was built as of "
            f"{built.isoformat()}: nothing is known of later days. Pick a date up to {built.isoformat()}, "
            f"or rebuild for {f.as_of.isoformat()} with `medtower run DIR --as-of {f.as_of.isoformat()}`."
        )
    return None


def build_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The as-of date the marts were built for (dbt var as_of), None when no snapshot mart says.

    Unlike ``data_as_of`` no fallback to the latest lot state change: that date is earlier than the
    build's, and refusing the days in between would hide real numbers.
    """
    if not relation_exists(con, "marts", "fct_inventory_by_lot"):
        return None
    row = con.execute("select max(as_of_date) from marts.fct_inventory_by_lot").fetchone()
    return pd.Timestamp(row[0]).date() if row and row[0] is not None else None


def site_zones(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """site_id -> IANA time zone (dim_sites.timezone), to show timestamps in each site's local time."""
    rows = _df(con, "select site_id, timezone from marts.dim_sites").itertuples(index=False)
    return {str(r.site_id): str(r.timezone) for r in rows if r.timezone}


def mart_as_of(con: duckdb.DuckDBPyConnection, mart: str) -> dt.date | None:
    """The as-of date a snapshot mart (planning, supply, delivery) was built for."""
    if mart not in SNAPSHOT_MARTS:
        raise ValueError(f"not a snapshot mart: {mart}")
    row = _df(con, f"select max(as_of_date) as d from marts.{mart}")["d"]
    return None if row.empty or pd.isna(row.iloc[0]) else pd.Timestamp(row.iloc[0]).date()


# Marts computed for the one as-of date of the build (dbt var as_of), not for any date.
SNAPSHOT_MARTS = (
    "fct_days_of_supply",
    "fct_shortages",
    "fct_sales_order_lines",
    "fct_purchase_order_lines",
    "fct_asn_lines",
    "fct_supplier_performance",
    "fct_supplier_lead_time_stats",
)


def site_timezone(con: duckdb.DuckDBPyConnection, site: str | None, default: str) -> str:
    if not site:
        return default
    row = con.execute("select timezone from marts.dim_sites where site_id = ?", [site]).fetchone()
    return str(row[0]) if row and row[0] else default


# --- inventory --------------------------------------------------------------------------------

_STOCK_AT = """
    select l.lot_id, l.material_id, l.site_id, h.status, h.on_hand_qty, l.expiry_date,
           datediff('day', cast(? as date), l.expiry_date) as days_to_expiry
    from marts.fct_lot_state_history h
    join marts.dim_lots l using (lot_id)
    where h.valid_from_date <= cast(? as date)
      and (h.valid_to_date is null or h.valid_to_date > cast(? as date))
      and h.on_hand_qty > 0
"""


def _stock_at(f: Filters) -> tuple[str, list[Any]]:
    site_sql, site_params = _site_clause(f, "l.site_id")
    return _STOCK_AT + site_sql, [f.as_of, f.as_of, f.as_of, *site_params]


def stock_by_status(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """On-hand quantity per material and stock status at A (released, quarantine, on_hold, rejected ...)."""
    stock_sql, params = _stock_at(f)
    return _df(
        con,
        f"""
        with stock as ({stock_sql})
        select s.material_id, m.description, m.uom, s.status,
               count(*) as lots, sum(s.on_hand_qty) as on_hand_qty
        from stock s join marts.dim_materials m using (material_id)
        group by all
        order by s.material_id, s.status
        """,
        params,
    )


def stock_lots(
    con: duckdb.DuckDBPyConnection, f: Filters, material_id: str | None = None, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    """Lots with stock at A, blocked and soon-expiring first."""
    stock_sql, params = _stock_at(f)
    extra = ""
    if material_id:
        extra = " where s.material_id = ?"
        params = [*params, material_id]
    return _df(
        con,
        f"""
        with stock as ({stock_sql})
        select s.lot_id, s.material_id, m.description, s.site_id, s.status, s.on_hand_qty, m.uom,
               s.expiry_date, s.days_to_expiry
        from stock s join marts.dim_materials m using (material_id)
        {extra}
        order by case s.status when 'released' then 1 else 0 end, s.days_to_expiry nulls last, s.lot_id
        limit {int(limit)}
        """,
        params,
    )


EXPIRY_BUCKETS = ("expired", "< 30 days", "30-90 days", ">= 90 days", "no expiry")


def expiry_horizon(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Lots and quantity on hand at A by expiry bucket and status."""
    stock_sql, params = _stock_at(f)
    df = _df(
        con,
        f"""
        with stock as ({stock_sql})
        select case
                 when expiry_date is null then 'no expiry'
                 when days_to_expiry <= 0 then 'expired'
                 when days_to_expiry < 30 then '< 30 days'
                 when days_to_expiry < 90 then '30-90 days'
                 else '>= 90 days' end as bucket,
               status, count(*) as lots, sum(on_hand_qty) as on_hand_qty
        from stock group by all
        """,
        params,
    )
    df["bucket"] = pd.Categorical(df["bucket"], categories=list(EXPIRY_BUCKETS), ordered=True)
    return df.sort_values(["bucket", "status"]).reset_index(drop=True)


def days_of_supply(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Released stock over the average daily issue of the last 90 days, lowest cover first.

    Materials never issued in the 90 days have no days of supply (null) and come last.
    """
    site_sql, params = _site_clause(f, "d.site_id")
    return _df(
        con,
        f"""
        select d.material_id, m.description, d.site_id, d.days_of_supply, d.released_on_hand_qty,
               d.issued_qty_90d, d.avg_daily_issued_qty, m.uom
        from marts.fct_days_of_supply d left join marts.dim_materials m using (material_id)
        where (d.released_on_hand_qty > 0 or d.issued_qty_90d > 0) {site_sql}
        order by d.days_of_supply nulls last, d.material_id, d.site_id
        limit {int(limit)}
        """,
        params,
    )


SHORTAGE_KINDS = ("exception", "action")


def _shortages_of_kind(
    con: duckdb.DuckDBPyConnection, f: Filters, kind: str, order: str, limit: int
) -> pd.DataFrame:
    if kind not in SHORTAGE_KINDS:
        raise ValueError(f"shortage kind must be one of {SHORTAGE_KINDS}, got {kind!r}")
    site_sql, params = _site_clause(f, "s.site_id")
    return _df(
        con,
        f"""
        select s.need_date, s.order_by, s.material_id, m.description, s.site_id, s.shortage_qty, m.uom,
               s.lead_time_days, s.days_to_need, s.replenishment, s.demand_type, s.wo_id, s.so_id,
               s.so_line, s.customer_id, s.shortage_id
        from marts.fct_shortages s left join marts.dim_materials m using (material_id)
        where s.kind = ? {site_sql}
        order by {order}, s.material_id, s.site_id, s.shortage_id
        limit {int(limit)}
        """,
        [kind, *params],
    )


def shortage_exceptions(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Net requirements inside the lead time (kind 'exception', the shortage alerts), soonest first."""
    return _shortages_of_kind(con, f, "exception", "s.need_date", limit)


def _qty_text(qty: float) -> str:
    return f"{qty:,.0f}" if float(qty).is_integer() else f"{qty:,.3f}".rstrip("0").rstrip(".")


def shortage_actions(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Net requirements beyond the lead time (kind 'action'), earliest order-by date first, with the to-do.

    ``to_do`` is what a planner does: "order N UOM by D" (buy) or "plan a work order for N UOM by D"
    (make), D = need date - lead time. Shown and exported, never emailed.
    """
    df = _shortages_of_kind(con, f, "action", "s.order_by", limit)
    verbs = {"buy": "order", "make": "plan a work order for"}
    to_do = [
        f"{verbs.get(str(r.replenishment), 'cover')} {_qty_text(float(r.shortage_qty))}"
        f"{' ' + str(r.uom) if isinstance(r.uom, str) and r.uom else ''} by "
        f"{pd.Timestamp(r.order_by).date().isoformat()}"
        for r in df.itertuples(index=False)
    ]
    df.insert(0, "to_do", pd.Series(to_do, index=df.index, dtype=object))
    return df


def planned_actions(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = 20) -> tuple[pd.DataFrame, int]:
    """Actions (needs beyond the lead time) per material and site for the weekly review, and how many.

    One row per material and site, earliest order-by date first: what to do first ("order N UOM by D" or
    "plan a work order for N UOM by D", the need with the earliest order-by date) and what follows it
    (``later``: the other needs' quantity and the last need date), so the review asks for the next order, not
    for the whole horizon at once.
    """
    site_sql, params = _site_clause(f, "s.site_id")
    query = f"""
        with ranked as (
            select s.*, row_number() over (
                partition by s.material_id, s.site_id order by s.order_by, s.need_date, s.shortage_id
            ) as rn
            from marts.fct_shortages s
            where s.kind = 'action' {site_sql}
        )
        select r.material_id, m.description, r.site_id, m.uom,
               min(r.order_by) as order_by,
               sum(case when r.rn = 1 then r.shortage_qty else 0 end) as first_qty,
               any_value(case when r.rn = 1 then r.need_date end) as first_need_date,
               any_value(case when r.rn = 1 then r.replenishment end) as replenishment,
               sum(case when r.rn > 1 then r.shortage_qty else 0 end) as later_qty,
               max(r.need_date) as last_need_date,
               count(*) as needs
        from ranked r left join marts.dim_materials m using (material_id)
        group by r.material_id, m.description, r.site_id, m.uom
        """
    total = con.execute(f"select count(*) from ({query})", params).fetchone()
    df = _df(con, f"{query} order by order_by, material_id, site_id limit {int(limit)}", params)
    verbs = {"buy": "order", "make": "plan a work order for"}

    def qty(value: float, uom: Any) -> str:
        return _qty_text(float(value)) + (f" {uom}" if isinstance(uom, str) and uom else "")

    to_do, later = [], []
    for r in df.itertuples(index=False):
        to_do.append(
            f"{verbs.get(str(r.replenishment), 'cover')} {qty(r.first_qty, r.uom)} by "
            f"{pd.Timestamp(r.order_by).date().isoformat()}"
        )
        more = int(r.needs) - 1
        later.append(
            f"then {qty(r.later_qty, r.uom)} for {more:,} more need{'s' if more > 1 else ''} until "
            f"{pd.Timestamp(r.last_need_date).date().isoformat()}"
            if more
            else ""
        )
    df.insert(0, "to_do", pd.Series(to_do, index=df.index, dtype=object))
    df.insert(1, "later", pd.Series(later, index=df.index, dtype=object))
    return df, int(total[0]) if total else 0


def shortage_profile(con: duckdb.DuckDBPyConnection, f: Filters, top: int = 8) -> pd.DataFrame:
    """Projected balance (fct_projected_balance) of the ``top`` materials with the largest exceptions.

    One point per material, site and netting date: the balance after that day's last event, so the step
    line shows where it falls below zero without shipping every event to the browser.
    """
    site_sql, params = _site_clause(f, "site_id")
    return _df(
        con,
        f"""
        with worst as (
            select material_id, site_id, sum(shortage_qty) as short_qty
            from marts.fct_shortages
            where kind = 'exception' {site_sql}
            group by all
            order by short_qty desc, material_id, site_id
            limit {int(top)}
        )
        select b.material_id, b.site_id, b.material_id || ' @ ' || b.site_id as series,
               b.netting_date as need_date,
               arg_max(coalesce(b.wo_id, b.so_id || '/' || cast(b.so_line as varchar),
                                b.po_id || '/' || cast(b.po_line as varchar), b.lot_id, b.event_type),
                       b.event_seq) as wo_id,
               arg_max(b.projected_balance, b.event_seq) as projected_balance,
               count(*) as events
        from marts.fct_projected_balance b join worst using (material_id, site_id)
        group by all
        order by series, need_date
        """,
        params,
    )


def shortage_summary(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Exceptions and actions, the materials and work orders they hit, and the work orders open at A."""
    site_sql, params = _site_clause(f)
    df = _df(
        con,
        f"""
        select count(*) filter (where kind = 'exception') as exceptions,
               count(*) filter (where kind = 'action') as actions,
               count(distinct material_id || '|' || site_id) filter (where kind = 'exception')
                   as short_materials,
               count(distinct wo_id) filter (where kind = 'exception' and demand_type = 'work_order')
                   as short_work_orders,
               count(distinct so_id || '/' || cast(so_line as varchar))
                   filter (where kind = 'exception' and demand_type = 'sales_order') as short_order_lines
        from marts.fct_shortages where true {site_sql}
        """,
        params,
    )
    out = {k: int(v or 0) for k, v in df.iloc[0].items()} if not df.empty else {}
    out["open_work_orders"] = work_order_counts(con, f)["open"]
    return out


# --- work in progress -------------------------------------------------------------------------


# Open at A (status planned, released, in progress or on hold at the end of day A): not cancelled and not
# finished at A (actual_end null or its local date after A). Late at A (kpi-definitions.md late_wo_count,
# the Overview tile): open at A and planned_end's local date on or before A ("at A" = end of local day A).
# Parameters: A (open); A, A (late).
_OPEN_WO_AT = "(not w.is_cancelled and (w.actual_end_date is null or w.actual_end_date > cast(? as date)))"
_LATE_WO_AT = f"({_OPEN_WO_AT} and w.planned_end_date <= cast(? as date))"


def _work_orders_at(f: Filters) -> tuple[str, list[Any]]:
    """Work orders open at A with ``is_late_at``: the one definition behind the WIP and Inventory counts."""
    site_sql, params = _site_clause(f, "w.site_id")
    sql = f"""
        select w.*, {_LATE_WO_AT} as is_late_at
        from marts.fct_work_orders w
        where {_OPEN_WO_AT} {site_sql}
    """
    return sql, [f.as_of, f.as_of, f.as_of, *params]


def work_order_counts(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Open and late work orders at A (same numbers on the Overview tile, WIP and Inventory pages)."""
    sql, params = _work_orders_at(f)
    row = con.execute(f"select count(*), count(*) filter (where is_late_at) from ({sql})", params).fetchone()
    open_n, late_n = row if row is not None else (0, 0)
    return {"open": int(open_n or 0), "late": int(late_n or 0)}


def work_orders_open(
    con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT, wo_id: str | None = None
) -> pd.DataFrame:
    """Work orders open at A, late ones first (``_work_orders_at``); one work order with ``wo_id``."""
    if wo_id:
        base = f"select w.*, {_LATE_WO_AT} as is_late_at from marts.fct_work_orders w where w.wo_id = ?"
        params = [f.as_of, f.as_of, wo_id]
    else:
        base, params = _work_orders_at(f)
    return _df(
        con,
        f"""
        select w.wo_id, w.material_id, m.description, w.site_id, w.status, w.priority,
               w.qty_planned, w.qty_completed, w.qty_scrapped, m.uom,
               w.planned_start, w.planned_end, w.actual_start, w.actual_end, w.output_lot_id,
               w.is_late_at as is_late,
               round(100.0 * coalesce(w.qty_completed, 0) / nullif(w.qty_planned, 0), 1) as progress_pct
        from ({base}) w left join marts.dim_materials m using (material_id)
        order by is_late desc, w.planned_end, w.wo_id
        limit {int(limit)}
        """,
        params,
    )


# An operation's status at the end of day A from its timestamps (its current status is today's):
# done once completed, running once started, else waiting; skipped stays skipped. Parameters: A, A.
_OP_STATUS_AT = """case
    when o.status = 'skipped' then 'skipped'
    when o.completed_at is not null and cast(o.completed_at as date) <= cast(? as date) then 'done'
    when o.started_at is not null and cast(o.started_at as date) <= cast(? as date) then 'running'
    else 'waiting' end"""


def wo_status_by_operation(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Operations of the work orders open at A (``_work_orders_at``) by operation and status at A."""
    open_sql, params = _work_orders_at(f)
    return _df(
        con,
        f"""
        select o.operation, {_OP_STATUS_AT} as status, count(*) as operations
        from marts.fct_wo_operations o join ({open_sql}) w using (wo_id)
        group by all order by o.operation, status
        """,
        [f.as_of, f.as_of, *params],
    )


def wo_timeline(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = 80) -> pd.DataFrame:
    """Operations per work center of the first ``limit`` work orders open at A, for a Gantt-like chart."""
    open_sql, params = _work_orders_at(f)
    return _df(
        con,
        f"""
        with open_wo as (
            select w.wo_id, w.material_id, w.planned_start, w.planned_end, w.status
            from ({open_sql}) w
            order by w.planned_start, w.wo_id limit {int(limit)}
        )
        select o.wo_id, coalesce(o.work_center, 'unassigned') as work_center, o.operation,
               {_OP_STATUS_AT} as status,
               coalesce(o.started_at, w.planned_start) as start,
               coalesce(o.completed_at, greatest(w.planned_end, coalesce(o.started_at, w.planned_start)
                        + interval 1 hour)) as finish,
               w.material_id
        from marts.fct_wo_operations o join open_wo w using (wo_id)
        order by work_center, start
        """,
        [*params, f.as_of, f.as_of],
    )


# --- lots and release -------------------------------------------------------------------------


def release_queue(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Produced lots in quarantine at A (awaiting a QA decision), oldest first, with age in days."""
    stock_sql, params = _stock_at(f)
    return _df(
        con,
        f"""
        with stock as ({stock_sql})
        select s.lot_id, s.material_id, m.description, s.site_id, s.on_hand_qty, m.uom,
               l.manufacture_date,
               datediff('day', coalesce(l.manufacture_date, cast(l.status_changed_at as date)),
                        cast(? as date)) as age_days
        from stock s join marts.dim_lots l using (lot_id) join marts.dim_materials m
             on m.material_id = s.material_id
        where s.status = 'quarantine' and l.origin = 'produced'
        order by age_days desc nulls last
        limit {int(limit)}
        """,
        [*params, f.as_of],
    )


def lots_on_hold(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Lots on hold at A with stock, and why: the nonconformances open on them at A."""
    stock_sql, params = _stock_at(f)
    return _df(
        con,
        f"""
        with stock as ({stock_sql}),
        ncrs as (
            select lot_id,
                   string_agg(ncr_id || ' ' || defect_code || ' (' || severity || ')', '; ') as open_ncrs
            from marts.fct_nonconformances
            where lot_id is not null and opened_date <= cast(? as date)
              and (closed_date is null or closed_date > cast(? as date))
            group by lot_id
        )
        select s.lot_id, s.material_id, s.site_id, s.on_hand_qty, m.uom,
               coalesce(n.open_ncrs, 'no open NCR on this lot: see its status history') as why
        from stock s left join ncrs n using (lot_id)
        left join marts.dim_materials m on m.material_id = s.material_id
        where s.status = 'on_hold'
        order by s.lot_id
        limit {int(limit)}
        """,
        [*params, f.as_of, f.as_of],
    )


def release_cycle_trend(con: duckdb.DuckDBPyConnection, f: Filters, weeks: int = 26) -> pd.DataFrame:
    """Weekly median and p90 hours from work-order end to first release, for lots released up to A."""
    site_sql, params = _site_clause(f)
    return _df(
        con,
        f"""
        select date_trunc('week', first_released_date) as week,
               quantile_cont(cycle_time_hours, 0.5) as p50_hours,
               quantile_cont(cycle_time_hours, 0.9) as p90_hours,
               count(*) as lots
        from marts.fct_lot_releases
        where first_released_date is not null
          and first_released_date between cast(? as date) - interval {int(weeks)} week and cast(? as date)
          {site_sql}
        group by 1 order by 1
        """,
        [f.as_of, f.as_of, *params],
    )


# --- quality ----------------------------------------------------------------------------------


def ncr_open_by_severity_age(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    site_sql, params = _site_clause(f)
    return _df(
        con,
        f"""
        select severity,
               case when age < 30 then '< 30 d' when age < 90 then '30-90 d' else '>= 90 d' end as age_band,
               count(*) as ncrs
        from (
            select severity, datediff('day', cast(opened_at as date), cast(? as date)) as age
            from marts.fct_nonconformances
            where cast(opened_at as date) <= cast(? as date)
              and (closed_at is null or cast(closed_at as date) > cast(? as date)) {site_sql}
        ) group by all
        """,
        [f.as_of, f.as_of, f.as_of, *params],
    )


def open_without_site(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Open NCRs and CAPAs at A with no site (no lot, or NCRs at several sites): in no site's figures.

    Why: with a site filter they are not shown, so the page says how many are left out instead of
    letting them vanish; they are in the all-sites view and in the review's "no site" column.
    """
    row = con.execute(
        """
        select
          (select count(*) from marts.fct_nonconformances
           where site_id is null and opened_date <= cast($a as date)
             and (closed_date is null or closed_date > cast($a as date))),
          (select count(*) from marts.fct_capas
           where site_id is null and opened_date <= cast($a as date)
             and (closed_date is null or closed_date > cast($a as date)))
        """,
        {"a": f.as_of},
    ).fetchone()
    ncrs, capas = row if row is not None else (0, 0)
    return {"ncrs": int(ncrs or 0), "capas": int(capas or 0)}


def ncr_pareto(con: duckdb.DuckDBPyConnection, f: Filters, top: int = 15) -> pd.DataFrame:
    site_sql, params = _site_clause(f)
    return _df(
        con,
        f"""
        select defect_code, count(*) as ncrs
        from marts.fct_nonconformances
        where cast(opened_at as date) between cast(? as date) and cast(? as date) {site_sql}
        group by defect_code order by ncrs desc, defect_code limit {int(top)}
        """,
        [f.period_start, f.as_of, *params],
    )


def capas_open(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """CAPAs open at A at the chosen site, overdue first."""
    site_sql, params = _site_clause(f)
    return _df(
        con,
        f"""
        select capa_id, site_id, source, owner, status, opened_date as opened, due_date,
               due_date < cast(? as date) as is_overdue,
               datediff('day', due_date, cast(? as date)) as days_overdue
        from marts.fct_capas
        where cast(opened_at as date) <= cast(? as date)
          and (closed_at is null or cast(closed_at as date) > cast(? as date)) {site_sql}
        order by is_overdue desc, due_date
        limit {int(limit)}
        """,
        [f.as_of, f.as_of, f.as_of, f.as_of, *params],
    )


def incoming_reject_rate_by_supplier(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    site_sql, params = _site_clause(f, "l.site_id")
    return _df(
        con,
        f"""
        select l.supplier_id, s.name as supplier,
               count(*) filter (where i.result = 'fail') as fails,
               count(*) as inspections,
               count(*) filter (where i.result = 'fail') / count(*) as reject_rate
        from marts.fct_inspections i
        join marts.dim_lots l using (lot_id)
        left join marts.dim_suppliers s on s.supplier_id = l.supplier_id
        where i.inspection_type = 'incoming' and i.result in ('pass', 'fail')
          and cast(i.completed_at as date) between cast(? as date) and cast(? as date) {site_sql}
        group by all
        order by reject_rate desc, inspections desc
        """,
        [f.period_start, f.as_of, *params],
    )


def mask_reference(value: object) -> str | None:
    """Mask a patient reference to its last two characters (privacy: patient data stays out of the UI)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value)
    if not text:
        return None
    return "•" * max(len(text) - 2, 3) + text[-2:]


def complaints(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    site_sql, params = _site_clause(f)
    df = _df(
        con,
        f"""
        select complaint_id, received_date as received, customer_id, material_id, lot_id,
               status, patient_involved, reportable,
               case when has_patient_reference then '••••••' end as patient_reference
        from marts.fct_complaints
        where received_date <= cast(? as date) {site_sql}
        order by (status <> 'closed') desc, received_at desc
        limit {int(limit)}
        """,
        [f.as_of, *params],
    )
    # The marts never carry the patient reference itself; mask anything that looks like one anyway.
    if "patient_reference" in df:
        df["patient_reference"] = df["patient_reference"].map(mask_reference).astype(object)
    return df


# --- delivery ---------------------------------------------------------------------------------


def open_orders_at_risk(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Open sales order lines at risk at the mart's as-of date (fct_sales_order_lines.is_at_risk).

    At risk = open and past due, or a work order made for it is late or short of a component.
    ``why`` spells the reasons out; ``short_components`` names the components short upstream.
    """
    site_sql, params = _site_clause(f, "o.site_id")
    return _df(
        con,
        f"""
        with short as (
            -- exceptions of fct_shortages on the line itself or on a work order made for its order
            select o.so_id, o.so_line,
                   string_agg(distinct s.material_id, ', ' order by s.material_id) as short_components,
                   min(s.need_date) as first_short_need_date
            from marts.fct_sales_order_lines o
            join marts.fct_shortages s
              on s.kind = 'exception'
             and ((s.so_id = o.so_id and s.so_line = o.so_line)
                  or s.wo_id in (select w.wo_id from marts.fct_work_orders w
                                 where w.so_id = o.so_id and w.material_id = o.material_id
                                   and not w.is_cancelled))
            group by all
        )
        select o.so_id, o.so_line,
               concat_ws('; ',
                   case when o.is_past_due then 'past due' end,
                   case when o.has_late_dependent_wo then 'work order late' end,
                   case when o.has_short_dependent_wo then 'components short' end) as why,
               o.customer_id, o.material_id, m.description, o.site_id, o.due_date,
               o.days_late, o.qty, o.open_qty, m.uom, sh.short_components, sh.first_short_need_date,
               o.n_dependent_wos
        from marts.fct_sales_order_lines o
        left join marts.dim_materials m on m.material_id = o.material_id
        left join short sh on sh.so_id = o.so_id and sh.so_line = o.so_line
        where o.is_at_risk {site_sql}
        order by o.is_past_due desc, o.days_late desc, o.due_date, o.so_id, o.so_line
        limit {int(limit)}
        """,
        params,
    )


def order_risk_summary(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Counts of open sales order lines and why they are at risk, at the mart's as-of date."""
    site_sql, params = _site_clause(f)
    df = _df(
        con,
        f"""
        select count(*) filter (where is_open) as open_lines,
               count(*) filter (where is_at_risk) as at_risk,
               count(*) filter (where is_past_due) as past_due,
               count(*) filter (where is_open and has_late_dependent_wo) as wo_late,
               count(*) filter (where is_open and has_short_dependent_wo) as short
        from marts.fct_sales_order_lines where true {site_sql}
        """,
        params,
    )
    return {k: int(v or 0) for k, v in df.iloc[0].items()} if not df.empty else {}


def shipments(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    site_sql, params = _site_clause(f, "s.site_id")
    return _df(
        con,
        f"""
        select s.shipment_id, s.so_id, s.customer_id, s.material_id, s.lot_id, s.site_id, s.qty, m.uom,
               s.shipped_at, s.delivered_at
        from marts.fct_lot_shipments s left join marts.dim_materials m using (material_id)
        where s.shipped_date between cast(? as date) and cast(? as date) {site_sql}
        order by s.shipped_at desc
        limit {int(limit)}
        """,
        [f.period_start, f.as_of, *params],
    )


# --- data health ------------------------------------------------------------------------------


def ingest_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return _df(con, f"select * from meta.ingest_runs order by 2 desc limit {int(limit)}")


def ingest_run_entities(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pd.DataFrame:
    return _df(con, f"select * from meta.ingest_run_entities order by 1 desc limit {int(limit)}")


# dbt statuses that need nobody's attention: models and tests that passed, exposures (always no-op).
DBT_OK_STATUSES = ("pass", "success", "no-op")


def dbt_problems(results: pd.DataFrame) -> pd.DataFrame:
    """The results that need attention: failed, errored, warned or skipped nodes."""
    if results.empty:
        return results
    return results[~results["status"].isin(DBT_OK_STATUSES)]


def dbt_results(con: duckdb.DuckDBPyConnection, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """The latest dbt build's node results: errors and failures, then warnings and skips, then the rest."""
    return _df(
        con,
        f"""
        select unique_id, resource_type, status, failures, round(execution_time, 2) as seconds, message,
               recorded_at
        from meta.dbt_results
        where run_id = (select run_id from meta.dbt_results order by recorded_at desc limit 1)
        order by case
            when status in ('error', 'fail', 'runtime error') then 0
            when status in ('pass', 'success', 'no-op') then 2
            else 1
        end, unique_id
        limit {int(limit)}
        """,
    )


def dbt_result_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _df(
        con,
        """
        select resource_type, status, count(*) as nodes
        from meta.dbt_results
        where run_id = (select run_id from meta.dbt_results order by recorded_at desc limit 1)
        group by all order by resource_type, status
        """,
    )


def rejects(con: duckdb.DuckDBPyConnection, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return _df(con, f"select * from meta.rejects limit {int(limit)}")


def source_freshness(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> pd.DataFrame:
    """Per feed entity: the last ingest run that loaded rows for it, and how long ago that was."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return _df(
        con,
        """
        select e.entity,
               max(r.ended_at) filter (where e.rows_loaded > 0) as last_loaded_at,
               max(r.ended_at) as last_seen_at,
               round(datediff('minute', max(r.ended_at) filter (where e.rows_loaded > 0),
                              cast(? as timestamp))
                     / 60.0, 1) as hours_since_load,
               sum(e.rows_loaded) as rows_loaded_total
        from meta.ingest_run_entities e join meta.ingest_runs r using (run_id)
        where r.outcome = 'succeeded'
        group by e.entity
        order by hours_since_load desc nulls first, e.entity
        """,
        [now],
    )


def lot_facts(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    return _df(
        con,
        """
        select l.lot_id, l.material_id, m.description, m.uom, l.site_id, l.origin, l.supplier_id,
               l.supplier_lot, l.manufacture_date, l.expiry_date, l.status, l.status_changed_at
        from marts.dim_lots l left join marts.dim_materials m using (material_id)
        where l.lot_id = ?
        """,
        [lot_id],
    )


def lot_state_history(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    return _df(
        con,
        "select valid_from_date, valid_to_date, status, on_hand_qty from marts.fct_lot_state_history "
        "where lot_id = ? order by valid_from_date",
        [lot_id],
    )


def lot_movements(con: duckdb.DuckDBPyConnection, lot_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return _df(
        con,
        f"""
        select v.moved_at, v.movement_type, v.qty, m.uom, v.site_id, v.location, v.reference_type,
               v.reference_id, v.reference_line
        from marts.fct_inventory_movements v left join marts.dim_materials m using (material_id)
        where v.lot_id = ? order by v.moved_at limit {int(limit)}
        """,
        [lot_id],
    )


def kpi_event_trend(con: duckdb.DuckDBPyConnection, f: Filters, kpi_id: str, weeks: int = 26) -> pd.DataFrame:
    """Weekly ratio sum(numerator) / sum(denominator) of one KPI's events (fct_kpi_events)."""
    site_sql, params = _site_clause(f)
    return _df(
        con,
        f"""
        select date_trunc('week', event_date) as week,
               sum(numerator) / nullif(sum(denominator), 0) as value, sum(denominator) as population
        from marts.fct_kpi_events
        where kpi_id = ?
          and event_date between cast(? as date) - interval {int(weeks)} week and cast(? as date)
          {site_sql}
        group by 1 order by 1
        """,
        [kpi_id, f.as_of, f.as_of, *params],
    )


def genealogy_edges_for(con: duckdb.DuckDBPyConnection, lots: list[str], limit: int = 2000) -> pd.DataFrame:
    if not lots:
        return pd.DataFrame(columns=["parent_lot_id", "child_lot_id"])
    return _df(
        con,
        f"""
        select parent_lot_id, child_lot_id, wo_id, component_material_id, child_material_id, qty, consumed_at
        from marts.fct_lot_genealogy_edges
        where parent_lot_id in (select unnest(?)) and child_lot_id in (select unnest(?))
        limit {int(limit)}
        """,
        [lots, lots],
    )


def lot_timeline(con: duckdb.DuckDBPyConnection, lot_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Everything that happened to one lot, oldest first: movements, inspections, QA, NCRs, shipments."""
    return _df(
        con,
        f"""
        select * from (
            select moved_at as event_at, 'movement' as kind,
                   movement_type || ' ' || cast(cast(qty as double) as varchar)
                       || coalesce(' ' || reference_id, '')
                       as detail,
                   site_id
            from marts.fct_inventory_movements where lot_id = $1
            union all
            select completed_at, 'inspection', inspection_type || ': ' || result, site_id
            from marts.fct_inspections where lot_id = $1 and completed_at is not null
            union all
            select opened_at, 'NCR', ncr_id || ' ' || defect_code || ' (' || severity || ')', site_id
            from marts.fct_nonconformances where lot_id = $1
            union all
            select shipped_at, 'shipment',
                   shipment_id || ' to ' || customer_id || ', qty ' || cast(cast(qty as double) as varchar),
                   site_id
            from marts.fct_lot_shipments where lot_id = $1
            union all
            select first_released_at, 'QA release',
                   'first released, ' || cast(round(cycle_time_hours, 1) as varchar)
                   || ' h after production', site_id
            from marts.fct_lot_releases where lot_id = $1 and first_released_at is not null
        ) order by event_at limit {int(limit)}
        """,
        [lot_id],
    )


def entity_facts(con: duckdb.DuckDBPyConnection, table: str, key: str, value: str) -> pd.DataFrame:
    allowed = {
        ("dim_materials", "material_id"),
        ("dim_suppliers", "supplier_id"),
        ("dim_customers", "customer_id"),
        ("fct_work_orders", "wo_id"),
    }
    if (table, key) not in allowed:
        raise ValueError(f"not a drill-down entity: {table}.{key}")
    df = _df(con, f"select * from marts.{table} where {key} = ?", [value])
    # Customer contact details are personal data: the control tower does not show them.
    return df.drop(columns=[c for c in ("contact_name", "contact_email") if c in df.columns])


def customer_shipments(
    con: duckdb.DuckDBPyConnection, customer_id: str, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    return _df(
        con,
        f"""
        select s.shipment_id, s.so_id, s.so_line, s.material_id, s.lot_id, s.site_id, s.qty, m.uom,
               s.shipped_at, s.delivered_at
        from marts.fct_lot_shipments s left join marts.dim_materials m using (material_id)
        where s.customer_id = ? order by s.shipped_at desc limit {int(limit)}
        """,
        [customer_id],
    )


def supplier_lots(con: duckdb.DuckDBPyConnection, supplier_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return _df(
        con,
        f"""
        select l.lot_id, l.material_id, l.site_id, l.supplier_lot, l.status, l.manufacture_date,
               l.expiry_date, i.result as incoming_result, i.completed_at as inspected_at
        from marts.dim_lots l
        left join marts.fct_inspections i on i.lot_id = l.lot_id and i.inspection_type = 'incoming'
        where l.supplier_id = ?
        order by i.completed_at desc nulls last limit {int(limit)}
        """,
        [supplier_id],
    )


def supplier_ncrs(con: duckdb.DuckDBPyConnection, supplier_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return _df(
        con,
        f"""
        select ncr_id, opened_date, closed_date, lot_id, material_id, defect_code, severity, status
        from marts.fct_nonconformances where supplier_id = ? order by opened_at desc limit {int(limit)}
        """,
        [supplier_id],
    )


def material_work_orders(
    con: duckdb.DuckDBPyConnection, material_id: str, f: Filters | None = None, limit: int = 100
) -> pd.DataFrame:
    """Work orders that make a material, newest first; ``is_late`` at the filters' A (the WIP definition).

    Without filters, ``is_late`` is the mart's, at the date the warehouse was built for.
    """
    params: list[Any] = [material_id]
    late = "w.is_late"
    if f is not None:
        late, params = _LATE_WO_AT, [f.as_of, f.as_of, material_id]
    return _df(
        con,
        f"""
        select w.wo_id, w.site_id, w.status, w.qty_planned, w.qty_completed, w.planned_start, w.planned_end,
               w.actual_end, w.output_lot_id, {late} as is_late
        from marts.fct_work_orders w where w.material_id = ? order by w.planned_start desc limit {int(limit)}
        """,
        params,
    )


def wo_operations(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    return _df(
        con,
        """
        select o.op_seq, o.operation, o.work_center, o.site_id, o.status, o.started_at, o.completed_at,
               o.duration_hours, o.qty_good, o.qty_scrap, m.uom
        from marts.fct_wo_operations o left join marts.dim_materials m using (material_id)
        where o.wo_id = ? order by o.op_seq
        """,
        [wo_id],
    )


def supplier_scorecard(
    con: duckdb.DuckDBPyConnection, f: Filters, supplier_id: str | None = None
) -> pd.DataFrame:
    """One row per supplier from fct_supplier_performance, worst on-time delivery first.

    On-time delivery and incoming reject rate cover the 90 days to the mart's as-of date; lead times
    every PO line received by then (median, p90 and spread = p90 - p10 of actual days); open POs and
    ASNs in transit at that date. The mart is per supplier across sites: with a site filter, only
    suppliers with PO lines for that site are listed (their figures still span all sites).
    """
    where, params = "true", []
    if supplier_id:
        where, params = "s.supplier_id = ?", [supplier_id]
    elif f.site:
        where = "s.supplier_id in (select supplier_id from marts.fct_purchase_order_lines where site_id = ?)"
        params = [f.site]
    return _df(
        con,
        f"""
        select s.supplier_id, s.name, s.approval_status, s.critical,
               p.otd_rate_90d, p.po_lines_on_time_90d, p.po_lines_due_90d,
               p.incoming_reject_rate_90d, p.incoming_rejects_90d, p.incoming_inspections_90d,
               p.median_planned_lead_time_days, p.median_actual_lead_time_days,
               p.p90_actual_lead_time_days, p.lead_time_spread_days,
               p.median_lead_time_delta_days as median_delay_days,
               p.p90_lead_time_delta_days as p90_delay_days, p.n_received_lines,
               p.open_po_lines, p.late_open_po_lines, p.open_asn_lines, p.open_asn_lines_after_need_date
        from marts.dim_suppliers s
        join marts.fct_supplier_performance p using (supplier_id)
        where {where}
        order by p.otd_rate_90d nulls last, p.incoming_reject_rate_90d desc nulls last, s.supplier_id
        limit {ROW_LIMIT}
        """,
        params,
    )


def supplier_lead_times(
    con: duckdb.DuckDBPyConnection, f: Filters, supplier_id: str | None = None, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    """Planned vs actual lead time per supplier and material (fct_supplier_lead_time_stats), slowest first.

    delay = actual - planned lead time days; median and p90 over PO lines received by the as-of date.
    """
    where, params = "true", []
    if supplier_id:
        where, params = "t.supplier_id = ?", [supplier_id]
    elif f.site:
        where = (
            "exists (select 1 from marts.fct_purchase_order_lines p where p.supplier_id = t.supplier_id "
            "and p.material_id = t.material_id and p.site_id = ?)"
        )
        params = [f.site]
    return _df(
        con,
        f"""
        select t.supplier_id, t.material_id, m.description, t.n_receipts,
               t.planned_lead_time_days, t.median_actual_lead_time_days, t.p90_actual_lead_time_days,
               t.median_delay_days, t.p90_delay_days
        from marts.fct_supplier_lead_time_stats t
        left join marts.dim_materials m using (material_id)
        where {where}
        order by t.p90_delay_days desc nulls last, t.supplier_id, t.material_id
        limit {int(limit)}
        """,
        params,
    )


def open_purchase_order_lines(
    con: duckdb.DuckDBPyConnection, f: Filters, supplier_id: str | None = None, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    """PO lines open at the mart's as-of date, past due first (most days past due first)."""
    site_sql, params = _site_clause(f, "p.site_id")
    if supplier_id:
        site_sql += " and p.supplier_id = ?"
        params = [*params, supplier_id]
    return _df(
        con,
        f"""
        select p.po_id, p.po_line, p.supplier_id, p.material_id, m.description, p.site_id, p.order_date,
               p.due_date, p.is_past_due_at_as_of, p.days_past_due, p.qty_ordered, p.qty_received_total,
               p.open_qty, m.uom
        from marts.fct_purchase_order_lines p left join marts.dim_materials m using (material_id)
        where p.is_open_at_as_of {site_sql}
        order by p.is_past_due_at_as_of desc, p.days_past_due desc nulls last, p.due_date, p.po_id, p.po_line
        limit {int(limit)}
        """,
        params,
    )


def open_asn_lines(
    con: duckdb.DuckDBPyConnection, f: Filters, supplier_id: str | None = None, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    """ASN lines in transit at the mart's as-of date, those landing after the need date first."""
    site_sql, params = _site_clause(f, "a.site_id")
    if supplier_id:
        site_sql += " and a.supplier_id = ?"
        params = [*params, supplier_id]
    return _df(
        con,
        f"""
        select a.asn_id, a.asn_line, a.supplier_id, a.po_id, a.po_line, a.material_id, a.site_id,
               a.shipped_at, a.expected_delivery, a.need_date, a.lands_after_need_date,
               a.days_after_need_date, a.qty_shipped, m.uom, a.supplier_lot
        from marts.fct_asn_lines a left join marts.dim_materials m using (material_id)
        where a.is_in_transit_at_as_of {site_sql}
        order by a.lands_after_need_date desc, a.days_after_need_date desc nulls last, a.expected_delivery,
                 a.asn_id, a.asn_line
        limit {int(limit)}
        """,
        params,
    )
