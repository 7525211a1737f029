"""Quality records: inspections, lot releases, nonconformances, CAPAs, complaints, change controls.

Rates are set so the KPIs land where a healthy plant sits (incoming rejects a few %, most lots
released within two days of the work order end); the planted problems stand out against that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo.chain import DAY, HOUR
from ingest.demo.world import World, dates, nint, ts


def where_or_none(cond: np.ndarray, values: object) -> np.ndarray:
    """``values`` where ``cond`` holds, else None (an object array, as np.where(cond, v, None))."""
    out = np.empty(len(cond), dtype=object)
    out[cond] = values[cond] if isinstance(values, np.ndarray) else values
    return out


INSPECTORS = np.array(["a.byrne", "m.walsh", "l.zhang", "w.li", "s.murphy", "j.chen"])
QA = np.array(["qa.kelly", "qa.wang", "qa.dubois", "qa.okafor"])
DEFECTS = {
    "incoming": np.array(["DIM-OOT", "SEAL-WEAK", "COA-MISSING", "CONTAM-PART", "LABEL-ERR", "BURR"]),
    "in_process": np.array(["SHORT-SHOT", "BOND-FAIL", "LEAK-TEST", "ASSY-MISALIGN"]),
    "final": np.array(["STERILITY-IND", "SEAL-INTEGRITY", "PKG-DAMAGE", "LABEL-MIXUP"]),
    "complaint": np.array(["FIELD-LEAK", "FIELD-BREAK", "FIELD-MISFIRE", "FIELD-PKG"]),
    "supplier": np.array(["SCAR-LATE-COA", "SCAR-PROCESS-CHG", "SCAR-AUDIT"]),
}


def pick(rng: np.random.Generator, arr: np.ndarray, n: int) -> np.ndarray:
    return arr[rng.integers(0, len(arr), n)]


def inspections_incoming(world: World, lots: pd.DataFrame, fail: np.ndarray) -> None:
    """One incoming inspection per received lot-controlled lot (``fail`` marks rejected lots)."""
    rng = world.rng
    end = world.end
    start = lots["receipt"].to_numpy() + rng.integers(2 * HOUR, 20 * HOUR, len(lots))
    done = np.where(
        fail,
        start + rng.integers(4 * HOUR, 30 * HOUR, len(lots)),
        lots["avail"].to_numpy() - rng.integers(0, 4 * HOUR, len(lots)),
    )
    done = np.maximum(done, start + HOUR)
    keep = start < end
    complete = done < end
    sample = np.where(lots["q"].to_numpy() > 50_000_000, 80, 32)
    result = np.where(~complete, "pending", np.where(fail, "fail", "pass"))
    defects = np.where(
        result == "fail",
        rng.integers(2, 9, len(lots)),
        np.where(result == "pass", (rng.random(len(lots)) < 0.1).astype(int), -1),
    )
    world.add(
        "inspections",
        pd.DataFrame(
            {
                "inspection_id": world.ids("inspection_id", int(keep.sum())),
                "lot_id": lots["lot"].to_numpy()[keep],
                "material_id": lots["material_id"].to_numpy()[keep],
                "inspection_type": "incoming",
                "started_at": ts(start[keep]),
                "completed_at": ts(np.where(complete, done, -1)[keep]),
                "sample_size": sample[keep].astype(np.int64),
                "defects_found": nint(defects[keep], defects[keep] >= 0),
                "result": result[keep],
                "inspector": pick(rng, INSPECTORS, int(keep.sum())),
            }
        ),
    )


def final_inspections_and_releases(world: World, fg: pd.DataFrame) -> None:
    """Final inspection and QA release decisions of produced finished-good lots."""
    rng = world.rng
    end = world.end
    n = len(fg)
    rejected = fg["rejected"].to_numpy()
    ae = fg["ae"].to_numpy()
    decide = fg["avail"].to_numpy()
    start = ae + rng.integers(1 * HOUR, 4 * HOUR, n)
    done = np.minimum(start + rng.integers(2 * HOUR, 8 * HOUR, n), np.maximum(decide - HOUR, start + HOUR))
    keep = start < end
    result = np.where(done < end, np.where(rejected, "fail", "pass"), "pending")
    world.add(
        "inspections",
        pd.DataFrame(
            {
                "inspection_id": world.ids("inspection_id", int(keep.sum())),
                "lot_id": fg["lot"].to_numpy()[keep],
                "material_id": fg["material_id"].to_numpy()[keep],
                "inspection_type": "final",
                "started_at": ts(start[keep]),
                "completed_at": ts(np.where(done < end, done, -1)[keep]),
                "sample_size": np.full(int(keep.sum()), 13, dtype=np.int64),
                "defects_found": pd.array(np.where(result == "fail", 3, 0)[keep], dtype="Int64"),
                "result": result[keep],
                "inspector": pick(rng, INSPECTORS, int(keep.sum())),
            }
        ),
    )
    hold = (rng.random(n) < 0.06) & ~rejected
    hold_t = ae + (decide - ae) // 3
    rel = decide < end
    rows = [
        pd.DataFrame(
            {
                "lot_id": fg["lot"].to_numpy()[hold & (hold_t < end)],
                "decided_at": ts(hold_t[hold & (hold_t < end)]),
                "decision": "on_hold",
                "reason": "DHR review: missing EO cycle printout",
            }
        ),
        pd.DataFrame(
            {
                "lot_id": fg["lot"].to_numpy()[rel],
                "decided_at": ts(decide[rel]),
                "decision": np.where(rejected[rel], "rejected", "released"),
                "reason": where_or_none(rejected[rel], "final inspection failed"),
            }
        ),
    ]
    frame = pd.concat(rows, ignore_index=True)
    frame["decided_by"] = pick(rng, QA, len(frame))
    world.add("lot_releases", frame)


def ncrs(world: World, frame: pd.DataFrame) -> pd.DataFrame:
    """Append nonconformances; ``frame`` holds source, opened (s), closed (s or -1) and the references."""
    rng = world.rng
    n = len(frame)
    frame = frame.copy()
    frame["ncr_id"] = world.ids("ncr_id", n)
    if "defect_code" not in frame:
        frame["defect_code"] = [pick(rng, DEFECTS[s], 1)[0] for s in frame["source"]]
    world.add(
        "nonconformances",
        pd.DataFrame(
            {
                "ncr_id": frame["ncr_id"].to_numpy(),
                "opened_at": ts(frame["opened"]),
                "closed_at": ts(frame["closed"]),
                "source": frame["source"].to_numpy(),
                "material_id": frame["material_id"].to_numpy(),
                "lot_id": nint(frame["lot_id"].fillna(0), frame["lot_id"].fillna(0) > 0),
                "supplier_id": frame["supplier_id"].to_numpy(),
                "defect_code": frame["defect_code"].to_numpy(),
                "severity": frame["severity"].to_numpy(),
                "qty_affected": frame["qty"].to_numpy().astype(float),
                "disposition": frame["disposition"].to_numpy(),
                "capa_id": nint(frame["capa_id"], frame["capa_id"] > 0),
                "status": np.where(
                    frame["closed"].to_numpy() >= 0,
                    "closed",
                    np.where(rng.random(n) < 0.5, "open", "investigating"),
                ),
            }
        ),
    )
    return frame


def capas(world: World, opened: np.ndarray, source: np.ndarray) -> np.ndarray:
    """CAPAs opened at ``opened``; mostly closed before due, open ones due in the future. Returns ids."""
    rng = world.rng
    n = len(opened)
    ids = world.ids("capa_id", n)
    end = world.end
    due = (opened // DAY + rng.integers(60, 121, n)) * DAY
    closed = opened + rng.integers(20, 110, n) * DAY
    closed = np.where(closed < end, closed, -1)
    # an open CAPA is never overdue by chance: the overdue one is planted
    due = np.where((closed < 0) & (due < end), (end // DAY + rng.integers(5, 60, n)) * DAY, due)
    status = np.where(
        closed >= 0,
        "closed",
        pick(rng, np.array(["open", "investigation", "action", "effectiveness_check"]), n),
    )
    world.add(
        "capas",
        pd.DataFrame(
            {
                "capa_id": ids,
                "opened_at": ts(opened),
                "due_date": dates(due),
                "closed_at": ts(closed),
                "source": source,
                "root_cause_category": pick(
                    rng, np.array(["material", "method", "machine", "man", "measurement", "environment"]), n
                ),
                "owner": pick(rng, QA, n),
                "status": status,
            }
        ),
    )
    return ids


def complaints(world: World, shipments: pd.DataFrame) -> pd.DataFrame:
    """Field complaints on shipped lots; some involve a patient, a few are reportable."""
    rng = world.rng
    end = world.end
    n = max(3, int(len(shipments) / 70))
    pick_rows = shipments.iloc[np.sort(rng.choice(len(shipments), min(n, len(shipments)), replace=False))]
    t = (
        pick_rows["shipped_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
        + rng.integers(5, 120, len(pick_rows)) * DAY
        + rng.integers(8, 18, len(pick_rows)) * HOUR
    )
    ok = t < end
    c = pick_rows[ok]
    t = t[ok]
    m = len(c)
    patient = rng.random(m) < 0.15
    status = np.where(t < end - 60 * DAY, "closed", np.where(rng.random(m) < 0.5, "open", "investigating"))
    texts = np.array(
        [
            "Staple did not form correctly",
            "Leak at luer connection",
            "Catheter tip fractured on removal",
            "Pouch seal found open on receipt",
            "Clip dropped from applier jaw",
            "Drip chamber cracked",
            "Label illegible",
            "Drain bulb did not hold vacuum",
        ]
    )
    frame = pd.DataFrame(
        {
            "complaint_id": world.ids("complaint_id", m),
            "received_at": ts(t),
            "customer_id": c["customer_id"].to_numpy(),
            "material_id": c["material_id"].to_numpy(),
            "lot_id": c["lot_id"].to_numpy(),
            "description": pick(rng, texts, m),
            "patient_involved": patient,
            "patient_reference": where_or_none(
                patient, np.char.add("PT-", rng.integers(100000, 999999, m).astype(str))
            ),
            "reportable": patient & (rng.random(m) < 0.35),
            "status": status,
        }
    )
    world.add("complaints", frame)
    return frame.assign(t=t)


def change_controls(world: World, materials: list[str], rows: list[dict]) -> None:
    """Volume change controls plus the fixed ones (``rows``) that substitutes and BOM revisions cite."""
    rng = world.rng
    n = max(6, int(40 * world.scale))
    opened = world.t0 - rng.integers(5, 420, n) * DAY + rng.integers(8, 17, n) * HOUR
    status = pick(
        rng,
        np.array(["implemented", "implemented", "approved", "in_review", "draft", "rejected", "cancelled"]),
        n,
    )
    approved = np.where(
        np.isin(status, ["approved", "implemented"]), opened + rng.integers(3, 30, n) * DAY, -1
    )
    implemented = np.where(status == "implemented", approved + rng.integers(1, 30, n) * DAY, -1)
    ok = np.maximum(approved, implemented) < world.end
    status = np.where(ok, status, "in_review")
    approved = np.where(ok, approved, -1)
    implemented = np.where(ok, implemented, -1)
    ctype = pick(rng, np.array(["design", "process", "supplier", "material", "document", "labeling"]), n)
    titles = np.char.add(
        np.char.add(np.char.capitalize(ctype.astype(str)), " change: "),
        pick(
            rng,
            np.array(
                [
                    "update drawing tolerance",
                    "add second source",
                    "revise work instruction",
                    "new label layout",
                    "resin grade change",
                    "validate new sealer",
                ]
            ),
            n,
        ),
    )
    frame = pd.DataFrame(
        {
            "change_id": world.ids("change_id", n),
            "change_type": ctype,
            "material_id": pick(rng, np.array(materials), n),
            "opened_at": ts(opened),
            "approved_at": ts(approved),
            "implemented_at": ts(implemented),
            "status": status,
            "title": titles,
        }
    )
    fixed = pd.DataFrame(rows)
    for col in ("opened_at", "approved_at", "implemented_at"):
        fixed[col] = ts(fixed[col].to_numpy())
    world.add("change_controls", pd.concat([fixed, frame], ignore_index=True))
