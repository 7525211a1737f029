"""Sources as data: sources.yaml, watermarks, load modes, deletions and resume, through the snapshot kind.

The snapshot connector replays JSON files; the live kinds have their own tests against real counterparts.
Expected rows are written out by hand from the JSON each test writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.sources import SourceConfigError, load_sources
from ingest.sources.runner import pull_source, source_status
from medtower.scheduler import build_scheduler
from medtower.settings import Settings

SUPPLIERS = [
    {"id": "S1", "nm": "Acme Polymers", "state": "approved", "upd": "2026-11-01T08:00:00", "del": False},
    {"id": "S2", "nm": "Borealis Films", "state": "conditional", "upd": "2026-11-02T08:00:00", "del": False},
    {"id": "S3", "nm": "Cobalt Steel", "state": "pending", "upd": "2026-11-03T08:00:00", "del": False},
]
MATERIALS = [
    {
        "material_id": "RM-1",
        "description": "Polymer resin",
        "material_type": "raw",
        "uom": "KG",
        "lot_controlled": True,
        "serial_controlled": False,
        "status": "active",
        "seq": 1,
    }
]


def _write(folder: Path, suppliers: list[dict], materials: list[dict] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "suppliers.json").write_text(json.dumps(suppliers), encoding="utf-8")
    (folder / "materials.jsonl").write_text(
        "\n".join(json.dumps(m) for m in (materials if materials is not None else MATERIALS)),
        encoding="utf-8",
    )


def _sources(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(body, encoding="utf-8")
    return p


YAML = """
sources:
  qms-export:
    kind: snapshot
    every_minutes: 15
    path: snap
    entities:
      suppliers:
        columns: {supplier_id: id, name: nm, approval_status: state}
        cursor: upd
        deleted_flag: del
      materials:
        cursor: seq
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, duckdb.DuckDBPyConnection, Settings]:
    _write(tmp_path / "snap", SUPPLIERS)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    return _sources(tmp_path, YAML), con, Settings(data_dir=tmp_path / "data")


def test_pull_maps_quarantines_and_a_second_pull_loads_nothing(setup) -> None:
    path, con, settings = setup
    (source,) = load_sources(path)
    first = pull_source(con, source, settings)
    assert first["outcome"] == "succeeded", first["error"]
    # S3's approval status "pending" is not in the contract's enum: quarantined, the others loaded
    assert _rows(con, "SELECT supplier_id, name, approval_status FROM raw.suppliers ORDER BY 1") == [
        ("S1", "Acme Polymers", "approved"),
        ("S2", "Borealis Films", "conditional"),
    ]
    (reject,) = _rows(con, 'SELECT entity, file, "column", reason, raw FROM meta.rejects')
    assert reject[:3] == ("suppliers", "qms-export:suppliers", "approval_status")
    assert "'pending' is not one of" in reject[3]
    assert json.loads(reject[4])["id"] == "S3"
    assert _rows(con, "SELECT material_id, uom, lot_controlled FROM raw.materials") == [("RM-1", "KG", True)]
    assert first["rows_loaded"] == 3 and first["rows_rejected"] == 1
    assert source_status(con, "qms-export")["watermarks"] == {
        "suppliers": "2026-11-03T08:00:00",
        "materials": "1",
    }

    second = pull_source(con, source, settings)
    assert second["outcome"] == "succeeded"
    assert second["rows_loaded"] == 0  # only the boundary records are re-read, and they are unchanged


def test_newer_version_soft_delete_and_cursor(setup, tmp_path: Path) -> None:
    path, con, settings = setup
    (source,) = load_sources(path)
    pull_source(con, source, settings)
    changed = [
        *SUPPLIERS,
        {
            "id": "S1",
            "nm": "Acme Polymers GmbH",
            "state": "approved",
            "upd": "2026-11-04T08:00:00",
            "del": False,
        },
        {
            "id": "S2",
            "nm": "Borealis Films",
            "state": "conditional",
            "upd": "2026-11-05T08:00:00",
            "del": True,
        },
        # older than the watermark: not pulled again although it differs
        {"id": "S9", "nm": "Late Entry", "state": "approved", "upd": "2026-10-01T00:00:00", "del": False},
    ]
    _write(tmp_path / "snap", changed)
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert _rows(con, "SELECT supplier_id, name FROM raw.suppliers ORDER BY 1") == [
        ("S1", "Acme Polymers GmbH")
    ]
    assert result["rows_removed"] == 1
    assert source_status(con, "qms-export")["watermarks"]["suppliers"] == "2026-11-05T08:00:00"


