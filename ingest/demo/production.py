"""Work orders, produced lots, operations and the BOM explosion that turns them into component needs.

A level (finished goods, then subassemblies) is planned from its needs with the FIFO chain: each lot is
one work order's output, finished and QA-released before the first need it covers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo.catalog import ROUTINGS, Catalog
from ingest.demo.chain import DAY, HOUR, fifo
from ingest.demo.world import World, compact, nint, ts

# (lead before first need, QA release delay after actual_end, duration) in seconds, by level
TIMING = {
    "finished_good": ((12 * HOUR, 5 * DAY), (6 * HOUR, 60 * HOUR), (2 * DAY, 5 * DAY)),
    "subassembly": ((6 * HOUR, 3 * DAY), (1 * HOUR, 6 * HOUR), (10 * HOUR, 2 * DAY)),
}
# t: when the need is consumed (issue, shipment); plan_t: the latest time its supply may be planned for,
# at or before midnight of the date the netting needs it (a work order's planned_start date, an order
# line's due date), so a plan made for ``t`` is never a day late in the eyes of a planner.
NEED_COLUMNS = ["material_id", "site_id", "t", "plan_t", "q", "src", "ref"]


def plan_level(
    world: World, cat: Catalog, needs: pd.DataFrame, level: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan the work orders of one level from its needs; return (work orders, need->lot segments)."""
    rng = world.rng
    lead, release, duration = TIMING[level]
    wos, segs = [], []
    for (material_id, site_id), grp in needs.groupby(["material_id", "site_id"], sort=True):
        grp = grp.sort_values(["plan_t", "t"], kind="stable")
        part = cat.part(material_id)
        plan = fifo(
            grp["plan_t"].to_numpy(),
            grp["q"].to_numpy(),
            int(part.lot_min * 1000),
            int(part.lot_max * 1000),
            lead,
            rng,
            unit=1000,
        )
        k = len(plan.lot_qty)
        avail = plan.lot_avail
        ae = avail - rng.integers(*release, k)
        # a lot finished by as_of is released by then too: one still waiting for QA would not count
        # as supply, and its need is close
        waiting = (ae < world.end) & (avail >= world.end)
        avail = np.where(waiting, ae + (world.end - ae) // 2, avail)
        dur = rng.integers(*duration, k) // 900 * 900  # planned durations in quarter hours
        a_start = ae - dur
        ps = (a_start + rng.integers(-8, 9, k) * HOUR) // HOUR * HOUR
        pe = ps + dur + rng.integers(-6, 13, k) * HOUR
        completed = plan.lot_qty // 1000
        scrap_rate = np.where(rng.random(k) < 0.9, rng.uniform(0.002, 0.035, k), rng.uniform(0.04, 0.12, k))
        scrapped = np.round(completed * scrap_rate).astype(np.int64)
        lots = world.ids("lot_id", k)
        wo = pd.DataFrame(
            {
                "material_id": material_id,
                "site_id": site_id,
                "level": level,
                "qty_completed": completed,
                "qty_scrapped": scrapped,
                "qty_planned": ((completed + scrapped + 9) // 10) * 10,
                "ps": ps,
                # planned to finish before the lot is needed: netting sees it in time
                "pe": np.maximum(np.minimum(np.maximum(pe, ps + 4 * HOUR), avail - HOUR), ps + HOUR),
                "as_": a_start,
                "ae": ae,
                "avail": avail,
                "lot": lots,
                "first_ref": grp["ref"].to_numpy()[
                    plan.seg_need[np.searchsorted(plan.seg_lot, np.arange(k))]
                ],
                "first_src": grp["src"].to_numpy()[
                    plan.seg_need[np.searchsorted(plan.seg_lot, np.arange(k))]
                ],
            }
        )
        wos.append(wo)
        seg_rows = grp.iloc[plan.seg_need]
        segs.append(
            pd.DataFrame(
                {
                    "need": seg_rows["ref"].to_numpy(),
                    "src": seg_rows["src"].to_numpy(),
                    "t": seg_rows["t"].to_numpy(),
                    "lot": lots[plan.seg_lot],
                    "qty": plan.seg_qty // 1000 if level == "finished_good" else plan.seg_qty,
                    "material_id": material_id,
                    "site_id": site_id,
                }
            )
        )
    return pd.concat(wos, ignore_index=True), pd.concat(segs, ignore_index=True)


def force_late(world: World, wos: pd.DataFrame, count: int = 2) -> list[int]:
    """Make a few about-to-start finished-good WOs late: started days ago, planned to end yesterday.

    Returns their row positions. Done before the BOM explosion, so their component issues are planned
    at the new start and stay consistent with stock.
    """
    end, t0 = world.end, world.t0
    cand = wos.index[(wos["level"] == "finished_good") & (wos["as_"] >= end)]
    cand = wos.loc[cand].sort_values(["as_"], kind="stable").index[:count]
    for i, row in enumerate(cand):
        wos.loc[row, "ps"] = t0 - (5 + i) * DAY + 8 * HOUR
        wos.loc[row, "as_"] = t0 - (5 + i) * DAY + 10 * HOUR
        wos.loc[row, "pe"] = t0 - DAY + 16 * HOUR
        wos.loc[row, "ae"] = max(int(wos.loc[row, "ae"]), end + 2 * DAY)
        wos.loc[row, "avail"] = max(int(wos.loc[row, "avail"]), int(wos.loc[row, "ae"]) + 6 * HOUR)
    return list(cand)


def explode(cat: Catalog, wos: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Component needs of work orders from the BOM revision effective at each planned start.

    Works on integer material codes and repeated indices instead of a string merge: at scale 100 the
    exploded frame has ~10M rows and a merge would copy every text column.
    """
    mats = sorted(cat.parts)
    bom = cat.bom.assign(
        parent=pd.Categorical(cat.bom["parent_material_id"], categories=mats).codes,
        comp=pd.Categorical(cat.bom["component_material_id"], categories=mats).codes,
    ).sort_values("parent", kind="stable")
    counts = np.bincount(bom["parent"].to_numpy(), minlength=len(mats))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    code = pd.Categorical(wos["material_id"], categories=mats).codes
    per_wo = counts[code]
    wo_idx = np.repeat(np.arange(len(wos)), per_wo)
    within = np.arange(len(wo_idx)) - np.repeat(np.cumsum(per_wo) - per_wo, per_wo)
    row = first[code][wo_idx] + within
    day = (wos["ps"].to_numpy()[wo_idx] // DAY * DAY).astype("datetime64[s]")
    eff_from = bom["effective_from"].to_numpy()[row]
    eff_to = bom["effective_to"].to_numpy()[row]
    ok = (eff_from <= day) & (np.isnat(eff_to) | (day <= eff_to))
    wo_idx, row = wo_idx[ok], row[ok]
    qty = wos["qty_planned"].to_numpy()[wo_idx] * bom["qty_per"].to_numpy()[row]
    start = np.minimum(wos["ps"].to_numpy(), wos["as_"].to_numpy())[wo_idx]
    return pd.DataFrame(
        {
            "material_id": pd.Categorical.from_codes(bom["comp"].to_numpy()[row], categories=mats),
            "site_id": pd.Categorical(wos["site_id"]).take(wo_idx),
            "t": wos["as_"].to_numpy()[wo_idx] + rng.integers(5, 55, len(wo_idx)) * 60,
            "plan_t": start // DAY * DAY,
            "q": np.round(qty * 1000).astype(np.int64),
            "src": pd.Categorical.from_codes(np.zeros(len(wo_idx), dtype=np.int8), categories=["wo"]),
            "ref": wos["wo_id"].to_numpy()[wo_idx],
        }
    )


def finalize_work_orders(world: World, cat: Catalog, wos: pd.DataFrame) -> pd.DataFrame:
    """Status at as_of, the work_orders and wo_operations rows, produced lots (internal frame)."""
    rng = world.rng
    end = world.end
    n = len(wos)
    done = wos["ae"].to_numpy() < end
    started = wos["as_"].to_numpy() < end
    status = np.where(
        done,
        np.where((wos["ae"].to_numpy() < end - 21 * DAY) & (rng.random(n) < 0.92), "closed", "completed"),
        np.where(
            started,
            np.where(rng.random(n) < 0.1, "on_hold", "in_progress"),
            np.where(wos["ps"].to_numpy() < end + 14 * DAY, "released", "planned"),
        ),
    )
    # a few far-out planned finished-good orders get cancelled (demand moved); nothing was issued to
    # them. Not subassemblies: the parent orders still count on their output.
    fg_level = (wos["level"] == "finished_good").to_numpy()
    status = np.where((status == "planned") & fg_level & (rng.random(n) < 0.04), "cancelled", status)
    forced = wos["forced_status"].fillna("").to_numpy() if "forced_status" in wos else np.full(n, "")
    status = np.where(forced != "", forced, status)
    wos = compact(wos.assign(status=status, done=done, started=started))
    updated = np.where(done, wos["ae"] + 2 * HOUR, np.where(started, wos["as_"], wos["ps"] - 3 * DAY))
    updated = np.minimum(updated, end - HOUR)
    frame = pd.DataFrame(
        {
            "wo_id": wos["wo_id"].to_numpy(),
            "material_id": wos["material_id"].array,
            "site_id": wos["site_id"].array,
            "qty_planned": wos["qty_planned"].to_numpy().astype(float),
            "qty_completed": np.where(done, wos["qty_completed"], np.nan),
            "qty_scrapped": np.where(done, wos["qty_scrapped"], np.nan),
            "status": status,
            "priority": np.where(wos["so_id"].to_numpy() > 0, 1, 3).astype(np.int64),
            "planned_start": ts(wos["ps"]),
            "planned_end": ts(wos["pe"]),
            "actual_start": ts(np.where(started, wos["as_"], -1)),
            "actual_end": ts(np.where(done, wos["ae"], -1)),
            "output_lot_id": nint(wos["lot"], done),
            "so_id": nint(wos["so_id"], wos["so_id"].to_numpy() > 0),
            "updated_at": ts(updated),
        }
    )
    world.add("work_orders", frame)
    world.add("wo_operations", _operations(world, cat, wos))
    return wos


def _operations(world: World, cat: Catalog, wos: pd.DataFrame) -> pd.DataFrame:
    rng = world.rng
    end = world.end
    out = []
    for level, route in ROUTINGS.items():
        w = wos[wos["level"] == level]
        if not len(w):
            continue
        k = len(route)
        a_start = w["as_"].to_numpy()
        span = np.maximum(w["ae"].to_numpy() - a_start, k * HOUR)
        for j, (op, wc) in enumerate(route):
            s = a_start + span * j // k
            e = a_start + span * (j + 1) // k - rng.integers(0, 30, len(w)) * 60
            cancelled = w["status"].to_numpy() == "cancelled"
            st = np.where(e < end, "done", np.where(s < end, "running", "waiting"))
            st = np.where(w["started"].to_numpy(), st, "waiting")
            st = np.where(cancelled, "skipped", st)
            good = np.where(st == "done", w["qty_completed"] + w["qty_scrapped"] * (k - 1 - j) // k, np.nan)
            scrap = np.where(
                st == "done", w["qty_scrapped"] * (k - j) // k - w["qty_scrapped"] * (k - 1 - j) // k, np.nan
            )
            out.append(
                pd.DataFrame(
                    {
                        "wo_id": w["wo_id"].to_numpy(),
                        "op_seq": (j + 1) * 10,
                        "operation": op,
                        "work_center": pd.Categorical(w["site_id"]).rename_categories(
                            lambda site, wc=wc: f"{wc}-{site[-3:]}"
                        ),
                        "status": st,
                        "started_at": ts(np.where(np.isin(st, ["done", "running"]), s, -1)),
                        "completed_at": ts(np.where(st == "done", e, -1)),
                        "qty_good": good.astype(float),
                        "qty_scrap": scrap.astype(float),
                    }
                )
            )
    ops = pd.concat(out, ignore_index=True)
    return ops.sort_values(["wo_id", "op_seq"], kind="stable").reset_index(drop=True)
