"""medtower.trace against the small hand-made plant, plus a cycle in hand-written marts."""

from __future__ import annotations

import json

import duckdb
import pytest

from medtower.trace import TraceError, lot_suspects, trace, trace_lots
from tests.small_plant import GTIN_FG1, GTIN_RM1


@pytest.mark.slow
def test_forward_trace_of_a_supplier_lot_reaches_the_customer(small_con) -> None:
    out = trace(small_con, "R1", "forward")
    assert out["lot_id"] == "R1" and out["direction"] == "forward"
    assert out["lots"] == ["A1", "F1"]
    assert out["work_orders"] == ["WO1", "WO2"]
    assert out["shipments"] == ["SH1"] and out["customers"] == ["C1"]
    assert "suppliers" not in out
    assert [(d["lot_id"], d["depth"]) for d in out["lot_details"]] == [("R1", 0), ("A1", 1), ("F1", 2)]
    assert {(e["parent_lot_id"], e["child_lot_id"]) for e in out["edges"]} == {("R1", "A1"), ("A1", "F1")}
    assert out["shipment_details"][0]["customer_name"] == "City Hospital"
    assert "contact_email" not in out["shipment_details"][0]
    json.dumps(out)  # JSON-able as returned


@pytest.mark.slow
def test_backward_trace_from_a_scanned_udi_reaches_the_suppliers(small_con) -> None:
    out = trace(small_con, f"(01){GTIN_FG1}(17)280601(10)F1", "backward")
    assert out["lot_id"] == "F1"
    assert out["lots"] == ["A1", "R1", "R2"]
    assert out["suppliers"] == ["SUP1", "SUP2"]
    assert out["work_orders"] == ["WO1", "WO2"]
    assert "customers" not in out


@pytest.mark.slow
def test_a_scan_of_the_supplier_label_finds_the_lot_by_supplier_lot(small_con) -> None:
    out = trace(small_con, f"(01){GTIN_RM1}(10)SUPLOT-9", "backward")
    assert out["lot_id"] == "R1" and out["lots"] == [] and out["suppliers"] == ["SUP1"]


@pytest.mark.slow
def test_one_walk_from_several_lots_takes_the_nearest_start(small_con) -> None:
    # R1 -> A1 (WO1) -> F1 (WO2), and R2 goes straight into F1 (WO2): F1 is one generation from R2.
    out = trace_lots(small_con, ["R1", "R2"], "forward")
    assert out["lots"] == ["A1", "F1"]
    assert [(d["lot_id"], d["depth"]) for d in out["lot_details"]] == [
        ("R1", 0),
        ("R2", 0),
        ("A1", 1),
        ("F1", 1),
    ]
    assert out["work_orders"] == ["WO1", "WO2"]
    assert out["shipments"] == ["SH1"] and out["customers"] == ["C1"]


