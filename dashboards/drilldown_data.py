"""Queries behind the drill-down pages (material, work order): plain functions of (connection, id, filters).

Like dashboards.data they read ``marts`` only and cap rows in SQL; a capped query returns the frame and the
real number of rows (``(df, total)``) so the page can say "first N of M".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from dashboards.data.base import MartMissingError
from dashboards.data.base import query as _df
from dashboards.data.inventory import lots_first, stock
from dashboards.filters import Filters
from medtower.rows import is_missing

DRILL_LIMIT = 200


def _first(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], order: str, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` rows of ``sql`` in ``order`` and how many rows it has in all."""
    count = _df(con, f"select count(*) as n from ({sql})", params)
    df = _df(con, f"select * from ({sql}) order by {order} limit {int(limit)}", params)
    return df, int(count["n"].iloc[0]) if not count.empty else 0


def _site(f: Filters, column: str) -> tuple[str, list[Any]]:
    return (f" and {column} = ?", [f.site]) if f.site else ("", [])


def planning_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The as-of date the planning marts (projected balance, requirements, shortages) were built for."""
    df = _df(con, "select max(as_of_date) as d from marts.fct_projected_balance")
    value = df["d"].iloc[0] if not df.empty else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


# --- material ---------------------------------------------------------------------------------------------


def material_stock(
    con: duckdb.DuckDBPyConnection, material_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """On hand at A per site and status, the lots with stock (blocked and soon-expiring first, the first
    ``limit``) and how many lots there are: one pass over the lots' status history.

    Stock without lots (movements with no lot id, summed up to A) has no status; the netting counts all of
    it as supply, so it is its own row, "no lot", rather than silently part of 'released'.
    """
    lots = lots_first(stock(con, f, material_id=material_id), limit=None)
    site_sql, params = _site(f, "v.site_id")
    loose = _df(
        con,
        f"""
        select v.site_id, 'no lot' as status, 0 as lots, sum(v.qty) as on_hand_qty
        from marts.fct_inventory_movements v
        where v.material_id = ? and v.lot_id is null and v.moved_date <= cast(? as date) {site_sql}
        group by all
        having sum(v.qty) <> 0
        """,
        [material_id, f.as_of, *params],
    )
    by_status = (
        lots.groupby(["site_id", "status"], as_index=False)
        .agg(lots=("lot_id", "count"), on_hand_qty=("on_hand_qty", "sum"))
        .astype({"lots": "int64"})
    )
    if not loose.empty:
        by_status = pd.concat([by_status, loose], ignore_index=True) if not by_status.empty else loose
    rank = {"released": 0, "no lot": 1}
    if not by_status.empty:
        by_status = by_status.assign(_r=by_status["status"].map(lambda s: rank.get(str(s), 2)))
        by_status = (
            by_status.sort_values(["site_id", "_r", "status"]).drop(columns="_r").reset_index(drop=True)
        )
        uom = _df(con, "select uom from marts.dim_materials where material_id = ?", [material_id])["uom"]
        by_status["uom"] = uom.iloc[0] if not uom.empty else None
    return by_status, lots.head(limit).reset_index(drop=True), len(lots)


def material_projected_balance(
    con: duckdb.DuckDBPyConnection, material_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """Time-phased supply and demand of a material (fct_projected_balance), in netting order, per site.

    ``reference`` names the event's document: the lot, PO line, work order or sales order line.
    """
    site_sql, params = _site(f, "b.site_id")
    sql = f"""
        select b.site_id, b.netting_date, b.event_date, b.event_type,
               coalesce(b.lot_id, b.po_id || '/' || cast(b.po_line as varchar), b.wo_id,
                        b.so_id || '/' || cast(b.so_line as varchar), '') as reference,
               b.customer_id, b.supply_qty, b.expiring_qty, b.demand_qty, b.projected_balance,
               b.net_requirement_qty, m.uom, b.event_seq
        from marts.fct_projected_balance b left join marts.dim_materials m using (material_id)
        where b.material_id = ? {site_sql}
    """
    return _first(con, sql, [material_id, *params], "site_id, event_seq", limit)


def material_components(con: duckdb.DuckDBPyConnection, material_id: str, f: Filters) -> pd.DataFrame:
    """The components of a made material in the BOM revisions in force at A (dim_bom_lines), per unit made,
    with what its open work orders still need of each (fct_material_requirements; 0 without one)."""
    site_sql, params = _site(f, "r.site_id")
    return _df(
        con,
        f"""
        with needs as (
            select r.material_id, r.bom_revision, count(distinct r.wo_id) as open_work_orders,
                   sum(r.qty_outstanding) as qty_outstanding
            from marts.fct_material_requirements r
            where r.wo_material_id = ? {site_sql}
            group by all
        )
        select b.component_material_id as material_id, m.description, b.revision as bom_revision,
               b.qty_per, m.uom, coalesce(n.open_work_orders, 0) as open_work_orders,
               coalesce(n.qty_outstanding, 0) as qty_outstanding
        from marts.dim_bom_lines b
        left join marts.dim_materials m on m.material_id = b.component_material_id
        left join needs n on n.material_id = b.component_material_id and n.bom_revision = b.revision
        where b.parent_material_id = ? and b.is_effective_at_as_of
        order by b.component_material_id, b.revision
        """,
        [material_id, *params, material_id],
    )


def material_where_used(con: duckdb.DuckDBPyConnection, material_id: str, f: Filters) -> pd.DataFrame:
    """The products whose BOM revisions in force at A use this material (dim_bom_lines), per unit of the
    product, with what their open work orders still need of it (fct_material_requirements)."""
    site_sql, params = _site(f, "r.site_id")
    return _df(
        con,
        f"""
        with needs as (
            select r.wo_material_id, r.bom_revision, count(distinct r.wo_id) as open_work_orders,
                   sum(r.qty_outstanding) as qty_outstanding, min(r.need_date) as first_need_date
            from marts.fct_material_requirements r
            where r.material_id = ? {site_sql}
            group by all
        )
        select b.parent_material_id as material_id, m.description, b.revision as bom_revision, b.qty_per,
               coalesce(n.open_work_orders, 0) as open_work_orders,
               coalesce(n.qty_outstanding, 0) as qty_outstanding, n.first_need_date, u.uom
        from marts.dim_bom_lines b
        left join marts.dim_materials m on m.material_id = b.parent_material_id
        left join marts.dim_materials u on u.material_id = b.component_material_id
        left join needs n on n.wo_material_id = b.parent_material_id and n.bom_revision = b.revision
        where b.component_material_id = ? and b.is_effective_at_as_of
        order by 1, b.revision
        """,
        [material_id, *params, material_id],
    )


def material_approved_suppliers(con: duckdb.DuckDBPyConnection, material_id: str) -> pd.DataFrame:
    """Suppliers on the approved supplier list for a material, orderable first, shortest lead time first."""
    return _df(
        con,
        """
        select a.supplier_id, a.supplier_name, a.supplier_approval_status, a.approved, a.is_orderable,
               a.planned_lead_time_days, a.unit_price, a.currency, a.contact_email
        from marts.dim_approved_suppliers a
        where a.material_id = ?
        order by a.is_orderable desc, a.planned_lead_time_days nulls last, a.supplier_id
        """,
        [material_id],
    )


def material_open_po_lines(
    con: duckdb.DuckDBPyConnection, material_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """PO lines of a material open at the mart's as-of date, soonest due first."""
    site_sql, params = _site(f, "p.site_id")
    sql = f"""
        select p.po_id as purchase_order, p.po_line as line, p.supplier_id, p.site_id, p.order_date,
               p.due_date, p.confirmed_date, p.is_past_due_at_as_of, p.qty_ordered, p.qty_received_total,
               p.open_qty, m.uom
        from marts.fct_purchase_order_lines p left join marts.dim_materials m using (material_id)
        where p.is_open_at_as_of and p.material_id = ? {site_sql}
    """
    return _first(con, sql, [material_id, *params], "due_date, purchase_order, line", limit)


