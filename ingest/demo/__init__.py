"""The demo company generator: a year of a believable medical-device maker in the canonical feed.

``generate`` is what ``medtower demo`` calls. Volume is planned backwards from customer demand
(sales lines -> finished-good work orders -> subassemblies -> purchased lots), so stock, genealogy
and timing agree by construction; then the planted situations and the deliberately bad rows are added.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from numpy.random import PCG64, Generator

from ingest.demo import inventory, production, quality, scenarios, supply
from ingest.demo.badrows import append_bad_rows
from ingest.demo.catalog import SITES, Catalog, build_catalog
from ingest.demo.chain import DAY, HOUR
from ingest.demo.growth import grow
from ingest.demo.sales import build_sales, demand_lines
from ingest.demo.scans import build_scans
from ingest.demo.world import World
from ingest.demo.writer import contract, write_table

__all__ = ["generate"]
MANIFEST = "_demo_manifest.json"


def generate(
    out_dir: Path,
    *,
    seed: int = 7,
    scale: float = 1.0,
    as_of: dt.date | None = None,
    clean: bool = False,
    ports: bool = False,
) -> dict[str, Any]:
    """Write one ``<entity>.csv`` per contract entity plus ``_demo_manifest.json``; return the manifest.

    The same (seed, scale, as_of, clean) always gives byte-identical files. ``ports``: the records of
    some entities go through the source connectors instead (ERP database, EDI, EPCIS, scanner log in
    ``_ports/``, see ``ingest/demo/ports.py``) and their CSV files are left out.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    as_of = as_of or dt.date.today()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = World(as_of=as_of, scale=scale, rng=Generator(PCG64(seed)))
    cat = build_catalog(as_of, grow(scale))
    _build(world, cat)
    world.internal.clear()  # planning frames: not written, and most of the memory at scale 100

    rows: dict[str, int] = {}
    zones = tuple(sorted(set(SITES["timezone"])))
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        for entity in contract():
            rows[entity] = write_table(con, entity, world.table(entity), out_dir / f"{entity}.csv", zones)
    finally:
        con.close()
    bad_rows = [] if clean else append_bad_rows(out_dir, rows, world)
    manifest = {
        "seed": seed,
        "scale": scale,
        "as_of": as_of.isoformat(),
        "clean": clean,
        "rows": {e: rows[e] + sum(1 for b in bad_rows if b["entity"] == e) for e in contract()},
        "planted": world.planted,
        "bad_rows": bad_rows,
    }
    if ports:
        from ingest.demo.ports import write_ports

        manifest["ports"] = write_ports(out_dir, manifest, seed=seed)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return manifest


