"""Lots: the release queue and holds at A, release cycle time, one lot's facts, history and genealogy."""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.data.inventory import stock_at
from dashboards.filters import Filters


def release_queue(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Produced lots in quarantine at A (awaiting a QA decision), oldest first, with age in days."""
    stock_sql, params = stock_at(f)
    return query(
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
    stock_sql, params = stock_at(f)
    return query(
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
    site_sql, params = site_clause(f)
    return query(
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


def lot_facts(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    return query(
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
    return query(
        con,
        "select valid_from_date, valid_to_date, status, on_hand_qty from marts.fct_lot_state_history "
        "where lot_id = ? order by valid_from_date",
        [lot_id],
    )


def lot_movements(con: duckdb.DuckDBPyConnection, lot_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return query(
        con,
        f"""
        select v.moved_at, v.movement_type, v.qty, m.uom, v.site_id, v.location, v.reference_type,
               v.reference_id, v.reference_line
        from marts.fct_inventory_movements v left join marts.dim_materials m using (material_id)
        where v.lot_id = ? order by v.moved_at limit {int(limit)}
        """,
        [lot_id],
    )


def genealogy_edges_for(con: duckdb.DuckDBPyConnection, lots: list[str], limit: int = 2000) -> pd.DataFrame:
    if not lots:
        return pd.DataFrame(columns=["parent_lot_id", "child_lot_id"])
    return query(
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
    return query(
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
