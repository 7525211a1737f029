"""Shortage plan (see alerts/plans/__init__.py)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb

from alerts.plans.common import (
    _date,
    _num,
    _rows,
    _section,
    percentile,
)
from alerts.state import Instance


def supplier_delays(con: duckdb.DuckDBPyConnection, supplier_id: str, material_id: str) -> dict[str, Any]:
    """Median and p90 delay (days late against the planned lead time) and which history they come from."""
    pair = con.execute(
        """select median_delay_days, p90_delay_days, n_receipts_with_plan
        from marts.fct_supplier_lead_time_stats
        where supplier_id = ? and material_id = ? and n_receipts_with_plan > 0""",
        [supplier_id, material_id],
    ).fetchone()
    if pair and pair[0] is not None:
        return {
            "median": float(pair[0]),
            "p90": float(pair[1]),
            "n": int(pair[2]),
            "basis": f"{supplier_id} on {material_id}, {int(pair[2])} receipts",
        }
    deltas = [
        float(r[0])
        for r in con.execute(
            """select lead_time_delta_days from marts.fct_purchase_order_lines
            where supplier_id = ? and first_receipt_date is not null and not is_cancelled
              and lead_time_delta_days is not null""",
            [supplier_id],
        ).fetchall()
    ]
    if deltas:
        return {
            "median": percentile(deltas, 0.5),
            "p90": percentile(deltas, 0.9),
            "n": len(deltas),
            "basis": f"{supplier_id} on all materials, {len(deltas)} receipts (none of {material_id})",
        }
    return {"median": 0.0, "p90": 0.0, "n": 0, "basis": f"no receipt history for {supplier_id}: due date"}


def _cover_date(
    arrivals: list[dict[str, Any]], col: str, have: float, need: float
) -> tuple[str | None, float]:
    """First expected date on which ``have`` plus arrivals by then reach ``need`` (None: never)."""
    if need <= have:
        return "now", have
    got = have
    for a in sorted(arrivals, key=lambda a: (a[col], a["po_id"], a["po_line"])):
        got += float(a["qty_open"] or 0)
        if got >= need:
            return a[col], got
    return None, got


def shortage_plan(con: duckdb.DuckDBPyConnection, inst: Instance, as_of: dt.date) -> dict[str, Any]:
    material, site = inst.labels["material_id"], inst.labels["site_id"]
    d = inst.details
    uom = d.get("uom") or ""
    need_date = _date(d.get("need_date"))
    plan: dict[str, Any] = {"kind": "shortage", "sections": [], "data": {}}
    plan["summary"] = (
        f"{material} ({d.get('material_description') or 'no description'}) at {site}: short "
        f"{_num(d.get('shortage_qty'))} {uom} at the worst point, first short work order needs it on "
        f"{need_date}."
    )
    balance = _rows(
        con,
        """select wo_id, need_date, qty_outstanding, cumulative_requirement, available_on_hand,
                  po_qty_due_by_need_date, projected_balance, shortage_qty, is_short
        from marts.fct_shortages where material_id = ? and site_id = ?
        order by need_date, planned_start, wo_id""",
        [material, site],
    )
    on_hand = float(balance[0]["available_on_hand"] or 0) if balance else 0.0
    short = [r for r in balance if r["is_short"]]
    # What the short work orders need in all, from stock available now and arrivals.
    need_total = max((float(r["cumulative_requirement"]) for r in short), default=0.0)
    arrivals: list[dict[str, Any]] = []

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
        orders = sorted({f"{r['so_id']} ({r['customer_id']})" for r in rows if r["so_id"]})
        return [
            f"Short material: {material} at {site}; quantity short: {_num(d.get('shortage_qty'))} {uom}; "
            f"need date: {need_date}.",
            f"Work orders hit ({len(rows)}): {', '.join(r['wo_id'] for r in rows)}.",
            f"Customer orders depending on them: {', '.join(orders) or 'none (made to stock)'}.",
        ], rows

    def substitutes() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """
            select sa.substitute_material_id, m.description, sa.priority, sa.change_id, sa.change_status,
                   sa.valid_from, sa.valid_to, sa.available_qty, sa.substitute_qty_outstanding,
                   sa.available_after_other_demand, sa.earliest_expiry_date
            from marts.fct_substitute_availability as sa
            left join marts.dim_materials as m on m.material_id = sa.substitute_material_id
            where sa.material_id = ? and sa.site_id = ?
            order by sa.priority, sa.substitute_material_id""",
            [material, site],
        )
        lines = []
        for r in rows:
            valid_from, valid_to = _date(r["valid_from"]), _date(r["valid_to"])
            day = need_date or as_of
            r["valid_on_need_date"] = (valid_from is None or valid_from <= day) and (
                valid_to is None or valid_to >= day
            )
            lots = [
                x["lot_id"]
                for x in _rows(
                    con,
                    """select lot_id from marts.fct_inventory_by_lot
                    where material_id = ? and site_id = ? and is_available order by expiry_date, lot_id""",
                    [r["substitute_material_id"], site],
                )
            ]
            r["available_lots"] = ", ".join(lots)
            free = float(r["available_after_other_demand"] or 0)
            if not r["valid_on_need_date"]:
                why = (
                    f"approval starts {valid_from}, after the need date {day}"
                    if valid_from is not None and valid_from > day
                    else f"approval ends {valid_to}, before the need date {day}"
                )
                lines.append(f"{r['substitute_material_id']}: {why}.")
            elif free > 0:
                cover = "covers the shortage" if free >= float(d.get("shortage_qty") or 0) else "covers part"
                lines.append(
                    f"Use {r['substitute_material_id']} ({r['description'] or ''}, priority {r['priority']}, "
                    f"change {r['change_id']} {r['change_status']}): {_num(free)} {uom} released, "
                    f"unexpired and free after its own demand ({cover}); lots {r['available_lots']}"
                    + (
                        f"; in force from {valid_from}."
                        if valid_from is not None and valid_from > as_of
                        else "."
                    )
                )
            else:
                lines.append(f"{r['substitute_material_id']}: approved but no free stock at {site}.")
        return lines or ["No approved substitute valid for this material."], rows

    def suppliers() -> tuple[list[str], list[dict]]:
        open_lines = _rows(
            con,
            """
            select p.supplier_id, s.name as supplier, s.contact_email, p.po_id, p.po_line, p.qty_open,
                   p.due_date, p.is_past_due_at_as_of as past_due, a.asn_id,
                   a.expected_delivery as asn_expected
            from marts.fct_purchase_order_lines as p
            left join marts.dim_suppliers as s on s.supplier_id = p.supplier_id
            left join (
                select po_id, po_line, string_agg(distinct asn_id, ', ') as asn_id,
                       max(expected_delivery) as expected_delivery
                from marts.fct_asn_lines group by po_id, po_line
            ) as a on a.po_id = p.po_id and a.po_line = p.po_line
            where p.material_id = ? and p.site_id = ? and p.is_open_at_as_of
            order by p.due_date, p.po_id, p.po_line""",
            [material, site],
        )
        approved = _rows(
            con,
            """
            select a.supplier_id, a.supplier_name as supplier, a.planned_lead_time_days, a.contact_email
            from marts.dim_approved_suppliers as a
            where a.material_id = ? and a.is_orderable
            order by a.planned_lead_time_days, a.supplier_id""",
            [material],
        )
        by_supplier: dict[str, list[dict[str, Any]]] = {}
        for line in open_lines:
            by_supplier.setdefault(line["supplier_id"], []).append(line)
        lines = []
        for supplier_id, mine in by_supplier.items():
            first = mine[0]
            items = "\n".join(
                f"  - PO {x['po_id']} line {x['po_line']}: {_num(x['qty_open'])} {uom} open, "
                f"due {x['due_date']}"
                + (f", ASN {x['asn_id']} expected {x['asn_expected']}" if x["asn_id"] else "")
                for x in mine
            )
            contact = first["contact_email"] or "no contact on record"
            lines.append(
                f"Expedite request to {first['supplier'] or supplier_id} <{contact}>:\n"
                f"Subject: Expedite {material} for {site}\n"
                f"We are short of {material} at {site} from {need_date} "
                f"({_num(d.get('shortage_qty'))} {uom} at the worst point). Please confirm by return the "
                f"earliest date you can deliver, in full or in part:\n{items}"
            )
        open_ids = set(by_supplier)
        alternates = []
        for a in approved:
            a["open_po_lines"] = len(by_supplier.get(a["supplier_id"], []))
            lead = a["planned_lead_time_days"]
            a["earliest_if_ordered_today"] = (
                (as_of + dt.timedelta(days=int(lead))).isoformat() if lead is not None else None
            )
            alternates.append(a)
        lines.append(
            "Approved suppliers (planned lead time; earliest delivery if ordered today): "
            + (
                "; ".join(
                    f"{a['supplier'] or a['supplier_id']} ({a['supplier_id']}, "
                    f"{a['planned_lead_time_days']} d, {a['earliest_if_ordered_today']}"
                    + (", has open lines" if a["supplier_id"] in open_ids else "")
                    + ")"
                    for a in alternates
                )
                or "none on record"
            )
        )
        plan["data"]["approved_suppliers"] = alternates
        return lines, open_lines

    def reforecast() -> tuple[list[str], list[dict]]:
        rows = _rows(
            con,
            """select po_id, po_line, supplier_id, qty_open, due_date
            from marts.fct_purchase_order_lines
            where material_id = ? and site_id = ? and is_open_at_as_of
            order by due_date, po_id, po_line""",
            [material, site],
        )
        cache: dict[str, dict[str, Any]] = {}
        for r in rows:
            sup = r["supplier_id"]
            if sup not in cache:
                cache[sup] = supplier_delays(con, sup, material)
            h = cache[sup]
            due = _date(r["due_date"])
            assert due is not None
            r["median_delay_days"] = h["median"]
            r["p90_delay_days"] = h["p90"]
            r["history"] = h["basis"]
            r["expected_p50"] = (due + dt.timedelta(days=math.ceil(h["median"]))).isoformat()
            r["expected_p90"] = (due + dt.timedelta(days=math.ceil(h["p90"]))).isoformat()
        arrivals.extend(rows)
        recovery = {}
        for col in ("expected_p50", "expected_p90"):
            recovery[col], _ = _cover_date(rows, col, on_hand, need_total)
        plan["data"]["recovery"] = recovery
        plan["data"]["recovery_need_qty"] = need_total
        lines = [
            f"Open PO lines expected at due date + the supplier's delay (median, p90; whole days rounded "
            f"up). {_num(on_hand)} {uom} available now; the short work orders need {_num(need_total)} {uom} "
            "in all.",
            "Recovery date (every short work order covered): "
            f"median {recovery['expected_p50'] or 'not covered by open POs'}, "
            f"90th percentile {recovery['expected_p90'] or 'not covered by open POs'}.",
        ]
        lines += [
            f"{s}: {h['basis']}, median {h['median']:+.1f} d, p90 {h['p90']:+.1f} d" for s, h in cache.items()
        ]
        return lines, rows

    def resequence() -> tuple[list[str], list[dict]]:
        rows = []
        left = on_hand
        waiting: list[dict[str, Any]] = []
        order = 0
        for r in balance:
            qty = float(r["qty_outstanding"] or 0)
            if qty <= 0:
                continue  # already issued in full: nothing to sequence
            row = {"wo_id": r["wo_id"], "need_date": r["need_date"], "qty_outstanding": qty}
            if qty <= left:
                order += 1
                left -= qty
                row.update(decision="run now", run_order=order, can_run_from=as_of.isoformat())
            else:
                row.update(decision="waits", run_order=None, can_run_from=None)
                waiting.append(row)
            rows.append(row)
        need = 0.0
        for row in waiting:
            need += row["qty_outstanding"]
            when, _ = _cover_date(arrivals, "expected_p50", left, need)
            row["can_run_from"] = when or "not covered by open POs"
        runs = [r["wo_id"] for r in rows if r["decision"] == "run now"]
        return [
            f"Run now, in this order, with the {_num(on_hand)} {uom} available: {', '.join(runs) or 'none'}.",
            "Wait: "
            + (", ".join(f"{r['wo_id']} (from {r['can_run_from']})" for r in waiting) or "none")
            + ". Dates are the median expected arrivals.",
        ], rows

    _section(plan, "hit", "What is hit", hit)
    _section(plan, "substitutes", "Substitutes", substitutes)
    _section(plan, "suppliers", "Suppliers to contact", suppliers)
    _section(plan, "reforecast", "Re-forecast", reforecast)
    _section(plan, "resequence", "Re-sequenced work orders", resequence)
    return plan
