"""Purchased supply: received lots, purchase order lines, ASNs and receipt timing per supplier.

Received lots come out of the FIFO chain (available = released after incoming inspection, before the
first need). Working backwards from the receipt gives the supplier's lateness, the requested date and
the order date, so supplier on-time delivery is a property of the supplier, not of chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo.catalog import ESCAPE_MATERIAL, ESCAPE_SUPPLIER, LATE_SUPPLIER, Catalog
from ingest.demo.chain import DAY, HOUR, fifo, floor_day, work_time
from ingest.demo.world import World, dates, ts

LEAD = (2 * DAY, 12 * DAY)  # released this long before the first need


def plan_purchases(world: World, cat: Catalog, needs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Received lots (internal frame, all of them incl. future) and need->lot segments."""
    rng = world.rng
    asl = cat.tables["approved_suppliers"]
    lead = {
        (sup_id, mat): int(days)
        for sup_id, mat, days in zip(
            asl["supplier_id"], asl["material_id"], asl["planned_lead_time_days"], strict=True
        )
    }
    lots, segs = [], []
    for (material_id, site_id), grp in needs.groupby(["material_id", "site_id"], sort=True):
        grp = grp.sort_values(["plan_t", "t"], kind="stable")
        part = cat.part(material_id)
        unit = 1000 if part.uom == "EA" else 1
        plan = fifo(
            grp["plan_t"].to_numpy(),
            grp["q"].to_numpy(),
            int(part.lot_min * 1000),
            int(part.lot_max * 1000),
            LEAD,
            rng,
            unit=unit,
        )
        k = len(plan.lot_qty)
        names = [n for n, _ in part.sources]
        shares = np.array([w for _, w in part.sources])
        sup = np.array([cat.supplier_ids[n] for n in names])[
            rng.choice(len(names), k, p=shares / shares.sum())
        ]
        if material_id == ESCAPE_MATERIAL:  # the escape supplier must have a history at every scale
            sup = np.where(np.arange(k) % 5 != 4, ESCAPE_SUPPLIER, sup)
        release_after = rng.integers(20 * HOUR, 4 * DAY, k) if part.lot_controlled else np.full(k, 2 * HOUR)
        receipt = plan.lot_avail - release_after
        receipt = work_time(floor_day(receipt), rng, 7, 16)
        receipt = np.minimum(receipt, plan.lot_avail - HOUR)
        avail = plan.lot_avail.copy()
        # A lot received by as_of but released only after it would sit in incoming inspection,
        # which netting cannot count on: it arrives the next working day instead (an open PO line).
        # Its first need is at least LEAD[0] = 2 days after the original release, so it is still in time.
        waiting = (receipt < world.end) & (avail >= world.end)
        if waiting.any():
            receipt[waiting] = work_time(np.full(int(waiting.sum()), world.end), rng, 7, 12)
            quick = 20 * HOUR if part.lot_controlled else 2 * HOUR
            avail[waiting] = np.maximum(avail[waiting], receipt[waiting] + quick)
        lot_ids = world.ids("lot_id", k) if part.lot_controlled else np.zeros(k, dtype=np.int64)
        lead_days = np.array([lead[(s_, material_id)] for s_ in sup])
        lots.append(
            pd.DataFrame(
                {
                    "material_id": material_id,
                    "site_id": site_id,
                    "supplier_id": sup,
                    "q": plan.lot_qty,
                    "receipt": receipt,
                    "avail": avail,
                    "lot": lot_ids,
                    "lot_controlled": part.lot_controlled,
                    "lead_days": lead_days,
                    "shelf": part.shelf_life_days or 0,
                }
            )
        )
        seg_rows = grp.iloc[plan.seg_need]
        segs.append(
            pd.DataFrame(
                {
                    "need": seg_rows["ref"].to_numpy(),
                    "src": "wo",
                    "t": seg_rows["t"].to_numpy(),
                    "lot": lot_ids[plan.seg_lot],
                    "qty": plan.seg_qty,
                    "material_id": material_id,
                    "site_id": site_id,
                    "lot_controlled": part.lot_controlled,
                }
            )
        )
    return pd.concat(lots, ignore_index=True), pd.concat(segs, ignore_index=True)


