import datetime as dt
import shutil
from zoneinfo import ZoneInfo

import openpyxl

import ingest.load as load_mod
from ingest.contract import load_contract, load_order
from ingest.load import ingest_folder, list_rejects
from medtower.settings import Settings
from tests.ingest.conftest import FIXTURES, by_entity


def test_contract_and_load_order():
    contract = load_contract()
    assert len(contract) == 24  # the 23 shared entities + supplier_invoices (MedTower extension)
    order = [e.name for e in load_order(contract)]
    assert sorted(order) == sorted(contract.entities)
    for entity in contract:
        for col in entity.columns:
            if col.ref:
                assert order.index(col.ref) < order.index(entity.name), (entity.name, col.name)
    assert contract["shipments"].key == ("shipment_id", "lot_id", "serial")
    assert contract["customers"].column("contact_email").pii


def test_valid_folder_loads_everything(con, settings):
    result = ingest_folder(con, FIXTURES / "valid", settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["rejected_total"] == 0
    assert sorted(result["ignored_files"]) == ["README.md", "_readme.txt"]
    counts = {e: (s["rows_read"], s["rows_loaded"]) for e, s in by_entity(result).items()}
    assert counts == {
        "sites": (2, 2),
        "materials": (2, 2),
        "suppliers": (1, 1),
        "lots": (2, 2),
        "inventory_movements": (2, 2),
        "scans": (2, 2),
    }
    # BOM + CRLF + quoted commas; unknown column kept in _extra
    rows = con.execute(
        "SELECT movement_id, location, qty, reference_line, _extra, _source_file, _source_line "
        "FROM raw.inventory_movements ORDER BY movement_id"
    ).fetchall()
    assert rows[0][:4] == ("M1", "WH-A, bay 3", 100, 1)
    assert rows[0][4] == '{"operator":"anna"}'
    assert rows[1][4] == '{"operator":"Li, Wei"}'
    assert [(r[5], r[6]) for r in rows] == [("inventory_movements.csv", 2), ("inventory_movements.csv", 3)]
    assert con.execute("SELECT description FROM raw.materials WHERE material_id='FG-1'").fetchall() == [
        ("Catheter, 5Fr",)
    ]
    # bool 'TRUE' and '0'
    assert con.execute(
        "SELECT lot_controlled, serial_controlled FROM raw.materials WHERE material_id='RM-1'"
    ).fetchall() == [(True, False)]
    runs = con.execute("SELECT outcome FROM meta.ingest_runs").fetchall()
    assert runs == [("succeeded",)]
    files = con.execute("SELECT file, bytes FROM meta.ingest_files ORDER BY file").fetchall()
    assert ("sites.csv", (FIXTURES / "valid" / "sites.csv").stat().st_size) in files


def test_timestamps_with_offset_become_site_local(con, settings):
    ingest_folder(con, FIXTURES / "valid", settings)
    got = dict(con.execute("SELECT movement_id, moved_at FROM raw.inventory_movements").fetchall())
    # M1 has no offset: stored as written
    assert got["M1"] == dt.datetime(2024, 3, 1, 10, 0)
    # M2 is 12:00Z at site S2 (Asia/Shanghai)
    utc = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert got["M2"] == utc.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    # lots: own site_id; L2 at S2, 09:30+00:00
    lot = con.execute("SELECT status_changed_at FROM raw.lots WHERE lot_id='L2'").fetchall()[0][0]
    expected = dt.datetime(2024, 2, 1, 9, 30, tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert lot == expected.replace(tzinfo=None)


def test_timestamp_site_via_lot_and_default_zone(con, tmp_path):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    (drop / "inspections.csv").write_text(
        "inspection_id,lot_id,material_id,inspection_type,started_at,result\n"
        "I1,L1,RM-1,incoming,2024-07-01T06:00:00Z,pass\n"
    )
    (drop / "capas.csv").write_text(
        "capa_id,opened_at,due_date,status\nC1,2024-07-01T06:00:00+02:00,2024-08-01,open\n"
    )
    settings = Settings(data_dir=tmp_path, default_timezone="America/Chicago")
    result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "succeeded", result["error"]
    started = con.execute("SELECT started_at FROM raw.inspections").fetchall()[0][0]
    want = dt.datetime(2024, 7, 1, 6, tzinfo=dt.UTC).astimezone(ZoneInfo("Europe/Berlin"))  # L1 is at S1
    assert started == want.replace(tzinfo=None)
    opened = con.execute("SELECT opened_at FROM raw.capas").fetchall()[0][0]
    want = dt.datetime(2024, 7, 1, 6, tzinfo=dt.timezone(dt.timedelta(hours=2))).astimezone(
        ZoneInfo("America/Chicago")
    )
    assert opened == want.replace(tzinfo=None)


EXPECTED_INVALID = {
    # (entity, file, line, column) -> a fragment of the reason
    ("sites", "sites.csv", 3, "timezone"): "'Mars/Olympus' is not an IANA time zone",
    ("materials", "materials.csv", 3, "gtin"): "not a valid GTIN",
    ("materials", "materials.csv", 4, "description"): "required value is missing",
    ("materials", "materials.csv", 5, "material_type"): "'plastic' is not one of: raw, component, packaging",
    ("materials", "materials.csv", 6, "shelf_life_days"): "'12.5' is not an integer",
    ("materials", "materials.csv", 6, "lot_controlled"): "'yes' is not a boolean",
    ("materials", "materials.csv", 6, "safety_stock"): "'abc' is not a decimal",
    ("materials", "materials.csv", 7, None): "14 fields, but the header has 13 columns",
    ("suppliers", "suppliers.csv", 1, "approval_status"): (
        "column approval_status required by the contract is missing from the header of suppliers.csv"
    ),
    ("lots", "lots.csv", 3, "manufacture_date"): "'2024/01/05' is not a date (YYYY-MM-DD)",
    ("lots", "lots.csv", 4, "status_changed_at"): "'2024-01-10 8am' is not an ISO 8601 timestamp",
    ("lots", "lots.csv", 5, "material_id"): "materials.material_id 'RM-3' does not exist",
    ("lots", "lots.csv", 6, "site_id"): "sites.site_id 'S9' does not exist",
    ("inventory_movements", "inventory_movements.csv", 3, "lot_id"): "lots.lot_id 'L4' does not exist",
    ("inventory_movements", "inventory_movements.csv", 4, None): "bad quoting",
    ("inventory_movements", "inventory_movements.csv", 5, None): "5 fields, but the header has 12 columns",
    ("scans", "scans.csv", 3, "payload"): "HIBC check character",
    ("scans", "scans.csv", 4, "event"): "'teleport' is not one of",
}


def test_every_reject_kind_with_its_place(con, settings):
    result = ingest_folder(con, FIXTURES / "invalid", settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["ignored_files"] == ["notes_lots.csv"]
    rejects = list_rejects(con)
    got = {(r["entity"], r["file"], r["line"], r["column"]): r["reason"] for r in rejects}
    assert set(got) == set(EXPECTED_INVALID)
    for place, fragment in EXPECTED_INVALID.items():
        assert fragment in got[place], (place, got[place])
    # cascade: the quarantined parent is named as such
    assert "quarantined in this run" in got[("inventory_movements", "inventory_movements.csv", 3, "lot_id")]
    # the original row travels with the reject
    rm4 = next(r for r in rejects if r["entity"] == "materials" and r["line"] == 6)
    assert rm4["raw"]["material_id"] == "RM-4" and rm4["raw"]["safety_stock"] == "abc"
    # good rows load beside the bad ones
    assert con.execute("SELECT site_id FROM raw.sites").fetchall() == [("S1",)]
    assert sorted(r[0] for r in con.execute("SELECT material_id FROM raw.materials").fetchall()) == [
        "RM-1",
        "RM-6",
    ]
    assert con.execute("SELECT lot_id FROM raw.lots").fetchall() == [("L1",)]
    assert sorted(
        r[0] for r in con.execute("SELECT movement_id FROM raw.inventory_movements").fetchall()
    ) == [
        "M1",
        "M5",
    ]
    assert sorted(r[0] for r in con.execute("SELECT scan_id FROM raw.scans").fetchall()) == ["SC1", "SC4"]
    assert con.execute("SELECT count(*) FROM raw.suppliers").fetchall() == [(0,)]
    stats = by_entity(result)
    assert (stats["materials"]["rows_read"], stats["materials"]["rows_rejected"]) == (7, 5)
    assert (stats["inventory_movements"]["rows_read"], stats["inventory_movements"]["rows_rejected"]) == (
        5,
        3,
    )
    assert list_rejects(con, entity="lots", limit=2) == [r for r in rejects if r["entity"] == "lots"][:2]


def test_reingest_same_folder_changes_nothing(con, settings):
    for folder in ("valid", "invalid"):
        ingest_folder(con, FIXTURES / folder, settings)
    n_rejects = con.execute("SELECT count(*) FROM meta.rejects").fetchall()[0][0]
    before = {
        t: con.execute(f"SELECT * EXCLUDE (_run_id, _loaded_at) FROM raw.{t} ORDER BY ALL").fetchall()
        for t in ("materials", "lots", "inventory_movements")
    }
    result = ingest_folder(con, FIXTURES / "invalid", settings)
    assert result["outcome"] == "succeeded"
    assert all(e["rows_loaded"] == 0 for e in result["entities"])
    assert by_entity(result)["materials"]["rows_unchanged"] == 2
    assert con.execute("SELECT count(*) FROM meta.rejects").fetchall()[0][0] == n_rejects
    assert con.execute(
        "SELECT count(*) FROM meta.rejects WHERE last_run_id = ?", [result["run_id"]]
    ).fetchall()[0][0] == len(EXPECTED_INVALID)
    after = {
        t: con.execute(f"SELECT * EXCLUDE (_run_id, _loaded_at) FROM raw.{t} ORDER BY ALL").fetchall()
        for t in before
    }
    assert after == before


def test_later_file_version_updates_row(con, tmp_path, settings):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    first = ingest_folder(con, drop, settings)
    lots = drop / "lots.csv"
    lots.write_text(
        lots.read_text().replace(
            "L1,RM-1,S1,received,SUP-1,A-77,2024-01-05,2026-01-05,released",
            "L1,RM-1,S1,received,SUP-1,A-77,2024-01-05,2026-01-05,recalled",
        )
    )
    second = ingest_folder(con, drop, settings)
    stats = by_entity(second)["lots"]
    assert (stats["rows_loaded"], stats["rows_unchanged"]) == (1, 1)
    rows = dict(con.execute("SELECT lot_id, status FROM raw.lots").fetchall())
    assert rows == {"L1": "recalled", "L2": "quarantine"}
    run_of = dict(con.execute("SELECT lot_id, _run_id FROM raw.lots").fetchall())
    assert run_of == {"L1": second["run_id"], "L2": first["run_id"]}


def test_duplicate_key_in_one_file_later_line_wins(con, tmp_path, settings):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    with open(drop / "suppliers.csv", "a") as f:
        f.write("SUP-1,Acme Polymers (renamed),US,conditional,0,x@acme.example\n")
    result = ingest_folder(con, drop, settings)
    stats = by_entity(result)["suppliers"]
    assert (stats["rows_read"], stats["rows_loaded"], stats["rows_superseded"]) == (2, 1, 1)
    assert con.execute("SELECT name, approval_status, _source_line FROM raw.suppliers").fetchall() == [
        ("Acme Polymers (renamed)", "conditional", 3)
    ]


def test_line_numbers_survive_multiline_fields_and_blank_lines(con, tmp_path, settings):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text(
        "site_id,name,country,timezone\n"  # 1
        'S1,"Plant\nwith a two-line name",DE,Europe/Berlin\n'  # 2-3
        "\n"  # 4
        "S2,Short,DE\n"  # 5: too few fields
        "S3,Third,DE,Nowhere/Zone\n"  # 6
        "S4,Fourth,DE,Europe/Paris\n"  # 7
    )
    ingest_folder(con, drop, settings)
    lines = {(r["line"], r["column"]) for r in list_rejects(con)}
    assert lines == {(5, None), (6, "timezone")}
    assert con.execute("SELECT site_id, _source_line FROM raw.sites ORDER BY 1").fetchall() == [
        ("S1", 2),
        ("S4", 7),
    ]


def test_xlsx_delivery(con, tmp_path, settings):
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(FIXTURES / "valid" / "sites.csv", drop / "sites.csv")
    shutil.copy(FIXTURES / "valid" / "materials.csv", drop / "materials.csv")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["capa_id", "opened_at", "due_date", "status", "owner", "Comment"])
    sheet.append(["C1", dt.datetime(2024, 5, 2, 8, 30), dt.datetime(2024, 6, 1), "open", "qa", "from excel"])
    sheet.append(["C2", "2024-05-03T09:00:00", "not a date", "open", None, None])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["C3", dt.datetime(2024, 5, 4), dt.date(2024, 7, 1), "closed", 7, None])
    book.save(drop / "CAPAS.xlsx")
    result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "succeeded", result["error"]
    stats = by_entity(result)["capas"]
    assert (stats["file"], stats["rows_read"], stats["rows_loaded"], stats["rows_rejected"]) == (
        "CAPAS.xlsx",
        3,
        2,
        1,
    )
    rows = con.execute(
        "SELECT capa_id, opened_at, due_date, owner, _extra, _source_line FROM raw.capas ORDER BY 1"
    )
    assert rows.fetchall() == [
        ("C1", dt.datetime(2024, 5, 2, 8, 30), dt.date(2024, 6, 1), "qa", '{"Comment":"from excel"}', 2),
        ("C3", dt.datetime(2024, 5, 4), dt.date(2024, 7, 1), "7", '{"Comment":null}', 5),
    ]
    [reject] = list_rejects(con, entity="capas")
    assert (reject["file"], reject["line"], reject["column"]) == ("CAPAS.xlsx", 3, "due_date")


def test_failure_part_way_rolls_back(con, tmp_path, settings, monkeypatch):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    ingest_folder(con, drop, settings)

    def snapshot():
        return {
            t: con.execute(f"SELECT * FROM raw.{t} ORDER BY ALL").fetchall()
            for t in ("sites", "materials", "lots", "inventory_movements", "scans")
        } | {"rejects": con.execute("SELECT * FROM meta.rejects ORDER BY ALL").fetchall()}

    before = snapshot()
    (drop / "sites.csv").write_text(
        "site_id,name,country,timezone\nS1,Renamed,DE,Europe/Berlin\nS2,X,CN,Asia/Tokyo\n"
    )
    (drop / "scans.csv").write_text(
        "scan_id,scanned_at,site_id,event,payload\nSC9,2024-01-01T00:00:00,S1,pick,bad\n"
    )
    real = load_mod._validate_and_load

    def boom(con_, contract, entity, *args, **kwargs):
        if entity.name == "scans":
            raise RuntimeError("disk full")
        return real(con_, contract, entity, *args, **kwargs)

    monkeypatch.setattr(load_mod, "_validate_and_load", boom)
    result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "failed"
    assert "disk full" in result["error"]
    assert snapshot() == before
    outcomes = con.execute("SELECT outcome, error FROM meta.ingest_runs ORDER BY started_at").fetchall()
    assert [o[0] for o in outcomes] == ["succeeded", "failed"]
    assert con.execute(
        "SELECT count(*) FROM meta.ingest_files WHERE run_id = ?", [result["run_id"]]
    ).fetchall() == [(0,)]


def test_two_files_for_one_entity_are_both_quarantined(con, tmp_path, settings):
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    shutil.copy(drop / "suppliers.csv", drop / "SUPPLIERS.CSV")
    result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "succeeded"
    reasons = {(r["file"], r["line"]) for r in list_rejects(con, entity="suppliers")}
    assert reasons == {("SUPPLIERS.CSV", 1), ("suppliers.csv", 1)}
    assert con.execute("SELECT count(*) FROM raw.suppliers").fetchall() == [(0,)]


def test_a_file_whose_header_matches_no_contract_column_is_a_failed_file(con, tmp_path, settings):
    """Tab-separated lots.csv: its one header cell is no column of lots; one reason, not one per column.

    sites.csv beside it (one row, S1) loads. Expected text written out by hand from the contract's
    first six lots columns.
    """
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text("site_id,name,country,timezone\nS1,Berlin,DE,Europe/Berlin\n")
    (drop / "lots.csv").write_text("lot_id\tmaterial_id\nL1\tRM-1\nL2\tRM-1\n")
    result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "succeeded", result["error"]
    expected_columns = ", ".join(c.name for c in load_contract()["lots"].columns[:6])
    reason = (
        "no column of the header of lots.csv (lot_id\tmaterial_id) is a column of lots in the contract "
        f"(expected {expected_columns} ...): is it the right file, comma-separated?"
    )
    assert result["failed_files"] == [{"entity": "lots", "file": "lots.csv", "error": reason}]
    stats = by_entity(result)
    assert (stats["lots"]["rows_read"], stats["lots"]["rows_loaded"], stats["lots"]["rows_rejected"]) == (
        2,
        0,
        2,
    )
    assert "file_error" not in stats["sites"] and stats["sites"]["rows_loaded"] == 1
    rejects = list_rejects(con, entity="lots")
    assert {r["reason"] for r in rejects} == {reason}  # the one reason, not "column ... is missing" x N


def test_a_file_missing_a_required_column_is_a_failed_file_too(con, tmp_path, settings):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text("site_id,name,country\nS1,Berlin,DE\n")  # no timezone
    result = ingest_folder(con, drop, settings)
    (failed,) = result["failed_files"]
    assert failed["file"] == "sites.csv"
    assert (
        "column timezone required by the contract is missing from the header of sites.csv" in failed["error"]
    )
