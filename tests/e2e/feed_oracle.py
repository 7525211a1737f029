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


# --- shortages: time-phased multi-level netting of firm orders ------------------------------------------
#
# Written from the "Shortages" section of kpi-definitions.md, with the lead's clarifications:
# - demand of a work-order component = qty_planned x qty_per (BOM revision effective at the local
#   planned_start date) minus what was already issued to that work order, needed at planned_start;
#   an open sales order line needs qty minus shipped at promised_date, else requested_date;
# - supply: released lots on hand at A (each only for demand whose netting date is before its expiry,
#   consumed first-expiry-first-out before any other supply); stock of a material that is not lot
#   controlled (movements without a lot); open PO lines (ordered minus received) at confirmed, else
#   requested date; open work orders (planned minus completed) at planned_end;
# - an event dated before A is netted at A (on-hand covers past-due demand, an overdue PO arrives at A),
#   but a net requirement keeps its real need date; on one date: supply, then lot expiry, then demand;
# - B_k = max(B_{k-1}, 0) + supply_k - demand_k; a negative B_k is a net requirement of -B_k;
# - lead time: made in house (has a BOM) = materials.planned_lead_time_days; purchased = shortest
#   planned_lead_time_days of its approved suppliers (approved and supplier not disqualified), else
#   materials.planned_lead_time_days; exception when need_date <= A + lead time, else action.

OPEN_WO_STATUSES = ("planned", "released", "in_progress", "on_hold")
OPEN_PO_STATUSES = ("open", "partially_received")
OPEN_SO_STATUSES = ("open", "allocated", "partially_shipped")


