"""Emergency plans computed from the marts, carried by shortage and quality alerts (email and app).

A plan is ``{"kind", "summary", "sections": [{"id", "title", "lines", "rows"}], "data": {...}}``: sections
render the same in the email and on the Alerts page; ``data`` keeps the raw numbers for tests and tools.
Each section is computed on its own: a section whose mart is missing or fails says so in the plan
instead of taking the whole plan (or the alert) down.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import duckdb

from alerts.state import Instance

log = logging.getLogger(__name__)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        out.append(
            {c: (v.isoformat() if isinstance(v, dt.date) else v) for c, v in zip(cols, r, strict=True)}
        )
    return out


def _section(
    plan: dict[str, Any], sid: str, title: str, build: Callable[[], tuple[list[str], list[dict]]]
) -> None:
    try:
        lines, rows = build()
    except Exception as exc:
        log.warning("plan section %s failed: %s", sid, exc)
        lines, rows = [f"Could not be computed: {type(exc).__name__}: {exc}"], []
        plan.setdefault("errors", []).append({"section": sid, "error": str(exc)})
    plan["sections"].append({"id": sid, "title": title, "lines": lines, "rows": rows})
    plan["data"][sid] = rows


def shortage_plan(con: duckdb.DuckDBPyConnection, inst: Instance, as_of: dt.date) -> dict[str, Any]:
    material, site = inst.labels["material_id"], inst.labels["site_id"]
    d = inst.details
    plan: dict[str, Any] = {"kind": "shortage", "sections": [], "data": {}}
    plan["summary"] = (
        f"{material} ({d.get('material_description') or ''}) at {site}: short {d.get('shortage_qty')} "
        f"{d.get('uom') or ''} from {d.get('need_date')}."
    )

    def hit() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """
            select s.wo_id, s.need_date, s.qty_outstanding, s.projected_balance, s.shortage_qty,
                   w.material_id as makes, w.so_id, so.customer_id
            from marts.fct_shortages as s
            left join marts.fct_work_orders as w on w.wo_id = s.wo_id
            left join (select distinct so_id, customer_id from marts.fct_sales_order_lines) as so
                   on so.so_id = w.so_id
            where s.material_id = ? and s.site_id = ? and s.is_short
            order by s.need_date, s.wo_id""",
            [material, site],
        )
        orders = sorted({r["so_id"] for r in rows if r["so_id"]})
        return [
            f"{len(rows)} work orders short; customer orders depending on them: "
            f"{', '.join(orders) or 'none (made to stock)'}"
        ], rows

    def substitutes() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """
            select * from marts.fct_substitute_availability
            where material_id = ? and site_id = ? order by 1""",
            [material, site],
        )
        usable = [
            r for r in rows if (r.get("available_after_other_demand") or r.get("available_qty") or 0) > 0
        ]
        return [
            f"{len(usable)} approved substitute(s) with released, unexpired stock after other demand"
        ], rows

    def suppliers() -> tuple[list[str], list[dict]]:
        open_lines = _rows(
            con,
            """
            select p.supplier_id, s.name as supplier, s.contact_email, p.po_id, p.po_line, p.qty_open,
                   p.due_date, p.is_past_due_at_as_of
            from marts.fct_purchase_order_lines as p
            left join marts.dim_suppliers as s on s.supplier_id = p.supplier_id
            where p.material_id = ? and p.site_id = ? and p.is_open_at_as_of
            order by p.due_date""",
            [material, site],
        )
        # No mart holds the approved-supplier list yet; staging is the closest modelled layer.
        alternates = _rows(
            con,
            """
            select a.supplier_id, s.name as supplier, a.planned_lead_time_days, s.contact_email
            from staging.stg_feed__approved_suppliers as a
            left join marts.dim_suppliers as s on s.supplier_id = a.supplier_id
            where a.material_id = ? and a.approved order by a.planned_lead_time_days""",
            [material],
        )
        lines = []
        for line in open_lines[:5]:
            lines.append(
                f"Expedite request to {line['supplier']} <{line['contact_email']}>: please confirm "
                f"the earliest possible delivery of PO {line['po_id']} line {line['po_line']} "
                f"({line['qty_open']} of "
                f"{material}, due {line['due_date']}); we need it at {site} by {d.get('need_date')}."
            )
        alt = [a for a in alternates if a["supplier_id"] not in {x["supplier_id"] for x in open_lines}]
        lines.append(
            "Alternate approved suppliers: "
            + (", ".join(f"{a['supplier']} ({a['planned_lead_time_days']} d)" for a in alt) or "none")
        )
        plan["data"]["alternate_suppliers"] = alt
        return lines, open_lines

    def resequence() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """
            select wo_id, need_date, qty_outstanding, projected_balance,
                   case when projected_balance >= 0 then 'can run' else 'waits' end as decision
            from marts.fct_shortages where material_id = ? and site_id = ?
            order by need_date, wo_id""",
            [material, site],
        )
        return [
            "Work orders in need-date order with what is available now (and due before each need date)"
        ], rows

    def reforecast() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """
            select p.po_id, p.po_line, p.supplier_id, p.qty_open, p.due_date,
                   st.median_delay_days, st.p90_delay_days,
                   p.due_date + cast(round(coalesce(st.median_delay_days, 0)) as integer) as expected_p50,
                   p.due_date + cast(round(coalesce(st.p90_delay_days, 0)) as integer) as expected_p90
            from marts.fct_purchase_order_lines as p
            left join marts.fct_supplier_lead_time_stats as st on st.supplier_id = p.supplier_id
            where p.material_id = ? and p.site_id = ? and p.is_open_at_as_of
            order by expected_p50""",
            [material, site],
        )
        need = float(d.get("shortage_qty") or 0)
        recovery = {}
        for col in ("expected_p50", "expected_p90"):
            got = 0.0
            for r in sorted(rows, key=lambda r: r[col] or "9999"):
                got += float(r["qty_open"] or 0)
                if got >= need:
                    recovery[col] = r[col]
                    break
        plan["data"]["recovery"] = recovery
        return [
            "Recovery date (open POs cover the shortage): median "
            f"{recovery.get('expected_p50', 'not covered')}, "
            f"90th percentile {recovery.get('expected_p90', 'not covered')}"
        ], rows

    _section(plan, "hit", "What is hit", hit)
    _section(plan, "substitutes", "Substitutes", substitutes)
    _section(plan, "suppliers", "Suppliers to contact", suppliers)
    _section(plan, "resequence", "Re-sequenced work orders", resequence)
    _section(plan, "reforecast", "Re-forecast", reforecast)
    return plan


def quality_plan(con: duckdb.DuckDBPyConnection, inst: Instance, as_of: dt.date) -> dict[str, Any]:
    lot = inst.labels["lot_id"]
    plan: dict[str, Any] = {
        "kind": "quality",
        "sections": [],
        "data": {},
        "summary": f"Put lot {lot} and everything made from it on hold; check shipped devices.",
    }

    def hold() -> tuple[list[str], list[dict]]:
        from medtower.trace import trace

        result = trace(con, lot, "forward")
        lots = list(result.get("lots", []))
        plan["data"]["trace"] = {k: result.get(k) for k in ("lots", "work_orders", "shipments", "customers")}
        rows = _rows(
            con,
            f"""
            select l.lot_id, l.material_id, l.site_id, l.status, i.on_hand_qty
            from marts.dim_lots as l left join marts.fct_inventory_by_lot as i on i.lot_id = l.lot_id
            where l.lot_id in ({", ".join("?" * len(lots)) or "null"}) order by l.lot_id""",
            lots,
        )
        return [
            f"{len(lots)} lots downstream of {lot}; work orders: {len(result.get('work_orders', []))}"
        ], rows

    def shipped() -> tuple[list[str], list[dict]]:
        lots = plan["data"].get("trace", {}).get("lots") or []
        rows = _rows(
            con,
            f"""
            select s.customer_id, c.name as customer, s.shipment_id, s.so_id, s.lot_id, s.serial, s.qty,
                   s.shipped_date
            from marts.fct_lot_shipments as s
            left join marts.dim_customers as c on c.customer_id = s.customer_id
            where s.lot_id in ({", ".join("?" * len(lots)) or "null"})
            order by s.customer_id, s.shipped_date""",
            lots,
        )
        customers = sorted({r["customer_id"] for r in rows})
        return [
            f"{len(rows)} shipments to {len(customers)} customers: {', '.join(customers) or 'none'}"
        ], rows

    _section(plan, "hold", "Lots to put on hold (forward genealogy)", hold)
    _section(plan, "shipped", "Shipped devices and customers", shipped)
    return plan


PLAN_BUILDERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Instance, dt.date], dict[str, Any]]] = {
    "shortage": shortage_plan,
    "quality": quality_plan,
}
