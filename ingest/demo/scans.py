"""Barcode scans of finished-good lots: GS1 element strings in the formats scanners really send.

Mixed on purpose: human-readable with parentheses, raw with a GS (0x1D) after the variable-length lot,
and GS1 DataMatrix with the ']d2' symbology identifier. A handful carry an explicit UTC offset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.demo.catalog import SITES
from ingest.demo.chain import DAY, HOUR
from ingest.demo.world import World, ts

GS = "\x1d"


def payloads(gtin: pa.Array, expiry_yymmdd: pa.Array, lot: pa.Array, fmt: np.ndarray) -> pa.Array:
    """GS1 payloads for (gtin, expiry, lot) rows in format 0 (parentheses), 1 (raw + GS) or 2 (]d2)."""

    def join(*parts: object) -> pa.Array:
        return pc.binary_join_element_wise(*parts, "")

    # each format only for its own rows, then back in row order: three full-length string arrays
    # (and two if_else copies) would be over a GB at scale 100
    order = np.argsort(fmt, kind="stable")
    cut = np.searchsorted(fmt[order], [1, 2])
    rows = np.split(order, cut)
    parts = [
        join(
            "(01)",
            pc.take(gtin, rows[0]),
            "(17)",
            pc.take(expiry_yymmdd, rows[0]),
            "(10)",
            pc.take(lot, rows[0]),
        ),
        join(
            "01",
            pc.take(gtin, rows[1]),
            "10",
            pc.take(lot, rows[1]),
            GS + "17",
            pc.take(expiry_yymmdd, rows[1]),
        ),
        join(
            "]d201",
            pc.take(gtin, rows[2]),
            "17",
            pc.take(expiry_yymmdd, rows[2]),
            "10",
            pc.take(lot, rows[2]),
        ),
    ]
    back = np.empty(len(fmt), dtype=np.int64)
    back[order] = np.arange(len(fmt))
    return pc.take(pa.concat_arrays(parts), pa.array(back))


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
    exp = pa.array((exp_days * DAY).astype("datetime64[s]"))
    yymmdd = pc.strftime(exp, format="%y%m%d")
    lot_txt = pc.utf8_lpad(pa.array(s["lot_id"].to_numpy()).cast(pa.string()), 7, "0")
    lot_txt = pc.binary_join_element_wise("LOT-", lot_txt, "")
    gt = pa.array(s["material_id"].map(gtins).to_numpy().astype(object), type=pa.string())
    fmt = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    t = s["t"].to_numpy().copy()
    tz = np.full(n, None, dtype=object)
    # a few scanners (at most 200) send an explicit offset: Shenzhen '+08:00', Galway converted to UTC 'Z'
    pick = np.sort(rng.choice(n, min(max(2, n // 300), 200, n), replace=False))
    zones = SITES.set_index("site_id")["timezone"]
    for site_id, zone in zones.items():
        rows = pick[site[pick] == site_id]
        if zone == "Asia/Shanghai":
            tz[rows] = "+08:00"
            continue
        local = pd.DatetimeIndex(t[rows].astype("datetime64[s]"))
        utc = local.tz_localize(zone, ambiguous=False, nonexistent="shift_forward").tz_convert("UTC")
        t[rows] = utc.tz_localize(None).as_unit("s").asi8
        tz[rows] = "Z"
    device = rng.integers(1, 9, n)
    site_code = pd.Categorical(site).rename_categories(lambda c: c.removeprefix("SITE-"))
    world.add(
        "scans",
        pd.DataFrame(
            {
                "scan_id": world.ids("scan_id", n),
                "scanned_at": ts(t),
                "scanned_at__tz": tz,
                "site_id": site,
                "device_id": _devices(site_code, device),
                "location": s["location"].to_numpy(),
                "event": s["event"].to_numpy(),
                "payload": pd.arrays.ArrowStringArray(payloads(gt, yymmdd, lot_txt, fmt)),
            }
        ),
    )


def _devices(site_code: pd.Categorical, device: np.ndarray) -> pd.Categorical:
    """'SCN-<site>-<n>' per scan as a categorical: a string per row would be ~1 GB at scale 100."""
    key = site_code.codes.astype(np.int64) * 100 + device
    uniq, inverse = np.unique(key, return_inverse=True)
    labels = [f"SCN-{site_code.categories[k // 100]}-{k % 100}" for k in uniq]
    return pd.Categorical.from_codes(inverse.ravel(), categories=labels)