def _build(world: World, cat: Catalog) -> None:
    rng = world.rng
    end = world.end
    for name in ("sites", "materials", "suppliers", "approved_suppliers", "customers", "bom"):
        world.add(name, cat.tables[name])

    # --- demand and finished goods -----------------------------------------------------------------
    lines = demand_lines(world, cat)
    fg_needs = pd.DataFrame(
        {
            "material_id": lines["material_id"],
            "site_id": lines["site_id"],
            "t": lines["ship_t"],
            # made by the due date even when the line will ship late
            "plan_t": np.minimum(lines["ship_t"].to_numpy(), world.t0 + lines["due_day"].to_numpy() * DAY),
            "q": lines["qty"] * 1000,
            "src": "so",
            "ref": np.arange(len(lines)),
        }
    )
    fg, fg_segs = production.plan_level(world, cat, fg_needs, "finished_good")
    first = fg["first_ref"].to_numpy()
    # made to order only for orders already placed at as_of
    so_of_first = np.where(lines["order_day"].to_numpy()[first] <= 0, lines["so_id"].to_numpy()[first], 0)
    fg["so_id"] = np.where(rng.random(len(fg)) < 0.3, so_of_first, 0)
    fg["rejected"] = False
    fg["forced_status"] = None
    for i, row in enumerate(production.force_late(world, fg)):
        fg.loc[row, "so_id"] = so_of_first[row]
        fg.loc[row, "forced_status"] = "on_hold" if i == 0 else "in_progress"
    # a few lots fail final inspection: twins of real work orders, so their components are planned too
    old = fg.index[(fg["ae"] < end - 10 * DAY).to_numpy()]
    twins = fg.loc[np.sort(rng.choice(old, max(1, len(old) // 80), replace=False))].copy()
    shift = rng.integers(20, 72, len(twins)) * HOUR
    for col in ("ps", "pe", "as_", "ae"):
        twins[col] = twins[col] - shift
    size = rng.uniform(0.5, 1.0, len(twins))
    twins["qty_completed"] = np.maximum(10, np.round(twins["qty_completed"] * size)).astype(np.int64)
    twins["qty_scrapped"] = np.round(twins["qty_scrapped"] * size).astype(np.int64)
    twins["qty_planned"] = (twins["qty_completed"] + twins["qty_scrapped"] + 9) // 10 * 10
    twins["avail"] = twins["ae"] + rng.integers(20, 50, len(twins)) * HOUR
    twins["lot"] = world.ids("lot_id", len(twins))
    twins["so_id"] = 0
    twins["rejected"] = True
    fg = pd.concat([fg, twins], ignore_index=True)
    fg = fg.sort_values(["ps", "lot"], kind="stable").reset_index(drop=True)
    fg["wo_id"] = world.ids("wo_id", len(fg))

    # subassemblies level by level (low-level code): a part is planned once all its parents are
    sa_levels, sa_seg_levels, buy_parts = [], [], []
    needs = production.explode(cat, fg, rng)
    for depth in range(1, cat.depth + 1):
        level = _level_of(cat, needs["material_id"])
        buy_parts.append(needs[level < 0])
        needs = needs[level >= 0]
        now = level[level >= 0] == depth
        if not now.any():
            continue
        sa, sa_segs = production.plan_level(world, cat, needs[now], "subassembly")
        sa["so_id"] = 0
        sa["rejected"] = False
        sa["forced_status"] = None
        sa = sa.sort_values(["ps", "lot"], kind="stable").reset_index(drop=True)
        sa["wo_id"] = world.ids("wo_id", len(sa))
        sa_levels.append(sa)
        sa_seg_levels.append(sa_segs)
        needs = pd.concat([needs[~now], production.explode(cat, sa, rng)], ignore_index=True)
    buy_parts.append(needs)
    buy_needs = pd.concat(buy_parts, ignore_index=True)

    # --- purchasing ----------------------------------------------------------------------------------
    rlots, buy_segs = supply.plan_purchases(world, cat, buy_needs)
    rlots = supply.schedule_purchases(world, rlots)
    rlots = scenarios.push_short_supply(world, rlots)
    po_lots = supply.build_purchasing(world, cat, rlots)
    got = po_lots[po_lots["received"]]
    _receipts(world, got)
    lotted = got[got["lot_controlled"]]
    quality.inspections_incoming(world, lotted, np.zeros(len(lotted), dtype=bool))
    inventory.add_lots(
        world,
        pd.DataFrame(
            {
                "lot_id": lotted["lot"],
                "material_id": lotted["material_id"],
                "site_id": lotted["site_id"],
                "origin": "received",
                "supplier_id": lotted["supplier_id"],
                "supplier_lot": lotted["supplier_lot"],
                "mfg": lotted["mfg_day"] * DAY,
                "exp": np.where(lotted["exp_day"] >= 0, lotted["exp_day"] * DAY, -1),
                "created": lotted["receipt"],
                "status": np.where(lotted["avail"] < end, "released", "quarantine"),
                "status_t": np.where(lotted["avail"] < end, lotted["avail"], lotted["receipt"]),
            }
        ),
    )
    ncr_frames = [_incoming_rejects(world, cat, lotted)]

    # --- production: consumption, output, statuses ---------------------------------------------------
    wos = pd.concat([fg, *sa_levels], ignore_index=True)
    wos = production.finalize_work_orders(world, cat, wos)
    segs = pd.concat([*(s.assign(lot_controlled=True) for s in sa_seg_levels), buy_segs], ignore_index=True)
    segs = segs[segs["t"] < end].reset_index(drop=True)
    world.internal["consumption"] = segs
    world.internal["wos"] = wos
    world.internal["po_lots"] = po_lots
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": segs["t"],
                "site_id": segs["site_id"],
                "location": "STORES",
                "material_id": segs["material_id"],
                "lot_id": segs["lot"],
                "qty": -segs["qty"] / 1000.0,
                "movement_type": "issue",
                "reference_type": "wo",
                "reference_id": segs["need"],
                "reference_line": 0,
            }
        ),
    )
    done = wos[wos["done"]]
    fg_done = done[done["level"] == "finished_good"]
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": done["ae"],
                "site_id": done["site_id"],
                "location": np.where(done["level"] == "finished_good", "FG-STORE", "WIP-STORE"),
                "material_id": done["material_id"],
                "lot_id": done["lot"],
                "qty": done["qty_completed"].astype(float),
                "movement_type": "production_output",
                "reference_type": "wo",
                "reference_id": done["wo_id"],
                "reference_line": 0,
            }
        ),
    )
    shelf = {p.material_id: p.shelf_life_days or 0 for p in cat.parts.values()}
    mfg = done["ae"].to_numpy() // DAY * DAY
    life = done["material_id"].map(shelf).to_numpy()
    rej = done["rejected"].to_numpy()
    released = done["avail"].to_numpy() < end
    inventory.add_lots(
        world,
        pd.DataFrame(
            {
                "lot_id": done["lot"],
                "material_id": done["material_id"],
                "site_id": done["site_id"],
                "origin": "produced",
                "supplier_id": None,
                "supplier_lot": None,
                "mfg": mfg,
                "exp": np.where(life > 0, mfg + life * DAY, -1),
                "created": done["ae"],
                "status": np.where(released, np.where(rej, "rejected", "released"), "quarantine"),
                "status_t": np.where(released, done["avail"], done["ae"]),
            }
        ),
    )
    quality.final_inspections_and_releases(world, fg_done)
    ncr_frames.append(_production_ncrs(world, done))

    # --- sales -----------------------------------------------------------------------------------------
    shipments = build_sales(world, lines, fg_segs[fg_segs["src"] == "so"])
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": shipments["shipped_at"].to_numpy().astype("datetime64[s]").astype(np.int64),
                "site_id": shipments["site_id"],
                "location": "SHIPPING",
                "material_id": shipments["material_id"],
                "lot_id": shipments["lot_id"],
                "qty": -shipments["qty"],
                "movement_type": "shipment",
                "reference_type": "so",
                "reference_id": shipments["so_id"],
                "reference_line": shipments["so_line"],
            }
        ),
    )
    world.replace("shipments", shipments.drop(columns=["site_id"]))
    comp = quality.complaints(world, shipments)
    ncr_frames.append(_complaint_and_supplier_ncrs(world, cat, comp))
    _ncrs_and_capas(world, ncr_frames)
    quality.change_controls(world, cat.bought, scenarios.fixed_change_controls(world, cat))
    world.add("substitutes", scenarios.substitutes(world))

    # --- planted situations, then lot status from stock ------------------------------------------------
    scenarios.plant_all(world, cat)
    lots = inventory.finalize(world)[0]  # the sorted movements are in world now: do not keep a copy
    scenarios.after_finalize(world)
    fg_lots = lots[(lots["origin"] == "produced") & lots["material_id"].str.startswith("FG-")]
    gtins = cat.tables["materials"].set_index("material_id")["gtin"].dropna().to_dict()
    build_scans(world, world.table("shipments"), fg_lots, gtins)
    world.replace("lot_consumption", scenarios.lot_consumption(world))