def schedule_purchases(world: World, lots: pd.DataFrame) -> pd.DataFrame:
    """Supplier lateness, requested/confirmed/order dates and supplier lot numbers for received lots."""
    rng = world.rng
    n = len(lots)
    late_sup = lots["supplier_id"].to_numpy() == LATE_SUPPLIER
    delay = np.where(rng.random(n) < 0.87, rng.integers(-4, 1, n), rng.integers(1, 9, n))
    delay = np.where(late_sup, rng.integers(10, 26, n), delay)
    # a delivery still to come is on time at every supplier but the late one; lateness is history
    still_open = (lots["receipt"].to_numpy() >= world.end) & ~late_sup
    delay = np.where(still_open, np.minimum(delay, 0), delay)
    receipt_day = lots["receipt"].to_numpy() // DAY
    # the planner asks for delivery by the day after release is planned, which is before the first need
    latest = lots["avail"].to_numpy() // DAY + 1
    req_day = np.minimum(receipt_day - delay, latest)
    has_conf = rng.random(n) < 0.75
    conf_day = np.minimum(req_day + np.clip(delay - rng.integers(0, 6, n), 0, None), latest)
    # lines still open at as_of are not past due, except at the chronically late supplier
    a_day = world.t0 // DAY
    req_day = np.where(still_open, np.maximum(req_day, a_day), req_day)
    conf_day = np.where(has_conf, np.where(still_open, np.maximum(conf_day, a_day), conf_day), -1)
    # ordered at least the supplier's planned lead time ahead of the requested date
    order_day = req_day - lots["lead_days"].to_numpy() - rng.integers(0, 7, n)
    mfg_day = receipt_day - rng.integers(10, 61, n)
    shelf = lots["shelf"].to_numpy()
    sup_num = rng.integers(100_000, 999_999, n)
    prefix = lots["supplier_id"].str[-3:].to_numpy()
    return lots.assign(
        delay=delay,
        req_day=req_day,
        conf_day=conf_day,
        order_day=order_day,
        mfg_day=mfg_day,
        exp_day=np.where(shelf > 0, mfg_day + shelf, -1),
        supplier_lot=np.char.add(np.char.add(prefix.astype(str), "-"), sup_num.astype(str)),
    )


