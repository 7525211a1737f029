"""Good rows hang together: references resolve, stock never goes negative, statuses agree with events."""

from __future__ import annotations

import pandas as pd

from .feed import CONTRACT, Feed, gs1_ok, parse_gs1

KEYS = {name: spec.get("key") for name, spec in CONTRACT["entities"].items()}


def test_keys_are_unique(feed: Feed) -> None:
    for entity, key in KEYS.items():
        good = feed.good(entity)
        assert not good.duplicated(key).any(), entity


def test_declared_references_resolve(feed: Feed) -> None:
    for entity, spec in CONTRACT["entities"].items():
        good = feed.good(entity)
        for col, cspec in spec["columns"].items():
            parent = cspec.get("ref")
            if not parent:
                continue
            parent_key = KEYS[parent][0]
            known = set(feed.good(parent)[parent_key])
            values = set(good[col]) - {""}
            assert values <= known, (entity, col, sorted(values - known)[:5])


def test_undeclared_references_resolve(feed: Feed) -> None:
    po = feed.good("purchase_orders")
    po_lines = set(zip(po["po_id"], po["po_line"], strict=True))
    so = feed.good("sales_orders")
    so_lines = set(zip(so["so_id"], so["so_line"], strict=True))
    m = feed.good("inventory_movements")
    by_type = {
        "po": po_lines,
        "so": so_lines,
        "wo": set(feed.good("work_orders")["wo_id"]),
        "ncr": set(feed.good("nonconformances")["ncr_id"]),
    }
    for rtype, known in by_type.items():
        rows = m[m["reference_type"] == rtype]
        assert len(rows), rtype
        keys = (
            set(rows["reference_id"])
            if rtype in ("wo", "ncr")
            else set(zip(rows["reference_id"], rows["reference_line"], strict=True))
        )
        assert keys <= known, rtype
    asn = feed.good("asn")
    assert set(zip(asn["po_id"], asn["po_line"], strict=True)) <= po_lines
    ship = feed.good("shipments")
    assert set(zip(ship["so_id"], ship["so_line"], strict=True)) <= so_lines
    wo = feed.good("work_orders")
    assert set(wo["so_id"]) - {""} <= set(so["so_id"])


def test_lot_material_agrees_everywhere(feed: Feed) -> None:
    lot_mat = feed.good("lots").set_index("lot_id")["material_id"]
    for entity, col, mat in [
        ("inventory_movements", "lot_id", "material_id"),
        ("lot_consumption", "component_lot_id", "component_material_id"),
        ("shipments", "lot_id", "material_id"),
        ("inspections", "lot_id", "material_id"),
    ]:
        df = feed.good(entity)
        df = df[df[col] != ""]
        assert (df[col].map(lot_mat) == df[mat]).all(), entity


def test_gtins_have_valid_check_digits_and_classes(feed: Feed) -> None:
    mats = feed.good("materials")
    fg = mats[mats["material_type"] == "finished_good"]
    assert len(fg) >= 6
    assert fg["gtin"].map(gs1_ok).all()
    assert set(fg["device_class"]) >= {"I", "IIa", "IIb", "III"}
    assert (mats.loc[mats["material_type"] != "finished_good", "gtin"] == "").all()


def test_scans_resolve_to_a_real_lot_of_that_gtin(feed: Feed) -> None:
    scans = feed.good("scans")
    gtin_mat = feed.good("materials").set_index("gtin")["material_id"]
    lots = feed.good("lots")
    lot_of = dict(
        zip(lots["lot_id"], zip(lots["material_id"], lots["expiry_date"], strict=True), strict=True)
    )
    kinds = {"paren": 0, "gs": 0, "dm": 0}
    for payload in scans["payload"]:
        ai = parse_gs1(payload)
        assert gs1_ok(ai["01"])
        material, expiry = lot_of[ai["10"]]
        assert material == gtin_mat[ai["01"]]
        assert expiry[2:].replace("-", "") == ai["17"]
        kinds["paren" if payload.startswith("(") else "dm" if payload.startswith("]d2") else "gs"] += 1
    assert min(kinds.values()) > 0
    assert any("\x1d" in p for p in scans["payload"])
    offsets = scans["scanned_at"].str.contains(r"(?:Z|\+08:00)$")
    assert 0 < offsets.sum() < 0.05 * len(scans)


def test_running_onhand_per_lot_is_never_negative(feed: Feed) -> None:
    m = feed.movements
    m = m[m["lot_id"] != ""].sort_values(["t", "movement_id"], kind="stable")
    running = m.groupby("lot_id")["qty"].cumsum()
    assert running.min() >= -1e-6
    assert (m["t"] < pd.Timestamp(feed.as_of) + pd.Timedelta(days=1)).all()