@pytest.mark.slow
def test_a_lot_without_genealogy_has_empty_results(small_con) -> None:
    out = trace(small_con, "F2", "forward")
    assert out["lots"] == [] and out["shipments"] == [] and out["customers"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("NO-SUCH-LOT-42", "lot 'NO-SUCH-LOT-42' not found in the warehouse"),
        ("(01)12345678901234(10)X", "cannot read barcode"),
        (f"(01){GTIN_FG1}(10)NOPE", f"GTIN {GTIN_FG1} lot NOPE"),
        (f"(01){GTIN_FG1}(17)280601", "no lot number"),
        ("", "empty query"),
    ],
)
def test_clear_errors(small_con, query: str, message: str) -> None:
    with pytest.raises(TraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        trace(small_con, query, "forward")


@pytest.mark.slow
def test_suspect_lots_and_their_ncrs(small_con) -> None:
    """By hand from tests/small_plant.py (A = 2026-06-30): R3 is rejected, failed incoming I7 (05-31 23:59)
    and, at the same minute on 06-04, incoming I3 and final I6, and has major NCR N1 open; R5 is in
    quarantine; R1 is released and passed. A1's N2 closed on 06-15 and F2's N3 was opened and closed on
    06-30 (not open at the end of A): shown, not suspect. N4 names no lot. ZZ is no lot at all."""
    out = lot_suspects(small_con, ["R1", "R3", "R5", "A1", "F2", "ZZ", "R3"])
    assert sorted(out) == ["A1", "F2", "R1", "R3", "R5", "ZZ"]
    assert out["R3"]["reasons"] == [
        "rejected",
        "failed incoming inspection I7",
        "failed incoming inspection I3",
        "failed final inspection I6",
        "open major NCR N1",
    ]
    assert out["R3"]["ncrs"] == [{"ncr_id": "N1", "severity": "major", "status": "open", "is_open": True}]
    assert out["R5"] == {"reasons": ["quarantined"], "ncrs": []}
    assert out["A1"] == {
        "reasons": [],
        "ncrs": [{"ncr_id": "N2", "severity": "minor", "status": "closed", "is_open": False}],
    }
    assert out["F2"]["reasons"] == [] and [n["ncr_id"] for n in out["F2"]["ncrs"]] == ["N3"]
    assert out["R1"] == out["ZZ"] == {"reasons": [], "ncrs": []}
    assert lot_suspects(small_con, []) == {}
    json.dumps(out)


@pytest.fixture()
def cyclic_marts():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_lots as select * from (values "
        "('X', 'M', 'received', 'SUPX', null, 'released', null), "
        "('Y', 'M', 'produced', null, null, 'released', null), "
        "('Z', 'M', 'produced', null, null, 'released', null)) "
        "t(lot_id, material_id, origin, supplier_id, supplier_lot, status, expiry_date)"
    )
    con.execute(
        "create table marts.dim_materials as select 'M' as material_id, 'm' as description, null as gtin"
    )
    con.execute(
        "create table marts.fct_lot_genealogy_edges as select * from (values "
        "('X', 'Y', 'W1', 'M', 1, null), ('Y', 'Z', 'W2', 'M', 1, null), ('Z', 'X', 'W3', 'M', 1, null)) "
        "t(parent_lot_id, child_lot_id, wo_id, component_material_id, qty, consumed_at)"
    )
    con.execute(
        "create table marts.fct_lot_shipments (shipment_id varchar, so_id varchar, so_line int, "
        "customer_id varchar, material_id varchar, lot_id varchar, serial varchar, qty double, "
        "shipped_at timestamp, delivered_at timestamp)"
    )
    con.execute("create table marts.dim_customers (customer_id varchar, name varchar)")
    yield con
    con.close()


def test_a_cycle_in_bad_genealogy_data_ends_the_walk(cyclic_marts) -> None:
    out = trace(cyclic_marts, "X", "forward")
    assert out["lots"] == ["Y", "Z"]
    assert out["work_orders"] == ["W1", "W2", "W3"]
    back = trace(cyclic_marts, "Y", "backward")
    assert back["lots"] == ["X", "Z"] and back["suppliers"] == ["SUPX"]


def test_direction_is_checked(cyclic_marts) -> None:
    with pytest.raises(TraceError, match="direction"):
        trace(cyclic_marts, "X", "sideways")  # type: ignore[arg-type]


@pytest.mark.slow
def test_each_direction_reads_edges_stored_in_its_lookup_order(small_con) -> None:
    """The dbt marts: the edges in parent order, the by-child copy the same edges in child order."""
    cols = "parent_lot_id, child_lot_id, wo_id, component_material_id, qty, consumed_at"
    edges = small_con.execute(f"select {cols} from marts.fct_lot_genealogy_edges order by rowid").fetchall()
    by_child = small_con.execute(
        f"select {cols} from marts.fct_lot_genealogy_edges_by_child order by rowid"
    ).fetchall()
    assert len(edges) >= 3 and sorted(edges) == sorted(by_child)
    # Stored order (rowid) is the lookup column's order, so DuckDB's row-group min/max can skip the rest.
    assert [e[0] for e in edges] == sorted(e[0] for e in edges)
    assert [e[1] for e in by_child] == sorted(e[1] for e in by_child)


def test_the_backward_walk_reads_the_by_child_copy_when_there_is_one(cyclic_marts) -> None:
    before = trace(cyclic_marts, "Y", "backward")
    cyclic_marts.execute(
        "create table marts.fct_lot_genealogy_edges_by_child as "
        "select child_lot_id, parent_lot_id, wo_id, component_material_id, qty, consumed_at "
        "from marts.fct_lot_genealogy_edges order by child_lot_id"
    )
    assert trace(cyclic_marts, "Y", "backward") == before
    # A copy that differs shows which table the walk reads: only the backward direction reads it.
    cyclic_marts.execute("delete from marts.fct_lot_genealogy_edges_by_child where child_lot_id = 'X'")
    cut = trace(cyclic_marts, "Y", "backward")
    assert cut["lots"] == ["X"] and cut["work_orders"] == ["W1"] and cut["suppliers"] == ["SUPX"]
    assert trace(cyclic_marts, "X", "forward")["lots"] == ["Y", "Z"]
