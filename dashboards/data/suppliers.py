"""Suppliers: scorecard, lead times, open PO and ASN lines, a supplier's lots and NCRs."""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters


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
    return query(
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
    return query(
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
    site_sql, params = site_clause(f, "p.site_id")
    if supplier_id:
        site_sql += " and p.supplier_id = ?"
        params = [*params, supplier_id]
    return query(
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
    site_sql, params = site_clause(f, "a.site_id")
    if supplier_id:
        site_sql += " and a.supplier_id = ?"
        params = [*params, supplier_id]
    return query(
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


def supplier_lots(con: duckdb.DuckDBPyConnection, supplier_id: str, limit: int = ROW_LIMIT) -> pd.DataFrame:
    return query(
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
    return query(
        con,
        f"""
        select ncr_id, opened_date, closed_date, lot_id, material_id, defect_code, severity, status
        from marts.fct_nonconformances where supplier_id = ? order by opened_at desc limit {int(limit)}
        """,
        [supplier_id],
    )
