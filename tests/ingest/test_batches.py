"""A CSV larger than one batch (MEDTOWER_INGEST_BATCH_BYTES) loads, rejects and keeps line numbers exactly as
the same file read whole; and the daylight-saving check (run only near an offset change) finds every
skipped and doubled local time that Python's zoneinfo finds."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zoneinfo
from pathlib import Path

import duckdb
import pytest

from ingest.dropfolder import CsvBatches
from ingest.load import ingest_folder
from medtower.settings import Settings

from .conftest import FIXTURES, by_entity

SITES = (
    "site_id,name,country,timezone\n"
    "S1,Berlin,DE,Europe/Berlin\n"
    "S2,Lord Howe,AU,Australia/Lord_Howe\n"
    "S3,Apia,WS,Pacific/Apia\n"
)
MATERIALS = (
    "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
    "RM-1,Resin,raw,KG,true,false,active\n"
)
MOVEMENT_HEADER = "movement_id,moved_at,site_id,material_id,qty,movement_type,note"


def _movements() -> tuple[bytes, dict[int, str]]:
    """A movements file with every kind of trouble, spread so that small batches cut through it; and the
    reason fragment expected at each line (worked out by hand from the lines written)."""
    lines: list[str] = [MOVEMENT_HEADER]
    expected: dict[int, str] = {}

    def add(text: str, reason: str | None = None) -> None:
        start = sum(t.count("\n") + 1 for t in lines) + 1  # the physical line it starts on
        lines.append(text)
        if reason:
            expected[start] = reason

    for i in range(40):
        add(f"M{i},2026-01-05T08:{i:02d}:00,S1,RM-1,{i}.5,receipt,plain")
    add('M40,2026-01-05T09:00:00,S1,RM-1,1,receipt,"two\nlines"')  # lines 42-43
    lines.append("")  # line 44: blank
    add("M41,2026-01-05T09:01:00,S1,RM-1,1,receipt", "malformed CSV line: 6 fields")  # too few fields
    add("M42,2026-01-05T09:02:00,S9,RM-1,1,receipt,x", "dangling reference: sites.site_id 'S9'")
    add("M43,2026-01-05T09:03:00,S1,RM-1,abc,receipt,x", "'abc' is not a decimal number")
    add("M3,2026-01-05T10:00:00,S1,RM-1,7,issue,later version of M3")  # M3 again: this line wins
    add("M5,2026-01-05T10:00:00,S1,RM-1,x5,issue,bad later M5", "'x5' is not a decimal number")
    add("M44,2026-03-29T02:30:00,S1,RM-1,1,receipt,x", "does not exist in Europe/Berlin")
    add("M45,2026-10-25T02:30:00,S1,RM-1,1,receipt,x", "happens twice in Europe/Berlin")
    add("M46,2026-10-25T02:30:00+01:00,S1,RM-1,1,receipt,with offset")
    for i in range(47, 80):
        add(f"M{i},2026-02-0{1 + i % 9}T11:00:00,S2,RM-1,{i},issue,plain")
    add('M80,2026-02-01T11:00:00,S1,RM-1,1,receipt,"quote ""inside"", and comma"')
    return ("\n".join(lines) + "\n").encode(), expected


def _snapshot(con: duckdb.DuckDBPyConnection, result: dict) -> dict:
    assert result["outcome"] == "succeeded", result["error"]
    raw = con.execute(
        "SELECT * EXCLUDE (_run_id, _loaded_at) FROM raw.inventory_movements ORDER BY movement_id"
    ).fetchall()
    rejects = con.execute(
        'SELECT line, "column", reason, raw, raw_line FROM meta.rejects '
        "WHERE entity = 'inventory_movements' ORDER BY line, \"column\""
    ).fetchall()
    files = con.execute(
        "SELECT sha256, bytes, rows_read FROM meta.ingest_files WHERE entity = 'inventory_movements'"
    ).fetchall()
    return {"raw": raw, "rejects": rejects, "files": files, "stats": by_entity(result)["inventory_movements"]}


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "sites.csv").write_text(SITES)
    (folder / "materials.csv").write_text(MATERIALS)
    (folder / "inventory_movements.csv").write_bytes(_movements()[0])
    return folder


def test_a_file_read_in_batches_loads_and_rejects_as_the_whole_file(drop, tmp_path):
    data, expected = _movements()
    whole_con, batch_con = duckdb.connect(), duckdb.connect()
    whole = _snapshot(whole_con, ingest_folder(whole_con, drop, Settings(data_dir=tmp_path / "a")))
    batch_settings = Settings(data_dir=tmp_path / "b", ingest_batch_bytes=300)
    batched = _snapshot(batch_con, ingest_folder(batch_con, drop, batch_settings))
    assert len(data) > 10 * 300  # the file really is many batches
    assert batched == whole
    # and both are right, by the lines written above
    got = {line: reason for line, _, reason, _, _ in batched["rejects"]}
    assert set(got) == set(expected)
    for line, fragment in expected.items():
        assert fragment in got[line], (line, got[line])
    stats = batched["stats"]
    # 83 records (M0..M80 + M3 and M5 again); M41 is malformed; M3 and M5 appear twice, their first line
    # is superseded (M5's later line is bad, so neither M5 line loads)
    assert (stats["rows_read"], stats["rows_rejected"], stats["rows_superseded"]) == (83, 6, 2)
    assert stats["rows_loaded"] == 83 - 6 - 2
    rows = {r[0]: r for r in batched["raw"]}
    assert "M5" not in rows and rows["M3"][-2] == 48  # _source_line of the later M3
    assert rows["M40"][-2] == 42 and rows["M80"][-2] == 86
    # the refused records' bytes as delivered
    raw_line = {line: b for line, _, _, _, b in batched["rejects"]}
    assert raw_line[45] == b"M41,2026-01-05T09:01:00,S1,RM-1,1,receipt"
    assert batched["files"][0][1] == len(data)
    # the re-delivery of the same large file changes nothing
    again = ingest_folder(batch_con, drop, batch_settings)
    assert by_entity(again)["inventory_movements"]["rows_loaded"] == 0


def test_batches_cut_only_at_record_ends(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b'\xef\xbb\xbfa,b\r\n1,"x\r\ny"\r\n2,"q ""\n"" z"\r\n3,w\r\n4,"last\nno newline"')
    chunks = []
    for chunk in CsvBatches(path, 5, tmp_path / "work"):
        chunks.append((chunk.path.read_bytes(), chunk.line_offset))
    header = b"\xef\xbb\xbfa,b\r\n"
    assert chunks == [
        (header + b'1,"x\r\ny"\r\n', 0),
        (header + b'2,"q ""\n"" z"\r\n', 2),
        (header + b"3,w\r\n", 4),
        (header + b'4,"last\nno newline"', 5),
    ]
    assert not (tmp_path / "work").exists()


def _zone_verdict(local: dt.datetime, zone: str) -> str | None:
    """Skipped / twice for a local wall time, by zoneinfo (independent of DuckDB's ICU)."""
    tz = zoneinfo.ZoneInfo(zone)
    early, late = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    back = early.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    return "skip" if back != local else "twice"


@pytest.mark.parametrize("small", [0, 5_000], ids=["near-offset-changes-only", "every-value"])
def test_every_skipped_or_doubled_local_time_is_found(tmp_path, monkeypatch, small):
    """Every 30 minutes through the offset changes of Berlin (1 h), Lord Howe (30 min) and Apia (2011: a day
    skipped), plus quiet days: the rejects are exactly the times zoneinfo calls skipped or doubled, whether
    only the values near an offset change get the exact test (a large delivery) or all (a small one)."""
    from ingest import load

    monkeypatch.setattr(load, "SMALL_DELIVERY", small)
    spans = {
        "S1": ("Europe/Berlin", [dt.datetime(2026, 3, 28, 20), dt.datetime(2026, 10, 24, 20)]),
        "S2": ("Australia/Lord_Howe", [dt.datetime(2026, 4, 4, 20), dt.datetime(2026, 10, 3, 20)]),
        "S3": ("Pacific/Apia", [dt.datetime(2011, 12, 29, 12), dt.datetime(2011, 4, 1, 20)]),
    }
    lines = [MOVEMENT_HEADER]
    want: dict[int, str] = {}
    for site, (zone, starts) in spans.items():
        for start in starts:
            for k in range(0, 30 * 2 * 24 * 2, 30):
                local = start + dt.timedelta(minutes=k)
                lines.append(f"M{len(lines)},{local:%Y-%m-%dT%H:%M:%S},{site},RM-1,1,receipt,x")
                verdict = _zone_verdict(local, zone)
                if verdict:
                    want[len(lines)] = verdict
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text(SITES)
    (drop / "materials.csv").write_text(MATERIALS)
    (drop / "inventory_movements.csv").write_text("\n".join(lines) + "\n")
    con = duckdb.connect()
    result = ingest_folder(con, drop, Settings(data_dir=tmp_path / "data"))
    assert result["outcome"] == "succeeded", result["error"]
    got = dict(
        con.execute(
            "SELECT line, CASE WHEN reason LIKE '%does not exist%' THEN 'skip' ELSE 'twice' END "
            "FROM meta.rejects WHERE entity = 'inventory_movements'"
        ).fetchall()
    )
    assert {"skip", "twice"} <= set(want.values()) and len(want) > 10
    assert got == want


def test_a_changed_file_checks_only_the_payloads_not_stored_yet(tmp_path, monkeypatch):
    """The barcode check (the costliest) runs once per value the warehouse does not hold yet: a scans file
    that grew is not parsed again from its first line; a bad new payload is still refused."""
    from ingest import validate

    seen: list[str] = []
    real = validate.PYTHON_CHECKS["udi_payload"]

    def observed(value: str) -> str | None:
        seen.append(value)
        return real(value)

    monkeypatch.setitem(validate.PYTHON_CHECKS, "udi_payload", observed)
    drop = tmp_path / "drop"
    shutil.copytree(FIXTURES / "valid", drop)
    con = duckdb.connect()
    settings = Settings(data_dir=tmp_path / "data")
    assert ingest_folder(con, drop, settings)["outcome"] == "succeeded"
    assert sorted(seen) == ["(01)09506000134352(17)261231(10)L2", "+A123BJC5D6E71G"]
    seen.clear()
    with open(drop / "scans.csv", "a") as f:
        f.write("SC3,2024-03-01T10:07:00,S1,DEV-1,DOCK,receive,(01)09506000134352(10)L9\n")
        f.write("SC4,2024-03-01T10:08:00,S1,DEV-1,DOCK,receive,(01)09506000134353(10)L9\n")
    result = ingest_folder(con, drop, settings)
    assert sorted(seen) == ["(01)09506000134352(10)L9", "(01)09506000134353(10)L9"]
    stats = by_entity(result)["scans"]
    assert (stats["rows_loaded"], stats["rows_unchanged"], stats["rows_rejected"]) == (1, 2, 1)


def test_a_large_file_refused_for_its_header_counts_every_record(tmp_path):
    """A missing required column refuses the file whole: one reject at line 1, every record counted."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text(SITES)
    (drop / "materials.csv").write_text(MATERIALS)
    rows = [f"M{i},2026-01-05T08:00:00,S1,RM-1,{i},receipt" for i in range(60)]
    # no qty column: required by the contract
    (drop / "inventory_movements.csv").write_text(
        "movement_id,moved_at,site_id,material_id,movement_type\n"
        + "\n".join(r.rsplit(",", 2)[0] + ",receipt" for r in rows)
        + "\nM60,too,few\n"
    )
    con = duckdb.connect()
    result = ingest_folder(con, drop, Settings(data_dir=tmp_path / "data", ingest_batch_bytes=200))
    stats = by_entity(result)["inventory_movements"]
    assert (stats["rows_read"], stats["rows_rejected"], stats["rows_loaded"]) == (61, 61, 0)
    assert "column qty required by the contract is missing" in stats["file_error"]
    rejects = con.execute(
        "SELECT line, \"column\", reason FROM meta.rejects WHERE entity = 'inventory_movements' ORDER BY line"
    ).fetchall()
    assert [(line, column) for line, column, _ in rejects] == [(1, "qty"), (62, None)]
    assert con.execute("SELECT count(*) FROM raw.inventory_movements").fetchall() == [(0,)]


def test_a_killed_runs_chunks_are_what_crash_hygiene_removes(tmp_path):
    from ingest.load import chunk_dir
    from medtower.warehouse import SPILL_FILE

    folder = chunk_dir(Settings(data_dir=tmp_path / "data"))
    match = SPILL_FILE.match(folder.name)
    assert match is not None and match["pid"] == str(os.getpid())
    assert folder.parent == Settings(data_dir=tmp_path / "data").duckdb_temp_dir
