"""The planning marts on a tiny hand-made plant, built by dbt for real.

One component C at site S1, A = 2026-06-30. Every expected number is worked out in the comments.

Stock of C at A (lot: status, on hand):
    L1 released 120 received - 20 issued to WO1 = 100   -> available
    L2 quarantine 500                                    -> not available
    L3 released 300 but expired 2026-06-15                -> not available
    L4 on_hold 50                                        -> not available
    L5 quarantine 10 (first receipt of PO P4)            -> not available
    available_on_hand = 100

Open PO lines of C (open quantity, due = confirmed else requested):
    P1  50 ordered, due 07-02 (requested)                 -> 50
    P2 200 ordered, requested 07-01 but confirmed 07-08   -> 200 from 07-08
    P3 1000 cancelled                                    -> never
    P4  30 ordered, 10 received, due 06-20 (past due)     -> 20

Open work orders making FG (BOM: 2 C per FG); all open statuses are firm orders of the netting:
    WO1 in_progress 30 FG, start 06-29 (past due: netted on A): 60 required - 20 issued = 40
    WO4 planned    100 FG, start 07-01: 200
    WO2 released    70 FG, start 07-03: 140
    WO3 on_hold    150 FG, start 07-10: 300
    WO5 cancelled: not open, no requirement

Projected balance of C (kpi-definitions.md "Shortages": B_k = max(B_{k-1}, 0) + supply - demand; supply before
demand on a date; past-due P4 and WO1 netted on A):
    06-30  L1 +100, P4 +20, WO1 -40   ->   80
    07-01  WO4 -200                   -> -120   net requirement 120
    07-02  P1 +50                     ->   50   (the earlier shortfall is not carried)
    07-03  WO2 -140                   ->  -90   net requirement 90
    07-08  P2 +200                    ->  200
    07-10  WO3 -300                   -> -100   net requirement 100
C has no approved supplier and no planned lead time: lead time 0, so every need after A is an action
(order by the need date), none an exception.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import build_plant

AS_OF = dt.date(2026, 6, 30)


def _ts(day: str, hour: int = 8) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour)


def _lot(lot_id: str, status: str, changed: str, **extra: Any) -> dict[str, Any]:
    return {
        "lot_id": lot_id,
        "material_id": "C",
        "site_id": "S1",
        "origin": "received",
        "supplier_id": "SUP1",
        "status": status,
        "status_changed_at": _ts(changed, 12),
        **extra,
    }


def _receipt(movement_id: str, lot_id: str, qty: int, day: str, **ref: Any) -> dict[str, Any]:
    return {
        "movement_id": movement_id,
        "moved_at": _ts(day),
        "site_id": "S1",
        "material_id": "C",
        "lot_id": lot_id,
        "qty": qty,
        "movement_type": "receipt",
        "reference_type": "po",
        **ref,
    }


def _wo(wo_id: str, status: str, qty: int, start: str) -> dict[str, Any]:
    return {
        "wo_id": wo_id,
        "material_id": "FG",
        "site_id": "S1",
        "qty_planned": qty,
        "status": status,
        "planned_start": _ts(start),
        "planned_end": _ts(start, 20),
    }


def _po(po_id: str, qty: int, requested: str, status: str = "open", confirmed: str | None = None) -> dict:
    return {
        "po_id": po_id,
        "po_line": 1,
        "supplier_id": "SUP1",
        "material_id": "C",
        "site_id": "S1",
        "qty_ordered": qty,
        "order_date": dt.date(2026, 5, 1),
        "status": status,
        "requested_date": dt.date.fromisoformat(requested),
        "confirmed_date": dt.date.fromisoformat(confirmed) if confirmed else None,
    }


def _material(material_id: str, material_type: str) -> dict[str, Any]:
    return {
        "material_id": material_id,
        "description": material_id,
        "material_type": material_type,
        "uom": "EA",
        "lot_controlled": True,
        "serial_controlled": False,
        "status": "active",
    }


ROWS: dict[str, list[dict[str, Any]]] = {
    "sites": [{"site_id": "S1", "name": "Galway", "country": "IE", "timezone": "Europe/Dublin"}],
    "materials": [
        _material("FG", "finished_good"),
        _material("C", "component"),
        _material("CS", "component"),
        _material("CF", "component"),
        _material("CX", "component"),
    ],
    "suppliers": [{"supplier_id": "SUP1", "name": "Tubes Ltd", "approval_status": "approved"}],
    "bom": [
        {
            "parent_material_id": "FG",
            "component_material_id": "C",
            "qty_per": 2,
            "revision": "A",
            "effective_from": dt.date(2026, 1, 1),
        }
    ],
    "change_controls": [
        {
            "change_id": "CC1",
            "change_type": "material",
            "material_id": "C",
            "opened_at": _ts("2026-03-01"),
            "approved_at": _ts("2026-03-10"),
            "status": "implemented",
            "title": "CS may replace C",
        }
    ],
    "substitutes": [
        {
            "material_id": "C",
            "substitute_material_id": "CS",
            "priority": 1,
            "change_id": "CC1",
            "valid_from": dt.date(2026, 3, 10),
        },
        # Starts after A (2026-06-30): listed, not yet in force.
        {
            "material_id": "C",
            "substitute_material_id": "CF",
            "priority": 2,
            "change_id": "CC1",
            "valid_from": dt.date(2026, 7, 10),
        },
        # Ended before A: not listed.
        {
            "material_id": "C",
            "substitute_material_id": "CX",
            "priority": 3,
            "change_id": "CC1",
            "valid_from": dt.date(2026, 3, 10),
            "valid_to": dt.date(2026, 6, 29),
        },
    ],
    "lots": [
        _lot("L1", "released", "2026-06-02"),
        _lot("L2", "quarantine", "2026-06-01"),
        _lot("L3", "released", "2026-05-02", expiry_date=dt.date(2026, 6, 15)),
        _lot("L4", "on_hold", "2026-06-03"),
        _lot("L5", "quarantine", "2026-06-21"),
        {**_lot("LS", "released", "2026-06-02"), "material_id": "CS"},
    ],
    "inventory_movements": [
        _receipt("M1", "L1", 120, "2026-06-01", reference_id="PX", reference_line=1),
        _receipt("M2", "L2", 500, "2026-06-01", reference_id="PX", reference_line=2),
        _receipt("M3", "L3", 300, "2026-05-01", reference_id="PX", reference_line=3),
        _receipt("M4", "L4", 50, "2026-06-01", reference_id="PX", reference_line=4),
        _receipt("M5", "L5", 10, "2026-06-21", reference_id="P4", reference_line=1),
        {**_receipt("M6", "LS", 30, "2026-06-01", reference_id="PX", reference_line=5), "material_id": "CS"},
        {
            "movement_id": "M7",
            "moved_at": _ts("2026-06-29", 9),
            "site_id": "S1",
            "material_id": "C",
            "lot_id": "L1",
            "qty": -20,
            "movement_type": "issue",
            "reference_type": "wo",
            "reference_id": "WO1",
        },
    ],
    "purchase_orders": [
        _po("PX", 1000, "2026-05-30", status="received"),
        _po("P1", 50, "2026-07-02"),
        _po("P2", 200, "2026-07-01", confirmed="2026-07-08"),
        _po("P3", 1000, "2026-07-01", status="cancelled"),
        _po("P4", 30, "2026-06-20", status="partially_received"),
    ],
    "work_orders": [
        _wo("WO1", "in_progress", 30, "2026-06-29"),
        _wo("WO2", "released", 70, "2026-07-03"),
        _wo("WO3", "on_hold", 150, "2026-07-10"),
        _wo("WO4", "planned", 100, "2026-07-01"),
        _wo("WO5", "cancelled", 100, "2026-07-01"),
    ],
}


@pytest.fixture(scope="session")
def planning_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planning_marts")
    db_path, _ = build_plant(
        root,
        ROWS,
        AS_OF,
        "+fct_shortages",
        "+fct_shortage_pegging",
        "+fct_days_of_supply",
        "+fct_substitute_availability",
    )
    return db_path


@pytest.fixture()
def con(planning_warehouse: Path):
    connection = duckdb.connect(str(planning_warehouse), read_only=True)
    yield connection
    connection.close()


def test_requirements_are_open_work_orders_less_what_was_issued(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select wo_id, material_id, need_date, qty_required, qty_issued_to_wo, qty_outstanding "
        "from marts.fct_material_requirements order by wo_id"
    ).fetchall()
    assert rows == [
        ("WO1", "C", dt.date(2026, 6, 29), 60, 20, 40),
        ("WO2", "C", dt.date(2026, 7, 3), 140, 0, 140),
        ("WO3", "C", dt.date(2026, 7, 10), 300, 0, 300),
        ("WO4", "C", dt.date(2026, 7, 1), 200, 0, 200),
    ]


def test_projected_balance_matches_the_hand_calculation(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select event_type, coalesce(wo_id, po_id, lot_id), netting_date, projected_balance, "
        "net_requirement_qty from marts.fct_projected_balance "
        "where material_id = 'C' and site_id = 'S1' order by event_seq"
    ).fetchall()
    a = AS_OF
    assert rows == [
        ("lot", "L1", a, 100, 0),
        ("purchase_order_line", "P4", a, 120, 0),
        ("work_order_component", "WO1", a, 80, 0),
        ("work_order_component", "WO4", dt.date(2026, 7, 1), -120, 120),
        ("purchase_order_line", "P1", dt.date(2026, 7, 2), 50, 0),
        ("work_order_component", "WO2", dt.date(2026, 7, 3), -90, 90),
        ("purchase_order_line", "P2", dt.date(2026, 7, 8), 200, 0),
        ("work_order_component", "WO3", dt.date(2026, 7, 10), -100, 100),
    ]


def test_shortages_are_actions_without_a_lead_time(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select wo_id, need_date, shortage_qty, kind, lead_time_days, order_by, replenishment "
        "from marts.fct_shortages order by need_date"
    ).fetchall()
    assert rows == [
        ("WO4", dt.date(2026, 7, 1), 120, "action", 0, dt.date(2026, 7, 1), "buy"),
        ("WO2", dt.date(2026, 7, 3), 90, "action", 0, dt.date(2026, 7, 3), "buy"),
        ("WO3", dt.date(2026, 7, 10), 100, "action", 0, dt.date(2026, 7, 10), "buy"),
    ]


def test_only_released_unexpired_stock_is_available(con: duckdb.DuckDBPyConnection) -> None:
    available = con.execute(
        "select lot_id from marts.fct_inventory_by_lot where material_id = 'C' and is_available"
    ).fetchall()
    assert available == [("L1",)]


def test_days_of_supply_uses_released_stock_and_90_days_of_issues(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(con.execute("select material_id, days_of_supply from marts.fct_days_of_supply").fetchall())
    # released at A: L1 100 + L3 300 (released, though expired); issued 20 in 90 days -> 20/90 a day
    assert rows["C"] == pytest.approx(400 / (20 / 90))
    # released stock, no issues: null
    assert rows["CS"] is None


def test_substitute_stock_is_offered(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select material_id, substitute_material_id, site_id, is_valid_at_as_of, available_qty, "
        "available_after_other_demand from marts.fct_substitute_availability order by priority"
    ).fetchall()
    # CS in force with its 30 on hand; CF starts on 07-10, after A, and has no stock; CX ended 06-29.
    assert rows == [("C", "CS", "S1", True, 30, 30), ("C", "CF", "S1", False, 0, 0)]
