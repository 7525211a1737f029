"""Quality holds scoped like QA scopes them, on a hand-built plant with every answer worked out by hand.

Supplier SUP-A delivers pouches (material RM-1). As-of 2025-03-10. Lots (received, supplier lot, status,
stock):

- LOT-R1 received 2025-03-01, supplier lot SL-100, rejected, 100 on hand: failed incoming inspection
  INS-1 completed 2025-03-02 (the exception date). Caught at the door: nothing made from it.
- LOT-R2 received 2025-03-01, supplier lot "sl-100 " (the same batch, typed differently on the second
  pallet), released, 40 on hand. WO-1 made sub-assembly LOT-A1 (no stock) from it; WO-2 made finished
  LOT-F1 (released, 5 on hand) from LOT-A1, shipped in SH-1 to C1.
- LOT-R3 received 2025-03-06 (5 days after R1), supplier lot SL-200. WO-3 made LOT-F2 from it only,
  shipped in SH-2 to C2.
- LOT-R4 received 2024-12-31 (60 days before R1), supplier lot SL-050. WO-4 made LOT-F3, shipped in
  SH-3 to C3 and SH-4 to C2.
- LOT-R6 received 2024-11-21 (100 days before R1), supplier lot SL-010. WO-6 made LOT-F4, shipped in
  SH-5 to C4.
- Traps: LOT-T1 is SUP-A's lot SL-100 of another material (RM-2; WO-7 made LOT-F5, shipped in SH-6 to C5);
  LOT-T2 is another supplier's (SUP-B) lot SL-100 of RM-1 received 2025-03-01. Neither shares R1's
  supplier lot (same supplier and material), neither is SUP-A's RM-1: in no scope.

Proposed scope (shared supplier lot): suspects R1, R2 -> lots A1, F1, R1, R2; WO-1, WO-2; SH-1; C1.
  On hold now (released, with stock): F1 (5), R2 (40). Keep blocked: R1 (rejected, 100). A1: no stock.
Same supplier +/-14 d around the failed receipt 2025-03-01: 2025-02-15 to 2025-03-15 takes R1, R2, R3
  (R3 on 03-06) -> lots A1, F1, F2, R1, R2, R3 (6); WO-1..WO-3 (3); SH-1, SH-2 (2); C1, C2 (2).
Same supplier, 90-day lookback from the exception 2025-03-02: since 2024-12-02 (Mar 2 -> Feb 2 is 28 days,
  -> Jan 2 is 59, -> Dec 2 is 90): R1, R2, R3 and R4 (12-31); not R6 (11-21) -> lots A1, F1, F2, F3, R1,
  R2, R3, R4 (8); WO-1..WO-4 (4); SH-1..SH-4 (4); C1, C2, C3 (3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from alerts.plans.quality import quality_plan
from alerts.state import Instance
from tests.dash_tree import find_nodes, tree_text
from tests.signin import add_user, signed_in_client

if TYPE_CHECKING:
    from conftest import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2025, 3, 10)
KEY = "quality_exception:material_id=RM-1,site_id=S1,lot_id=LOT-R1"

# lot, material, origin, supplier, supplier lot, status, received, on hand
LOTS = [
    ("LOT-R1", "RM-1", "received", "SUP-A", "SL-100", "rejected", "2025-03-01", 100),
    ("LOT-R2", "RM-1", "received", "SUP-A", "sl-100 ", "released", "2025-03-01", 40),
    ("LOT-R3", "RM-1", "received", "SUP-A", "SL-200", "consumed", "2025-03-06", 0),
    ("LOT-R4", "RM-1", "received", "SUP-A", "SL-050", "consumed", "2024-12-31", 0),
    ("LOT-R6", "RM-1", "received", "SUP-A", "SL-010", "consumed", "2024-11-21", 0),
    ("LOT-T1", "RM-2", "received", "SUP-A", "SL-100", "released", "2025-03-01", 10),
    ("LOT-T2", "RM-1", "received", "SUP-B", "SL-100", "released", "2025-03-01", 30),
    ("LOT-A1", "SA-1", "produced", None, None, "consumed", None, 0),
    ("LOT-F1", "FG-1", "produced", None, None, "released", None, 5),
    ("LOT-F2", "FG-1", "produced", None, None, "released", None, 0),
    ("LOT-F3", "FG-1", "produced", None, None, "released", None, 0),
    ("LOT-F4", "FG-1", "produced", None, None, "released", None, 0),
    ("LOT-F5", "FG-2", "produced", None, None, "released", None, 0),
]
# component lot -> produced lot, by work order
EDGES = [
    ("LOT-R2", "LOT-A1", "WO-1"),
    ("LOT-A1", "LOT-F1", "WO-2"),
    ("LOT-R3", "LOT-F2", "WO-3"),
    ("LOT-R4", "LOT-F3", "WO-4"),
    ("LOT-R6", "LOT-F4", "WO-6"),
    ("LOT-T1", "LOT-F5", "WO-7"),
]
SHIPMENTS = [
    ("SH-1", "LOT-F1", "C1", "2025-03-08"),
    ("SH-2", "LOT-F2", "C2", "2025-03-09"),
    ("SH-3", "LOT-F3", "C3", "2025-01-20"),
    ("SH-4", "LOT-F3", "C2", "2025-01-25"),
    ("SH-5", "LOT-F4", "C4", "2024-12-15"),
    ("SH-6", "LOT-F5", "C5", "2025-03-09"),
]


def build_plant(path: Path) -> duckdb.DuckDBPyConnection:
    """The marts the quality rule and its plan read, with the plant above."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        """create table marts.dim_lots (lot_id varchar, material_id varchar, site_id varchar,
        origin varchar, supplier_id varchar, supplier_lot varchar, status varchar, expiry_date date)"""
    )
    con.execute(
        """create table marts.fct_inventory_movements (lot_id varchar, material_id varchar,
        site_id varchar, movement_type varchar, moved_date date, qty decimal(28, 6))"""
    )
    con.execute(
        """create table marts.fct_inventory_by_lot (lot_id varchar, site_id varchar, status_at_as_of varchar,
        on_hand_qty decimal(38, 6), as_of_date date)"""
    )
    for lot, mat, origin, sup, sup_lot, status, received, stock in LOTS:
        con.execute(
            "insert into marts.dim_lots values (?, ?, 'S1', ?, ?, ?, ?, null)",
            [lot, mat, origin, sup, sup_lot, status],
        )
        con.execute(
            "insert into marts.fct_inventory_by_lot values (?, 'S1', ?, ?, ?)", [lot, status, stock, AS_OF]
        )
        if received:
            con.execute(
                "insert into marts.fct_inventory_movements values (?, ?, 'S1', 'receipt', ?, 100)",
                [lot, mat, received],
            )
    # a later move of R1 into the reject cage is not its receipt
    con.execute(
        "insert into marts.fct_inventory_movements values "
        "('LOT-R1', 'RM-1', 'S1', 'transfer', '2025-03-03', 100)"
    )
    con.execute(
        """create table marts.dim_materials (material_id varchar, description varchar,
        is_finished_good boolean)"""
    )
    con.execute(
        "insert into marts.dim_materials values ('RM-1', 'Tyvek pouch', false), "
        "('RM-2', 'Header card', false), ('SA-1', 'Pouched tray', false), "
        "('FG-1', 'Infusion set', true), ('FG-2', 'Drape', true)"
    )
    con.execute(
        """create table marts.fct_lot_genealogy_edges (parent_lot_id varchar, child_lot_id varchar,
        wo_id varchar, component_material_id varchar, qty decimal(28, 6), consumed_at timestamp)"""
    )
    mats = {r[0]: r[1] for r in LOTS}
    for parent, child, wo in EDGES:
        con.execute(
            "insert into marts.fct_lot_genealogy_edges values (?, ?, ?, ?, 10, '2025-02-01 08:00')",
            [parent, child, wo, mats[parent]],
        )
    con.execute(
        """create table marts.fct_lot_shipments (shipment_id varchar, so_id varchar, so_line bigint,
        customer_id varchar, material_id varchar, lot_id varchar, serial varchar, qty decimal(28, 6),
        shipped_at timestamp, delivered_at timestamp)"""
    )
    for ship, lot, cust, day in SHIPMENTS:
        con.execute(
            "insert into marts.fct_lot_shipments values (?, ?, 1, ?, ?, ?, null, 2, ?, null)",
            [ship, "SO-" + ship[3:], cust, mats[lot], lot, dt.datetime.fromisoformat(day + " 10:00")],
        )
    con.execute("create table marts.dim_customers (customer_id varchar, name varchar)")
    con.execute("insert into marts.dim_customers select 'C' || i, 'Hospital ' || i from range(1, 6) t(i)")
    con.execute(
        """create table marts.fct_inspections (inspection_id varchar, lot_id varchar, material_id varchar,
        site_id varchar, inspection_type varchar, result varchar, completed_date date)"""
    )
    con.execute(
        "insert into marts.fct_inspections values "
        "('INS-1', 'LOT-R1', 'RM-1', 'S1', 'incoming', 'fail', '2025-03-02'),"
        "('INS-2', 'LOT-R2', 'RM-1', 'S1', 'incoming', 'pass', '2025-03-02')"
    )
    con.execute(
        """create table marts.fct_nonconformances (ncr_id varchar, lot_id varchar, material_id varchar,
        site_id varchar, supplier_id varchar, defect_code varchar, severity varchar, opened_date date,
        is_open_at_as_of boolean)"""
    )
    return con


def evaluated_plant(settings: Any) -> duckdb.DuckDBPyConnection:
    """The plant as ``settings``' published warehouse, the quality rule evaluated on it (alert KEY open)."""
    from alerts.engine import evaluate
    from alerts.rules import load_rules

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = build_plant(settings.warehouse_path)
    rules = [r for r in load_rules() if r.id == "quality_exception"]
    evaluate(con, settings, run_id="r1", as_of=AS_OF, now=dt.datetime(2025, 3, 10, 6), rules=rules)
    return con


