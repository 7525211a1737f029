"""A pump maker, netted by dbt for real, alerted and planned: every expected value is worked out here.

Site P1 (Galway), as-of A = 2026-06-30. BOM: PUMP = 1 MOTOR + 1 CASE + 2 SEAL; MOTOR (sub-assembly) = 4 MAG.
Lead times: PUMP 10 d and MOTOR 7 d (made in house, materials.planned_lead_time_days); MAG 20 d and SEAL 30 d
(SUP1), CASE 5 d (SUP2): the shortest approved supplier's.

Firm orders:
    SO1/1  CUST1  10 PUMP promised 07-20        SO2/1  CUST2  5 PUMP promised 08-30
    WO-P1  PUMP 10 released, 07-15 -> 07-18     WO-M1  MOTOR 10 released, 07-05 -> 07-10
    WO-P2  PUMP  5 planned,  08-20 -> 08-25     WO-M2  MOTOR  5 planned,  08-10 -> 08-15
    WO-P3  PUMP 30 planned,  09-15 -> 09-20 (made to stock)
    PO-1   MAG  30 due 08-05 (SUP1; beyond MAG's 20-day lead time)
    PO-2   SEAL 50 due 07-25 (SUP1)
Stock at A:
    MAG   LM1 15 released; LMQ 10 quarantine, inspection INS1 pending; LMH 8 on hold ("supplier notice")
    SEAL  LS1 30 released, expires 07-10 (before any need); LS2 10 released, no expiry
    CASE  LC1 100 released; MAG2 LM2 7 + LM2B 5 released (12), LM2Q 4 quarantine; MAG3 LM3 100 released
Substitutes of MAG: MAG2 validated for MOTOR (CC1); MAG3 validated for PUMP only (CC2).

Projected balances (B_k = max(B_{k-1}, 0) + supply - demand):
    MAG    A +15; 07-05 WO-M1 -40 -> -25 (net 25, 5 d <= 20: exception); 08-05 PO-1 +30 -> 30;
           08-10 WO-M2 -20 -> 10
    SEAL   A +30 +10; 07-10 LS1 expires with all 30 (no demand before it) -> 10; 07-15 WO-P1 -20 -> -10
           (net 10, 15 d <= 30: exception); 07-25 PO-2 +50 -> 50; 08-20 WO-P2 -10 -> 40;
           09-15 WO-P3 -60 -> -20 (net 20, 77 d > 30: action, order by 08-16)
    MOTOR  07-10 WO-M1 +10; 07-15 WO-P1 -10 -> 0; 08-15 +5; 08-20 -5 -> 0; 09-15 WO-P3 -30 -> -30
           (net 30, 77 d > 7: action, make, order by 09-08). WO-M1 is short of MAG but still supply of MOTOR:
           MOTOR is no root cause.
    PUMP   covered (WO-P1 10 -> SO1 10; WO-P2 5 -> SO2 5; WO-P3 30 to stock); CASE covered (100 >= 45).
Pegging of MAG's shortage: WO-M1 (1) -> its MOTOR covers WO-P1 (2) -> its PUMP covers SO1/1 of CUST1 (3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import build_plant

pytestmark = pytest.mark.e2e

AS_OF = dt.date(2026, 6, 30)
D = dt.date.fromisoformat


def _ts(day: str, hour: int = 8) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour)


def _material(mid: str, mtype: str, lead: int | None = None) -> dict[str, Any]:
    return {
        "material_id": mid,
        "description": mid.title(),
        "material_type": mtype,
        "uom": "EA",
        "lot_controlled": True,
        "serial_controlled": False,
        "status": "active",
        "planned_lead_time_days": lead,
    }


def _lot(
    lot_id: str, material: str, status: str, qty: int, expiry: str | None = None
) -> list[dict[str, Any]]:
    lot = {
        "lot_id": lot_id,
        "material_id": material,
        "site_id": "P1",
        "origin": "received",
        "supplier_id": "SUP1",
        "status": status,
        "status_changed_at": _ts("2026-06-10", 12),
        "expiry_date": D(expiry) if expiry else None,
    }
    receipt = {
        "movement_id": f"M-{lot_id}",
        "moved_at": _ts("2026-06-10"),
        "site_id": "P1",
        "material_id": material,
        "lot_id": lot_id,
        "qty": qty,
        "movement_type": "receipt",
        "reference_type": "po",
        "reference_id": "PX",
        "reference_line": 1,
    }
    return [lot, receipt]


def _wo(wo_id: str, material: str, status: str, qty: int, start: str, end: str) -> dict[str, Any]:
    return {
        "wo_id": wo_id,
        "material_id": material,
        "site_id": "P1",
        "qty_planned": qty,
        "status": status,
        "planned_start": _ts(start),
        "planned_end": _ts(end, 16),
    }


LOTS = [
    _lot("LM1", "MAG", "released", 15),
    _lot("LMQ", "MAG", "quarantine", 10),
    _lot("LMH", "MAG", "on_hold", 8),
    _lot("LS1", "SEAL", "released", 30, "2026-07-10"),
    _lot("LS2", "SEAL", "released", 10),
    _lot("LC1", "CASE", "released", 100),
    _lot("LM2", "MAG2", "released", 7),
    _lot("LM2B", "MAG2", "released", 5),
    _lot("LM2Q", "MAG2", "quarantine", 4),
    _lot("LM3", "MAG3", "released", 100),
]


def _asl(supplier: str, material: str, lead: int) -> dict[str, Any]:
    return {
        "supplier_id": supplier,
        "material_id": material,
        "approved": True,
        "planned_lead_time_days": lead,
    }


def _bom(parent: str, component: str, qty: int) -> dict[str, Any]:
    return {
        "parent_material_id": parent,
        "component_material_id": component,
        "qty_per": qty,
        "revision": "A",
        "effective_from": D("2026-01-01"),
    }


ROWS: dict[str, list[dict[str, Any]]] = {
    "sites": [{"site_id": "P1", "name": "Galway", "country": "IE", "timezone": "Europe/Dublin"}],
    "materials": [
        _material("PUMP", "finished_good", 10),
        _material("MOTOR", "subassembly", 7),
        _material("MAG", "component"),
        _material("MAG2", "component"),
        _material("MAG3", "component"),
        _material("SEAL", "component"),
        _material("CASE", "component"),
    ],
    "suppliers": [
        {
            "supplier_id": "SUP1",
            "name": "Magnetics Ltd",
            "approval_status": "approved",
            "contact_email": "o@mag.example",
        },
        {"supplier_id": "SUP2", "name": "Housings Ltd", "approval_status": "approved"},
        {"supplier_id": "SUPX", "name": "Past orders", "approval_status": "approved"},
    ],
    "approved_suppliers": [
        _asl("SUP1", "MAG", 20),
        _asl("SUP1", "SEAL", 30),
        _asl("SUP2", "CASE", 5),
        _asl("SUP1", "MAG2", 20),
        _asl("SUP1", "MAG3", 20),
    ],
    "customers": [
        {"customer_id": "CUST1", "name": "St. James's Hospital"},
        {"customer_id": "CUST2", "name": "Cork University Hospital"},
    ],
    "bom": [
        _bom("PUMP", "MOTOR", 1),
        _bom("PUMP", "CASE", 1),
        _bom("PUMP", "SEAL", 2),
        _bom("MOTOR", "MAG", 4),
    ],
    "change_controls": [
        {
            "change_id": cc,
            "change_type": "material",
            "material_id": "MAG",
            "opened_at": _ts("2026-03-01"),
            "approved_at": _ts("2026-03-10"),
            "status": "implemented",
            "title": title,
        }
        for cc, title in (("CC1", "MAG2 for MAG in MOTOR"), ("CC2", "MAG3 for MAG in PUMP"))
    ],
    "substitutes": [
        {
            "material_id": "MAG",
            "substitute_material_id": "MAG2",
            "priority": 1,
            "change_id": "CC1",
            "valid_from": D("2026-03-10"),
            "parent_material_id": "MOTOR",
        },
        {
            "material_id": "MAG",
            "substitute_material_id": "MAG3",
            "priority": 2,
            "change_id": "CC2",
            "valid_from": D("2026-03-10"),
            "parent_material_id": "PUMP",
        },
    ],
    "lots": [pair[0] for pair in LOTS],
    "inventory_movements": [pair[1] for pair in LOTS],
    "inspections": [
        {
            "inspection_id": "INS1",
            "lot_id": "LMQ",
            "material_id": "MAG",
            "inspection_type": "incoming",
            "started_at": _ts("2026-06-29"),
            "result": "pending",
        },
    ],
    "lot_releases": [
        {
            "lot_id": "LMH",
            "decided_at": _ts("2026-06-20", 10),
            "decision": "on_hold",
            "decided_by": "qa1",
            "reason": "supplier notice",
        },
    ],
    "purchase_orders": [
        {
            "po_id": "PX",
            "po_line": 1,
            "supplier_id": "SUPX",
            "material_id": "MAG",
            "site_id": "P1",
            "qty_ordered": 1000,
            "order_date": D("2026-05-01"),
            "requested_date": D("2026-06-10"),
            "status": "received",
        },
        {
            "po_id": "PO-1",
            "po_line": 1,
            "supplier_id": "SUP1",
            "material_id": "MAG",
            "site_id": "P1",
            "qty_ordered": 30,
            "order_date": D("2026-06-20"),
            "requested_date": D("2026-08-05"),
            "status": "open",
        },
        {
            "po_id": "PO-2",
            "po_line": 1,
            "supplier_id": "SUP1",
            "material_id": "SEAL",
            "site_id": "P1",
            "qty_ordered": 50,
            "order_date": D("2026-06-20"),
            "requested_date": D("2026-07-25"),
            "status": "open",
        },
    ],
    "work_orders": [
        _wo("WO-P1", "PUMP", "released", 10, "2026-07-15", "2026-07-18"),
        _wo("WO-P2", "PUMP", "planned", 5, "2026-08-20", "2026-08-25"),
        _wo("WO-P3", "PUMP", "planned", 30, "2026-09-15", "2026-09-20"),
        _wo("WO-M1", "MOTOR", "released", 10, "2026-07-05", "2026-07-10"),
        _wo("WO-M2", "MOTOR", "planned", 5, "2026-08-10", "2026-08-15"),
    ],
    "sales_orders": [
        {
            "so_id": "SO1",
            "so_line": 1,
            "customer_id": "CUST1",
            "material_id": "PUMP",
            "site_id": "P1",
            "qty": 10,
            "order_date": D("2026-06-01"),
            "requested_date": D("2026-07-20"),
            "promised_date": D("2026-07-20"),
            "status": "open",
        },
        {
            "so_id": "SO2",
            "so_line": 1,
            "customer_id": "CUST2",
            "material_id": "PUMP",
            "site_id": "P1",
            "qty": 5,
            "order_date": D("2026-06-01"),
            "requested_date": D("2026-08-30"),
            "status": "open",
        },
    ],
}


@pytest.fixture(scope="module")
def pump_plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path, _ = build_plant(tmp_path_factory.mktemp("pump_plant"), ROWS, AS_OF)
    return db_path


@pytest.fixture()
def con(pump_plant: Path):
    connection = duckdb.connect(str(pump_plant), read_only=True)
    yield connection
    connection.close()


def test_root_causes_only_with_the_lead_time_fence(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select material_id, wo_id, need_date, shortage_qty, kind, lead_time_days, order_by, replenishment "
        "from marts.fct_shortages order by material_id, need_date"
    ).fetchall()
    assert rows == [
        ("MAG", "WO-M1", D("2026-07-05"), 25, "exception", 20, D("2026-06-15"), "buy"),
        ("MOTOR", "WO-P3", D("2026-09-15"), 30, "action", 7, D("2026-09-08"), "make"),
        ("SEAL", "WO-P1", D("2026-07-15"), 10, "exception", 30, D("2026-06-15"), "buy"),
        ("SEAL", "WO-P3", D("2026-09-15"), 20, "action", 30, D("2026-08-16"), "buy"),
    ]


def test_a_lot_that_expires_before_its_need_is_taken_away_on_its_expiry(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "select event_type, coalesce(lot_id, po_id, wo_id), netting_date, projected_balance "
        "from marts.fct_projected_balance where material_id = 'SEAL' order by event_seq"
    ).fetchall()
    assert rows == [
        ("lot", "LS1", AS_OF, 30),
        ("lot", "LS2", AS_OF, 40),
        ("lot_expiry", "LS1", D("2026-07-10"), 10),
        ("work_order_component", "WO-P1", D("2026-07-15"), -10),
        ("purchase_order_line", "PO-2", D("2026-07-25"), 50),
        ("work_order_component", "WO-P2", D("2026-08-20"), 40),
        ("work_order_component", "WO-P3", D("2026-09-15"), -20),
    ]


def test_pegging_climbs_from_the_component_to_the_customer(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """select peg_level, hit_type, coalesce(wo_id, so_id || '/' || so_line), customer_id
        from marts.fct_shortage_pegging where shortage_id = 'MAG|P1|WO-M1' order by peg_level"""
    ).fetchall()
    assert rows == [
        (1, "work_order", "WO-M1", None),
        (2, "work_order", "WO-P1", None),
        (3, "sales_order_line", "SO1/1", "CUST1"),
    ]
    made_to_stock = con.execute(
        "select count(*) from marts.fct_work_order_pegging where root_wo_id = 'WO-P3'"
    ).fetchone()
    assert made_to_stock == (0,)


def test_potential_supply_says_what_blocks_each_lot(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select lot_id, lot_status, qty, pending_inspection_ids, hold_reason, blocked_by "
        "from marts.fct_potential_supply order by lot_id"
    ).fetchall()
    assert rows == [
        ("LM2Q", "quarantine", 4, None, None, "in quarantine"),
        ("LMH", "on_hold", 8, None, "supplier notice", "on hold"),
        ("LMQ", "quarantine", 10, "INS1", None, "inspection pending"),
    ]


def _alerts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    from alerts.engine import query_rows
    from alerts.rules import RULES_DIR, load_rules

    rule = next(r for r in load_rules(RULES_DIR) if r.id == "material_shortage")
    rows = query_rows(con, rule, AS_OF)
    return {r["material_id"]: {**r, "severity": rule.severity_for(r)} for r in rows if rule.fires(r)}


def test_only_exceptions_alert_and_each_says_what_it_hits(con: duckdb.DuckDBPyConnection) -> None:
    alerts = _alerts(con)
    assert sorted(alerts) == ["MAG", "SEAL"]  # MOTOR is an action; its WO-M1 being short is MAG's consequence
    mag, seal = alerts["MAG"], alerts["SEAL"]
    assert (mag["need_date"], mag["shortage_qty"], mag["work_orders_short"], mag["customer_orders_hit"]) == (
        "2026-07-05",
        25,
        1,
        1,
    )
    assert mag["severity"] == "critical"  # needed in 5 days
    assert (seal["need_date"], seal["shortage_qty"], seal["customer_orders_hit"], seal["severity"]) == (
        "2026-07-15",
        10,
        1,
        "high",
    )


def _plan(con: duckdb.DuckDBPyConnection, material: str) -> dict[str, Any]:
    from alerts.plans import shortage_plan
    from alerts.state import Instance

    row = _alerts(con)[material]
    labels = {"material_id": material, "site_id": "P1"}
    details = {k: v for k, v in row.items() if k not in labels}
    inst = Instance(
        f"material_shortage:{material}",
        "material_shortage",
        labels,
        "open",
        row["severity"],
        "t",
        details=details,
    )
    return shortage_plan(con, inst, AS_OF)


def _section(plan: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in plan["sections"] if s["id"] == sid)


def test_mag_plan_adds_up_lever_by_lever(con: duckdb.DuckDBPyConnection) -> None:
    plan = _plan(con, "MAG")
    assert not plan.get("errors"), plan.get("errors")
    # WO-M1 needs 40 (10 MOTOR x 4): 15 in stock, then QA: LMQ 10 (inspection pending, asked first), LMH 8;
    # then MAG2 (validated for MOTOR) 7 of its 12 free. MAG3 is validated for PUMP only: never offered here.
    rows = _section(plan, "resequence")["rows"]
    assert [(r["demand"], r["qty"], r["covered_by"], r["can_run_from"]) for r in rows] == [
        ("WO-M1", 40, "15 from stock; 10 from LMQ; 8 from LMH; 7 from MAG2", "2026-06-30")
    ]
    potential = _section(plan, "potential_supply")["lines"]
    assert potential[1] == (
        "Ask QA to decide lot LMQ (10 EA, quarantine, inspection pending (INS1)): covers WO-M1."
    )
    assert potential[2] == "Ask QA to decide lot LMH (8 EA, on_hold, on hold: supplier notice): covers WO-M1."
    # The substitute's own blocked lot comes after its free stock: MAG2's 7 of 12 already cover the rest.
    assert potential[3] == (
        "Ask QA to decide lot LM2Q of substitute MAG2 (4 EA, quarantine, in quarantine; "
        "validated for MOTOR): nothing left for it to cover."
    )
    subs = _section(plan, "substitutes")["lines"]
    assert subs[0].startswith("Use MAG2") and subs[0].endswith("12 EA free at P1; covers WO-M1.")
    assert "validated for MOTOR" in subs[0] and "change CC1" in subs[0]
    assert subs[1].startswith("MAG3") and subs[1].endswith(
        "100 EA free at P1, but no work order until 2026-07-20 makes PUMP."
    )
    # SO1/1 depends on WO-M1 (via WO-P1): at risk with stock alone and after QA (33 of 40), safe with MAG2.
    assert plan["data"]["at_risk_after"] == {
        "stock": ["SO1/1 (CUST1)"],
        "potential": ["SO1/1 (CUST1)"],
        "substitute": [],
        "substitute_qa": [],
        "supply": [],
    }
    assert plan["data"]["recovery_date"] == "2026-06-30"
    suppliers = _section(plan, "suppliers")["lines"]
    assert suppliers[0] == (
        "The first open PO line is due 2026-08-05, 31 days after the need on 2026-07-05: without "
        "expediting, nothing arrives in time."
    )
    assert "PO PO-1 line 1: 30 EA open, due 2026-08-05" in suppliers[1]
    assert (
        plan["compact"][0] == "Short 25 EA from 2026-07-05 (lead time 20 d); 1 customer order lines at risk."
    )


def test_seal_plan_waits_for_the_po_and_says_how_late(con: duckdb.DuckDBPyConnection) -> None:
    plan = _plan(con, "SEAL")
    # Until 07-30 (30-day fence) WO-P1 needs 20: 40 on hand less LS1's 30 that expire on 07-10 leaves 10;
    # the other 10 come with PO-2 on 07-25 (no delay history for SUP1: its due date), 10 days after the need.
    rows = _section(plan, "resequence")["rows"]
    assert [(r["demand"], r["covered_by"], r["can_run_from"], r["days_late"]) for r in rows] == [
        ("WO-P1", "10 from stock; 10 from PO PO-2 line 1", "2026-07-25", 10)
    ]
    assert plan["data"]["at_risk_after"]["supply"] == ["SO1/1 (CUST1)"]  # covered, but late
    assert plan["data"]["recovery_date"] == "2026-07-25"
    assert _section(plan, "potential_supply")["lines"] == [
        "No lot of SEAL at P1 is on hold or in quarantine."
    ]


def _cli(pump_plant: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "warehouse.duckdb").symlink_to(pump_plant)
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(data)}
    medtower = Path(sys.executable).with_name("medtower")
    return subprocess.run(
        [str(medtower), "shortages", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_shortages_command_lists_every_net_requirement(pump_plant: Path, tmp_path: Path) -> None:
    proc = _cli(pump_plant, tmp_path, "--as-of", "2026-06-30", "--site", "P1", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [
        (r["kind"], r["material_id"], r["need_date"], r["shortage_qty"], r["order_by"]) for r in rows
    ] == [
        ("exception", "MAG", "2026-07-05", 25, "2026-06-15"),
        ("exception", "SEAL", "2026-07-15", 10, "2026-06-15"),
        ("action", "MOTOR", "2026-09-15", 30, "2026-09-08"),
        ("action", "SEAL", "2026-09-15", 20, "2026-08-16"),
    ]
    mag = rows[0]
    assert mag["lead_time_days"] == 20 and mag["work_orders"] == ["WO-M1", "WO-P1"]
    assert mag["customer_orders"] == [{"so_id": "SO1", "so_line": 1, "customer_id": "CUST1", "peg_level": 3}]
    assert [(p["lot_id"], p["status"], p["qty"]) for p in mag["potential_supply"]] == [
        ("LMH", "on_hold", 8),
        ("LMQ", "quarantine", 10),
    ]
    # The SEAL action at 09-15 is WO-P3's, made to stock: no customer order behind it.
    assert rows[3]["work_orders"] == ["WO-P3"] and rows[3]["customer_orders"] == []


def test_shortages_command_refuses_another_day_and_an_unknown_site(pump_plant: Path, tmp_path: Path) -> None:
    proc = _cli(pump_plant, tmp_path, "--as-of", "2026-07-01")
    assert proc.returncode != 0
    assert "built as of 2026-06-30, not 2026-07-01" in proc.stderr
    assert "medtower run DROP_DIR --as-of 2026-07-01" in proc.stderr
    (tmp_path / "again").mkdir()
    proc = _cli(pump_plant, tmp_path / "again", "--site", "NOPE")
    assert proc.returncode != 0 and "unknown site 'NOPE'" in proc.stderr


def test_a_missing_mart_fails_its_lever_not_the_plan(pump_plant: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(pump_plant, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table marts.fct_substitute_availability")
        plan = _plan(con, "MAG")
    assert [e["section"] for e in plan["errors"]] == ["substitutes"]
    assert _section(plan, "substitutes")["lines"][0].startswith("Could not be computed: CatalogException")
    # Without the substitute lever, WO-M1 gets 15 + 10 + 8 = 33 now and the other 7 from PO-1 on 08-05.
    rows = _section(plan, "resequence")["rows"]
    assert rows[0]["covered_by"] == "15 from stock; 10 from LMQ; 8 from LMH; 7 from PO PO-1 line 1"
    assert plan["data"]["recovery_date"] == "2026-08-05"


# --- set-based plans: every alert of the plant planned in one batch ----------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden" / "shortage_plans.json"
# Plant variants: the marts dropped first (a lever that fails on its own), and the materials planned together.
BATCH_VARIANTS = {
    "plant": ((), ("MAG", "SEAL")),
    "no_substitutes": (("fct_substitute_availability",), ("MAG", "SEAL")),
    "no_potential_supply": (("fct_potential_supply",), ("MAG", "SEAL")),
}


def batch_alerts(con: duckdb.DuckDBPyConnection, materials: tuple[str, ...]) -> list[Any]:
    from alerts.state import Instance

    alerts = _alerts(con)
    out = []
    for material in materials:
        row = alerts[material]
        labels = {"material_id": material, "site_id": "P1"}
        details = {k: v for k, v in row.items() if k not in labels}
        key = f"material_shortage:{material}"
        out.append(Instance(key, "material_shortage", labels, "open", row["severity"], "t", details=details))
    return out


def _without_sql_positions(plans: Any) -> Any:
    """Plans as stored (JSON) without the failing SQL that DuckDB quotes in an error ("LINE 4: from ..."):
    where a query's text sits is no part of the plan a user reads, and the set-based queries differ."""
    text = json.dumps(plans, default=str, sort_keys=True)
    return json.loads(re.sub(r'\\n\\nLINE \d+:(?:[^"\\]|\\.)*', "", text))