def build_purchasing(world: World, cat: Catalog, lots: pd.DataFrame) -> pd.DataFrame:
    """purchase_orders and asn rows for lots already ordered at as_of; returns ordered lots with po keys."""
    rng = world.rng
    end_day = world.end // DAY
    asl = cat.tables["approved_suppliers"].set_index(["supplier_id", "material_id"])["unit_price"]
    lots = lots[lots["order_day"] < end_day].copy()
    lots = lots.sort_values(["order_day", "supplier_id", "site_id", "material_id", "receipt"], kind="stable")
    lots = lots.reset_index(drop=True)
    key = lots["supplier_id"] + "|" + lots["site_id"] + "|" + lots["order_day"].astype(str)
    codes = pd.factorize(key)[0]
    lots["po_id"] = world.ids("po_id", int(codes.max()) + 1)[codes]
    lots["po_line"] = lots.groupby("po_id").cumcount().astype(np.int64) + 1
    received = lots["receipt"].to_numpy() < world.end
    n = len(lots)
    lots["received"] = received
    qty = lots["q"].to_numpy() / 1000.0
    # the supplier acknowledges a line (EDI 855 or portal) within hours to days of the order; some lines
    # ordered in the last days are not acknowledged yet, and a line not acknowledged has no confirmed date
    order_t = lots["order_day"].to_numpy() * DAY
    ack_t = work_time(order_t + rng.integers(0, 3, n) * DAY, rng, 8, 18)
    recent = lots["order_day"].to_numpy() >= end_day - 4
    acked = (ack_t < world.end) & ~(recent & (rng.random(n) < 0.5) & ~received)
    conf_day = np.where(acked, lots["conf_day"].to_numpy(), -1)
    po = pd.DataFrame(
        {
            "po_id": lots["po_id"].to_numpy(),
            "po_line": lots["po_line"].to_numpy(),
            "supplier_id": lots["supplier_id"].to_numpy(),
            "material_id": lots["material_id"].to_numpy(),
            "site_id": lots["site_id"].to_numpy(),
            "qty_ordered": qty,
            "order_date": dates(lots["order_day"].to_numpy() * DAY),
            "requested_date": dates(lots["req_day"].to_numpy() * DAY),
            "confirmed_date": dates(np.where(conf_day >= 0, conf_day * DAY, -1)),
            "acknowledged_at": ts(np.where(acked, ack_t, -1)),
            "status": np.where(received, "received", "open"),
            "updated_at": ts(
                np.where(received, lots["receipt"], lots["order_day"].to_numpy() * DAY + 10 * HOUR)
            ),
        }
    )
    # a few cancelled lines that never shipped
    n_cancel = max(1, int(n * 0.012))
    pick = np.sort(rng.choice(n, n_cancel, replace=False))
    cancel = po.iloc[pick].copy()
    cancel["po_line"] = cancel["po_line"] + 100
    cancel["status"] = "cancelled"
    world.add("purchase_orders", pd.concat([po, cancel], ignore_index=True))
    _asn(world, lots, asl)
    return lots


def _asn(world: World, lots: pd.DataFrame, prices: pd.Series) -> None:
    rng = world.rng
    n = len(lots)
    transit = rng.integers(2, 11, n) * DAY
    shipped = lots["receipt"].to_numpy() - transit - rng.integers(0, 8, n) * HOUR
    want = (rng.random(n) < 0.6) | (~lots["received"].to_numpy())
    keep = want & (shipped < world.end) & (shipped // DAY > lots["order_day"].to_numpy())
    a = lots[keep]
    sh = shipped[keep]
    key = a["supplier_id"] + "|" + a["site_id"] + "|" + pd.Series(sh // DAY, index=a.index).astype(str)
    codes = pd.factorize(key)[0]
    asn_ids = world.ids("asn_id", int(codes.max()) + 1 if len(codes) else 0)[codes]
    expected = a["receipt"].to_numpy() // DAY + rng.integers(-1, 2, len(a))
    # in transit to an on-time supplier: expected by the line's due date (the late supplier is late)
    due = np.where(a["conf_day"].to_numpy() >= 0, a["conf_day"].to_numpy(), a["req_day"].to_numpy())
    on_time = ~a["received"].to_numpy() & (a["supplier_id"].to_numpy() != LATE_SUPPLIER)
    expected = np.where(on_time, np.minimum(expected, due), expected)
    frame = pd.DataFrame(
        {
            "asn_id": asn_ids,
            "supplier_id": a["supplier_id"].to_numpy(),
            "po_id": a["po_id"].to_numpy(),
            "po_line": a["po_line"].to_numpy(),
            "material_id": a["material_id"].to_numpy(),
            "qty_shipped": a["q"].to_numpy() / 1000.0,
            "supplier_lot": np.where(a["lot_controlled"].to_numpy(), a["supplier_lot"].to_numpy(), None),
            "expiry_date": dates(np.where(a["exp_day"] >= 0, a["exp_day"] * DAY, -1)),
            "shipped_at": ts(sh),
            "expected_delivery": dates(expected * DAY),
        }
    )
    frame = frame.sort_values(["asn_id", "po_id", "po_line"], kind="stable").reset_index(drop=True)
    frame.insert(1, "asn_line", frame.groupby("asn_id").cumcount().astype(np.int64) + 1)
    world.internal["asn"] = frame
    world.add("asn", frame)
