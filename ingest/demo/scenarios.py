"""The planted situations every demo contains, at every scale and seed, and their ids for the manifest.

Each one is built so that the definition in kpi-definitions.md holds for it when recomputed from the
CSV files alone; tests do exactly that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo import inventory, production
from ingest.demo.catalog import (
    ESCAPE_MATERIAL,
    ESCAPE_SUPPLIER,
    EXPIRING_MATERIAL,
    GAL,
    LATE_MATERIAL,
    LATE_SUPPLIER,
    REVISED_FG,
    SHORT_ALT_SUPPLIER,
    SHORT_MATERIAL,
    SHORT_SITE,
    SHORT_SUPPLIER,
    SUBSTITUTE_MATERIAL,
    SZX,
    Catalog,
    S,
)
from ingest.demo.chain import DAY, HOUR
from ingest.demo.ids import fmt
from ingest.demo.world import World, dates, ts

OPEN_WO = ("released", "in_progress", "on_hold")
SHORT_FG = REVISED_FG  # PICC 4Fr: the needle is a direct BOM component


def push_short_supply(world: World, rlots: pd.DataFrame) -> pd.DataFrame:
    """The short needle's open supply is confirmed only after the next three weeks of need."""
    end_day = world.end // DAY
    m = (
        (rlots["material_id"] == SHORT_MATERIAL)
        & (rlots["site_id"] == SHORT_SITE)
        & (rlots["receipt"] >= world.end)
    ).to_numpy()
    k = int(m.sum())
    # the supplier ships the backlog over three days: the shortage recovers in about 3.5 weeks at any scale
    new_day = np.maximum(
        rlots.loc[m, "receipt"].to_numpy() // DAY, end_day + 24 + np.minimum(np.arange(k), 2)
    )
    rlots = rlots.copy()
    rlots.loc[m, "receipt"] = new_day * DAY + 10 * HOUR
    rlots.loc[m, "conf_day"] = new_day
    rlots.loc[m, "req_day"] = np.maximum(rlots.loc[m, "req_day"].to_numpy(), end_day + 22)
    return rlots


def fixed_change_controls(world: World, cat: Catalog) -> list[dict]:
    """Change controls that substitutes and the IFU revision cite (implemented, approved)."""
    t0 = world.t0
    if cat.revision_cutover is None:
        raise ValueError("the catalog has no revision cutover: build it with build_catalog()")
    cut = (cat.revision_cutover - world.as_of).days * DAY + t0
    ids = world.ids("change_id", 3)
    world.internal["cc_ids"] = pd.DataFrame({"id": ids})
    return [
        {
            "change_id": ids[0],
            "change_type": "material",
            "material_id": SHORT_MATERIAL,
            "opened_at": t0 - 220 * DAY + 9 * HOUR,
            "approved_at": t0 - 180 * DAY + 15 * HOUR,
            "implemented_at": t0 - 170 * DAY + 11 * HOUR,
            "status": "implemented",
            "title": f"Qualify {SUBSTITUTE_MATERIAL} alternate-bevel needle as a substitute for "
            f"{SHORT_MATERIAL}",
        },
        {
            "change_id": ids[1],
            "change_type": "labeling",
            "material_id": REVISED_FG,
            "opened_at": cut - 70 * DAY + 9 * HOUR,
            "approved_at": cut - 20 * DAY + 14 * HOUR,
            "implemented_at": cut + 8 * HOUR,
            "status": "implemented",
            "title": "PICC IFU revision B: MR-conditional statement (BOM revision B)",
        },
        {
            "change_id": ids[2],
            "change_type": "supplier",
            "material_id": SHORT_MATERIAL,
            "opened_at": t0 - 300 * DAY + 9 * HOUR,
            "approved_at": t0 - 250 * DAY + 9 * HOUR,
            "implemented_at": t0 - 240 * DAY + 9 * HOUR,
            "status": "implemented",
            "title": f"Second source for {SHORT_MATERIAL}: {SHORT_ALT_SUPPLIER}",
        },
    ]