def test_set_based_plans_are_the_per_alert_plans(pump_plant: Path, tmp_path: Path) -> None:
    """MAG and SEAL planned in one batch give the plans the per-alert code gave, lever by lever.

    tests/alerts/golden/shortage_plans.json was written by the per-alert plans of commit 3669de3 (about a
    dozen queries per alert) for these alerts, on this plant and with a lever's mart dropped: the plan as
    the user saw it before plans went set-based.
    """
    import shutil

    from alerts.plans import shortage_plans

    golden = json.loads(GOLDEN.read_text())
    for name, (drop, materials) in BATCH_VARIANTS.items():
        copy = tmp_path / f"{name}.duckdb"
        shutil.copy(pump_plant, copy)
        with duckdb.connect(str(copy)) as con:
            for table in drop:
                con.execute(f"drop table marts.{table}")
            plans = _without_sql_positions(shortage_plans(con, batch_alerts(con, materials), AS_OF))
        expected = _without_sql_positions(golden[name])
        assert sorted(plans) == sorted(expected)
        for key, plan in plans.items():
            assert plan == expected[key], (name, key)


def test_unchanged_alerts_keep_their_plans_and_a_changed_one_is_planned_again(
    pump_plant: Path, tmp_path: Path, smtp_server: Any
) -> None:
    """The shipped rule and plans, evaluated three times. Second time, nothing changed: no plan computed,
    every stored plan byte for byte the same. Then SEAL's net requirement grows by 5 (10 -> 15 EA): only
    SEAL is planned again, and its plan says 15; MAG keeps its plan."""
    import shutil

    from alerts.engine import evaluate
    from alerts.rules import load_rules
    from tests.alerts.support import alert_settings_for

    settings = alert_settings_for(tmp_path / "data", smtp_server)
    settings.data_dir.mkdir(parents=True)
    shutil.copy(pump_plant, settings.warehouse_path)
    rules = [r for r in load_rules() if r.id == "material_shortage"]
    t0 = dt.datetime(2026, 6, 30, 6)
    mag, seal = (
        "material_shortage:material_id=MAG,site_id=P1",
        "material_shortage:material_id=SEAL,site_id=P1",
    )

    def run(con: duckdb.DuckDBPyConnection, run_id: str, hours: int) -> tuple[Any, ...]:
        now = t0 + dt.timedelta(hours=hours)
        evaluate(con, settings, run_id=run_id, as_of=AS_OF, now=now, rules=rules, deliver=False)
        counts = con.execute(
            "select plans_computed, plans_kept from alerts.evaluations where run_id = ?", [run_id]
        ).fetchone()
        assert counts is not None
        return tuple(counts)

    def plans(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        return dict(con.execute("select alert_key, plan::varchar from alerts.alert_instances").fetchall())

    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert run(con, "r1", 0) == (2, 0)
        first = plans(con)
        assert sorted(first) == [mag, seal] and "15 EA short" not in first[seal]
        assert run(con, "r2", 1) == (0, 2)
        assert plans(con) == first
        con.execute(
            "update marts.fct_shortages set shortage_qty = shortage_qty + 5 "
            "where material_id = 'SEAL' and kind = 'exception'"
        )
        assert run(con, "r3", 2) == (1, 1)
        third = plans(con)
        assert third[mag] == first[mag]
        assert (
            json.loads(third[seal])["summary"].startswith("SEAL (")
            and "15 EA short from 2026-07-15" in (json.loads(third[seal])["summary"])
        )
