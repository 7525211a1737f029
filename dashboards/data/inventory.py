"""Inventory page: stock by status and lot at A, expiry horizon, days of supply."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
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


def stock(con: duckdb.DuckDBPyConnection, f: Filters, material_id: str | None = None) -> pd.DataFrame:
    """Every lot with stock at A, with its material's description and unit of measure, by lot and site (an
    order of its own, so that every warehouse hands the same rows over in the same order).

    One read of the lots' status history for all of a page's views of the stock (by status, expiry horizon,
    lots): each was a read of its own, three scans of fct_lot_state_history on every filter change.
    """
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
        order by s.lot_id, s.site_id
        """,
        params,
    )


def by_status(stock: pd.DataFrame) -> pd.DataFrame:
    """On-hand quantity per material and stock status (released, quarantine, on_hold, rejected ...), from
    ``stock``: material, description, uom, status, lots, on_hand_qty, by material and status."""
    keys = ["material_id", "description", "uom", "status"]
    if stock.empty:
        return pd.DataFrame(columns=[*keys, "lots", "on_hand_qty"])
    return _lots_and_quantity(stock, keys, sort=True)


def _lots_and_quantity(stock: pd.DataFrame, keys: list[str], sort: bool) -> pd.DataFrame:
    """Lots (count) and on-hand quantity (sum) of ``stock`` per ``keys``, a missing key its own group."""
    return (
        stock.groupby(keys, dropna=False, sort=sort)
        .agg(lots=("lot_id", "size"), on_hand_qty=("on_hand_qty", "sum"))
        .reset_index()
    )


def lots_first(stock: pd.DataFrame, limit: int | None = ROW_LIMIT) -> pd.DataFrame:
    """The lots of ``stock``, blocked (not released) first, then the soonest to expire, then by lot id."""
    # Numeric keys: a PostgreSQL warehouse hands integers with nulls over as objects.
    order = stock.assign(
        _released=(stock["status"] == "released").astype(int),
        _days=pd.to_numeric(stock["days_to_expiry"], errors="coerce"),
    )
    order = order.sort_values(["_released", "_days", "lot_id"], na_position="last", kind="stable")
    order = order.drop(columns=["_released", "_days"]).reset_index(drop=True)
    return order if limit is None else order.head(int(limit))


EXPIRY_BUCKETS = ("expired", "< 30 days", "30-90 days", ">= 90 days", "no expiry")


def expiry_horizon(stock: pd.DataFrame) -> pd.DataFrame:
    """Lots and quantity on hand by expiry bucket and status, from ``stock``."""
    days = pd.to_numeric(stock["days_to_expiry"], errors="coerce")

    def where(mask: pd.Series) -> np.ndarray:
        return mask.fillna(False).to_numpy(dtype=bool)  # a lot without an expiry date has no days

    bucket = np.select(
        [where(stock["expiry_date"].isna()), where(days <= 0), where(days < 30), where(days < 90)],
        ["no expiry", "expired", "< 30 days", "30-90 days"],
        default=">= 90 days",
    )
    df = _lots_and_quantity(stock.assign(bucket=bucket), ["bucket", "status"], sort=False)
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
