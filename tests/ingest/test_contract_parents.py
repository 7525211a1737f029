"""Contract additions: a substitute validated per parent (an optional key column), material standard
cost and PO acknowledgement time. Expected values are read off the fixture files by hand."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import yaml

from ingest.contract import DEFAULT_CONTRACT_PATH, load_contract
from ingest.load import ensure_schema, ingest_folder, list_rejects
from tests.ingest.conftest import FIXTURES, by_entity


def substitutes(con):
    return con.execute(
        "SELECT material_id, substitute_material_id, parent_material_id, priority, _source_line "
        "FROM raw.substitutes ORDER BY ALL"
    ).fetchall()


def test_contract_declares_the_new_columns():
    contract = load_contract()
    sub = contract["substitutes"]
    assert sub.key == ("material_id", "substitute_material_id", "parent_material_id")
    parent = sub.column("parent_material_id")
    # the one key column that may be empty: not required, and a reference when set
    assert (parent.required, parent.ref) == (False, "materials")
    assert contract["materials"].column("standard_cost").type == "decimal"
    assert contract["purchase_orders"].column("acknowledged_at").type == "timestamp"


def test_empty_parent_is_a_key_of_its_own(con, settings):
    result = ingest_folder(con, FIXTURES / "parents_valid", settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["rejected_total"] == 0, list_rejects(con)
    stats = by_entity(result)["substitutes"]
    # 4 lines; lines 4 ("  ") and 5 ("") are the same key (CMP-1, CMP-3, empty): line 5 wins
    assert (stats["rows_read"], stats["rows_loaded"], stats["rows_superseded"]) == (4, 3, 1)
    assert substitutes(con) == [
        ("CMP-1", "CMP-2", "FG-1", 1, 3),
        ("CMP-1", "CMP-2", None, 2, 2),
        ("CMP-1", "CMP-3", None, 3, 5),
    ]


def test_changed_empty_parent_row_replaces_only_itself(con, tmp_path, settings):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "parents_valid", drop)
    first = ingest_folder(con, drop, settings)
    again = ingest_folder(con, drop, settings)
    assert by_entity(again)["substitutes"]["rows_loaded"] == 0
    assert by_entity(again)["substitutes"]["rows_unchanged"] == 3
    path = drop / "substitutes.csv"
    path.write_text(path.read_text().replace("CMP-1,CMP-2,,2,", "CMP-1,CMP-2,,4,"))
    third = ingest_folder(con, drop, settings)
    stats = by_entity(third)["substitutes"]
    assert (stats["rows_loaded"], stats["rows_unchanged"]) == (1, 2)
    rows = con.execute(
        "SELECT substitute_material_id, parent_material_id, priority, _run_id "
        "FROM raw.substitutes ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("CMP-2", "FG-1", 1, first["run_id"]),
        ("CMP-2", None, 4, third["run_id"]),
        ("CMP-3", None, 3, first["run_id"]),
    ]


def test_standard_cost_and_acknowledged_at_load_typed(con, settings):
    ingest_folder(con, FIXTURES / "parents_valid", settings)
    cost = dict(con.execute("SELECT material_id, standard_cost FROM raw.materials").fetchall())
    assert cost == {
        "FG-1": Decimal("84.5"),
        "FG-2": Decimal("91"),
        "CMP-1": Decimal("1.35"),
        "CMP-2": Decimal("1.52"),
        "CMP-3": None,
    }
    ack = {
        (po, line): at
        for po, line, at in con.execute(
            "SELECT po_id, po_line, acknowledged_at FROM raw.purchase_orders"
        ).fetchall()
    }
    # PO-1 is for site S2 (Asia/Shanghai, UTC+8, no DST): 03:15Z is 11:15 local; no offset = local as written
    assert ack == {
        ("PO-1", 1): dt.datetime(2026, 10, 2, 11, 15),
        ("PO-1", 2): dt.datetime(2026, 10, 2, 9, 0),
        ("PO-2", 1): None,
    }


EXPECTED_INVALID = {
    ("materials", 4, "standard_cost"): "'1.5e0' is not a decimal number",
    ("substitutes", 2, "parent_material_id"): (
        "dangling reference: materials.material_id 'FG-9' does not exist"
    ),
    ("substitutes", 3, "material_id"): "required value is missing",
    ("substitutes", 4, "priority"): "required value is missing",
    ("purchase_orders", 2, "acknowledged_at"): "'yesterday' is not an ISO 8601 timestamp",
}


def test_bad_new_values_are_quarantined_with_their_place(con, settings):
    result = ingest_folder(con, FIXTURES / "parents_invalid", settings)
    assert result["outcome"] == "succeeded", result["error"]
    got = {(r["entity"], r["line"], r["column"]): r["reason"] for r in list_rejects(con)}
    assert set(got) == set(EXPECTED_INVALID)
    for place, fragment in EXPECTED_INVALID.items():
        assert fragment in got[place], (place, got[place])
    # an empty parent is not a missing key: only the row with a set, known parent (line 5) loads
    assert substitutes(con) == [("CMP-1", "FG-1", "FG-1", 1, 5)]
    # +01:00 at S1 (Europe/Berlin, CEST in October = UTC+2): 08:00Z is 10:00 local
    assert con.execute("SELECT po_line, acknowledged_at FROM raw.purchase_orders").fetchall() == [
        (2, dt.datetime(2026, 10, 2, 10, 0))
    ]


def test_a_warehouse_built_under_the_previous_contract_takes_the_new_columns(con, tmp_path, settings):
    """raw tables created before the contract gained the columns get them on the next ingest, and a
    stored substitution (no parent column then) is the same record as a re-delivery with an empty parent."""
    doc = yaml.safe_load(DEFAULT_CONTRACT_PATH.read_text())
    ents = doc["entities"]
    del ents["materials"]["columns"]["standard_cost"]
    del ents["purchase_orders"]["columns"]["acknowledged_at"]
    del ents["substitutes"]["columns"]["parent_material_id"]
    ents["substitutes"]["key"] = ["material_id", "substitute_material_id"]
    old = tmp_path / "old_contract.yaml"
    old.write_text(yaml.safe_dump(doc))
    ensure_schema(con, load_contract(old))
    con.execute(
        "INSERT INTO raw.substitutes (material_id, substitute_material_id, priority, _row_hash) "
        "VALUES ('CMP-1', 'CMP-2', 9, 'old')"
    )
    result = ingest_folder(con, FIXTURES / "parents_valid", settings)
    assert result["outcome"] == "succeeded", result["error"]
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw'"
        ).fetchall()
    }
    assert {"standard_cost", "acknowledged_at", "parent_material_id"} <= cols
    # the old (CMP-1, CMP-2) row had no parent: the delivered (CMP-1, CMP-2, empty) replaced it
    assert [r[:4] for r in substitutes(con)] == [
        ("CMP-1", "CMP-2", "FG-1", 1),
        ("CMP-1", "CMP-2", None, 2),
        ("CMP-1", "CMP-3", None, 3),
    ]
