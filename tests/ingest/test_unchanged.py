"""A re-delivered file that is byte for byte its last loaded version is not read again, unless what it
depends on changed in the run. Expected states written out by hand from the files the tests write."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.load import ingest_folder
from medtower.settings import Settings

SITES = "site_id,name,country,timezone\nBER,Berlin Plant,DE,Europe/Berlin\n"
SUPPLIERS = "supplier_id,name,approval_status\nSUP-1,Acme,approved\n"
MATERIALS = (
    "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
    "RM-1,Resin,raw,KG,true,false,active\n"
)
RM2 = "RM-2,Film,raw,M,true,false,active\n"
POS = (
    "po_id,po_line,supplier_id,material_id,site_id,qty_ordered,order_date,requested_date,status\n"
    "PO-1,1,SUP-1,RM-1,BER,100,2026-01-05,2026-02-01,open\n"
    "PO-1,2,SUP-1,RM-2,BER,50,2026-01-05,2026-02-01,open\n"  # line 3: RM-2 is not delivered yet
)


def _write(drop: Path, materials: str = MATERIALS) -> Path:
    drop.mkdir(exist_ok=True)
    (drop / "sites.csv").write_text(SITES)
    (drop / "suppliers.csv").write_text(SUPPLIERS)
    (drop / "materials.csv").write_text(materials)
    (drop / "purchase_orders.csv").write_text(POS)
    return drop


def _by_entity(result: dict) -> dict:
    return {e["entity"]: e for e in result["entities"]}


def test_unchanged_files_are_not_read_again_and_their_rejects_stay_open(tmp_path: Path) -> None:
    drop = _write(tmp_path / "drop")
    con = duckdb.connect()
    settings = Settings(data_dir=tmp_path / "d")
    first = ingest_folder(con, drop, settings)
    assert _by_entity(first)["purchase_orders"]["rows_rejected"] == 1
    second = ingest_folder(con, drop, settings)
    assert second["outcome"] == "succeeded", second["error"]
    stats = _by_entity(second)
    assert all(s.get("skipped") == f"unchanged since run {first['run_id']}" for s in stats.values())
    po = stats["purchase_orders"]
    # accounted for as in the last delivery: 2 read = 1 unchanged + 1 rejected
    assert (po["rows_read"], po["rows_unchanged"], po["rows_rejected"], po["rows_loaded"]) == (2, 1, 1, 0)
    # the quarantined line is still open: seen again in this run
    assert con.execute("SELECT line, last_run_id FROM meta.rejects").fetchall() == [(3, second["run_id"])]
    assert con.execute("SELECT count(*) FROM raw.purchase_orders").fetchall() == [(1,)]


def test_a_changed_parent_reads_its_unchanged_children_again(tmp_path: Path) -> None:
    drop = _write(tmp_path / "drop")
    con = duckdb.connect()
    settings = Settings(data_dir=tmp_path / "d")
    ingest_folder(con, drop, settings)
    _write(drop, MATERIALS + RM2)  # RM-2 arrives; purchase_orders.csv is the same file as before
    third = ingest_folder(con, drop, settings)
    stats = _by_entity(third)
    assert "skipped" in stats["sites"] and "skipped" in stats["suppliers"]
    assert "skipped" not in stats["materials"] and stats["materials"]["rows_loaded"] == 1
    assert "skipped" not in stats["purchase_orders"]
    assert stats["purchase_orders"]["rows_loaded"] == 1  # PO-1/2, quarantined before, loads now
    got = con.execute("SELECT po_line, material_id FROM raw.purchase_orders ORDER BY 1").fetchall()
    assert got == [(1, "RM-1"), (2, "RM-2")]


def test_a_file_changed_back_to_an_earlier_version_is_read_again(tmp_path: Path) -> None:
    drop = _write(tmp_path / "drop")
    con = duckdb.connect()
    settings = Settings(data_dir=tmp_path / "d")
    ingest_folder(con, drop, settings)
    (drop / "suppliers.csv").write_text(SUPPLIERS.replace("Acme", "Acme GmbH"))
    ingest_folder(con, drop, settings)
    (drop / "suppliers.csv").write_text(SUPPLIERS)  # the first version again
    last = _by_entity(ingest_folder(con, drop, settings))
    assert "skipped" not in last["suppliers"] and last["suppliers"]["rows_loaded"] == 1
    assert con.execute("SELECT name FROM raw.suppliers").fetchall() == [("Acme",)]


def test_a_file_refused_whole_is_never_skipped_it_fails_again(tmp_path: Path) -> None:
    drop = _write(tmp_path / "drop")
    (drop / "suppliers.csv").write_text("supplier_id;name;approval_status\nSUP-1;Acme;approved\n")
    con = duckdb.connect()
    settings = Settings(data_dir=tmp_path / "d")
    for _ in range(2):
        result = ingest_folder(con, drop, settings)
        assert [f["file"] for f in result["failed_files"]] == ["suppliers.csv"]
        assert "skipped" not in _by_entity(result)["suppliers"]
