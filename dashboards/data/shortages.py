"""Shortages (fct_shortages, fct_projected_balance): exceptions inside the lead time, actions beyond it,
the weekly review's planned actions and the projected balance.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.data.wip import work_order_counts
from dashboards.filters import Filters

SHORTAGE_KINDS = ("exception", "action")


def _shortages_of_kind(
    con: duckdb.DuckDBPyConnection, f: Filters, kind: str, order: str, limit: int
) -> pd.DataFrame:
    if kind not in SHORTAGE_KINDS:
        raise ValueError(f"shortage kind must be one of {SHORTAGE_KINDS}, got {kind!r}")
    site_sql, params = site_clause(f, "s.site_id")
    return query(
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
    site_sql, params = site_clause(f, "s.site_id")
    sql = f"""
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
    total = con.execute(f"select count(*) from ({sql})", params).fetchone()
    df = query(con, f"{sql} order by order_by, material_id, site_id limit {int(limit)}", params)
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
    site_sql, params = site_clause(f, "site_id")
    return query(
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
    site_sql, params = site_clause(f)
    df = query(
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