def material_substitutes(con: duckdb.DuckDBPyConnection, material_id: str, f: Filters) -> pd.DataFrame:
    """Substitutes of a material and the ones it stands in for, with the product each is validated for.

    ``for_product`` empty in the mart means the change validated the substitute in every product.
    ``free_qty`` is what the substitute has left after its own demand within its lead time.
    """
    site_sql, params = _site(f, "s.site_id")
    return _df(
        con,
        f"""
        select case when s.material_id = $1 then 'substitute for this' else 'this substitutes' end
                   as relation,
               case when s.material_id = $1 then s.substitute_material_id else s.material_id end
                   as other_material_id,
               coalesce(nullif(s.parent_material_id, ''), 'every product') as for_product,
               s.site_id, s.priority, s.change_id, s.change_status, s.valid_from, s.valid_to,
               s.is_valid_at_as_of, s.available_qty, s.available_after_other_demand as free_qty, m.uom
        from marts.fct_substitute_availability s
        left join marts.dim_materials m on m.material_id = s.substitute_material_id
        where (s.material_id = $1 or s.substitute_material_id = $1) {site_sql.replace("?", "$2")}
        order by relation, s.site_id, s.priority, other_material_id, for_product
        """,
        [material_id, *params],
    )


def material_shortages(con: duckdb.DuckDBPyConnection, material_id: str, f: Filters) -> pd.DataFrame:
    """Net requirements of a material (fct_shortages), exceptions first, soonest need first."""
    site_sql, params = _site(f, "s.site_id")
    return _df(
        con,
        f"""
        select s.kind, s.site_id, s.need_date, s.order_by, s.shortage_qty, m.uom, s.demand_type, s.wo_id,
               s.so_id as sales_order, s.customer_id, s.lead_time_days
        from marts.fct_shortages s left join marts.dim_materials m using (material_id)
        where s.material_id = ? {site_sql}
        order by s.kind = 'exception' desc, s.need_date, s.site_id, s.shortage_id
        """,
        [material_id, *params],
    )


