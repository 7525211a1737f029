"""Quality plan (see alerts/plans/__init__.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from alerts.plans.common import (
    SUSPECT_LOOKBACK_DAYS,
    _date,
    _in,
    _rows,
    _section,
    _value,
    id_list,
)
from alerts.state import Instance


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
