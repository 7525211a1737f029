"""Inventory page: stock by status and lot at A, expiry horizon, days of supply."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters

_STOCK_AT = """
    select l.lot_id, l.material_id, l.site_id, h.status, h.on_hand_qty, l.expiry_date,
           datediff('day', cast(? as date), l.expiry_date) as days_to_expiry
    from marts.fct_lot_state_history h
    join marts.dim_lots l using (lot_id)
    where h.valid_from_date <= cast(? as date)
      and (h.valid_to_date is null or h.valid_to_date > cast(? as date))
      and h.on_hand_qty > 0
"""


def stock_at(f: Filters) -> tuple[str, list[Any]]:
    site_sql, site_params = site_clause(f, "l.site_id")
    return _STOCK_AT + site_sql, [f.as_of, f.as_of, f.as_of, *site_params]


def stock_by_status(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """On-hand quantity per material and stock status at A (released, quarantine, on_hold, rejected ...)."""
    stock_sql, params = stock_at(f)
    return query(
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
    stock_sql, params = stock_at(f)
    extra = ""
    if material_id:
        extra = " where s.material_id = ?"
        params = [*params, material_id]
    return query(
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
    stock_sql, params = stock_at(f)
    df = query(
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
    site_sql, params = site_clause(f, "d.site_id")
    return query(
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
