"""Each planted situation, recomputed from the CSV files alone per kpi-definitions.md."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ingest.demo import generate

from .feed import Feed

OPEN = ["released", "in_progress", "on_hold"]


def _ts(feed: Feed) -> pd.Timestamp:
    return pd.Timestamp(feed.as_of)


def _effective_bom(feed: Feed, parent: str, day: pd.Timestamp) -> pd.DataFrame:
    bom = feed.num("bom", "qty_per")
    bom = bom[bom["parent_material_id"] == parent]
    frm = pd.to_datetime(bom["effective_from"])
    to = pd.to_datetime(bom["effective_to"].replace("", None))
    return bom[(frm <= day) & (to.isna() | (day <= to))]


def _time_phased(feed: Feed, material: str, site: str) -> pd.DataFrame:
    """`shortage`: open WOs in planned_start order against released on-hand plus open PO due by then."""
    as_of = _ts(feed)
    lots = feed.good("lots")
    exp = pd.to_datetime(lots["expiry_date"].replace("", None))
    avail = lots[
        (lots["material_id"] == material)
        & (lots["site_id"] == site)
        & (lots["status"] == "released")
        & (exp.isna() | (exp > as_of))
    ]
    onhand = feed.onhand(feed.as_of).reindex(avail["lot_id"]).fillna(0).sum()
    po = feed.num("purchase_orders", "qty_ordered")
    po = po[
        (po["material_id"] == material)
        & (po["site_id"] == site)
        & po["status"].isin(["open", "partially_received"])
    ]
    po_due = pd.to_datetime(po["confirmed_date"].replace("", None).fillna(po["requested_date"]))
    wo = feed.num("work_orders", "qty_planned")
    wo = wo[(wo["site_id"] == site) & wo["status"].isin(OPEN)].copy()
    wo["ps"] = pd.to_datetime(wo["planned_start"])
    cons = feed.num("lot_consumption", "qty")
    issued = cons[cons["component_material_id"] == material].groupby("wo_id")["qty"].sum()
    rows = []
    for _, w in wo.sort_values(["ps", "wo_id"]).iterrows():
        bom = _effective_bom(feed, w["material_id"], w["ps"].floor("D"))
        per = bom.loc[bom["component_material_id"] == material, "qty_per"].sum()
        if per == 0:
            continue
        rows.append(
            {
                "wo_id": w["wo_id"],
                "ps": w["ps"],
                "so_id": w["so_id"],
                "req": w["qty_planned"] * per - issued.get(w["wo_id"], 0.0),
                "supply": onhand + po.loc[po_due <= w["ps"].floor("D"), "qty_ordered"].sum(),
            }
        )
    out = pd.DataFrame(rows)
    out["balance"] = out["supply"] - out["req"].cumsum()
    return out


def test_shortage_is_negative_time_phased(feed: Feed) -> None:
    p = feed.planted["shortage"]
    bal = _time_phased(feed, p["material_id"], p["site_id"])
    window = bal[bal["ps"] < _ts(feed) + pd.Timedelta(days=22)]
    short = window[window["balance"] < 0]
    assert set(short["wo_id"]) == set(p["work_orders"])
    assert set(p["planted_work_orders"]) <= set(p["work_orders"])
    assert (short["ps"] > _ts(feed)).any()
    assert set(p["sales_orders"]) == set(short["so_id"]) - {""}
    assert p["sales_orders"]


def test_shortage_context_substitute_supplier_and_unavailable_stock(feed: Feed) -> None:
    p = feed.planted["shortage"]
    as_of = _ts(feed)
    assert feed.good("materials").set_index("material_id").loc[p["material_id"], "lot_controlled"] == "true"
    sub = feed.good("substitutes")
    row = sub[
        (sub["material_id"] == p["material_id"])
        & (sub["substitute_material_id"] == p["substitute_material_id"])
    ]
    assert len(row) == 1
    # validated for the device the planted work orders make, not for every parent of the needle
    parent = p["substitute_parent_material_id"]
    assert row["parent_material_id"].iloc[0] == parent
    wo = feed.good("work_orders").set_index("wo_id")
    assert set(wo.loc[p["planted_work_orders"], "material_id"]) == {parent}
    bom = feed.good("bom")
    needle_parents = set(bom.loc[bom["component_material_id"] == p["material_id"], "parent_material_id"])
    assert parent in needle_parents and len(needle_parents) > 1
    # and one substitution (the revised IFU leaflet) is validated for every parent: empty parent
    assert (sub["parent_material_id"] == "").sum() == 1
    cc = feed.good("change_controls").set_index("change_id").loc[row["change_id"].iloc[0]]
    assert cc["status"] == "implemented" and cc["approved_at"] != ""
    # the substitute has released, unexpired stock at the site
    lots = feed.good("lots")
    subs = lots[
        (lots["material_id"] == p["substitute_material_id"])
        & (lots["status"] == "released")
        & (lots["site_id"] == p["site_id"])
    ]
    assert feed.onhand(feed.as_of).reindex(subs["lot_id"]).fillna(0).sum() > 0
    # supplier: open PO line due after every short WO's need, already shipped (ASN in transit)
    po = feed.good("purchase_orders")
    mine = po[
        (po["supplier_id"] == p["supplier_id"])
        & (po["material_id"] == p["material_id"])
        & (po["status"] == "open")
    ]
    due = pd.to_datetime(mine["confirmed_date"].replace("", None).fillna(mine["requested_date"]))
    last_need = pd.to_datetime(
        feed.good("work_orders").set_index("wo_id").loc[p["work_orders"], "planned_start"]
    ).max()
    assert (due > last_need).any()
    asn = feed.good("asn")
    transit = asn.merge(mine[due > last_need][["po_id", "po_line"]])
    assert len(transit)
    assert (pd.to_datetime(transit["shipped_at"]) <= as_of + pd.Timedelta(days=1)).all()
    assert (pd.to_datetime(transit["expected_delivery"]) > as_of).all()
    asl = feed.good("approved_suppliers")
    approved = set(asl[(asl["material_id"] == p["material_id"]) & (asl["approved"] == "true")]["supplier_id"])
    assert {p["supplier_id"], p["alternate_supplier_id"]} <= approved
    # quarantined / on-hold stock exists and is not available
    held = lots[(lots["material_id"] == p["material_id"]) & lots["status"].isin(["quarantine", "on_hold"])]
    assert set(held["status"]) == {"quarantine", "on_hold"}
    assert feed.onhand(feed.as_of).reindex(held["lot_id"]).fillna(0).gt(0).all()


def test_quality_escape_history_and_failed_lot(feed: Feed) -> None:
    p = feed.planted["quality_escape"]
    as_of = _ts(feed)
    lots = feed.good("lots").set_index("lot_id")
    failed = lots.loc[p["failed_lot_id"]]
    assert failed["supplier_id"] == p["supplier_id"] and failed["status"] == "rejected"
    receipt = feed.movements[
        (feed.movements["lot_id"] == p["failed_lot_id"]) & (feed.movements["movement_type"] == "receipt")
    ]
    assert (receipt["t"] >= as_of - pd.Timedelta(days=10)).all() and len(receipt) == 1
    ins = feed.good("inspections")
    fi = ins[ins["lot_id"] == p["failed_lot_id"]]
    assert list(fi["result"]) == ["fail"] and (fi["completed_at"] != "").all()
    ncr = feed.good("nonconformances").set_index("ncr_id").loc[p["ncr_id"]]
    assert (ncr["source"], ncr["severity"], ncr["status"], ncr["lot_id"]) == (
        "incoming",
        "critical",
        "open",
        p["failed_lot_id"],
    )
    # a supplier-lot escape: the failed delivery's supplier lot was delivered before, as the listed lot(s)
    same = lots[
        (lots["supplier_id"] == p["supplier_id"])
        & (lots["material_id"] == p["material_id"])
        & (lots["supplier_lot"] == failed["supplier_lot"])
    ]
    assert sorted(set(same.index) - {p["failed_lot_id"]}) == p["same_supplier_lot_ids"] != []
    assert set(p["same_supplier_lot_ids"]) <= set(p["earlier_lot_ids"])
    # earlier lots: same supplier, passed, consumed into WOs whose output went to customers
    assert p["earlier_lot_ids"]
    assert (lots.loc[p["earlier_lot_ids"], "supplier_id"] == p["supplier_id"]).all()
    passed = ins[ins["lot_id"].isin(p["earlier_lot_ids"])]
    assert set(passed["result"]) == {"pass"}
    cons = feed.good("lot_consumption")
    wo = feed.good("work_orders").set_index("wo_id")
    frontier, produced = set(p["earlier_lot_ids"]), set()
    while frontier:
        made = set(
            wo.loc[sorted(set(cons[cons["component_lot_id"].isin(frontier)]["wo_id"])), "output_lot_id"]
        ) - {""}
        produced |= made
        frontier = made
    ship = feed.good("shipments")
    shipped = ship[ship["lot_id"].isin(produced)]
    assert set(p["downstream_lot_ids"]) == set(shipped["lot_id"])
    assert set(p["customer_ids"]) == set(shipped["customer_id"])


def test_late_supplier_is_chronically_late(feed: Feed) -> None:
    sid = feed.planted["late_supplier"]["supplier_id"]
    po = feed.good("purchase_orders")
    m = feed.movements
    rec = m[m["movement_type"] == "receipt"].groupby(["reference_id", "reference_line"])["t"].min()
    mine = po[po["supplier_id"] == sid].copy()
    mine["received"] = pd.Series(
        list(zip(mine["po_id"], mine["po_line"], strict=True)), index=mine.index
    ).map(rec)
    got = mine.dropna(subset=["received"])
    late_days = (got["received"].dt.floor("D") - pd.to_datetime(got["requested_date"])).dt.days
    assert len(got) >= 1
    assert late_days.between(10, 25).all()
    others = po[po["supplier_id"] != sid]
    assert len(others)
    open_ = mine[mine["status"].isin(["open", "partially_received"])]
    due = pd.to_datetime(open_["confirmed_date"].replace("", None).fillna(open_["requested_date"]))
    assert (due < _ts(feed)).any()


def test_expiring_lots(feed: Feed) -> None:
    ids = feed.planted["expiring_lots"]
    assert ids
    lots = feed.good("lots").set_index("lot_id").loc[ids]
    exp = pd.to_datetime(lots["expiry_date"])
    as_of = _ts(feed)
    assert (lots["status"] == "released").all()
    assert ((exp > as_of) & (exp <= as_of + pd.Timedelta(days=90))).all()
    assert (feed.onhand(feed.as_of).reindex(ids).fillna(0) > 0).all()


def test_overdue_capa(feed: Feed) -> None:
    capa = feed.good("capas").set_index("capa_id").loc[feed.planted["overdue_capa"]["capa_id"]]
    assert capa["closed_at"] == "" and capa["status"] != "closed"
    assert pd.Timestamp(capa["due_date"]) < _ts(feed)
    assert pd.Timestamp(capa["opened_at"]) < _ts(feed)


def test_late_work_orders(feed: Feed) -> None:
    wo = feed.good("work_orders")
    pe = pd.to_datetime(wo["planned_end"]).dt.floor("D")
    late = wo[(wo["status"] != "cancelled") & (pe < _ts(feed)) & (wo["actual_end"] == "")]
    assert len(late) >= 2
    assert set(late["wo_id"]) == set(feed.planted["late_work_orders"])


def test_at_risk_sales_orders(feed: Feed) -> None:
    risky = feed.planted["at_risk_sales_orders"]
    assert risky
    wo = feed.good("work_orders")
    bad_wos = set(feed.planted["late_work_orders"]) | set(feed.planted["shortage"]["work_orders"])
    so_ids = set(wo[wo["wo_id"].isin(bad_wos)]["so_id"]) - {""}
    so = feed.num("sales_orders", "so_line").set_index(["so_id", "so_line"])
    for item in risky:
        line = so.loc[(item["so_id"], item["so_line"])]
        due = pd.Timestamp(line["promised_date"] or line["requested_date"])
        assert item["so_id"] in so_ids
        assert line["status"] not in ("shipped", "cancelled")
        assert due <= _ts(feed) + pd.Timedelta(days=14)


def test_genealogy_gap_lacks_exactly_the_planted_component(feed: Feed) -> None:
    p = feed.planted["genealogy_gap"]
    wo = feed.good("work_orders").set_index("wo_id").loc[p["wo_id"]]
    assert wo["output_lot_id"] == p["lot_id"]
    end = pd.Timestamp(wo["actual_end"])
    assert _ts(feed) - pd.Timedelta(days=30) < end.floor("D") <= _ts(feed)
    lot_controlled = set(feed.good("materials").query("lot_controlled == 'true'")["material_id"])
    bom = _effective_bom(feed, wo["material_id"], pd.Timestamp(wo["planned_start"]).floor("D"))
    needed = set(bom["component_material_id"]) & lot_controlled
    cons = feed.good("lot_consumption")
    have = set(cons[cons["wo_id"] == p["wo_id"]]["component_material_id"])
    assert needed - have == {p["missing_material_id"]}


def test_other_recent_lots_are_fully_traced(feed: Feed) -> None:
    wo = feed.good("work_orders")
    done = wo[wo["actual_end"] != ""][["wo_id", "material_id", "planned_start"]]
    lot_controlled = set(feed.good("materials").query("lot_controlled == 'true'")["material_id"])
    # every (work order, lot-controlled component) its effective BOM asks for, as one join
    bom = feed.good("bom")
    bom = bom[bom["component_material_id"].isin(lot_controlled)]
    need = done.merge(bom, left_on="material_id", right_on="parent_material_id")
    day = pd.to_datetime(need["planned_start"]).dt.floor("D")
    to = pd.to_datetime(need["effective_to"].replace("", None))
    need = need[(pd.to_datetime(need["effective_from"]) <= day) & (to.isna() | (day <= to))]
    cons = feed.good("lot_consumption")[["wo_id", "component_material_id"]].drop_duplicates()
    traced = need.merge(cons, on=["wo_id", "component_material_id"], how="left", indicator=True)
    gaps = sorted(set(traced.loc[traced["_merge"] == "left_only", "wo_id"]))
    assert gaps == [feed.planted["genealogy_gap"]["wo_id"]]


@pytest.mark.parametrize(
    ("seed", "scale", "as_of"), [(1, 0.01, "2025-03-01"), (2, 0.03, "2026-09-30"), (99, 0.02, "2024-12-31")]
)
def test_every_situation_is_planted_at_any_seed_and_tiny_scale(
    tmp_path: Path, seed: int, scale: float, as_of: str
) -> None:
    p = generate(tmp_path, seed=seed, scale=scale, as_of=dt.date.fromisoformat(as_of))["planted"]
    assert set(p) == {
        "shortage",
        "quality_escape",
        "late_supplier",
        "expiring_lots",
        "overdue_capa",
        "late_work_orders",
        "at_risk_sales_orders",
        "genealogy_gap",
    }
    assert p["shortage"]["work_orders"] and p["shortage"]["sales_orders"]
    assert p["quality_escape"]["earlier_lot_ids"] and p["quality_escape"]["customer_ids"]
    assert len(p["late_work_orders"]) >= 2 and p["at_risk_sales_orders"] and len(p["expiring_lots"]) == 3
    feed = Feed(tmp_path, {})
    test_shortage_is_negative_time_phased(feed)
    test_genealogy_gap_lacks_exactly_the_planted_component(feed)
    test_late_work_orders(feed)