def test_a_failed_pull_keeps_what_it_committed_and_resumes(setup, tmp_path: Path) -> None:
    path, con, settings = setup
    (source,) = load_sources(path)
    (tmp_path / "snap" / "materials.jsonl").write_text("{not json", encoding="utf-8")
    failed = pull_source(con, source, settings)
    assert failed["outcome"] == "failed"
    assert "materials.jsonl: not valid JSON at line 1" in failed["error"]
    # suppliers came first and were committed with their watermark
    assert _rows(con, "SELECT count(*) FROM raw.suppliers") == [(2,)]
    assert source_status(con, "qms-export")["watermarks"] == {"suppliers": "2026-11-03T08:00:00"}
    assert source_status(con, "qms-export")["last_pull"]["outcome"] == "failed"

    _write(tmp_path / "snap", SUPPLIERS)
    resumed = pull_source(con, source, settings)
    assert resumed["outcome"] == "succeeded"
    assert resumed["rows_loaded"] == 1  # the material; the suppliers at the boundary are unchanged
    assert _rows(con, "SELECT material_id FROM raw.materials") == [("RM-1",)]


def test_patch_mode_updates_delivered_columns_only(tmp_path: Path) -> None:
    _write(tmp_path / "snap", SUPPLIERS[:2])
    (tmp_path / "patch").mkdir()
    (tmp_path / "patch" / "suppliers.json").write_text(
        json.dumps(
            [
                {"supplier_id": "S1", "contact_email": "orders@acme.example"},
                {"supplier_id": "S7", "contact_email": "who@nowhere.example"},
            ]
        ),
        encoding="utf-8",
    )
    path = _sources(
        tmp_path,
        YAML
        + """
  crm:
    kind: snapshot
    path: patch
    entities:
      suppliers: {mode: patch}
""",
    )
    qms, crm = load_sources(path)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    pull_source(con, qms, settings)
    result = pull_source(con, crm, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert _rows(
        con, "SELECT supplier_id, name, approval_status, contact_email FROM raw.suppliers ORDER BY 1"
    ) == [
        ("S1", "Acme Polymers", "approved", "orders@acme.example"),
        ("S2", "Borealis Films", "conditional", None),
    ]
    reasons = [r[0] for r in _rows(con, "SELECT reason FROM meta.rejects WHERE file = 'crm:suppliers'")]
    assert len(reasons) == 1 and reasons[0].startswith("no stored suppliers row with this key")


def test_replace_mode_drops_rows_the_source_no_longer_holds(tmp_path: Path) -> None:
    path = _sources(
        tmp_path,
        """
sources:
  erp-export:
    kind: snapshot
    path: snap
    entities:
      suppliers:
        columns: {supplier_id: id, name: nm, approval_status: state}
        mode: replace
""",
    )
    (source,) = load_sources(path)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    _write(tmp_path / "snap", SUPPLIERS[:2])
    pull_source(con, source, settings)
    _write(tmp_path / "snap", SUPPLIERS[1:2])
    result = pull_source(con, source, settings)
    assert result["rows_removed"] == 1
    assert _rows(con, "SELECT supplier_id FROM raw.suppliers") == [("S2",)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sources:\n  erp:\n    kind: oracle\n", "source erp: kind 'oracle' is not one of sql, rest"),
        (
            "sources:\n  erp:\n    kind: sql\n    connection: {password: hunter2}\n",
            "connection.password is a secret; put it in an environment variable",
        ),
        (
            "sources:\n  erp:\n    kind: sql\n    connection: {url: 'postgresql://u:pw@127.0.0.1/erp'}\n",
            "connection.url carries a password",
        ),
        (
            "sources:\n  erp:\n    kind: sql\n    connection: {url_env: NO_SUCH_VARIABLE_X}\n",
            "names the environment variable NO_SUCH_VARIABLE_X, which is not set",
        ),
        (
            "sources:\n  erp:\n    kind: sql\n    entities: {purchase_order: {}}\n",
            "source erp, entity purchase_order: not an entity of the contract",
        ),
        (
            "sources:\n  erp:\n    kind: sql\n    entities: {suppliers: {columns: {supplier: id}}}\n",
            "columns supplier are not columns of suppliers",
        ),
        (
            "sources:\n  erp:\n    kind: sql\n    entities: {suppliers: {mode: upsert}}\n",
            "mode 'upsert' is not one of merge, replace, append, patch",
        ),
    ],
)
def test_a_bad_sources_file_says_what_and_where(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(SourceConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sources(_sources(tmp_path, body), env={})


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = _sources(
        tmp_path, "sources:\n  erp:\n    kind: sql\n    connection: {url_env: ERP_URL, schema: erp}\n"
    )
    (source,) = load_sources(path, env={"ERP_URL": "postgresql://u:pw@127.0.0.1/erp"})
    assert source.connection == {"url": "postgresql://u:pw@127.0.0.1/erp", "schema": "erp"}


def _medtower(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDTOWER_SOURCES": str(tmp_path / "sources.yaml")}
    env["MEDTOWER_DATA_DIR"] = str(tmp_path / "data")
    exe = Path(sys.executable).with_name("medtower")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=120)


def test_sources_commands_list_test_and_pull(setup, tmp_path: Path) -> None:
    listed = _medtower(tmp_path, "sources", "list")
    assert listed.returncode == 0, listed.stderr
    assert "qms-export" in listed.stdout and "never pulled" in listed.stdout

    tested = _medtower(tmp_path, "sources", "test", "qms-export")
    assert tested.returncode == 0 and "suppliers.json, materials.jsonl" in tested.stdout

    pulled = _medtower(tmp_path, "sources", "pull", "qms-export")
    assert pulled.returncode == 0, pulled.stderr
    assert "4 read, 3 loaded, 1 quarantined" in pulled.stdout  # 3 suppliers + 1 material, S3 quarantined

    again = _medtower(tmp_path, "sources", "pull", "qms-export", "--json")
    record = json.loads(again.stdout)
    (step,) = record["steps"]
    assert step["result"]["sources"][0]["rows_loaded"] == 0

    state = json.loads(_medtower(tmp_path, "sources", "list", "--json").stdout)
    assert state[0]["watermarks"] == {"suppliers": "2026-11-03T08:00:00", "materials": "1"}
    assert state[0]["last_pull"]["outcome"] == "succeeded"

    unknown = _medtower(tmp_path, "sources", "pull", "erp")
    assert unknown.returncode != 0 and "no source erp in" in unknown.stderr

    shutil.rmtree(tmp_path / "snap")
    broken = _medtower(tmp_path, "sources", "test", "qms-export")
    assert broken.returncode == 1 and "does not exist" in broken.stderr


def test_each_source_is_scheduled_on_its_own_interval(setup, tmp_path: Path) -> None:
    path, _, _ = setup
    s = build_scheduler(Settings(data_dir=tmp_path / "data", sources=path))
    jobs = {j.id: j for j in s.get_jobs()}
    # no drop folder: no drop-folder job (prune: superseded warehouse versions, medtower.warehouse)
    assert set(jobs) == {"source:qms-export", "kpi_review", "watch", "prune"}
    assert jobs["source:qms-export"].trigger.interval == dt.timedelta(minutes=15)
    assert jobs["source:qms-export"].args[1] == ["qms-export"]


def test_a_bad_record_re_read_at_the_boundary_is_quarantined_once(setup, tmp_path: Path) -> None:
    path, con, settings = setup
    (source,) = load_sources(path)
    # S3 (quarantined) has the highest cursor: every pull re-reads it at the boundary, alone in its batch
    for _ in range(3):
        pull_source(con, source, settings)
    rows = _rows(con, "SELECT count(*), max(last_run_id) = min(first_run_id) FROM meta.rejects")
    assert rows == [(1, False)]