def substitutes(world: World) -> pd.DataFrame:
    """The alternate-bevel needle is validated for the 4Fr PICC only (the device the planted shortage
    hits, not the 5Fr that also uses the needle); the revised IFU leaflet replaces rev A in every parent."""
    cc = world.internal["cc_ids"]["id"].to_numpy()
    return pd.DataFrame(
        {
            "material_id": [SHORT_MATERIAL, "PK-51002"],
            "substitute_material_id": [SUBSTITUTE_MATERIAL, "PK-51012"],
            "parent_material_id": [SHORT_FG, None],
            "priority": np.array([1, 1], dtype=np.int64),
            "change_id": [cc[0], cc[1]],
            "valid_from": dates(np.array([world.t0 - 170 * DAY, world.t0 - 140 * DAY])),
            "valid_to": dates(np.array([-1, -1])),
        }
    )


# --- helpers ------------------------------------------------------------------------------------------


def _po_line(
    world: World,
    supplier: str,
    material: str,
    site: str,
    qty: float,
    order_t: int,
    req_t: int,
    conf_t: int,
    status: str,
    updated_t: int,
) -> tuple[int, int]:
    po = int(world.ids("po_id", 1)[0])
    world.add(
        "purchase_orders",
        pd.DataFrame(
            {
                "po_id": [po],
                "po_line": np.array([1], dtype=np.int64),
                "supplier_id": [supplier],
                "material_id": [material],
                "site_id": [site],
                "qty_ordered": [float(qty)],
                "order_date": dates(np.array([order_t])),
                "requested_date": dates(np.array([req_t])),
                "confirmed_date": dates(np.array([conf_t])),
                "acknowledged_at": ts(
                    np.array([min(order_t // DAY * DAY + DAY + 10 * HOUR, world.end - HOUR)])
                ),
                "status": [status],
                "updated_at": ts(np.array([updated_t])),
            }
        ),
    )
    return po, 1


def _receive(
    world: World,
    supplier: str,
    material: str,
    site: str,
    qty: float,
    receipt_t: int,
    result: str,
    status: str,
    status_t: int,
    exp_t: int = -1,
    done_t: int = -1,
) -> int:
    """One received lot with its PO line, receipt, incoming inspection and lot record; returns lot id."""
    rng = world.rng
    po, line = _po_line(
        world,
        supplier,
        material,
        site,
        qty,
        receipt_t - 40 * DAY,
        receipt_t - DAY,
        receipt_t - DAY,
        "received",
        receipt_t,
    )
    lot = int(world.ids("lot_id", 1)[0])
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": [receipt_t],
                "site_id": [site],
                "location": ["RECEIVING"],
                "material_id": [material],
                "lot_id": [lot],
                "qty": [float(qty)],
                "movement_type": ["receipt"],
                "reference_type": ["po"],
                "reference_id": [po],
                "reference_line": [line],
            }
        ),
    )
    start = receipt_t + 3 * HOUR
    done = done_t if done_t > 0 else (start + 20 * HOUR if result != "pending" else -1)
    world.add(
        "inspections",
        pd.DataFrame(
            {
                "inspection_id": world.ids("inspection_id", 1),
                "lot_id": [lot],
                "material_id": [material],
                "inspection_type": ["incoming"],
                "started_at": ts(np.array([start])),
                "completed_at": ts(np.array([done])),
                "sample_size": np.array([32], dtype=np.int64),
                "defects_found": pd.array([{"pass": 0, "fail": 6}.get(result)], dtype="Int64"),
                "result": [result],
                "inspector": ["m.walsh"],
            }
        ),
    )
    inventory.add_lots(
        world,
        pd.DataFrame(
            {
                "lot_id": [lot],
                "material_id": [material],
                "site_id": [site],
                "origin": ["received"],
                "supplier_id": [supplier],
                "supplier_lot": [f"{supplier[-3:]}-{int(rng.integers(100000, 999999))}"],
                "mfg": [receipt_t // DAY * DAY - 30 * DAY],
                "exp": [exp_t],
                "created": [receipt_t],
                "status": [status],
                "status_t": [status_t],
            }
        ),
    )
    return lot


def _onhand(world: World) -> pd.Series:
    moves = pd.concat(world.frames["_moves"], ignore_index=True)
    return moves[moves["lot_id"] > 0].groupby("lot_id")["qty"].sum()


def _lot_records(world: World) -> pd.DataFrame:
    lots = pd.concat(world.frames["_lots"], ignore_index=True)
    world.frames["_lots"] = [lots]
    return lots


def time_phased(
    world: World, cat: Catalog, material: str, site: str, probe: int | None = None
) -> pd.DataFrame:
    """The `shortage` KPI for one material and site, from the generated tables (same rule as the docs).

    ``probe`` adds a zero-requirement row (wo_id -1) at that time: its balance is what is left for a
    work order starting then.
    """
    t0 = world.t0
    lots = _lot_records(world)
    oh = _onhand(world)
    ok = (
        (lots["material_id"] == material)
        & (lots["site_id"] == site)
        & (lots["status"] == "released")
        & ((lots["exp"] < 0) | (lots["exp"] > t0))
    )
    onhand = float(oh.reindex(lots.loc[ok, "lot_id"]).fillna(0).sum())
    po = world.table("purchase_orders")
    po = po[
        (po["material_id"] == material)
        & (po["site_id"] == site)
        & po["status"].isin(["open", "partially_received"])
    ]
    due = po["confirmed_date"].fillna(po["requested_date"])
    wo = world.table("work_orders")
    wo = wo[(wo["site_id"] == site) & wo["status"].isin(OPEN_WO)]
    bom = cat.bom[cat.bom["component_material_id"] == material]
    m = wo.merge(bom, left_on="material_id", right_on="parent_material_id")
    d = m["planned_start"].dt.floor("D")
    m = m[(m["effective_from"] <= d) & (m["effective_to"].isna() | (d <= m["effective_to"]))]
    cons = world.internal["consumption"]
    issued = cons[cons["material_id"] == material].groupby("need")["qty"].sum() / 1000.0
    m = m.assign(req=m["qty_planned"] * m["qty_per"] - m["wo_id"].map(issued).fillna(0).to_numpy())
    m = m[["wo_id", "planned_start", "req", "so_id"]]
    if probe is not None:
        row = pd.DataFrame({"wo_id": [-1], "planned_start": [pd.Timestamp(probe, unit="s")], "req": [0.0]})
        m = pd.concat([m, row.assign(so_id=pd.array([pd.NA], dtype="Int64"))], ignore_index=True)
    m = m.sort_values(["planned_start", "wo_id"], kind="stable")
    # open PO quantity due on or before each need date: a cumulative sum over the lines sorted by due date
    order = np.argsort(due.to_numpy(), kind="stable")
    due_sorted = due.to_numpy().astype("datetime64[s]")[order]
    cum = np.concatenate([[0.0], np.cumsum(po["qty_ordered"].to_numpy(dtype=float)[order])])
    need_day = m["planned_start"].dt.floor("D").to_numpy().astype("datetime64[s]")
    upto = np.searchsorted(due_sorted, need_day, side="right")
    m = m.assign(balance=onhand + cum[upto] - m["req"].cumsum().to_numpy())
    return m[["wo_id", "planned_start", "req", "balance", "so_id"]]


# --- the situations -------------------------------------------------------------------------------------


def plant_all(world: World, cat: Catalog) -> None:
    """Add every planted situation; ids go to ``world.planted``."""
    _shortage(world, cat)
    _quality_escape(world)
    _late_supplier(world)
    _expiring(world)
    _overdue_capa(world)
    _genealogy_gap(world)


def _shortage(world: World, cat: Catalog) -> None:
    t0, end = world.t0, world.end
    lots = _lot_records(world)
    oh = _onhand(world)
    mine = lots[
        (lots["material_id"] == SHORT_MATERIAL)
        & (lots["site_id"] == SHORT_SITE)
        & (lots["status"] == "released")
    ]
    stock = oh.reindex(mine["lot_id"]).fillna(0)
    stock = stock[stock > 0].sort_values(kind="stable")
    held = list(stock.index[1:])  # all but the smallest go on hold: supplier burr notification
    hold_t = end - 2 * DAY + 9 * HOUR
    if held:
        idx = lots["lot_id"].isin(held)
        lots.loc[idx, "status"] = "on_hold"
        lots.loc[idx, "status_t"] = hold_t
        world.add(
            "lot_releases",
            pd.DataFrame(
                {
                    "lot_id": held,
                    "decided_at": ts(np.full(len(held), hold_t)),
                    "decision": "on_hold",
                    "decided_by": "qa.kelly",
                    "reason": "supplier notification: needle bevel burr, lot under review",
                }
            ),
        )
    q_lot = _receive(
        world,
        SHORT_SUPPLIER,
        SHORT_MATERIAL,
        SHORT_SITE,
        2000.0,
        t0 + 8 * HOUR,
        "pending",
        "quarantine",
        t0 + 8 * HOUR,
    )
    h_lot = _receive(
        world,
        SHORT_SUPPLIER,
        SHORT_MATERIAL,
        SHORT_SITE,
        1500.0,
        t0 - 20 * DAY + 10 * HOUR,
        "pass",
        "on_hold",
        hold_t,
    )
    world.add(
        "lot_releases",
        pd.DataFrame(
            {
                "lot_id": [h_lot],
                "decided_at": ts(np.array([hold_t])),
                "decision": ["on_hold"],
                "decided_by": ["qa.kelly"],
                "reason": ["supplier notification: needle bevel burr, lot under review"],
            }
        ),
    )
    sub_lots = [
        _receive(
            world,
            SHORT_ALT_SUPPLIER,
            SUBSTITUTE_MATERIAL,
            SHORT_SITE,
            2500.0,
            t0 - d * DAY + 11 * HOUR,
            "pass",
            "released",
            t0 - (d - 1) * DAY + 11 * HOUR,
        )
        for d in (40, 15)
    ]
    # the supplier's next delivery: confirmed after the need, already shipped (ASN in transit)
    po, line = _po_line(
        world,
        SHORT_SUPPLIER,
        SHORT_MATERIAL,
        SHORT_SITE,
        6000.0,
        t0 - 45 * DAY,
        t0 + 6 * DAY,
        t0 + 26 * DAY,
        "open",
        t0 - 3 * DAY + 10 * HOUR,
    )
    world.add(
        "asn",
        pd.DataFrame(
            {
                "asn_id": world.ids("asn_id", 1),
                "asn_line": np.array([1], dtype=np.int64),
                "supplier_id": [SHORT_SUPPLIER],
                "po_id": [po],
                "po_line": np.array([line], dtype=np.int64),
                "material_id": [SHORT_MATERIAL],
                "qty_shipped": [6000.0],
                "supplier_lot": ["001-771203"],
                "expiry_date": dates(np.array([-1])),
                "shipped_at": ts(np.array([t0 - 2 * DAY + 14 * HOUR])),
                "expected_delivery": dates(np.array([t0 + 26 * DAY])),
            }
        ),
    )

    # planted work orders for PICC 4Fr, made to order for three customers
    qty_per = float(
        cat.bom[
            (cat.bom["parent_material_id"] == SHORT_FG)
            & (cat.bom["revision"] == "B")
            & (cat.bom["component_material_id"] == SHORT_MATERIAL)
        ]["qty_per"].iloc[0]
    )
    starts = [t0 + 4 * DAY + 7 * HOUR, t0 + 9 * DAY + 7 * HOUR, t0 + 15 * DAY + 7 * HOUR]
    bal = time_phased(world, cat, SHORT_MATERIAL, SHORT_SITE, probe=starts[0])
    before = float(bal.loc[bal["wo_id"] == -1, "balance"].iloc[0])
    qty = [max(400.0, np.ceil((max(before, 0) / qty_per + 150) / 10) * 10), 500.0, 450.0]
    customers = cat.tables["customers"]
    cust = [
        customers[customers["customer_type"] == t]["customer_id"].iloc[0]
        for t in ("hospital", "distributor", "hospital")
    ]
    so_ids = world.ids("so_id", 3)
    due = [s + 3 * DAY for s in starts]  # each work order is planned to end 2 days after its start
    world.add(
        "sales_orders",
        pd.DataFrame(
            {
                "so_id": so_ids,
                "so_line": np.ones(3, dtype=np.int64),
                "customer_id": cust,
                "material_id": SHORT_FG,
                "site_id": SHORT_SITE,
                "qty": qty,
                "order_date": dates(np.array([t0 - 12 * DAY] * 3)),
                "requested_date": dates(np.array(due)),
                "promised_date": dates(np.array(due)),
                "status": "open",
                "updated_at": ts(np.array([t0 - 12 * DAY + 10 * HOUR] * 3)),
            }
        ),
    )
    wos = pd.DataFrame(
        {
            "material_id": SHORT_FG,
            "site_id": SHORT_SITE,
            "level": "finished_good",
            "qty_completed": 0,
            "qty_scrapped": 0,
            "qty_planned": qty,
            "ps": starts,
            "pe": [s + 2 * DAY for s in starts],
            "as_": starts,
            "ae": [s + 2 * DAY for s in starts],
            "avail": [s + 2 * DAY + 12 * HOUR for s in starts],
            "lot": 0,
            "so_id": so_ids,
            "rejected": False,
            "forced_status": "released",
            "wo_id": world.ids("wo_id", 3),
        }
    )
    production.finalize_work_orders(world, cat, wos)
    _supply_other_components(world, cat, wos)
    bal = time_phased(world, cat, SHORT_MATERIAL, SHORT_SITE)
    short = bal[(bal["balance"] < 0) & (bal["planned_start"] < pd.Timestamp(t0 + 22 * DAY, unit="s"))]
    world.internal["short_wos"] = short
    world.planted["shortage"] = {
        "material_id": SHORT_MATERIAL,
        "site_id": SHORT_SITE,
        "work_orders": [fmt("wo_id", w) for w in short["wo_id"]],
        "planted_work_orders": [fmt("wo_id", w) for w in wos["wo_id"]],
        "substitute_material_id": SUBSTITUTE_MATERIAL,
        "substitute_parent_material_id": SHORT_FG,
        "substitute_lot_ids": [fmt("lot_id", x) for x in sub_lots],
        "supplier_id": SHORT_SUPPLIER,
        "alternate_supplier_id": SHORT_ALT_SUPPLIER,
        "open_po": {"po_id": fmt("po_id", po), "po_line": line},
        "unavailable_lot_ids": [fmt("lot_id", x) for x in [q_lot, h_lot, *held]],
        "sales_orders": sorted({fmt("so_id", s) for s in short["so_id"].dropna()}),
        "shortage_qty": float(-short["balance"].min()) if len(short) else 0.0,
    }


def _supply_other_components(world: World, cat: Catalog, wos: pd.DataFrame) -> None:
    """Everything the planted work orders need except the needle is planned in time.

    The planted orders come after purchase planning, so their other components (the catheter body made
    in house, pouch, cartons, labels, IFU) get what a planner would have arranged: one released
    subassembly work order ending the day before the first start, and one open PO line per purchased
    component (and per component of that subassembly) due on the subassembly's start date. Only the
    needle is short, as planted.
    """
    t0 = world.t0
    first = int(min(wos["ps"]))
    sa_pe = first - DAY
    sa_ps = sa_pe - DAY
    due_t = sa_ps // DAY * DAY
    bom = cat.bom
    day = pd.Timestamp(first // DAY * DAY, unit="s")
    eff = bom[(bom["effective_from"] <= day) & (bom["effective_to"].isna() | (day <= bom["effective_to"]))]
    total = float(wos["qty_planned"].sum())
    need: dict[str, float] = {}
    made: list[tuple[str, float]] = []
    for comp, per in eff.loc[
        eff["parent_material_id"] == SHORT_FG, ["component_material_id", "qty_per"]
    ].to_numpy():
        if comp == SHORT_MATERIAL:
            continue
        if comp in cat.boms:
            made.append((comp, total * float(per)))
        else:
            need[comp] = need.get(comp, 0.0) + total * float(per)
    for comp, qty in made:
        for sub, per in eff.loc[
            eff["parent_material_id"] == comp, ["component_material_id", "qty_per"]
        ].to_numpy():
            need[sub] = need.get(sub, 0.0) + qty * float(per)
    if made:
        sa = pd.DataFrame(
            {
                "material_id": [m for m, _ in made],
                "site_id": SHORT_SITE,
                "level": "subassembly",
                "qty_completed": 0,
                "qty_scrapped": 0,
                "qty_planned": [float(np.ceil(q)) for _, q in made],
                "ps": sa_ps,
                "pe": sa_pe,
                "as_": sa_ps,
                "ae": sa_pe,
                "avail": sa_pe + HOUR,
                "lot": 0,
                "so_id": 0,
                "rejected": False,
                "forced_status": "released",
                "wo_id": world.ids("wo_id", len(made)),
            }
        )
        production.finalize_work_orders(world, cat, sa)
    for comp, qty in sorted(need.items()):
        part = cat.part(comp)
        supplier = cat.supplier_ids[part.sources[0][0]]
        lead = part.lead_time
        _po_line(
            world,
            supplier,
            comp,
            SHORT_SITE,
            float(np.ceil(qty * 1000) / 1000) if part.uom != "EA" else float(np.ceil(qty)),
            due_t - (lead + 3) * DAY,
            due_t,
            due_t,
            "open",
            min(due_t - (lead + 2) * DAY + 10 * HOUR, t0 - HOUR),
        )


def _downstream(world: World, lot_ids: list[int]) -> tuple[list[int], list[int]]:
    """Produced lots made from ``lot_ids`` (any depth) and the work orders that made them."""
    cons = world.internal["consumption"]
    wos = world.internal["wos"]
    done = wos[wos["done"]].set_index("wo_id")["lot"]
    frontier, out_lots, out_wos = set(lot_ids), [], []
    while frontier:
        w = sorted(set(cons.loc[cons["lot"].isin(frontier), "need"]))
        w = [x for x in w if x in done.index]
        new = [int(done[x]) for x in w]
        out_wos += w
        out_lots += new
        frontier = set(new)
    return out_lots, out_wos


def _quality_escape(world: World) -> None:
    t0 = world.t0
    po_lots = world.internal["po_lots"]
    ship = world.table("shipments")
    cand = po_lots[
        (po_lots["supplier_id"] == ESCAPE_SUPPLIER)
        & (po_lots["material_id"] == ESCAPE_MATERIAL)
        & po_lots["received"]
        & (po_lots["receipt"] < t0 - 10 * DAY)
    ].sort_values("receipt")
    earlier, downstream, customers = [], [], set()
    for lot in reversed(cand["lot"].tolist()):
        lots, _ = _downstream(world, [int(lot)])
        got = ship[ship["lot_id"].isin(lots)]
        if len(got):
            earlier.append(int(lot))
            downstream += [x for x in lots if x in set(got["lot_id"])]
            customers |= set(got["customer_id"])
        if len(earlier) == 3:
            break
    site = cand["site_id"].iloc[0] if len(cand) else GAL
    receipt = t0 - 6 * DAY + 9 * HOUR
    done = receipt + 27 * HOUR
    failed = _receive(
        world,
        ESCAPE_SUPPLIER,
        ESCAPE_MATERIAL,
        site,
        12000.0,
        receipt,
        "fail",
        "rejected",
        done,
        exp_t=receipt + 1800 * DAY,
        done_t=done,
    )
    # A supplier-lot escape: the supplier shipped one of its production lots in two deliveries, the earlier
    # one already made into devices and shipped. The failed delivery carries that earlier lot's supplier lot,
    # so QA's narrowest defensible scope (the lots sharing the failed supplier lot) reaches customers.
    shared_lot = earlier[0] if earlier else None
    if shared_lot is not None:
        frames = world.frames["_lots"]
        source = next(f for f in frames if (f["lot_id"] == shared_lot).any())
        supplier_lot = source.loc[source["lot_id"] == shared_lot, "supplier_lot"].iloc[0]
        target = next(f for f in frames if (f["lot_id"] == failed).any())
        target.loc[target["lot_id"] == failed, "supplier_lot"] = supplier_lot
    ncr = int(world.ids("ncr_id", 1)[0])
    world.add(
        "nonconformances",
        pd.DataFrame(
            {
                "ncr_id": [ncr],
                "opened_at": ts(np.array([done + HOUR])),
                "closed_at": ts(np.array([-1])),
                "source": ["incoming"],
                "material_id": [ESCAPE_MATERIAL],
                "lot_id": pd.array([failed], dtype="Int64"),
                "supplier_id": [ESCAPE_SUPPLIER],
                "defect_code": ["SEAL-WEAK"],
                "severity": ["critical"],
                "qty_affected": [12000.0],
                "disposition": ["pending"],
                "capa_id": pd.array([pd.NA], dtype="Int64"),
                "status": ["open"],
            }
        ),
    )
    world.planted["quality_escape"] = {
        "supplier_id": ESCAPE_SUPPLIER,
        "material_id": ESCAPE_MATERIAL,
        "failed_lot_id": fmt("lot_id", failed),
        "ncr_id": fmt("ncr_id", ncr),
        "earlier_lot_ids": [fmt("lot_id", x) for x in earlier],
        "same_supplier_lot_ids": [fmt("lot_id", shared_lot)] if shared_lot is not None else [],
        "downstream_lot_ids": sorted({fmt("lot_id", x) for x in downstream}),
        "customer_ids": sorted(customers),
    }


def _late_supplier(world: World) -> None:
    t0 = world.t0
    po, line = _po_line(
        world,
        LATE_SUPPLIER,
        LATE_MATERIAL,
        SZX,
        40000.0,
        t0 - 50 * DAY,
        t0 - 12 * DAY,
        t0 - 5 * DAY,
        "open",
        t0 - 5 * DAY + 9 * HOUR,
    )
    # the planted line and every other open line of the chronically late supplier already past due
    # (no other supplier has one: supply.schedule_purchases keeps their open lines due on or after as_of)
    lines = world.table("purchase_orders")
    due = lines["confirmed_date"].fillna(lines["requested_date"])
    late = lines[
        (lines["supplier_id"] == LATE_SUPPLIER)
        & lines["status"].isin(["open", "partially_received"])
        & (due < pd.Timestamp(world.as_of))
    ].sort_values(["po_id", "po_line"])
    assert (po, line) in set(zip(late["po_id"], late["po_line"], strict=True))
    world.planted["late_supplier"] = {
        "supplier_id": LATE_SUPPLIER,
        "material_id": LATE_MATERIAL,
        "past_due_po_lines": [
            {"po_id": fmt("po_id", p), "po_line": int(n)}
            for p, n in zip(late["po_id"], late["po_line"], strict=True)
        ],
    }


def _expiring(world: World) -> None:
    t0 = world.t0
    sup = S["Nordic Medical Adhesives"]
    ids = []
    for days in (20, 45, 80):
        exp = t0 + days * DAY
        receipt = exp - 220 * DAY + 10 * HOUR
        ids.append(
            _receive(
                world,
                sup,
                EXPIRING_MATERIAL,
                GAL,
                2.5,
                receipt,
                "pass",
                "released",
                receipt + 26 * HOUR,
                exp_t=exp,
            )
        )
    world.planted["expiring_lots"] = [fmt("lot_id", x) for x in ids]


def _overdue_capa(world: World) -> None:
    t0 = world.t0
    capa = int(world.ids("capa_id", 1)[0])
    world.add(
        "capas",
        pd.DataFrame(
            {
                "capa_id": [capa],
                "opened_at": ts(np.array([t0 - 120 * DAY + 10 * HOUR])),
                "due_date": dates(np.array([t0 - 25 * DAY])),
                "closed_at": ts(np.array([-1])),
                "source": ["supplier"],
                "root_cause_category": ["material"],
                "owner": ["qa.dubois"],
                "status": ["action"],
            }
        ),
    )
    world.planted["overdue_capa"] = {"capa_id": fmt("capa_id", capa)}


def _genealogy_gap(world: World) -> None:
    t0 = world.t0
    wos = world.internal["wos"]
    cons = world.internal["consumption"]
    fg = wos[
        wos["done"]
        & (wos["level"] == "finished_good")
        & ~wos["rejected"]
        & (wos["ae"] >= t0 - 25 * DAY)
        & (wos["ae"] < t0 - HOUR)
    ]
    if not len(fg):
        fg = wos[wos["done"] & ~wos["rejected"] & (wos["ae"] >= t0 - 29 * DAY)]
    w = fg.sort_values(["ae", "wo_id"], kind="stable").iloc[-1]
    rows = cons[(cons["need"] == w["wo_id"]) & cons["lot_controlled"] & (cons["lot"] > 0)]
    mats = sorted(set(rows["material_id"]))
    missing = "PK-50003" if "PK-50003" in mats else mats[0]
    world.internal["gap"] = (int(w["wo_id"]), missing)
    world.planted["genealogy_gap"] = {
        "lot_id": fmt("lot_id", w["lot"]),
        "wo_id": fmt("wo_id", w["wo_id"]),
        "missing_material_id": missing,
    }


def after_finalize(world: World) -> None:
    """Situations read off the finished tables: late work orders and the sales lines at risk."""
    wo = world.table("work_orders")
    late = wo[
        (wo["status"] != "cancelled")
        & (wo["planned_end"].dt.floor("D") < pd.Timestamp(world.as_of))
        & wo["actual_end"].isna()
    ]
    world.planted["late_work_orders"] = [fmt("wo_id", w) for w in late["wo_id"]]
    risky_wo = set(late["wo_id"]) | set(world.internal["short_wos"]["wo_id"])
    so_ids = set(wo.loc[wo["wo_id"].isin(risky_wo), "so_id"].dropna().astype(int))
    so = world.table("sales_orders")
    due = so["promised_date"].fillna(so["requested_date"])
    horizon = pd.Timestamp(world.as_of) + pd.Timedelta(days=14)
    risk = so[so["so_id"].isin(so_ids) & ~so["status"].isin(["shipped", "cancelled"]) & (due <= horizon)]
    risk = risk.sort_values(["so_id", "so_line"])
    world.planted["at_risk_sales_orders"] = [
        {"so_id": fmt("so_id", s), "so_line": int(line)}
        for s, line in zip(risk["so_id"], risk["so_line"], strict=True)
    ]


def lot_consumption(world: World) -> pd.DataFrame:
    """Genealogy rows for lot-controlled issues, minus the planted gap."""
    cons = world.internal["consumption"]
    c = cons[cons["lot_controlled"] & (cons["lot"] > 0)]
    gap_wo, gap_mat = world.internal["gap"]
    c = c[~((c["need"] == gap_wo) & (c["material_id"] == gap_mat))]
    c = c.groupby(["need", "lot", "material_id"], sort=True, as_index=False).agg(
        qty=("qty", "sum"), t=("t", "min")
    )
    return pd.DataFrame(
        {
            "wo_id": c["need"].to_numpy(),
            "component_lot_id": c["lot"].to_numpy(),
            "component_material_id": c["material_id"].to_numpy(),
            "qty": c["qty"].to_numpy() / 1000.0,
            "consumed_at": ts(c["t"]),
        }
    )