def _level_of(cat: Catalog, material_ids: pd.Series) -> np.ndarray:
    """The BOM level of each made material, -1 for a purchased one (by category codes: ~10M rows)."""
    codes = pd.Categorical(material_ids)
    lookup = np.array([cat.level.get(m, -1) for m in codes.categories] + [-1], dtype=np.int64)
    return lookup[codes.codes]


def _receipts(world: World, got: pd.DataFrame) -> None:
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": got["receipt"],
                "site_id": got["site_id"],
                "location": "RECEIVING",
                "material_id": got["material_id"],
                "lot_id": got["lot"],
                "qty": got["q"] / 1000.0,
                "movement_type": "receipt",
                "reference_type": "po",
                "reference_id": got["po_id"],
                "reference_line": got["po_line"],
            }
        ),
    )


def _incoming_rejects(world: World, cat: Catalog, lotted: pd.DataFrame) -> pd.DataFrame:
    """A few % of receipts fail incoming inspection: extra lots on their own PO lines, sent back.

    Only before the quality rule's 30-day lookback: the one recent failure is the planted escape.
    """
    rng = world.rng
    end = world.end
    cand = lotted.index[(lotted["receipt"] < end - 35 * DAY).to_numpy()]
    pick = np.sort(rng.choice(cand, max(1, int(len(cand) * 0.03)), replace=False))
    r = lotted.loc[pick].copy()
    r["receipt"] = r["receipt"] - DAY
    r["avail"] = r["receipt"] + rng.integers(20, 60, len(r)) * HOUR
    r["lot"] = world.ids("lot_id", len(r))
    r["po_line"] = r["po_line"] + 500
    world.add(
        "purchase_orders",
        pd.DataFrame(
            {
                "po_id": r["po_id"],
                "po_line": r["po_line"],
                "supplier_id": r["supplier_id"],
                "material_id": r["material_id"],
                "site_id": r["site_id"],
                "qty_ordered": r["q"] / 1000.0,
                "order_date": (r["order_day"] * DAY).astype("datetime64[s]"),
                "requested_date": (r["req_day"] * DAY - DAY).astype("datetime64[s]"),
                "confirmed_date": pd.Series(np.datetime64("NaT"), index=r.index).astype("datetime64[s]"),
                "acknowledged_at": ((r["order_day"] + 1) * DAY + 11 * HOUR).astype("datetime64[s]"),
                "status": "received",
                "updated_at": r["receipt"].astype("datetime64[s]"),
            }
        ),
    )
    _receipts(world, r)
    quality.inspections_incoming(world, r, np.ones(len(r), dtype=bool))
    inventory.add_lots(
        world,
        pd.DataFrame(
            {
                "lot_id": r["lot"],
                "material_id": r["material_id"],
                "site_id": r["site_id"],
                "origin": "received",
                "supplier_id": r["supplier_id"],
                "supplier_lot": r["supplier_lot"],
                "mfg": r["mfg_day"] * DAY,
                "exp": np.where(r["exp_day"] >= 0, r["exp_day"] * DAY, -1),
                "created": r["receipt"],
                "status": "rejected",
                "status_t": r["avail"],
            }
        ),
    )
    closed = r["avail"].to_numpy() + rng.integers(3, 20, len(r)) * DAY
    closed = np.where(closed < end, closed, -1)
    ncr = pd.DataFrame(
        {
            "source": "incoming",
            "opened": r["avail"].to_numpy(),
            "closed": closed,
            "material_id": r["material_id"].to_numpy(),
            "lot_id": r["lot"].to_numpy(),
            "supplier_id": r["supplier_id"].to_numpy(),
            "severity": np.where(rng.random(len(r)) < 0.7, "major", "minor"),
            "qty": r["q"].to_numpy() / 1000.0,
            "disposition": np.where(closed >= 0, "return_to_supplier", "pending"),
            "site_id": r["site_id"].to_numpy(),
        }
    )
    ncr["capa_id"] = 0
    return ncr


