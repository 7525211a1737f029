"""Barcode scans of finished-good lots: GS1 element strings in the formats scanners really send.

Mixed on purpose: human-readable with parentheses, raw with a GS (0x1D) after the variable-length lot,
and GS1 DataMatrix with the ']d2' symbology identifier. A handful carry an explicit UTC offset.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd

from ingest.demo.catalog import SITES
from ingest.demo.chain import DAY, HOUR
from ingest.demo.world import World, ts

GS = "\x1d"


def payloads(gtin: np.ndarray, expiry_yymmdd: np.ndarray, lot: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """GS1 payloads for (gtin, expiry, lot) rows in format 0 (parentheses), 1 (raw + GS) or 2 (]d2)."""
    g, e, lo = gtin.astype(str), expiry_yymmdd.astype(str), lot.astype(str)
    human = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add("(01)", g), "(17)"), e), "(10)"), lo)
    raw = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add("01", g), "10"), lo), GS + "17"), e)
    dm = np.char.add(
        "]d2", np.char.add(np.char.add(np.char.add(np.char.add("01", g), "17"), e), np.char.add("10", lo))
    )
    return np.where(fmt == 0, human, np.where(fmt == 1, raw, dm))


def build_scans(world: World, shipments: pd.DataFrame, fg_lots: pd.DataFrame, gtins: dict[str, str]) -> None:
    """Pack scans for produced finished-good lots, pick and ship scans for shipments."""
    rng = world.rng
    lot_exp = fg_lots.set_index("lot_id")["exp"]
    lot_site = fg_lots.set_index("lot_id")["site_id"]
    sh_t = shipments["shipped_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    picks = rng.random(len(shipments)) < 0.3
    frames = [
        pd.DataFrame(
            {
                "lot_id": fg_lots["lot_id"].to_numpy(),
                "material_id": fg_lots["material_id"].to_numpy(),
                "t": fg_lots["created"].to_numpy() + 20 * 60,
                "event": "pack",
                "location": "PACK-LINE",
            }
        ),
        pd.DataFrame(
            {
                "lot_id": shipments["lot_id"].to_numpy()[picks],
                "material_id": shipments["material_id"].to_numpy()[picks],
                "t": sh_t[picks] - rng.integers(1, 6, int(picks.sum())) * HOUR,
                "event": "pick",
                "location": "FG-STORE",
            }
        ),
        pd.DataFrame(
            {
                "lot_id": shipments["lot_id"].to_numpy(),
                "material_id": shipments["material_id"].to_numpy(),
                "t": sh_t,
                "event": "ship",
                "location": "SHIPPING",
            }
        ),
    ]
    s = pd.concat(frames, ignore_index=True)
    s = s[s["t"] < world.end].sort_values(["t", "lot_id"], kind="stable").reset_index(drop=True)
    n = len(s)
    site = lot_site.reindex(s["lot_id"]).to_numpy()
    exp_days = lot_exp.reindex(s["lot_id"]).to_numpy() // DAY
    exp = (np.datetime64("1970-01-01") + exp_days.astype("timedelta64[D]")).astype("datetime64[D]")
    yymmdd = np.char.replace(np.datetime_as_string(exp, unit="D").astype(str), "-", "")
    yymmdd = np.array([x[2:] for x in yymmdd]) if n else yymmdd
    lot_txt = np.char.add("LOT-", np.char.zfill(s["lot_id"].to_numpy().astype(str), 7))
    gt = s["material_id"].map(gtins).to_numpy().astype(str)
    fmt = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    t = s["t"].to_numpy().copy()
    tz = np.full(n, None, dtype=object)
    # a few scanners send an explicit offset: Shenzhen '+08:00', Galway converted to UTC 'Z'
    k = max(2, n // 300)
    for i in np.sort(rng.choice(n, min(k, n), replace=False)):
        zone = SITES.set_index("site_id").loc[site[i], "timezone"]
        if zone == "Asia/Shanghai":
            tz[i] = "+08:00"
        else:
            local = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(t[i]))
            utc = local.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC).replace(tzinfo=None)
            t[i] = int((utc - dt.datetime(1970, 1, 1)).total_seconds())
            tz[i] = "Z"
    world.add(
        "scans",
        pd.DataFrame(
            {
                "scan_id": world.ids("scan_id", n),
                "scanned_at": ts(t),
                "scanned_at__tz": tz,
                "site_id": site,
                "device_id": np.char.add(
                    np.char.add("SCN-", np.char.replace(site.astype(str), "SITE-", "")),
                    np.char.add("-", rng.integers(1, 9, n).astype(str)),
                ),
                "location": s["location"].to_numpy(),
                "event": s["event"].to_numpy(),
                "payload": payloads(gt, yymmdd, lot_txt, fmt),
            }
        ),
    )