def _instance(**details: Any) -> Instance:
    labels = {"material_id": "RM-1", "site_id": "S1", "lot_id": "LOT-R1"}
    facts = {"reasons": "failed incoming inspection INS-1", "first_event_date": "2025-03-02", **details}
    return Instance(KEY, "quality_exception", labels, "open", "high", "Lot LOT-R1", details=facts)


@pytest.fixture
def plant(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return build_plant(tmp_path / "plant.duckdb")


def _lists(scope: dict[str, Any]) -> tuple[list[str], ...]:
    return (
        scope["suspect_lots"],
        scope["lots_to_hold"],
        scope["work_orders"],
        scope["shipments"],
        scope["customers"],
    )


def test_proposed_scope_holds_the_lots_of_the_failed_supplier_lot_and_what_was_made_from_them(plant) -> None:
    plan = quality_plan(plant, _instance(), AS_OF)
    assert "errors" not in plan, plan.get("errors")
    scope = plan["scope"]
    assert scope["id"] == "supplier_lot"
    assert _lists(scope) == (
        ["LOT-R1", "LOT-R2"],
        ["LOT-A1", "LOT-F1", "LOT-R1", "LOT-R2"],
        ["WO-1", "WO-2"],
        ["SH-1"],
        ["C1"],
    )
    assert scope["counts"] == {"lots_to_hold": 4, "work_orders": 2, "shipments": 1, "customers": 1}
    assert "supplier lot SL-100 of SUP-A" in scope["basis"]
    assert plan["summary"] == (
        "Hold lot LOT-R1 (RM-1) and the 1 lot(s) cut from the same supplier lot, with everything made from "
        "them: 4 lot(s), 2 work order(s); 1 customer(s) got suspect devices. QA may widen to same supplier "
        "+/-14 d: 6 lots, 2 customers; same supplier, 90-day lookback: 8 lots, 3 customers. "
        "Reason: failed incoming inspection INS-1."
    )
    trace = plan["data"]["trace"]
    assert trace["hold_now"] == ["LOT-F1", "LOT-R2"] and trace["keep_blocked"] == ["LOT-R1"]
    hold = {r["lot_id"]: r for r in plan["data"]["hold"]}
    assert hold["LOT-A1"]["action"].startswith("no stock") and hold["LOT-F1"]["generation"] == 2
    # Sections describe the proposed scope only.
    assert [r["customer_id"] for r in plan["data"]["shipped"]] == ["C1"]
    assert {r["lot_id"] for r in plan["data"]["suspects"]} == {"LOT-R1", "LOT-R2"}


def test_wider_scopes_each_hold_the_narrower_one_and_give_their_counts(plant) -> None:
    plan = quality_plan(plant, _instance(), AS_OF)
    window, lookback = plan["wider_scopes"]
    assert window["id"] == "supplier_window" and lookback["id"] == "supplier_lookback"
    assert _lists(window) == (
        ["LOT-R1", "LOT-R2", "LOT-R3"],
        ["LOT-A1", "LOT-F1", "LOT-F2", "LOT-R1", "LOT-R2", "LOT-R3"],
        ["WO-1", "WO-2", "WO-3"],
        ["SH-1", "SH-2"],
        ["C1", "C2"],
    )
    assert "received 2025-02-15 to 2025-03-15" in window["basis"]
    assert _lists(lookback) == (
        ["LOT-R1", "LOT-R2", "LOT-R3", "LOT-R4"],
        ["LOT-A1", "LOT-F1", "LOT-F2", "LOT-F3", "LOT-R1", "LOT-R2", "LOT-R3", "LOT-R4"],
        ["WO-1", "WO-2", "WO-3", "WO-4"],
        ["SH-1", "SH-2", "SH-3", "SH-4"],
        ["C1", "C2", "C3"],
    )
    assert lookback["counts"] == {"lots_to_hold": 8, "work_orders": 4, "shipments": 4, "customers": 3}
    assert "received since 2024-12-02" in lookback["basis"]
    everything = {x for s in (plan["scope"], window, lookback) for x in s["lots_to_hold"]}
    assert not everything & {"LOT-T1", "LOT-T2", "LOT-F5", "LOT-R6", "LOT-F4"}
    assert plan["compact"] == [
        "Hold 4 lot(s): LOT-A1, LOT-F1, LOT-R1, LOT-R2",
        "Put on hold now (released, in stock): LOT-F1, LOT-R2",
        "Work orders: WO-1, WO-2",
        "Shipped to 1 customer(s) in 1 shipment(s): C1",
        "Wider: same supplier +/-14 d: 6 lots, 3 work orders, 2 shipments, 2 customers",
        "Wider: same supplier, 90-day lookback: 8 lots, 4 work orders, 4 shipments, 3 customers",
    ]
    wider_section = next(s for s in plan["sections"] if s["id"] == "wider")
    assert [r["id"] for r in wider_section["rows"]] == [
        "supplier_lot",
        "supplier_window",
        "supplier_lookback",
    ]


def test_the_rules_windows_reach_the_plan(plant) -> None:
    """A 3-day window leaves R3 (5 days after) out: the window scope is the proposed one. A 30-day lookback
    (since 2025-01-31) leaves R4 (2024-12-31) out: it is the window scope."""
    plan = quality_plan(plant, _instance(receipt_window_days=3, suspect_lookback_days=30), AS_OF)
    window, lookback = plan["wider_scopes"]
    assert window["suspect_lots"] == ["LOT-R1", "LOT-R2"]
    assert lookback["suspect_lots"] == ["LOT-R1", "LOT-R2", "LOT-R3"]
    assert lookback["label"] == "Same supplier, 30-day lookback" and window["label"] == "Same supplier +/-3 d"
    assert plan["compact"][-2:] == [
        "Wider: same supplier +/-3 d: 4 lots, 2 work orders, 1 shipments, 1 customers "
        "(no lot beyond the proposed scope)",
        "Wider: same supplier, 30-day lookback: 6 lots, 3 work orders, 2 shipments, 2 customers",
    ]
    with pytest.raises(ValueError, match="receipt_window_days must be a whole number of days"):
        quality_plan(plant, _instance(receipt_window_days="two weeks"), AS_OF)


def test_a_lot_without_a_supplier_lot_is_its_own_proposed_scope(plant) -> None:
    """R3 has no supplier lot on record: the proposed scope is R3 and F2 only; the window and lookback still
    apply (R3's receipt 03-06 +/-14 d takes R1, R2, R3 -> the same as before)."""
    plant.execute("update marts.dim_lots set supplier_lot = '' where lot_id = 'LOT-R3'")
    inst = _instance()
    inst.labels["lot_id"] = "LOT-R3"
    plan = quality_plan(plant, inst, AS_OF)
    assert plan["scope"]["lots_to_hold"] == ["LOT-F2", "LOT-R3"]
    assert "no supplier lot on record" in plan["scope"]["basis"]
    assert plan["wider_scopes"][0]["suspect_lots"] == ["LOT-R1", "LOT-R2", "LOT-R3"]


def test_a_lot_made_in_house_has_no_supplier_scope_to_widen_to(plant) -> None:
    """A critical NCR on sub-assembly LOT-A1: forward, WO-2 made LOT-F1 from it, shipped in SH-1 to C1 (WO-1
    made A1 itself: that is backward, not in the scope). No supplier: no wider scope."""
    inst = _instance(reasons="open critical NCR NCR-9 (SEAL)")
    inst.labels.update(lot_id="LOT-A1", material_id="SA-1")
    plan = quality_plan(plant, inst, AS_OF)
    assert _lists(plan["scope"]) == (["LOT-A1"], ["LOT-A1", "LOT-F1"], ["WO-2"], ["SH-1"], ["C1"])
    assert plan["wider_scopes"] == []
    wider = next(s for s in plan["sections"] if s["id"] == "wider")
    assert wider["lines"] == [
        "Lot LOT-A1 has no supplier on record (produced): no supplier scope to widen to."
    ]


def test_a_lot_missing_from_the_marts_says_so_and_proposes_no_scope(plant) -> None:
    inst = _instance()
    inst.labels["lot_id"] = "LOT-NOPE"
    plan = quality_plan(plant, inst, AS_OF)
    assert plan["scope"] is None and plan["wider_scopes"] == []
    assert "lot LOT-NOPE is not in marts.dim_lots" in plan["summary"]


def test_alerts_list_json_carries_the_scopes(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """The real rule and engine on the plant; `medtower alerts list --json` in its own process."""
    from alerts.engine import evaluate
    from alerts.rules import load_rules
    from tests.alerts.support import alert_settings_for

    settings = alert_settings_for(tmp_path / "data", smtp_server)
    settings.data_dir.mkdir(parents=True)
    con = build_plant(settings.warehouse_path)
    rules = [r for r in load_rules() if r.id == "quality_exception"]
    evaluate(con, settings, run_id="r1", as_of=AS_OF, now=dt.datetime(2025, 3, 10, 6), rules=rules)
    con.close()
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(settings.data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "medtower.cli", "alerts", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    alerts = json.loads(out.stdout)
    assert [a["alert_key"] for a in alerts] == [KEY]
    plan = alerts[0]["plan"]
    assert plan["scope"]["lots_to_hold"] == ["LOT-A1", "LOT-F1", "LOT-R1", "LOT-R2"]
    assert [
        (w["id"], w["counts"]["lots_to_hold"], w["counts"]["customers"]) for w in plan["wider_scopes"]
    ] == [
        ("supplier_window", 6, 2),
        ("supplier_lookback", 8, 3),
    ]
    assert {"kind", "summary", "sections", "data", "scope", "wider_scopes", "compact"} <= set(plan)


def test_alerts_page_switches_between_the_proposed_and_wider_scopes(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The page's own callbacks through Dash's HTTP endpoint (no browser): the detail of the quality alert
    offers the three scopes with their counts and starts on the proposed one; picking the window scope
    shows its lists."""
    from alerts.engine import evaluate
    from alerts.rules import load_rules
    from dashboards.app import create_app
    from tests.alerts.support import alert_settings_for

    settings = alert_settings_for(tmp_path / "data", smtp_server)
    settings.data_dir.mkdir(parents=True)
    con = build_plant(settings.warehouse_path)
    rules = [r for r in load_rules() if r.id == "quality_exception"]
    evaluate(con, settings, run_id="r1", as_of=AS_OF, now=dt.datetime(2025, 3, 10, 6), rules=rules)
    con.close()

    add_user(settings.data_dir, "quinn.qa", "qa")  # QA may widen a hold scope
    app = create_app(settings)
    client = signed_in_client(app, "quinn.qa")
    assert client.get("/alerts").status_code == 200  # registers the pages' callbacks

    def call(fragment: str, inputs: list[dict], state: list[dict], outputs: Any) -> dict[str, Any]:
        output = next(k for k in app.callback_map if fragment in k)
        body = {
            "output": output,
            "outputs": outputs,
            "inputs": inputs,
            "state": state,
            "changedPropIds": [f"{json.dumps(inputs[0]['id'])}.{inputs[0]['property']}"],
        }
        resp = client.post("/_dash-update-component", json=body)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["response"]

    detail = call(
        "alerts-detail.children",
        [
            {"id": "alerts-selected", "property": "data", "value": KEY},
            {"id": "alerts-version", "property": "data", "value": 0},
            {"id": "alerts-show-resolved", "property": "value", "value": []},
        ],
        [],
        [
            {"id": "alerts-list", "property": "children"},
            {"id": "alerts-detail", "property": "children"},
            {"id": "alerts-selected-title", "property": "children"},
        ],
    )["alerts-detail"]["children"]
    (radio,) = find_nodes(detail, "RadioItems")
    assert radio["props"]["value"] == "supplier_lot"
    assert [(o["value"], o["label"]) for o in radio["props"]["options"]] == [
        ("supplier_lot", " Proposed: shared supplier lot: 4 lots, 2 work orders, 1 shipments, 1 customers"),
        ("supplier_window", " Same supplier +/-14 d: 6 lots, 3 work orders, 2 shipments, 2 customers"),
        (
            "supplier_lookback",
            " Same supplier, 90-day lookback: 8 lots, 4 work orders, 4 shipments, 3 customers",
        ),
    ]
    text = tree_text(detail, "")
    assert "Lots to hold (4): LOT-A1, LOT-F1, LOT-R1, LOT-R2" in text
    (store,) = find_nodes(detail, "Store")
    scope_id = radio["props"]["id"]
    assert scope_id == {"type": "alerts-scope", "key": KEY}

    view = call(
        "alerts-scope-view",
        [{"id": scope_id, "property": "value", "value": "supplier_window"}],
        [
            {
                "id": {**scope_id, "type": "alerts-scope-data"},
                "property": "data",
                "value": store["props"]["data"],
            }
        ],
        {"id": {**scope_id, "type": "alerts-scope-view"}, "property": "children"},
    )
    text = tree_text(next(iter(view.values()))["children"], "")
    assert "Lots to hold (6): LOT-A1, LOT-F1, LOT-F2, LOT-R1, LOT-R2, LOT-R3" in text
    assert "Work orders (3): WO-1, WO-2, WO-3" in text
    assert "Shipments (2): SH-1, SH-2" in text and "Customers (2): C1, C2" in text
    assert "received 2025-02-15 to 2025-03-15" in text


# --- set-based plans: every alert of a plant planned in one batch ------------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden" / "quality_plans.json"


def _alert(lot: str, material: str = "RM-1", tag: str = "", **details: Any) -> Instance:
    inst = _instance(**details)
    labels = {**inst.labels, "lot_id": lot, "material_id": material}
    return Instance(
        f"{KEY}|{lot}{tag}", inst.rule_id, labels, "open", "high", f"Lot {lot}", details=inst.details
    )


def batch_alerts() -> dict[str, tuple[str, list[Instance]]]:
    """Plant variants (SQL run on the plant first) and the alerts planned together on each."""
    return {
        "plant": (
            "",
            [
                _alert("LOT-R1"),
                _alert("LOT-R1", tag="#narrow", receipt_window_days=3, suspect_lookback_days=30),
                _alert("LOT-R2"),
                _alert("LOT-R4", first_event_date="2025-01-05"),
                _alert("LOT-T1", material="RM-2"),
                _alert("LOT-T2"),
                _alert("LOT-A1", material="SA-1", reasons="open critical NCR NCR-9 (SEAL)"),
                _alert("LOT-NOPE"),
                _alert("NCR NCR-000007"),
            ],
        ),
        "r3_without_supplier_lot": (
            "update marts.dim_lots set supplier_lot = '' where lot_id = 'LOT-R3'",
            [_alert("LOT-R3"), _alert("LOT-R1")],
        ),
    }


def _stored(plans: dict[str, Any]) -> dict[str, Any]:
    """Plans as the alert stores them (JSON), an alert whose plan raised as its error."""
    return json.loads(
        json.dumps(
            {
                k: {"raises": f"{type(v).__name__}: {v}"} if isinstance(v, Exception) else v
                for k, v in plans.items()
            },
            default=str,
        )
    )


def test_set_based_plans_are_the_per_alert_plans(tmp_path: Path) -> None:
    """Every alert of a variant planned in one batch gives, alert by alert, the plan the per-alert code gave.

    tests/alerts/golden/quality_plans.json was written by the per-alert plans of commit 3669de3 (one
    ``hold_scopes`` and three ``trace_lots`` walks per alert) for these same alerts: it is the plan as the
    user saw it before plans went set-based.
    """
    from alerts.plans.quality import quality_plans

    golden = json.loads(GOLDEN.read_text())
    for name, (sql, alerts) in batch_alerts().items():
        con = build_plant(tmp_path / f"{name}.duckdb")
        if sql:
            con.execute(sql)
        plans = _stored(quality_plans(con, alerts, AS_OF))
        assert sorted(plans) == sorted(golden[name])
        for key, plan in plans.items():
            assert plan == golden[name][key], (name, key)
        con.close()


def test_the_walk_is_bounded_and_a_cut_scope_says_so(plant, monkeypatch) -> None:
    """LOT-R2 -> (WO-1) LOT-A1 -> (WO-2) LOT-F1. One generation: A1 is reached, F1 is not, only WO-1's edge
    was followed; the depth cap is named. A cap of one lot: the walk stops after the generation that passed
    it (R2 and A1), and the plan says so in its suspect lots and keeps the counts of what it reached."""
    from alerts.plans import quality
    from alerts.plans.quality import walk_forward

    one = walk_forward(plant, [("LOT-R2",)], max_depth=1)[("LOT-R2",)]
    assert (one.depth, one.work_orders) == ({"LOT-R2": 0, "LOT-A1": 1}, ["WO-1"])
    assert one.cut is not None and "cut after 1 generations" in one.cut
    full = walk_forward(plant, [("LOT-R2",), ("LOT-R1", "LOT-R2")])
    assert full[("LOT-R2",)].reached == ["LOT-A1", "LOT-F1", "LOT-R2"] and full[("LOT-R2",)].cut is None
    assert full[("LOT-R2",)].shipments == ["SH-1"] and full[("LOT-R1", "LOT-R2")].customers == ["C1"]

    monkeypatch.setattr(quality, "MAX_SCOPE_LOTS", 1)
    plan = quality_plan(plant, _instance(), AS_OF)
    proposed = plan["scope"]
    # Starts R1, R2 (2 lots, already past 1): generation 1 adds A1, then the scope stops walking.
    assert proposed["lots_to_hold"] == ["LOT-A1", "LOT-R1", "LOT-R2"] and proposed["work_orders"] == ["WO-1"]
    assert "cut after 1 generation(s) at 3 lots" in proposed["cut"]
    suspects = next(s for s in plan["sections"] if s["id"] == "suspects")
    assert any(
        line.startswith("Scope supplier_lot: the forward genealogy was cut") for line in suspects["lines"]
    )


def test_the_rules_row_is_the_same_every_evaluation(plant) -> None:
    """Two critical NCRs opened the day INS-1 failed (NCR-9 recorded first): the three reasons tie on the
    date and are listed by their text (NCR-10 before NCR-9), so every evaluation sees the same row (the
    plan's fingerprint is that row) and the same title."""
    from alerts.engine import query_rows
    from alerts.rules import load_rules

    plant.execute(
        "insert into marts.fct_nonconformances values "
        "('NCR-9', 'LOT-R1', 'RM-1', 'S1', 'SUP-A', 'SEAL-WEAK', 'critical', '2025-03-02', true), "
        "('NCR-10', 'LOT-R1', 'RM-1', 'S1', 'SUP-A', 'TEAR', 'critical', '2025-03-02', true)"
    )
    rule = next(r for r in load_rules() if r.id == "quality_exception")
    reasons = {tuple(r["reasons"] for r in query_rows(plant, rule, AS_OF)) for _ in range(8)}
    assert reasons == {
        (
            "failed incoming inspection INS-1; open critical NCR NCR-10 (TEAR); "
            "open critical NCR NCR-9 (SEAL-WEAK)",
        )
    }


def test_alerts_planned_in_batches_get_the_plans_of_one_batch(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch
) -> None:
    """Two quality alerts (LOT-R1's failed inspection, a critical NCR on LOT-A1), planned by the engine in
    batches of one alert and in one batch: the same plans, each stored with its alert."""
    from alerts import engine
    from alerts.rules import load_rules
    from tests.alerts.support import alert_settings_for

    rules = [r for r in load_rules() if r.id == "quality_exception"]
    stored = []
    for batch in (1, 100):
        monkeypatch.setattr(engine, "PLAN_BATCH", batch)
        settings = alert_settings_for(tmp_path / f"data{batch}", smtp_server)
        settings.data_dir.mkdir(parents=True)
        con = build_plant(settings.warehouse_path)
        con.execute(
            "insert into marts.fct_nonconformances values "
            "('NCR-9', 'LOT-A1', 'SA-1', 'S1', null, 'SEAL-WEAK', 'critical', '2025-03-05', true)"
        )
        now = dt.datetime(2025, 3, 10, 6)
        engine.evaluate(con, settings, run_id="r1", as_of=AS_OF, now=now, rules=rules, deliver=False)
        counts = con.execute("select plans_computed from alerts.evaluations").fetchall()
        plans = dict(con.execute("select alert_key, plan::varchar from alerts.alert_instances").fetchall())
        assert counts == [(2,)] and len(plans) == 2
        stored.append({k: json.loads(v) for k, v in plans.items()})
        con.close()
    assert stored[0] == stored[1]
    lot_a1 = next(p for k, p in stored[0].items() if "LOT-A1" in k)
    assert lot_a1["scope"]["lots_to_hold"] == ["LOT-A1", "LOT-F1"]