def test_lot_status_agrees_with_stock(feed: Feed) -> None:
    lots = feed.good("lots").set_index("lot_id")
    onhand = feed.onhand().reindex(lots.index).fillna(0)
    assert (onhand[lots["status"] == "consumed"].abs() < 1e-6).all()
    assert (onhand[lots["status"] == "released"] > 0).all()
    received = lots[lots["origin"] == "received"]
    assert (received["supplier_id"] != "").all()
    assert set(lots["origin"]) == {"received", "produced"}


def test_receipts_and_po_status_agree(feed: Feed) -> None:
    po = feed.num("purchase_orders", "qty_ordered")
    m = feed.movements
    rec = m[m["movement_type"] == "receipt"].groupby(["reference_id", "reference_line"])["qty"].sum()
    got = pd.Series(list(zip(po["po_id"], po["po_line"], strict=True))).map(rec).fillna(0).to_numpy()
    assert (got[po["status"].to_numpy() == "received"] > 0).all()
    assert (got[po["status"].isin(["open", "cancelled"]).to_numpy()] == 0).all()
    receipts = m[m["movement_type"] == "receipt"]
    assert (receipts["qty"] > 0).all() and (receipts["reference_type"] == "po").all()


def test_sales_status_agrees_with_shipments(feed: Feed) -> None:
    so = feed.num("sales_orders", "qty")
    ship = feed.num("shipments", "qty")
    sent = ship.groupby(["so_id", "so_line"])["qty"].sum()
    got = pd.Series(list(zip(so["so_id"], so["so_line"], strict=True))).map(sent).fillna(0).to_numpy()
    status = so["status"].to_numpy()
    assert (got[status == "shipped"] >= so["qty"].to_numpy()[status == "shipped"]).all()
    assert (got[pd.Series(status).isin(["open", "allocated", "cancelled"]).to_numpy()] == 0).all()
    m = feed.movements
    sm = m[m["movement_type"] == "shipment"]
    assert (sm["qty"] < 0).all() and abs(sm["qty"].sum() + ship["qty"].sum()) < 1e-6


def test_completed_work_orders_have_output_and_issues(feed: Feed) -> None:
    wo = feed.good("work_orders")
    done = wo[wo["status"].isin(["completed", "closed"])]
    assert (done["output_lot_id"] != "").all() and (done["actual_end"] != "").all()
    issued = set(feed.good("lot_consumption")["wo_id"])
    assert done["wo_id"].isin(issued).mean() > 0.99
    open_ = wo[wo["status"].isin(["planned", "released"])]
    assert not open_["wo_id"].isin(issued).any()
    assert (open_["actual_start"] == "").all()
    out = feed.movements[feed.movements["movement_type"] == "production_output"]
    assert set(out["lot_id"]) == set(done["output_lot_id"])


def test_kpis_look_like_a_healthy_plant(mid: Feed) -> None:
    as_of = pd.Timestamp(mid.as_of)
    # OTIF over the year
    so = mid.num("sales_orders", "qty")
    so = so[so["status"] != "cancelled"]
    due = pd.to_datetime(so["promised_date"].replace("", None).fillna(so["requested_date"]))
    so = so[(due <= as_of) & (due > as_of - pd.Timedelta(days=330))]
    due = due[so.index]
    ship = mid.num("shipments", "qty")
    ship["t"] = pd.to_datetime(ship["shipped_at"]).dt.floor("D")
    merged = ship.merge(pd.DataFrame({"so_id": so["so_id"], "so_line": so["so_line"], "due": due}))
    on_time = merged[merged["t"] <= merged["due"]].groupby(["so_id", "so_line"])["qty"].sum()
    got = pd.Series(list(zip(so["so_id"], so["so_line"], strict=True))).map(on_time).fillna(0).to_numpy()
    otif = (got >= so["qty"].to_numpy()).mean()
    assert 0.8 < otif < 0.97
    # incoming reject rate and first pass yield
    ins = mid.good("inspections")
    inc = ins[(ins["inspection_type"] == "incoming") & ins["result"].isin(["pass", "fail"])]
    reject = (inc["result"] == "fail").mean()
    assert 0.005 < reject < 0.08
    wo = mid.num("work_orders", "qty_completed", "qty_scrapped").dropna(subset=["qty_completed"])
    fpy = wo["qty_completed"].sum() / (wo["qty_completed"] + wo["qty_scrapped"]).sum()
    assert 0.95 < fpy < 0.995