def _day(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return dt.date.fromisoformat(str(value)[:10])


def lead_times(feed: Feed) -> dict[str, int]:
    """Lead time in calendar days per material, as the definition chooses it."""
    mats = feed.good("materials")
    own = {
        m: int(v) if v is not None else 0
        for m, v in zip(mats["material_id"], mats["planned_lead_time_days"], strict=True)
    }
    made = set(feed.good("bom")["parent_material_id"])
    sup = feed.good("suppliers")
    disqualified = set(sup.loc[sup["approval_status"] == "disqualified", "supplier_id"])
    asl = feed.good("approved_suppliers")
    asl = asl[
        (asl["approved"].str.lower().isin(["true", "1"]))
        & ~asl["supplier_id"].isin(disqualified)
        & asl["planned_lead_time_days"].notna()
    ]
    shortest = asl.assign(days=asl["planned_lead_time_days"].astype(int)).groupby("material_id")["days"].min()
    return {m: (own[m] if m in made or m not in shortest.index else int(shortest[m])) for m in own}


def _bom_rows(feed: Feed) -> dict[str, list[tuple[str, float, dt.date, dt.date | None]]]:
    out: dict[str, list[tuple[str, float, dt.date, dt.date | None]]] = {}
    bom = feed.good("bom")
    for parent, comp, per, frm, to in zip(
        bom["parent_material_id"],
        bom["component_material_id"],
        bom["qty_per"],
        bom["effective_from"],
        bom["effective_to"],
        strict=True,
    ):
        frm_d = _day(frm)
        assert frm_d is not None
        out.setdefault(parent, []).append((comp, float(per), frm_d, _day(to)))
    return out


def net_requirements(feed: Feed, as_of: dt.date) -> pd.DataFrame:
    """Every net requirement: material_id, site_id, need_date, shortage_qty, kind, lead_time_days, order_by,
    source (the demand it falls on: ``wo:<id>`` or ``so:<id>/<line>``)."""
    # (material, site) -> [(netting date, order, tiebreak, qty, need date, source, expiry)]
    events: dict[tuple[str, str], list[tuple]] = {}

    def add(
        key: tuple[str, str],
        when: dt.date,
        order: int,
        tie: str,
        qty: float,
        need: dt.date,
        src: str,
        expiry: dt.date | None = None,
    ) -> None:
        if qty <= 1e-9:
            return
        events.setdefault(key, []).append((max(when, as_of), order, tie, qty, need, src, expiry))

    # stock at the end of A
    mv = feed.good("inventory_movements")
    mv = mv[_date(mv["moved_at"]) <= as_of]
    qty = _num(mv["qty"])
    lotted = mv["lot_id"].notna()
    lot_stock = qty[lotted].groupby(mv.loc[lotted, "lot_id"]).sum()
    loose = qty[~lotted].groupby([mv.loc[~lotted, "material_id"], mv.loc[~lotted, "site_id"]]).sum()
    for (mat, site), q in loose.items():
        add((mat, site), as_of, 0, "stock", float(q), as_of, "stock")
    lots = feed.good("lots")
    lots = lots[lots["status"] == "released"]
    for lot, mat, site, exp in zip(
        lots["lot_id"], lots["material_id"], lots["site_id"], lots["expiry_date"], strict=True
    ):
        expiry = _day(exp)
        if expiry is not None and expiry <= as_of:
            continue  # expired at A: nothing
        add((mat, site), as_of, 0, f"lot {lot}", float(lot_stock.get(lot, 0.0)), as_of, f"lot:{lot}", expiry)

    # open purchase order lines: ordered minus received
    po = feed.good("purchase_orders")
    po = po[po["status"].isin(OPEN_PO_STATUSES)]
    rec = mv[(mv["movement_type"] == "receipt") & (mv["reference_type"] == "po")]
    received = _num(rec["qty"]).groupby([rec["reference_id"], rec["reference_line"]]).sum()
    for pid, line, mat, site, ordered, conf, req in zip(
        po["po_id"],
        po["po_line"],
        po["material_id"],
        po["site_id"],
        po["qty_ordered"],
        po["confirmed_date"],
        po["requested_date"],
        strict=True,
    ):
        due = _day(conf) or _day(req)
        assert due is not None
        open_qty = float(ordered) - float(received.get((pid, line), 0.0))
        add((mat, site), due, 0, f"po {pid}/{line}", open_qty, due, f"po:{pid}/{line}")

    # open work orders: supply of what they make, demand for their components
    wo = feed.good("work_orders")
    wo = wo[wo["status"].isin(OPEN_WO_STATUSES)]
    iss = mv[(mv["movement_type"] == "issue") & (mv["reference_type"] == "wo")]
    issued = (-_num(iss["qty"])).groupby([iss["reference_id"], iss["material_id"]]).sum()
    boms = _bom_rows(feed)
    for wid, mat, site, planned, done, ps, pe in zip(
        wo["wo_id"],
        wo["material_id"],
        wo["site_id"],
        wo["qty_planned"],
        wo["qty_completed"],
        wo["planned_start"],
        wo["planned_end"],
        strict=True,
    ):
        planned_q = float(planned)
        end_day, start_day = _day(pe), _day(ps)
        assert end_day is not None and start_day is not None
        add(
            (mat, site),
            end_day,
            0,
            f"wo {wid}",
            planned_q - (float(done) if done else 0.0),
            end_day,
            f"wo:{wid}",
        )
        for comp, per, frm, to in boms.get(mat, []):
            if frm <= start_day and (to is None or start_day <= to):
                need = planned_q * per - float(issued.get((wid, comp), 0.0))
                add((comp, site), start_day, 2, f"{ps} {wid}", need, start_day, f"wo:{wid}")

    # open sales order lines: qty minus shipped
    so = feed.good("sales_orders")
    so = so[so["status"].isin(OPEN_SO_STATUSES)]
    sh = feed.good("shipments")
    shipped = _num(sh["qty"]).groupby([sh["so_id"], sh["so_line"]]).sum()
    for sid, line, mat, site, q, prom, req in zip(
        so["so_id"],
        so["so_line"],
        so["material_id"],
        so["site_id"],
        so["qty"],
        so["promised_date"],
        so["requested_date"],
        strict=True,
    ):
        due = _day(prom) or _day(req)
        assert due is not None
        add(
            (mat, site),
            due,
            2,
            f"{due} {sid}/{line}",
            float(q) - float(shipped.get((sid, line), 0.0)),
            due,
            f"so:{sid}/{line}",
        )

    lead = lead_times(feed)
    rows = []
    for (mat, site), evs in events.items():
        evs.sort(key=lambda e: (e[0], e[1], e[4], e[2]))
        lot_pool: list[list] = []  # [expiry or date.max, remaining]
        other = 0.0
        for when, order, _tie, q, need, src, expiry in evs:
            if order == 0:
                if src.startswith("lot:"):
                    lot_pool.append([expiry or dt.date.max, q])
                    lot_pool.sort(key=lambda x: x[0])
                else:
                    other += q
                continue
            # a lot that expires on or before the netting date is gone (expiry before demand)
            lot_pool = [lot for lot in lot_pool if lot[0] > when]
            left = q
            for lot in lot_pool:
                take = min(lot[1], left)
                lot[1] -= take
                left -= take
                if left <= 1e-9:
                    break
            lot_pool = [lot for lot in lot_pool if lot[1] > 1e-9]
            other -= left
            if other < -1e-6:
                lt = lead.get(mat, 0)
                rows.append(
                    {
                        "material_id": mat,
                        "site_id": site,
                        "need_date": need,
                        "shortage_qty": round(-other, 6),
                        "kind": "exception" if need <= as_of + dt.timedelta(days=lt) else "action",
                        "lead_time_days": lt,
                        "order_by": need - dt.timedelta(days=lt),
                        "source": src,
                    }
                )
            other = max(other, 0.0)
    cols = [
        "material_id",
        "site_id",
        "need_date",
        "shortage_qty",
        "kind",
        "lead_time_days",
        "order_by",
        "source",
    ]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["material_id", "site_id", "need_date", "source"], kind="stable").reset_index(
        drop=True
    )
