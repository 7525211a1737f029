"""Work in progress: work orders open and late at A, their operations; a material's and a work order's."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters

# Open at A (status planned, released, in progress or on hold at the end of day A): not cancelled and not
# finished at A (actual_end null or its local date after A). Late at A (kpi-definitions.md late_wo_count,
# the Overview tile): open at A and planned_end's local date on or before A ("at A" = end of local day A).
# Parameters: A (open); A, A (late).
_OPEN_WO_AT = "(not w.is_cancelled and (w.actual_end_date is null or w.actual_end_date > cast(? as date)))"


_LATE_WO_AT = f"({_OPEN_WO_AT} and w.planned_end_date <= cast(? as date))"


def _work_orders_at(f: Filters) -> tuple[str, list[Any]]:
    """Work orders open at A with ``is_late_at``: the one definition behind the WIP and Inventory counts."""
    site_sql, params = site_clause(f, "w.site_id")
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
    return query(
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
    return query(
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
    return query(
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


def material_work_orders(
    con: duckdb.DuckDBPyConnection, material_id: str, f: Filters | None = None, limit: int = 100
) -> pd.DataFrame:
    """Work orders that make a material at the filters' site, newest first; ``is_late`` at the filters' A
    (the WIP definition).

    Without filters, every site's, and ``is_late`` is the mart's, at the date the warehouse was built for.
    """
    params: list[Any] = [material_id]
    late, site_sql = "w.is_late", ""
    if f is not None:
        site_sql, site_params = site_clause(f, "w.site_id")
        late, params = _LATE_WO_AT, [f.as_of, f.as_of, material_id, *site_params]
    return query(
        con,
        f"""
        select w.wo_id, w.site_id, w.status, w.qty_planned, w.qty_completed, w.planned_start, w.planned_end,
               w.actual_end, w.output_lot_id, {late} as is_late
        from marts.fct_work_orders w where w.material_id = ? {site_sql}
        order by w.planned_start desc limit {int(limit)}
        """,
        params,
    )


def wo_operations(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    return query(
        con,
        """
        select o.op_seq, o.operation, o.work_center, o.site_id, o.status, o.started_at, o.completed_at,
               o.duration_hours, o.qty_good, o.qty_scrap, m.uom
        from marts.fct_wo_operations o left join marts.dim_materials m using (material_id)
        where o.wo_id = ? order by o.op_seq
        """,
        [wo_id],
    )
