"""The app shell's queries: sites, the as-of dates the warehouse was built for, whether the filters
can be answered, and a drill-down's facts.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from dashboards.data.base import query
from dashboards.filters import Filters
from medtower import pii
from medtower.warehouse import relation_exists


def sites(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return query(con, "select site_id, name, timezone from marts.dim_sites order by site_id")


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
    rows = query(con, "select site_id, timezone from marts.dim_sites").itertuples(index=False)
    return {str(r.site_id): str(r.timezone) for r in rows if r.timezone}


def mart_as_of(con: duckdb.DuckDBPyConnection, mart: str) -> dt.date | None:
    """The as-of date a snapshot mart (planning, supply, delivery) was built for."""
    if mart not in SNAPSHOT_MARTS:
        raise ValueError(f"not a snapshot mart: {mart}")
    row = query(con, f"select max(as_of_date) as d from marts.{mart}")["d"]
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


def entity_facts(
    con: duckdb.DuckDBPyConnection, table: str, key: str, value: str, *, unmasked: bool = False
) -> pd.DataFrame:
    """A drill-down entity's one row; its personal-data columns (medtower/pii.py) masked unless ``unmasked``
    (the caller checks the right and records the view: the customer page)."""
    allowed = {
        ("dim_materials", "material_id"),
        ("dim_suppliers", "supplier_id"),
        ("dim_customers", "customer_id"),
        ("fct_work_orders", "wo_id"),
    }
    if (table, key) not in allowed:
        raise ValueError(f"not a drill-down entity: {table}.{key}")
    df = query(con, f"select * from marts.{table} where {key} = ?", [value])
    return df if unmasked else pii.mask_frame(df, table)
