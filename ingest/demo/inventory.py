"""Lots and inventory movements, and lot status at as_of derived from the movements themselves.

Every generator hands in lot records and movement records; status is decided last, from on-hand at
as_of, so a lot is 'consumed' exactly when its movements net to zero and 'expired' only if stock is left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo.chain import DAY
from ingest.demo.world import World, compact, dates, nint, ts

LOT_COLUMNS = [
    "lot_id",
    "material_id",
    "site_id",
    "origin",
    "supplier_id",
    "supplier_lot",
    "mfg",
    "exp",
    "created",
    "status",
    "status_t",
]
MOVE_COLUMNS = [
    "t",
    "site_id",
    "location",
    "material_id",
    "lot_id",
    "qty",
    "movement_type",
    "reference_type",
    "reference_id",
    "reference_line",
]
_TYPE_ORDER = {
    "receipt": 0,
    "production_output": 1,
    "return": 2,
    "transfer_in": 3,
    "adjustment": 4,
    "issue": 5,
    "shipment": 6,
    "scrap": 7,
    "transfer_out": 8,
}


def add_lots(world: World, frame: pd.DataFrame) -> None:
    """Lot records: times in local seconds (-1 = none); status is the QA state before stock is looked at."""
    world.frames.setdefault("_lots", []).append(frame[LOT_COLUMNS])


def add_moves(world: World, frame: pd.DataFrame) -> None:
    """Movement records: qty signed in the material's uom; lot_id 0 = not lot-controlled."""
    world.frames.setdefault("_moves", []).append(compact(frame[MOVE_COLUMNS]))


def finalize(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write lots and inventory_movements; return (lots, movements) internal frames."""
    moves = compact(pd.concat(world.frames.pop("_moves"), ignore_index=True))
    lots = pd.concat(world.frames.pop("_lots"), ignore_index=True)
    # one stable sort by (t, type order, lot) and one copy: at scale 100 each copy of the ~12M movements
    # is most of a GB, and this is where the generator's memory peaks
    kind = np.asarray(moves["movement_type"].map(_TYPE_ORDER), dtype=np.int64)
    moves = moves.take(np.lexsort((moves["lot_id"].to_numpy(), kind, moves["t"].to_numpy())))
    moves.index = pd.RangeIndex(len(moves))
    moves["movement_id"] = world.ids("movement_id", len(moves))
    lot_of = moves["lot_id"].to_numpy()
    has = lot_of > 0
    onhand = pd.Series(moves["qty"].to_numpy()[has]).groupby(lot_of[has]).sum()
    last = pd.Series(moves["t"].to_numpy()[has]).groupby(lot_of[has]).max()
    lots = lots.sort_values("lot_id", kind="stable").reset_index(drop=True)
    oh = onhand.reindex(lots["lot_id"]).fillna(0).to_numpy()
    lt = last.reindex(lots["lot_id"]).fillna(-1).to_numpy().astype(np.int64)
    status = lots["status"].to_numpy().copy()
    status_t = lots["status_t"].to_numpy().copy()
    consumed = (status == "released") & (np.abs(oh) < 1e-9)
    status = np.where(consumed, "consumed", status)
    status_t = np.where(consumed, np.maximum(lt, status_t), status_t)
    exp = lots["exp"].to_numpy()
    expired = (status == "released") & (exp >= 0) & (exp <= world.t0)
    status = np.where(expired, "expired", status)
    status_t = np.where(expired, np.maximum(exp, status_t), status_t)
    lots = lots.assign(status=status, status_t=status_t, onhand=oh)
    world.add(
        "lots",
        pd.DataFrame(
            {
                "lot_id": lots["lot_id"].to_numpy(),
                "material_id": lots["material_id"].to_numpy(),
                "site_id": lots["site_id"].to_numpy(),
                "origin": lots["origin"].to_numpy(),
                "supplier_id": lots["supplier_id"].to_numpy(),
                "supplier_lot": lots["supplier_lot"].to_numpy(),
                "manufacture_date": dates(lots["mfg"]),
                "expiry_date": dates(lots["exp"]),
                "status": status,
                "status_changed_at": ts(status_t),
            }
        ),
    )
    world.add(
        "inventory_movements",
        pd.DataFrame(
            {
                "movement_id": moves["movement_id"].to_numpy(),
                "moved_at": ts(moves["t"]),
                "site_id": moves["site_id"].array,
                "location": moves["location"].array,
                "material_id": moves["material_id"].array,
                "lot_id": nint(moves["lot_id"].fillna(0), moves["lot_id"].fillna(0) > 0),
                "qty": moves["qty"].to_numpy().astype(float),
                "movement_type": moves["movement_type"].array,
                "reference_type": moves["reference_type"].array,
                "reference_id": nint(moves["reference_id"].fillna(0), moves["reference_id"].fillna(0) > 0),
                "reference_line": nint(
                    moves["reference_line"].fillna(0), moves["reference_line"].fillna(0) > 0
                ),
            }
        ),
    )
    return lots, moves


def day_of(t: np.ndarray) -> np.ndarray:
    return np.asarray(t) // DAY
