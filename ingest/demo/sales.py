"""Customer demand: sales order lines over the year (and the next weeks), and their shipments by lot.

Lines are generated first because they drive everything upstream; shipments come out of the FIFO
match of lines against finished-good lots, so a line ships only from a lot released before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.demo.catalog import Catalog
from ingest.demo.chain import DAY, HOUR, work_time
from ingest.demo.world import World, compact, dates, ts

LINES_PER_YEAR = 24_000  # at scale 1
HORIZON_AFTER = 56  # days of open orders after as_of


def demand_lines(world: World, cat: Catalog) -> pd.DataFrame:
    """Sales order lines (including not-yet-ordered forecast lines) with their planned ship time."""
    rng = world.rng
    days = 365 + HORIZON_AFTER
    n = max(40, int(rng.poisson(LINES_PER_YEAR * world.scale * days / 365)))
    fgs = list(cat.fg_demand)
    weights = np.array([cat.fg_demand[f][0] for f in fgs])
    fg_idx = rng.choice(len(fgs), n, p=weights / weights.sum())
    customers = cat.tables["customers"]
    ctype = customers["customer_type"].to_numpy()
    cw = np.select([ctype == "hospital", ctype == "distributor", ctype == "clinic"], [1.0, 2.5, 0.6], 1.2)
    cust_idx = rng.choice(len(customers), n, p=cw / cw.sum())
    big = np.isin(ctype[cust_idx], ["distributor", "oem"])
    # (hospital lo, hi, distributor lo, hi) per finished good, looked up per line
    ranges = np.array([[*cat.fg_demand[f][1], *cat.fg_demand[f][2]] for f in fgs], dtype=float)[fg_idx]
    lo = np.where(big, ranges[:, 2], ranges[:, 0])
    hi = np.where(big, ranges[:, 3], ranges[:, 1])
    qty = np.maximum(10, np.round(rng.uniform(lo, hi) / 10) * 10).astype(np.int64)
    req_day = rng.integers(-365, HORIZON_AFTER + 1, n)
    promised_shift = np.where(rng.random(n) < 0.2, rng.integers(1, 6, n), 0)
    due_day = req_day + promised_shift
    late = rng.random(n) < 0.08
    ship_day = np.where(late, due_day + rng.integers(1, 11, n), due_day - rng.integers(0, 4, n))
    ship_t = work_time(world.t0 + ship_day * DAY, rng, 8, 17)
    order_day = req_day - rng.integers(7, 36, n)
    lines = pd.DataFrame(
        {
            "material_id": np.array(fgs)[fg_idx],
            "customer_id": customers["customer_id"].to_numpy()[cust_idx],
            "qty": qty,
            "req_day": req_day,
            "promised_day": np.where(promised_shift > 0, due_day, -10_000),
            "due_day": due_day,
            "order_day": order_day,
            "ship_t": ship_t,
        }
    )
    lines["site_id"] = lines["material_id"].map(cat.fg_site)
    lines = lines.sort_values(["customer_id", "order_day", "material_id", "ship_t"], kind="stable")
    lines = lines.reset_index(drop=True)
    lines["so_id"] = lines.groupby(["customer_id", "order_day"], sort=False).ngroup().to_numpy(np.int64) + 1
    lines["so_line"] = lines.groupby("so_id").cumcount().astype(np.int64) + 1
    world.counters["so_id"] = int(lines["so_id"].max())
    return compact(lines)


def build_sales(world: World, lines: pd.DataFrame, seg: pd.DataFrame) -> pd.DataFrame:
    """Write sales_orders and shipments; ``seg`` maps line index -> FG lot, qty (pieces), ship time."""
    rng = world.rng
    end = world.end
    shipped = seg[seg["t"] < end].copy()
    shipped["so_id"] = lines["so_id"].to_numpy()[shipped["need"]]
    shipped["so_line"] = lines["so_line"].to_numpy()[shipped["need"]]
    shipped["customer_id"] = lines["customer_id"].array.take(shipped["need"].to_numpy())
    shipped["material_id"] = lines["material_id"].array.take(shipped["need"].to_numpy())
    shipped = shipped.sort_values(["t", "so_id", "so_line"], kind="stable").reset_index(drop=True)
    # the key is (shipment_id, lot_id, serial): one shipment per order line and day
    key = shipped["so_id"] * 10**9 + shipped["so_line"] * 10**5 + shipped["t"] // DAY
    codes = pd.factorize(key)[0]
    shipped["shipment_id"] = world.ids("shipment_id", int(codes.max()) + 1 if len(codes) else 0)[codes]
    delivered = shipped["t"].to_numpy() + rng.integers(18 * HOUR, 5 * DAY, len(shipped))
    shipments = pd.DataFrame(
        {
            "shipment_id": shipped["shipment_id"].to_numpy(),
            "so_id": shipped["so_id"].to_numpy(),
            "so_line": shipped["so_line"].to_numpy(),
            "customer_id": shipped["customer_id"].array,
            "material_id": shipped["material_id"].array,
            "lot_id": shipped["lot"].to_numpy(),
            "qty": shipped["qty"].to_numpy().astype(float),
            "shipped_at": ts(shipped["t"]),
            "delivered_at": ts(np.where(delivered < end, delivered, -1)),
            "site_id": shipped["site_id"].to_numpy(),
        }
    )
    world.add("shipments", shipments)

    # line status from what has shipped by as_of
    need_total = seg.groupby("need")["qty"].sum()
    done = shipped.groupby("need")["qty"].sum().reindex(need_total.index, fill_value=0)
    last_ship = shipped.groupby("need")["t"].max()
    exists = lines["order_day"].to_numpy() <= 0
    idx = np.arange(len(lines))
    sold = pd.Series(done, index=need_total.index).reindex(idx, fill_value=0).to_numpy()
    status = np.where(
        sold >= lines["qty"].to_numpy(),
        "shipped",
        np.where(
            sold > 0, "partially_shipped", np.where(lines["due_day"].to_numpy() <= 7, "allocated", "open")
        ),
    )
    cancelled = (rng.random(len(lines)) < 0.01) & (sold == 0)
    status = np.where(cancelled, "cancelled", status)
    updated = np.where(
        sold > 0,
        last_ship.reindex(idx).fillna(-1).to_numpy().astype(np.int64),
        world.t0 + lines["order_day"].to_numpy() * DAY + 9 * HOUR,
    )
    so = pd.DataFrame(
        {
            "so_id": lines["so_id"].to_numpy(),
            "so_line": lines["so_line"].to_numpy(),
            "customer_id": lines["customer_id"].array,
            "material_id": lines["material_id"].array,
            "site_id": lines["site_id"].array,
            "qty": lines["qty"].to_numpy().astype(float),
            "order_date": dates(world.t0 + lines["order_day"].to_numpy() * DAY),
            "requested_date": dates(world.t0 + lines["req_day"].to_numpy() * DAY),
            "promised_date": dates(
                np.where(
                    lines["promised_day"] > -10_000, world.t0 + lines["promised_day"].to_numpy() * DAY, -1
                )
            ),
            "status": status,
            "updated_at": ts(updated),
        }
    )
    world.add("sales_orders", so[exists])
    return shipments