def _production_ncrs(world: World, done: pd.DataFrame) -> pd.DataFrame:
    rng = world.rng
    end = world.end
    high = done[(done["qty_scrapped"] > 0.04 * done["qty_completed"]) | done["rejected"]]
    rej = high["rejected"].to_numpy()
    opened = np.where(rej, high["avail"].to_numpy(), high["ae"].to_numpy() - HOUR)
    closed = opened + rng.integers(2, 25, len(high)) * DAY
    closed = np.where(closed < end, closed, -1)
    scrap_t = np.where(rej, high["avail"].to_numpy() + 6 * HOUR, -1)
    r = high[rej & (scrap_t < end)]
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": scrap_t[rej & (scrap_t < end)],
                "site_id": r["site_id"],
                "location": "QUARANTINE-CAGE",
                "material_id": r["material_id"],
                "lot_id": r["lot"],
                "qty": -r["qty_completed"].astype(float),
                "movement_type": "scrap",
                "reference_type": "ncr",
                "reference_id": 0,
                "reference_line": 0,
            }
        ),
    )
    return pd.DataFrame(
        {
            "source": np.where(rej, "final", "in_process"),
            "opened": opened,
            "closed": closed,
            "material_id": high["material_id"].to_numpy(),
            "lot_id": np.where(rej, high["lot"].to_numpy(), 0),
            "supplier_id": None,
            "severity": np.where(rej, "critical", "minor"),
            "qty": np.where(rej, high["qty_completed"], high["qty_scrapped"]).astype(float),
            "disposition": np.where(rej, "scrap", np.where(closed >= 0, "scrap", "pending")),
            "site_id": high["site_id"].to_numpy(),
            "capa_id": 0,
            "scrap_lot": np.where(rej, high["lot"].to_numpy(), 0),
        }
    )


