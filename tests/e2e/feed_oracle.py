"""An independent reading of a drop folder: KPIs and genealogy computed with pandas
straight from the CSV feed, following dbt_project/kpi-definitions.md line by line.

It shares no code with ingest/, dbt_project/ or medtower/, so the end-to-end test
compares two implementations of the definitions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd


class Feed:
    def __init__(self, folder: Path):
        self.folder = folder
        self.manifest = json.loads((folder / "_demo_manifest.json").read_text())
        bad: dict[str, set[int]] = {}
        for row in self.manifest.get("bad_rows", []):
            bad.setdefault(row["entity"], set()).add(int(row["line"]))
        self._bad = bad
        self._cache: dict[str, pd.DataFrame] = {}

    def raw(self, entity: str) -> pd.DataFrame:
        """Every data row as text, with its 1-based file line (header = line 1)."""
        frame = pd.read_csv(self.folder / f"{entity}.csv", dtype=str, keep_default_na=False)
        frame["_line"] = np.arange(2, len(frame) + 2)
        return frame

    def good(self, entity: str) -> pd.DataFrame:
        if entity not in self._cache:
            frame = self.raw(entity)
            frame = frame[~frame["_line"].isin(self._bad.get(entity, set()))].copy()
            frame = frame.replace({"": None})
            self._cache[entity] = frame
        return self._cache[entity].copy()


def _date(series: pd.Series) -> pd.Series:
    """Local date of a timestamp or date column (the feed writes local time without offset)."""
    return pd.to_datetime(series.str.slice(0, 10), format="%Y-%m-%d", errors="coerce").dt.date


def _ts(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.str.slice(0, 19), format="%Y-%m-%dT%H:%M:%S", errors="coerce")


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").fillna(0.0)


def _in_window(dates: pd.Series, as_of: dt.date, days: int) -> pd.Series:
    start = as_of - dt.timedelta(days=days)
    return dates.map(lambda d: d is not None and not pd.isna(d) and start < d <= as_of)


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def kpis(feed: Feed, as_of: dt.date, days: int = 30, include_stock: bool = True) -> dict[str, object]:
    out: dict[str, object] = {}

    # otif_rate
    so = feed.good("sales_orders")
    so = so[so["status"] != "cancelled"].copy()
    so["due"] = _date(so["promised_date"].fillna(so["requested_date"]))
    so = so[_in_window(so["due"], as_of, days)]
    sh = feed.good("shipments")
    sh["ship_date"] = _date(sh["shipped_at"])
    sh["qty"] = _num(sh["qty"])
    otif = 0
    for row in so.itertuples():
        shipped = sh[
            (sh["so_id"] == row.so_id) & (sh["so_line"] == row.so_line) & (sh["ship_date"] <= row.due)
        ]
        otif += shipped["qty"].sum() >= float(row.qty)
    out["otif_rate"] = _ratio(otif, len(so))

    # supplier_otd_rate
    po = feed.good("purchase_orders")
    po = po[po["status"] != "cancelled"].copy()
    po["req"] = _date(po["requested_date"])
    po = po[_in_window(po["req"], as_of, days)]
    mv = feed.good("inventory_movements")
    mv["date"] = _date(mv["moved_at"])
    mv["qty"] = _num(mv["qty"])
    receipts = mv[(mv["movement_type"] == "receipt") & (mv["reference_type"] == "po")]
    on_time = 0
    for row in po.itertuples():
        got = receipts[
            (receipts["reference_id"] == row.po_id)
            & (receipts["reference_line"] == row.po_line)
            & (receipts["date"] <= row.req)
        ]
        on_time += got["qty"].sum() >= float(row.qty_ordered)
    out["supplier_otd_rate"] = _ratio(on_time, len(po))

    # incoming_lot_reject_rate
    ins = feed.good("inspections")
    ins = ins[(ins["inspection_type"] == "incoming") & ins["result"].isin(["pass", "fail"])].copy()
    ins = ins[ins["completed_at"].notna()]
    ins = ins[_in_window(_date(ins["completed_at"]), as_of, days)]
    out["incoming_lot_reject_rate"] = _ratio(int((ins["result"] == "fail").sum()), len(ins))

    # first_pass_yield
    wo = feed.good("work_orders")
    wo["end_date"] = _date(wo["actual_end"].fillna(""))
    fin = wo[wo["actual_end"].notna() & _in_window(wo["end_date"], as_of, days)]
    good_qty = _num(fin["qty_completed"]).sum()
    out["first_pass_yield"] = _ratio(good_qty, good_qty + _num(fin["qty_scrapped"]).sum())

    # lot_release_cycle_time_p50_hours / _p90_hours
    lots = feed.good("lots")
    mats = feed.good("materials")
    fg = set(mats.loc[mats["material_type"] == "finished_good", "material_id"])
    produced = lots[(lots["origin"] == "produced") & lots["material_id"].isin(fg)]
    rel = feed.good("lot_releases")
    rel = rel[rel["decision"] == "released"].copy()
    rel["at"] = _ts(rel["decided_at"])
    first_rel = rel.groupby("lot_id")["at"].min()
    wo_end = (
        wo[wo["output_lot_id"].notna()]
        .assign(end=_ts(wo["actual_end"].fillna("")))
        .set_index("output_lot_id")["end"]
    )
    hours = []
    for lot_id in produced["lot_id"]:
        if lot_id in first_rel.index and lot_id in wo_end.index and not pd.isna(wo_end[lot_id]):
            decided = first_rel[lot_id]
            if _in_window(pd.Series([decided.date()]), as_of, days).iloc[0]:
                hours.append((decided - wo_end[lot_id]).total_seconds() / 3600.0)
    out["lot_release_cycle_time_p50_hours"] = float(np.percentile(hours, 50)) if hours else None
    out["lot_release_cycle_time_p90_hours"] = float(np.percentile(hours, 90)) if hours else None

    # open_ncr_count: opened_at <= A and (closed_at null or closed_at > A), A = end of local day
    ncr = feed.good("nonconformances")
    opened = _date(ncr["opened_at"])
    closed = _date(ncr["closed_at"].fillna(""))
    open_mask = (opened <= as_of) & closed.map(lambda d: d is None or pd.isna(d) or d > as_of)
    out["open_ncr_count"] = int(open_mask.sum())

    # overdue_capa_count
    capa = feed.good("capas")
    c_open = (_date(capa["opened_at"]) <= as_of) & _date(capa["closed_at"].fillna("")).map(
        lambda d: d is None or pd.isna(d) or d > as_of
    )
    due = _date(capa["due_date"])
    out["overdue_capa_count"] = int((c_open & (due < as_of)).sum())

    # late_wo_count: planned_end before the end of day A and not finished at the end of day A
    w = wo[wo["status"] != "cancelled"]
    planned_end = _date(w["planned_end"])
    not_done = _date(w["actual_end"].fillna("")).map(lambda d: d is None or pd.isna(d) or d > as_of)
    out["late_wo_count"] = int(((planned_end <= as_of) & not_done).sum())

    # traceability_completeness
    out["traceability_completeness"] = traceability_completeness(feed, as_of, days)

    if include_stock:
        out["expiring_released_lots_90d"] = expiring_released_lots(feed, as_of)
    return out


def effective_bom(feed: Feed, parent: str, day: dt.date) -> pd.DataFrame:
    bom = feed.good("bom")
    bom = bom[bom["parent_material_id"] == parent].copy()
    start = _date(bom["effective_from"])
    end = _date(bom["effective_to"].fillna(""))
    valid = (start <= day) & end.map(lambda d: d is None or pd.isna(d) or d >= day)
    return bom[valid]


def traceability_completeness(feed: Feed, as_of: dt.date, days: int) -> float | None:
    wo = feed.good("work_orders")
    wo = wo[wo["actual_end"].notna() & wo["output_lot_id"].notna()].copy()
    wo["end_date"] = _date(wo["actual_end"])
    wo = wo[_in_window(wo["end_date"], as_of, days)]
    mats = feed.good("materials").set_index("material_id")
    cons = feed.good("lot_consumption")
    complete = 0
    for row in wo.itertuples():
        bom = effective_bom(feed, row.material_id, row.end_date)
        needed = {m for m in bom["component_material_id"] if mats.loc[m, "lot_controlled"].lower() == "true"}
        covered = set(cons.loc[cons["wo_id"] == row.wo_id, "component_material_id"])
        complete += needed <= covered
    return _ratio(complete, len(wo))


def on_hand(feed: Feed, as_of: dt.date) -> pd.Series:
    mv = feed.good("inventory_movements")
    mv = mv[mv["lot_id"].notna()].copy()
    mv = mv[_date(mv["moved_at"]) <= as_of]
    return _num(mv["qty"]).groupby(mv["lot_id"]).sum()


def expiring_released_lots(feed: Feed, as_of: dt.date) -> int:
    """Only valid at the end of the feed, where a lot's current status is its status at A."""
    lots = feed.good("lots")
    stock = on_hand(feed, as_of)
    lots["on_hand"] = lots["lot_id"].map(stock).fillna(0.0)
    expiry = _date(lots["expiry_date"].fillna(""))
    soon = expiry.map(
        lambda d: d is not None and not pd.isna(d) and as_of < d <= as_of + dt.timedelta(days=90)
    )
    return int(((lots["status"] == "released") & (lots["on_hand"] > 0) & soon).sum())


def genealogy(feed: Feed, lot_id: str, direction: str) -> set[str]:
    wo = feed.good("work_orders")
    out_lot = dict(zip(wo["wo_id"], wo["output_lot_id"], strict=True))
    cons = feed.good("lot_consumption")
    edges = [
        (c, out_lot.get(w))
        for w, c in zip(cons["wo_id"], cons["component_lot_id"], strict=True)
        if out_lot.get(w)
    ]
    nxt: dict[str, set[str]] = {}
    for parent, child in edges:
        a, b = (parent, child) if direction == "forward" else (child, parent)
        nxt.setdefault(a, set()).add(b)
    seen: set[str] = set()
    queue = deque([lot_id])
    while queue:
        for n in nxt.get(queue.popleft(), ()):
            if n not in seen and n != lot_id:
                seen.add(n)
                queue.append(n)
    return seen