# --- work order -------------------------------------------------------------------------------------------


def wo_facts(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    """The work order's own facts, with its material's description and unit."""
    return _df(
        con,
        """
        select w.wo_id, w.material_id, m.description, w.site_id, w.status, w.priority, w.qty_planned,
               w.qty_completed, w.qty_scrapped, m.uom, w.planned_start, w.planned_end, w.actual_start,
               w.actual_end, w.current_operation, w.current_work_center, w.output_lot_id, w.so_id
        from marts.fct_work_orders w left join marts.dim_materials m using (material_id)
        where w.wo_id = ?
        """,
        [wo_id],
    )


def wo_components(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    """Components of an open work order: required (BOM x quantity), issued, still to issue, available, short.

    ``available_qty``: released, unexpired stock of the component at the work order's site at the planning
    marts' as-of date (fct_inventory_by_lot.is_available), plus stock kept without lots; not reserved for
    this order (other demand competes for it). ``short_qty``: this order's net requirements of the component
    in fct_shortages (the time-phased netting), with ``shortage`` saying inside or beyond the lead time.
    """
    return _df(
        con,
        """
        with req as (
            select * from marts.fct_material_requirements where wo_id = $1
        ),
        avail as (
            select i.material_id, sum(i.on_hand_qty) as qty
            from marts.fct_inventory_by_lot i join req r on r.material_id = i.material_id
                 and r.site_id = i.site_id
            where i.is_available
            group by all
        ),
        loose as (
            select v.material_id, sum(v.qty) as qty
            from marts.fct_inventory_movements v join req r on r.material_id = v.material_id
                 and r.site_id = v.site_id
            where v.lot_id is null and v.moved_date <= r.as_of_date
            group by all
        ),
        short as (
            select material_id, sum(shortage_qty) as qty, min(need_date) as need_date,
                   string_agg(distinct kind, ', ' order by kind) as kinds
            from marts.fct_shortages where wo_id = $1 and demand_type = 'work_order'
            group by all
        )
        select r.material_id, m.description, r.bom_revision, r.qty_per, r.qty_required,
               r.qty_issued_to_wo as qty_issued, r.qty_outstanding as qty_to_issue,
               coalesce(a.qty, 0) + coalesce(l.qty, 0) as available_qty,
               coalesce(s.qty, 0) as short_qty, s.kinds as shortage, r.need_date, m.uom
        from req r
        left join marts.dim_materials m on m.material_id = r.material_id
        left join avail a on a.material_id = r.material_id
        left join loose l on l.material_id = r.material_id
        left join short s on s.material_id = r.material_id
        order by coalesce(s.qty, 0) > 0 desc, r.material_id
        """,
        [wo_id],
    )


def wo_customer_orders(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    """The customer order lines a work order serves (fct_work_order_pegging), through the orders it feeds.

    ``via`` is the chain of work orders between this one and the order line, empty when it is direct.
    """
    return _df(
        con,
        """
        select p.so_id as sales_order, p.so_line as line, p.customer_id, c.name as customer,
               o.material_id, p.so_due_date as due_date, p.peg_level,
               o.qty, o.open_qty, m.uom, o.is_at_risk
        from marts.fct_work_order_pegging p
        left join marts.dim_customers c using (customer_id)
        left join marts.fct_sales_order_lines o on o.so_id = p.so_id and o.so_line = p.so_line
        left join marts.dim_materials m on m.material_id = o.material_id
        where p.root_wo_id = ? and p.hit_type = 'sales_order_line'
        order by p.so_due_date, p.so_id, p.so_line
        """,
        [wo_id],
    )


def wo_lots_consumed(
    con: duckdb.DuckDBPyConnection, wo_id: str, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """Lots issued into a work order (genealogy edges), per component lot, with quantity."""
    sql = """
        select e.parent_lot_id as lot_id, e.component_material_id as material_id, l.supplier_id,
               l.supplier_lot, sum(e.qty) as qty, m.uom, min(e.consumed_at) as consumed_at, e.site_id
        from marts.fct_lot_genealogy_edges e
        left join marts.dim_lots l on l.lot_id = e.parent_lot_id
        left join marts.dim_materials m on m.material_id = e.component_material_id
        where e.wo_id = ?
        group by all
    """
    return _first(con, sql, [wo_id], "material_id, lot_id", limit)


def wo_lots_issued(
    con: duckdb.DuckDBPyConnection, wo_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """What the warehouse issued to a work order up to A (issue movements that reference it), per lot.

    The MES reports which lots an order consumed (the genealogy) when it reports the consumption, in the
    demo when the order completes; until then the issues are what names the lots in the work in progress.
    Stock kept without lots is one row with no lot. Issues are negative movements; returns are netted.
    """
    sql = """
        select v.lot_id, v.material_id, l.supplier_id, l.supplier_lot, -sum(v.qty) as qty, m.uom,
               min(v.moved_at) as issued_at, v.site_id
        from marts.fct_inventory_movements v
        left join marts.dim_lots l on l.lot_id = v.lot_id
        left join marts.dim_materials m on m.material_id = v.material_id
        where v.reference_type = 'wo' and v.reference_id = ? and v.movement_type = 'issue'
          and v.moved_date <= cast(? as date)
        group by all
        having sum(v.qty) <> 0
    """
    return _first(con, sql, [wo_id, f.as_of], "material_id, lot_id nulls last", limit)


def wo_lots_produced(con: duckdb.DuckDBPyConnection, wo_id: str) -> pd.DataFrame:
    """Lots a work order produced (its output lot and genealogy children), with their status now."""
    return _df(
        con,
        """
        with produced as (
            select output_lot_id as lot_id from marts.fct_work_orders where wo_id = $1
              and output_lot_id is not null
            union
            select child_lot_id from marts.fct_lot_genealogy_edges where wo_id = $1
        )
        select l.lot_id, l.material_id, l.site_id, l.status, l.manufacture_date, l.expiry_date,
               i.on_hand_qty, m.uom
        from produced p join marts.dim_lots l using (lot_id)
        left join marts.fct_inventory_by_lot i using (lot_id)
        left join marts.dim_materials m on m.material_id = l.material_id
        order by l.lot_id
        """,
        [wo_id],
    )


def material_balance_by_day(con: duckdb.DuckDBPyConnection, material_id: str, f: Filters) -> pd.DataFrame:
    """The projected balance after each netting day's last event, per site: the whole horizon for the chart
    (the table is capped; the line is not)."""
    site_sql, params = _site(f, "site_id")
    return _df(
        con,
        f"""
        select site_id, material_id || ' @ ' || site_id as series, netting_date as need_date,
               arg_max(coalesce(wo_id, so_id || '/' || cast(so_line as varchar),
                                po_id || '/' || cast(po_line as varchar), lot_id, event_type),
                       event_seq) as wo_id,
               arg_max(projected_balance, event_seq) as projected_balance
        from marts.fct_projected_balance
        where material_id = ? {site_sql}
        group by all order by series, need_date
        """,
        [material_id, *params],
    )


# --- lot --------------------------------------------------------------------------------------------------


STATUS_LABELS = {"quarantine": "in quarantine", "on_hold": "on hold"}


def _why(status: str, reason: Any, reason_source: str, decided_by: Any, valid_from: Any) -> str:
    """'on hold - QA: <reason> (decided by X on D)': QA's own reason says "QA:"; a reason taken from the
    failed inspections or NCRs, or "the feed gives no reason", stands as it is."""
    text = STATUS_LABELS.get(status, status)
    if not is_missing(reason):
        text += f" - {'QA: ' if reason_source == 'qa_decision' else ''}{reason}"
    if not is_missing(decided_by):
        text += f" (decided by {decided_by} on {pd.Timestamp(valid_from).date().isoformat()})"
    return text


def lot_status_history(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    """Each status period of a lot, oldest first, and why (fct_lot_status_periods): QA's reason and who
    decided it for every hold, past and present; the failed inspections or NCRs behind a block without one.
    """
    df = _df(
        con,
        """
        select valid_from as "from", valid_to as "to", status, reason, reason_source, decided_by,
               source_record_id as source_record
        from marts.fct_lot_status_periods where lot_id = ? order by period_seq
        """,
        [lot_id],
    )
    columns = ("status", "reason", "reason_source", "decided_by", "from")
    df["why"] = [_why(*r) for r in zip(*(df[c] for c in columns), strict=True)]
    return df[["from", "to", "status", "why", "source_record"]]


def lot_inspections(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    return _df(
        con,
        """
        select inspection_id, inspection_type, result, started_at, completed_at, sample_size, defects_found,
               inspector, site_id
        from marts.fct_inspections where lot_id = ? order by started_at
        """,
        [lot_id],
    )


def lot_ncrs(con: duckdb.DuckDBPyConnection, lot_id: str) -> pd.DataFrame:
    return _df(
        con,
        """
        select ncr_id, status, severity, defect_code, source, opened_date, closed_date, qty_affected,
               disposition, capa_id, supplier_id
        from marts.fct_nonconformances where lot_id = ? order by opened_at
        """,
        [lot_id],
    )


def lot_genealogy(
    con: duckdb.DuckDBPyConnection, lot_id: str, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """The lots this lot was made from (``made from``) and went into (``went into``), one hop each way."""
    sql = """
        select 'made from' as link, e.parent_lot_id as lot_id, e.component_material_id as material_id,
               e.wo_id, e.qty, m.uom, e.consumed_at, e.site_id
        from marts.fct_lot_genealogy_edges e
        left join marts.dim_materials m on m.material_id = e.component_material_id
        where e.child_lot_id = $1
        union all
        select 'went into', e.child_lot_id, e.child_material_id, e.wo_id, e.qty, m.uom, e.consumed_at,
               e.site_id
        from marts.fct_lot_genealogy_edges e
        left join marts.dim_materials m on m.material_id = e.component_material_id
        where e.parent_lot_id = $1
    """
    return _first(con, sql, [lot_id], "link desc, consumed_at, lot_id", limit)


def lot_shipments(
    con: duckdb.DuckDBPyConnection, lot_id: str, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    sql = """
        select s.shipment_id, s.so_id as sales_order, s.so_line as line, s.customer_id, c.name as customer,
               s.qty, m.uom, s.shipped_at, s.delivered_at, s.site_id
        from marts.fct_lot_shipments s
        left join marts.dim_customers c using (customer_id)
        left join marts.dim_materials m on m.material_id = s.material_id
        where s.lot_id = $1
    """
    return _first(con, sql, [lot_id], "shipped_at, shipment_id", limit)


# --- customer and supplier --------------------------------------------------------------------------------


def customer_order_lines(
    con: duckdb.DuckDBPyConnection, customer_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """A customer's open order lines at the mart's as-of date, at risk first, with why.

    At risk (fct_sales_order_lines.is_at_risk) = past due, a work order made for it late or short, or a
    shortage pegged up to it.
    """
    site_sql, params = _site(f, "o.site_id")
    sql = f"""
        select o.so_id as sales_order, o.so_line as line, o.is_at_risk as at_risk,
               nullif(concat_ws('; ',
                   case when o.is_past_due then 'past due' end,
                   case when o.has_late_dependent_wo then 'work order late' end,
                   case when o.has_short_dependent_wo then 'components short' end,
                   case when o.is_pegged_to_shortage then 'pegged to a shortage' end), '') as why,
               o.material_id, m.description, o.site_id, o.due_date, o.days_late, o.qty, o.open_qty, m.uom
        from marts.fct_sales_order_lines o left join marts.dim_materials m using (material_id)
        where o.customer_id = ? and o.is_open {site_sql}
    """
    return _first(con, sql, [customer_id, *params], "at_risk desc, due_date, sales_order, line", limit)


def customer_lot_shipments(
    con: duckdb.DuckDBPyConnection, customer_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """What a customer received, one row per shipment and lot (the recall view), newest first, up to A."""
    site_sql, params = _site(f, "s.site_id")
    sql = f"""
        select s.shipment_id, s.lot_id, s.material_id, s.so_id as sales_order, s.so_line as line, s.qty,
               m.uom, s.shipped_at, s.delivered_at, s.site_id
        from marts.fct_lot_shipments s left join marts.dim_materials m using (material_id)
        where s.customer_id = ? and s.shipped_date <= cast(? as date) {site_sql}
    """
    return _first(con, sql, [customer_id, f.as_of, *params], "shipped_at desc, shipment_id, lot_id", limit)


def supplier_period_scorecard(con: duckdb.DuckDBPyConnection, supplier_id: str, f: Filters) -> pd.DataFrame:
    """A supplier's on-time delivery, incoming reject rate and lead time over the filters' period.

    Same definitions as the KPIs (kpi-definitions.md): a PO line not cancelled counts on its requested date,
    on time when received in full by then; an incoming inspection counts on its completion date, a reject
    when it failed (pass and fail only); lead time = days from order to first receipt of the lines received
    in the period.
    """
    site_po = " and p.site_id = $site" if f.site else ""
    site_lot = " and l.site_id = $site" if f.site else ""
    named: dict[str, Any] = {"supplier": supplier_id, "start": f.period_start, "a": f.as_of}
    if f.site:
        named["site"] = f.site
    sql = f"""
        with po as (
            select count(*) as po_lines_due,
                   count(*) filter (where p.is_on_time) as po_lines_on_time
            from marts.fct_purchase_order_lines p
            where p.supplier_id = $supplier and not p.is_cancelled
              and p.requested_date between cast($start as date) and cast($a as date) {site_po}
        ),
        received as (
            select count(*) as lines_received, median(p.actual_lead_time_days) as median_lead_time_days
            from marts.fct_purchase_order_lines p
            where p.supplier_id = $supplier and p.first_receipt_date between cast($start as date)
              and cast($a as date) {site_po}
        ),
        insp as (
            select count(*) as incoming_inspections,
                   count(*) filter (where i.result = 'fail') as incoming_rejects
            from marts.fct_inspections i join marts.dim_lots l using (lot_id)
            where l.supplier_id = $supplier and i.inspection_type = 'incoming'
              and i.result in ('pass', 'fail')
              and cast(i.completed_at as date) between cast($start as date) and cast($a as date) {site_lot}
        )
        select po.po_lines_on_time / nullif(po.po_lines_due, 0) as on_time_rate, po.po_lines_on_time,
               po.po_lines_due, insp.incoming_rejects / nullif(insp.incoming_inspections, 0) as reject_rate,
               insp.incoming_rejects, insp.incoming_inspections, received.median_lead_time_days,
               received.lines_received
        from po, insp, received
    """
    try:
        return con.execute(sql, named).df()
    except duckdb.CatalogException as exc:
        raise MartMissingError(str(exc).split("\n")[0]) from exc


# problems first: what accounts payable must not pay yet, then what is still to come
MATCH_ORDER = ("qty_mismatch", "price_mismatch", "not_received", "not_invoiced", "matched")


def supplier_three_way_match(
    con: duckdb.DuckDBPyConnection, supplier_id: str, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """A supplier's PO lines against their receipts and invoices at the build date (fct_three_way_match),
    mismatches first, then not received, not invoiced, matched."""
    site_sql, params = _site(f, "t.site_id")
    rank = " ".join(f"when '{s}' then {i}" for i, s in enumerate(MATCH_ORDER))
    sql = f"""
        select t.po_id as purchase_order, t.po_line as line, replace(t.match_status, '_', ' ') as status,
               t.material_id, t.qty_ordered as ordered, t.qty_received as received,
               t.qty_invoiced as invoiced,
               t.agreed_unit_price as agreed_price, t.invoiced_unit_price as invoiced_price,
               coalesce(t.invoice_currency, t.agreed_currency) as currency, t.invoice_ids as invoices,
               t.last_invoice_date, t.site_id, case t.match_status {rank} end as status_rank
        from marts.fct_three_way_match t
        where t.supplier_id = ? {site_sql}
    """
    df, total = _first(con, sql, [supplier_id, *params], "status_rank, purchase_order, line", limit)
    return df.drop(columns=["status_rank"]), total


def supplier_facts(con: duckdb.DuckDBPyConnection, supplier_id: str) -> pd.DataFrame:
    """A supplier with its business contact (an order desk, not a person's private data: shown)."""
    return _df(
        con,
        "select supplier_id, name, country, approval_status, critical, contact_email "
        "from marts.dim_suppliers where supplier_id = ?",
        [supplier_id],
    )


# --- quality page: the NCR list ---------------------------------------------------------------------------


def ncr_list(
    con: duckdb.DuckDBPyConnection, f: Filters, limit: int = DRILL_LIMIT
) -> tuple[pd.DataFrame, int]:
    """NCRs open at A and those opened in the period, open first, most severe, then oldest first.

    ``open_at`` is at the filters' date (opened on or before A, not closed by A), not the status today;
    ``age_days`` = days from opening to A for an open one, to its closing for a closed one.
    """
    site_sql, params = _site(f, "n.site_id")
    sql = f"""
        select n.ncr_id, n.opened_date <= cast($1 as date)
                         and (n.closed_date is null or n.closed_date > cast($1 as date)) as open_at,
               n.severity, n.lot_id, n.material_id, n.supplier_id, s.name as supplier, n.defect_code,
               n.source, n.opened_date, n.closed_date,
               datediff('day', n.opened_date,
                        least(coalesce(n.closed_date, cast($1 as date)), cast($1 as date))) as age_days,
               n.qty_affected, m.uom, n.disposition, n.capa_id, n.site_id,
               case n.severity when 'critical' then 0 when 'major' then 1 when 'minor' then 2 else 3 end
                   as severity_rank
        from marts.fct_nonconformances n
        left join marts.dim_suppliers s on s.supplier_id = n.supplier_id
        left join marts.dim_materials m on m.material_id = n.material_id
        where n.opened_date <= cast($1 as date)
          and ((n.closed_date is null or n.closed_date > cast($1 as date))
               or n.opened_date >= cast($2 as date)) {site_sql.replace("?", "$3")}
    """
    df, total = _first(
        con,
        sql,
        [f.as_of, f.period_start, *params],
        "open_at desc, severity_rank, age_days desc, ncr_id",
        limit,
    )
    return df.drop(columns=["severity_rank"]), total