def _complaint_and_supplier_ncrs(world: World, cat: Catalog, comp: pd.DataFrame) -> pd.DataFrame:
    rng = world.rng
    end = world.end
    c = comp[rng.random(len(comp)) < 0.3]
    n_sup = max(2, int(8 * world.scale))
    asl = cat.tables["approved_suppliers"]
    asl = asl[asl["approved"]].reset_index(drop=True)
    s = asl.iloc[rng.integers(0, len(asl), n_sup)]
    opened = np.concatenate(
        [c["t"].to_numpy() + DAY, world.t0 - rng.integers(10, 360, n_sup) * DAY + 10 * HOUR]
    )
    closed = opened + rng.integers(10, 60, len(opened)) * DAY
    closed = np.where(closed < end, closed, -1)
    return pd.DataFrame(
        {
            "source": ["complaint"] * len(c) + ["supplier"] * n_sup,
            "opened": opened,
            "closed": closed,
            "material_id": np.concatenate([c["material_id"].to_numpy(), s["material_id"].to_numpy()]),
            "lot_id": np.concatenate([c["lot_id"].to_numpy(), np.zeros(n_sup, dtype=np.int64)]),
            "supplier_id": [None] * len(c) + list(s["supplier_id"]),
            "severity": np.where(rng.random(len(opened)) < 0.2, "major", "minor"),
            "qty": np.ones(len(opened)),
            "disposition": np.where(closed >= 0, "use_as_is", "pending"),
            "capa_id": 0,
        }
    )


def _ncrs_and_capas(world: World, frames: list[pd.DataFrame]) -> None:
    rng = world.rng
    f = pd.concat(frames, ignore_index=True)
    f = f.sort_values(["opened", "lot_id"], kind="stable").reset_index(drop=True)
    want = (f["severity"].isin(["major", "critical"]) & (rng.random(len(f)) < 0.35)).to_numpy()
    src = np.where(
        f["source"].to_numpy() == "complaint",
        "complaint",
        np.where(f["source"].isin(["supplier", "incoming"]).to_numpy(), "supplier", "ncr"),
    )
    ids = quality.capas(world, f["opened"].to_numpy()[want] + 2 * DAY, src[want])
    capa = np.zeros(len(f), dtype=np.int64)
    capa[want] = ids
    f["capa_id"] = capa
    f = quality.ncrs(world, f)
    # scrap movements of rejected produced lots reference their NCR
    if "scrap_lot" in f:
        ncr_of_lot = f[f["scrap_lot"].fillna(0) > 0].set_index("scrap_lot")["ncr_id"]
        for frame in world.frames["_moves"]:
            m = (frame["movement_type"] == "scrap") & (frame["reference_type"] == "ncr")
            if m.any():
                frame.loc[m, "reference_id"] = frame.loc[m, "lot_id"].map(ncr_of_lot).to_numpy()
    # incoming rejects that went back to the supplier leave stock at NCR closure
    rtv = f[(f["source"] == "incoming") & (f["disposition"] == "return_to_supplier")]
    inventory.add_moves(
        world,
        pd.DataFrame(
            {
                "t": rtv["closed"],
                "site_id": rtv["site_id"],
                "location": "RTV",
                "material_id": rtv["material_id"],
                "lot_id": rtv["lot_id"],
                "qty": -rtv["qty"],
                "movement_type": "transfer_out",
                "reference_type": "ncr",
                "reference_id": rtv["ncr_id"],
                "reference_line": 0,
            }
        ),
    )
