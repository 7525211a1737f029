"""Emergency plans computed from the marts, carried by shortage and quality alerts (email and app).

A plan is ``{"kind", "summary", "sections": [{"id", "title", "lines", "rows"}], "data": {...}}``: sections
render the same in the email and on the Alerts page; ``data`` keeps the raw numbers for tests and tools.
Each section is computed on its own: a section whose mart is missing or fails says so in the plan
instead of taking the whole plan (or the alert) down.

Shortage plan, for one material at one site (the time-phased shortage of ``marts.fct_shortages``):

- what is hit: the short work orders, what they make, the customer orders that depend on them;
- substitutes: approved substitutes (``fct_substitute_availability``: change control approved, not ended
  before the as-of date) valid on the need date (from ``valid_from`` to ``valid_to``), with released
  unexpired stock left after their own demand;
- suppliers: open PO lines with their ASNs, the approved suppliers of the material with planned lead times,
  and one drafted expedite request per supplier with open lines;
- re-forecast: each open PO line's expected arrival = due date + the supplier's delay (actual - planned lead
  time days), median and p90, in whole days rounded up. The delay history is the supplier's for this
  material (``fct_supplier_lead_time_stats``); when the pair has none, the supplier's PO lines of every
  material (percentiles over ``fct_purchase_order_lines.lead_time_delta_days``, linear interpolation like
  the mart); when the supplier has none, the due date as given. Each line says which history it used.
  Recovery date: the first day on which stock available now plus expected arrivals cover the cumulative
  requirement of every short work order;
- re-sequenced work orders: in need-date order, each work order runs now if the stock available now still
  covers it (a large one that does not fit waits and smaller later ones may go ahead); a waiting one runs
  from the day expected arrivals (median) cover it.

Quality plan, for a lot with a failed incoming inspection or a critical NCR: the suspect lots (the lot, and
for a purchased lot the lots of the same material from the same supplier received from ``lookback_days``
before the exception on), everything made from them by forward genealogy (``medtower.trace``), the stock to
put on hold, and the shipped devices with their customers.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import duckdb

from alerts.state import Instance

log = logging.getLogger(__name__)

# Quality plan: how far back before the exception earlier lots of the same supplier and material are suspect.
SUSPECT_LOOKBACK_DAYS = 90
# Detail rows kept with an alert per plan section (a recall scope can reach thousands of lots and shipments;
# the id lists in plan["data"] stay complete, and the Traceability page has every row).
MAX_SECTION_ROWS = 300
# Ids spelled out in a plan's sentence before "and N more".
MAX_IDS_IN_TEXT = 40


def id_list(ids: list[str], limit: int = MAX_IDS_IN_TEXT, empty: str = "none") -> str:
    """``a, b, c`` or ``a, b, ... and 12 more`` for a sentence of a plan."""
    if not ids:
        return empty
    if len(ids) <= limit:
        return ", ".join(ids)
    return ", ".join(ids[:limit]) + f" and {len(ids) - limit:,} more"


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [{c: _value(v) for c, v in zip(cols, r, strict=True)} for r in cur.fetchall()]


def _in(values: list[Any]) -> str:
    return "(" + (", ".join("?" * len(values)) or "null") + ")"


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    f = float(v)
    return f"{f:,.0f}" if f == int(f) else f"{f:,.2f}"


def _date(v: Any) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (SQL ``percentile_cont``); None for no values."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    pos = p * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _section(
    plan: dict[str, Any], sid: str, title: str, build: Callable[[], tuple[list[str], list[dict]]]
) -> None:
    try:
        lines, rows = build()
    except Exception as exc:
        log.warning("plan section %s failed: %s", sid, exc)
        lines, rows = [f"Could not be computed: {type(exc).__name__}: {exc}"], []
        plan.setdefault("errors", []).append({"section": sid, "error": str(exc)})
    total = len(rows)
    if total > MAX_SECTION_ROWS:
        rows = rows[:MAX_SECTION_ROWS]
        lines = [
            *lines,
            f"The first {MAX_SECTION_ROWS:,} of {total:,} rows are listed; the Traceability page and "
            "`medtower trace` give every one.",
        ]
    plan["sections"].append({"id": sid, "title": title, "lines": lines, "rows": rows, "rows_total": total})
    plan["data"][sid] = rows


# --- shortage ---------------------------------------------------------------------------------


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


# --- quality ----------------------------------------------------------------------------------


def suspect_lots(
    con: duckdb.DuckDBPyConnection, lot: str, event_date: dt.date | None, lookback_days: int
) -> list[dict[str, Any]]:
    """The bad lot and, for a purchased lot, the same supplier's lots of that material received from
    ``lookback_days`` before the exception on: an escape rarely starts with the lot that is caught."""
    rows = _rows(
        con,
        """
        with receipts as (
            select lot_id, min(moved_date) as received_date from marts.fct_inventory_movements
            where movement_type = 'receipt' group by lot_id
        ),
        bad as (select * from marts.dim_lots where lot_id = ?)
        select l.lot_id, l.material_id, l.supplier_id, l.supplier_lot, r.received_date,
               l.lot_id = bad.lot_id as is_failed_lot
        from marts.dim_lots as l
        join bad on l.lot_id = bad.lot_id
            or (bad.origin = 'received' and bad.supplier_id is not null and l.origin = 'received'
                and l.supplier_id = bad.supplier_id and l.material_id = bad.material_id)
        left join receipts as r on r.lot_id = l.lot_id
        order by r.received_date, l.lot_id""",
        [lot],
    )
    if event_date is None:
        return rows
    start = event_date - dt.timedelta(days=lookback_days)
    out = []
    for r in rows:
        received = _date(r["received_date"])
        if r["is_failed_lot"] or (received is not None and received >= start):
            out.append(r)
    return out


def quality_plan(
    con: duckdb.DuckDBPyConnection,
    inst: Instance,
    as_of: dt.date,
    lookback_days: int = SUSPECT_LOOKBACK_DAYS,
) -> dict[str, Any]:
    from medtower.trace import trace_lots

    lot = inst.labels["lot_id"]
    event_date = _date(inst.details.get("first_event_date")) or as_of
    plan: dict[str, Any] = {
        "kind": "quality",
        "sections": [],
        "data": {},
        "summary": (
            f"Put lot {lot} ({inst.labels.get('material_id')}) on hold with every suspect lot and everything "
            f"made from them; check the shipped devices with their customers. Reason: "
            f"{inst.details.get('reasons') or inst.title}."
        ),
    }
    state: dict[str, Any] = {"suspects": [], "downstream": {}, "shipments": []}
    if lot.startswith("NCR "):  # the rule keys an NCR without a lot by the NCR: nothing to trace
        plan["summary"] = (
            f"{lot} names no lot: find the affected lots of {inst.labels.get('material_id')} with the NCR "
            "owner, then trace them forward on the Traceability page."
        )
        return plan

    def suspects() -> tuple[list[str], list[dict]]:
        if not con.execute("select 1 from marts.dim_lots where lot_id = ?", [lot]).fetchone():
            raise ValueError(f"lot {lot} is not in marts.dim_lots (quarantined at ingest?): trace it by hand")
        rows = suspect_lots(con, lot, event_date, lookback_days)
        state["suspects"] = [r["lot_id"] for r in rows]
        others = [r["lot_id"] for r in rows if not r["is_failed_lot"]]
        return [
            f"Suspect lots: {lot} and {len(others)} other lot(s) of the same material from the same supplier "
            f"received since {event_date - dt.timedelta(days=lookback_days)} "
            f"({lookback_days} days before the exception): {id_list(others)}."
        ], rows

    def hold() -> tuple[list[str], list[dict]]:
        starts = state["suspects"] or [lot]
        result = trace_lots(con, starts, "forward")  # one walk from every suspect lot at once
        depth: dict[str, int] = dict.fromkeys(starts, 0)
        for d_ in result["lot_details"]:
            depth[d_["lot_id"]] = d_["depth"]
        wos: set[str] = set(result["work_orders"])
        state["shipments"] = result["shipment_details"]
        lots = sorted(depth)
        state["downstream"] = depth
        plan["data"]["trace"] = {
            "suspect_lots": state["suspects"],
            "lots": lots,
            "work_orders": sorted(wos),
            "customers": sorted({s["customer_id"] for s in state["shipments"]}),
            "shipments": sorted({s["shipment_id"] for s in state["shipments"]}),
        }
        rows = _rows(
            con,
            f"""
            select l.lot_id, l.material_id, l.origin, l.status, coalesce(i.on_hand_qty, 0) as on_hand_qty
            from marts.dim_lots as l left join marts.fct_inventory_by_lot as i on i.lot_id = l.lot_id
            where l.lot_id in {_in(lots)} order by l.lot_id""",
            lots,
        )
        for r in rows:
            r["generation"] = depth[r["lot_id"]]
            if float(r["on_hand_qty"] or 0) <= 0:
                r["action"] = "no stock: follow its genealogy and shipments"
            elif r["status"] == "released":
                r["action"] = "put on hold"
            else:
                r["action"] = f"keep {r['status']}: do not release"
        rows.sort(key=lambda r: (r["generation"], r["lot_id"]))
        hold_now = [r["lot_id"] for r in rows if r["action"] == "put on hold"]
        blocked = [r["lot_id"] for r in rows if r["action"].startswith("keep")]
        plan["data"]["trace"]["hold_now"] = hold_now  # complete, whatever the rows shown
        plan["data"]["trace"]["keep_blocked"] = blocked
        return [
            f"{len(lots)} lots from the suspect lots by forward genealogy, through {len(wos)} work orders.",
            f"Put on hold now (released, with stock): {id_list(hold_now)}.",
            f"Keep blocked (not released, with stock): {id_list(blocked)}.",
        ], rows

    def shipped() -> tuple[list[str], list[dict]]:
        rows = sorted(
            (
                {
                    "customer_id": s["customer_id"],
                    "customer": s.get("customer_name"),
                    "shipment_id": s["shipment_id"],
                    "so_id": s["so_id"],
                    "lot_id": s["lot_id"],
                    "serial": s.get("serial"),
                    "qty": _value(s.get("qty")),
                    "shipped_at": s.get("shipped_at"),
                }
                for s in state["shipments"]
            ),
            key=lambda r: (r["customer_id"], str(r["shipped_at"]), r["shipment_id"], r["lot_id"]),
        )
        unique = list({(r["shipment_id"], r["lot_id"], r["serial"]): r for r in rows}.values())
        customers = sorted({r["customer_id"] for r in unique})
        return [
            f"{len({r['shipment_id'] for r in unique})} shipments of suspect devices to {len(customers)} "
            f"customers: {', '.join(customers) or 'none'}. Assess field action with regulatory affairs."
        ], unique

    _section(plan, "suspects", "Suspect lots", suspects)
    _section(plan, "hold", "Lots to put on hold (forward genealogy)", hold)
    _section(plan, "shipped", "Shipped devices and customers", shipped)
    return plan


PLAN_BUILDERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Instance, dt.date], dict[str, Any]]] = {
    "shortage": shortage_plan,
    "quality": quality_plan,
}
