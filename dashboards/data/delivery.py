"""Delivery: open sales order lines at risk, shipments, KPI event trends, a customer's shipments."""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters


def open_orders_at_risk(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """Open sales order lines at risk at the mart's as-of date (fct_sales_order_lines.is_at_risk).

    At risk = open and past due, or a work order made for it is late or short of a component.
    ``why`` spells the reasons out; ``short_components`` names the components short upstream.
    """
    site_sql, params = site_clause(f, "o.site_id")
    return query(
        con,
        f"""
        with short_hits as (
            -- exceptions of fct_shortages on the line itself or on a work order made for its order: two
            -- equi-joins (an OR with a correlated IN ran as a nested loop, 115 s at scale 10)
            select o.so_id, o.so_line, s.material_id, s.need_date
            from marts.fct_sales_order_lines o
            join marts.fct_shortages s
              on s.kind = 'exception' and s.so_id = o.so_id and s.so_line = o.so_line
            where o.is_at_risk
            union all
            select o.so_id, o.so_line, s.material_id, s.need_date
            from marts.fct_sales_order_lines o
            join marts.fct_work_orders w
              on w.so_id = o.so_id and w.material_id = o.material_id and not w.is_cancelled
            join marts.fct_shortages s on s.kind = 'exception' and s.wo_id = w.wo_id
            where o.is_at_risk
        ),
        short as (
            select so_id, so_line,
                   string_agg(distinct material_id, ', ' order by material_id) as short_components,
                   min(need_date) as first_short_need_date
            from short_hits
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
    site_sql, params = site_clause(f)
    df = query(
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
    site_sql, params = site_clause(f, "s.site_id")
    return query(
        con,
        f"""
        select s.shipment_id, s.so_id, s.customer_id, s.material_id, s.lot_id, s.site_id, s.qty, m.uom,
               s.shipped_at, s.delivered_at
        from marts.fct_lot_shipments s left join marts.dim_materials m using (material_id)
        where s.shipped_date between cast(? as date) and cast(? as date) {site_sql}
        order by s.shipped_at desc, s.shipment_id, s.lot_id
        limit {int(limit)}
        """,
        [f.period_start, f.as_of, *params],
    )


def kpi_event_trend(con: duckdb.DuckDBPyConnection, f: Filters, kpi_id: str, weeks: int = 26) -> pd.DataFrame:
    """Weekly ratio sum(numerator) / sum(denominator) of one KPI's events (fct_kpi_events)."""
    site_sql, params = site_clause(f)
    return query(
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


def customer_shipments(
    con: duckdb.DuckDBPyConnection, customer_id: str, limit: int = ROW_LIMIT
) -> pd.DataFrame:
    return query(
        con,
        f"""
        select s.shipment_id, s.so_id, s.so_line, s.material_id, s.lot_id, s.site_id, s.qty, m.uom,
               s.shipped_at, s.delivered_at
        from marts.fct_lot_shipments s left join marts.dim_materials m using (material_id)
        where s.customer_id = ? order by s.shipped_at desc limit {int(limit)}
        """,
        [customer_id],
    )
