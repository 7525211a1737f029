"""The incremental facts (macros/incremental_facts.sql) build only what changed and still give what a full
rebuild gives.

A hand-made plant (tests/small_plant.py) is delivered through the real ingest as CSV files and built by dbt
for real. Then: the same rows delivered again (in another order, so ingest reads and compares them) and a
second build change no mart row; a delta (new movements, a changed work order, a lot moved to another site,
a late inspection dated months back, a scan, a movement and a sales order line deleted as a connector's key
reconciliation deletes them) built incrementally gives every mart exactly as `--full-refresh` of the same
data does, also for a mart built before it was incremental (without its key and watermark columns). What
the delta must change is written out by hand below, so the comparison is never vacuous.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.load import ingest_folder
from medtower.settings import Settings
from tests.conftest import DBT_PROJECT, insert_rows, run_dbt
from tests.small_plant import AS_OF, ROWS

pytestmark = pytest.mark.slow

INCREMENTAL = ["fct_inventory_movements", "fct_inspections", "fct_lot_shipments", "fct_lot_genealogy_edges"]
VARS = ["--vars", f"{{as_of: '{AS_OF.isoformat()}'}}"]

# The delta, as a source would deliver it.
_R1 = {"site_id": "S1", "material_id": "RM1", "lot_id": "R1"}
NEW_MOVEMENTS = [
    {
        **_R1,
        "movement_id": "MV90",
        "moved_at": dt.datetime(2026, 6, 29, 9),
        "qty": 7,
        "movement_type": "adjustment",
    },
    {
        **_R1,
        "movement_id": "MV91",
        "moved_at": dt.datetime(2026, 6, 29, 10),
        "qty": -3,
        "movement_type": "scrap",
    },
]
LATE_INSPECTION = {
    "inspection_id": "I90",
    "lot_id": "R2",
    "material_id": "RM1",
    "inspection_type": "incoming",
    "started_at": dt.datetime(2026, 3, 9, 8, 0),
    "completed_at": dt.datetime(2026, 3, 10, 8, 0),
    "sample_size": 5,
    "defects_found": 0,
    "result": "pass",
}
DELETED_MOVEMENT = "MV02"
DELETED_SCAN = "SC2"
SCANS = [
    {"scan_id": "SC1", "scanned_at": dt.datetime(2026, 6, 20, 9, 0), "site_id": "S1", "event": "ship",
     "payload": "(01)09506000134352(10)F1"},
    {"scan_id": "SC2", "scanned_at": dt.datetime(2026, 6, 21, 9, 0), "site_id": "S1", "event": "pick",
     "payload": "(01)09506000134352(10)F1"},
]  # fmt: skip


def _row(entity: str, key: str, value: str) -> dict[str, Any]:
    return next(r for r in ROWS[entity] if r[key] == value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _write_drop(drop: Path, rows: dict[str, list[dict[str, Any]]], *, reverse: bool = False) -> Path:
    drop.mkdir(parents=True, exist_ok=True)
    for entity, entity_rows in rows.items():
        columns = sorted({c for r in entity_rows for c in r})
        with (drop / f"{entity}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for r in reversed(entity_rows) if reverse else entity_rows:
                writer.writerow([_cell(r.get(c)) for c in columns])
    return drop


def _ingest(db: Path, drop: Path, settings: Settings) -> dict[str, Any]:
    with duckdb.connect(str(db)) as con:
        result = ingest_folder(con, drop, settings)
    assert result["outcome"] == "succeeded", result.get("error")
    return result


def _dbt(db: Path, target: Path, *args: str) -> None:
    proc = run_dbt(db, target, "run", *VARS, *args)
    assert proc.returncode == 0, f"dbt run {args} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


def _norm(value: object) -> object:
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    return value


def _columns(con: duckdb.DuckDBPyConnection, mart: str) -> list[str]:
    """A mart's columns by name: a mart whose columns were synced has its new ones last."""
    return sorted(c[0] for c in con.execute(f"select * from marts.{mart} limit 0").description)


def _marts(db: Path) -> dict[str, list[tuple]]:
    """Every mart's full contents (columns in name order), rows sorted."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        contents = {}
        for name in names:
            rows = con.execute(f"select {', '.join(_columns(con, name))} from marts.{name}").fetchall()
            contents[name] = sorted((tuple(_norm(v) for v in row) for row in rows), key=repr)
        return contents


def _went_incremental(target: Path, model: str) -> bool:
    """dbt's executed SQL for an incremental run writes a temporary batch, then deletes and inserts by key."""
    [sql] = list((target / "run").rglob(f"{model}.sql"))
    text = sql.read_text()
    return "__dbt_tmp" in text and "insert into" in text


def _apply_delta(db: Path, drop: Path, settings: Settings) -> None:
    wo1 = {**_row("work_orders", "wo_id", "WO1"), "output_lot_id": None}
    r1 = {**_row("lots", "lot_id", "R1"), "site_id": "S2"}
    _ingest(
        db,
        _write_drop(
            drop,
            {
                "inventory_movements": NEW_MOVEMENTS,
                "work_orders": [wo1],
                "lots": [r1],
                "inspections": [LATE_INSPECTION],
            },
        ),
        settings,
    )
    # Hard deletes, as a connector's key reconciliation makes them.
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.scans where scan_id = ?", [DELETED_SCAN])
        con.execute("delete from raw.inventory_movements where movement_id = ?", [DELETED_MOVEMENT])
        con.execute("delete from raw.sales_orders where so_id = 'SO1' and so_line = 1")


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("incremental")
    settings = Settings(data_dir=root / "data")
    db = root / "warehouse.duckdb"
    first = _ingest(db, _write_drop(root / "drop-1", ROWS), settings)
    assert all(e["rows_rejected"] == 0 for e in first["entities"]), first["entities"]
    with duckdb.connect(str(db)) as con:
        insert_rows(con, "scans", SCANS)
    _dbt(db, root / "target")
    built = _marts(db)

    again = _ingest(db, _write_drop(root / "drop-2", ROWS, reverse=True), settings)
    _dbt(db, root / "target")
    rebuilt = _marts(db)
    went_incremental = {m: _went_incremental(root / "target", m) for m in INCREMENTAL}

    _apply_delta(db, root / "drop-3", settings)
    with duckdb.connect(str(db)) as con:  # as built before it was incremental: no key, no watermark column
        con.execute("alter table marts.fct_lot_shipments drop column shipment_lot_key")
        con.execute("alter table marts.fct_lot_shipments drop column source_loaded_at")
    full = root / "full.duckdb"
    shutil.copyfile(db, full)
    _dbt(db, root / "target")
    _dbt(full, root / "target-full", "--full-refresh")
    return {
        "built": built,
        "again": again,
        "rebuilt": rebuilt,
        "went_incremental": went_incremental,
        "incremental": _marts(db),
        "full": _marts(full),
        "db": db,
    }


def test_an_unchanged_redelivery_changes_no_mart_row(plant: dict[str, Any]) -> None:
    loaded = {e["entity"]: e["rows_loaded"] for e in plant["again"]["entities"]}
    assert loaded and not any(loaded.values()), f"the re-delivery loaded rows: {loaded}"
    assert plant["went_incremental"] == dict.fromkeys(INCREMENTAL, True)
    assert len(plant["built"]) >= 25
    changed = [m for m in plant["built"] if plant["built"][m] != plant["rebuilt"].get(m)]
    assert not changed, f"marts changed by an unchanged re-delivery: {changed}"


def test_the_delta_reaches_the_incremental_facts(plant: dict[str, Any]) -> None:
    """What the delta must do, worked out from the delta itself."""
    marts = plant["incremental"]
    before = plant["built"]
    assert len(marts["fct_inventory_movements"]) == len(before["fct_inventory_movements"]) + 1
    with duckdb.connect(str(plant["db"]), read_only=True) as con:
        movement_ids = {
            r[0] for r in con.execute("select movement_id from marts.fct_inventory_movements").fetchall()
        }
        inspections = dict(
            con.execute(
                "select inspection_id, site_id from marts.fct_inspections where lot_id = 'R1'"
            ).fetchall()
        )
        late = con.execute(
            "select completed_date, site_id from marts.fct_inspections where inspection_id = 'I90'"
        ).fetchall()
        edges = con.execute("select distinct wo_id from marts.fct_lot_genealogy_edges order by 1").fetchall()
        shipment_sites = con.execute(
            "select site_id from marts.fct_lot_shipments where so_id = 'SO1'"
        ).fetchall()
    delivered = {r["movement_id"] for r in ROWS["inventory_movements"]}
    assert movement_ids == (delivered - {DELETED_MOVEMENT}) | {r["movement_id"] for r in NEW_MOVEMENTS}
    r1_inspections = {r["inspection_id"] for r in ROWS["inspections"] if r["lot_id"] == "R1"}
    assert inspections == dict.fromkeys(r1_inspections, "S2")  # the lot moved: its inspections follow
    assert late == [(dt.date(2026, 3, 10), _row("lots", "lot_id", "R2")["site_id"])]
    assert edges == [("WO2",)]  # WO1 names no output lot any more
    assert shipment_sites == [(None,)] * len([s for s in ROWS["shipments"] if s["so_id"] == "SO1"])


def test_a_delta_built_incrementally_gives_the_marts_of_a_full_rebuild(plant: dict[str, Any]) -> None:
    incremental, full = plant["incremental"], plant["full"]
    assert set(incremental) == set(full)
    differ = {
        m: (
            sorted(set(incremental[m]) - set(full[m]), key=repr)[:2],
            sorted(set(full[m]) - set(incremental[m]), key=repr)[:2],
        )
        for m in full
        if incremental[m] != full[m]
    }
    assert not differ, f"incremental vs full rebuild (only incremental, only full): {differ}"


# --- PostgreSQL: the same incremental build on a real server ------------------------------------------


def _pg_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("MEDTOWER_PG_")}


@pytest.fixture(scope="module")
def pg_database():
    """A database of its own on the server of .ci/postgres.sh: the portability test's stay untouched."""
    psycopg2 = pytest.importorskip("psycopg2")
    env = _pg_settings()
    connect = {
        "host": env.get("MEDTOWER_PG_HOST", "127.0.0.1"),
        "port": int(env.get("MEDTOWER_PG_PORT", "5432")),
        "user": env.get("MEDTOWER_PG_USER", "medtower"),
        "password": env.get("MEDTOWER_PG_PASSWORD", ""),
        "connect_timeout": 5,
    }
    try:
        admin = psycopg2.connect(dbname=env.get("MEDTOWER_PG_DATABASE", "medtower"), **connect)
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide PostgreSQL (.ci/postgres.sh): {exc}")
        pytest.skip(f"no PostgreSQL on MEDTOWER_PG_*: {exc}")
    admin.autocommit = True
    name = "medtower_incremental"
    admin.cursor().execute(f"drop database if exists {name}")
    admin.cursor().execute(f"create database {name}")
    conn = psycopg2.connect(dbname=name, **connect)
    conn.autocommit = True
    yield name, conn
    conn.close()
    admin.cursor().execute(f"drop database if exists {name}")
    admin.close()


def _copy_raw_rows(db: Path, pg, *, create: bool) -> None:
    """raw.* of the DuckDB warehouse into PostgreSQL: tables created the first time, then rows replaced."""
    from medtower.pg_sync import pg_type as _pg_type

    cur = pg.cursor()
    with duckdb.connect(str(db), read_only=True) as duck:
        tables = [
            r[0]
            for r in duck.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        if create:
            cur.execute("create schema raw")
        for table in tables:
            cols = duck.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            if create:
                cur.execute(
                    f"create table raw.{table} (" + ", ".join(f'"{c}" {_pg_type(t)}' for c, t in cols) + ")"
                )
            else:
                cur.execute(f"delete from raw.{table}")
            rows = duck.execute(f"select * from raw.{table}").fetchall()
            if rows:
                placeholders = ", ".join(["%s"] * len(cols))
                cur.executemany(f"insert into raw.{table} values ({placeholders})", rows)


def test_the_incremental_facts_build_incrementally_on_postgres(
    tmp_path: Path, pg_database: tuple[str, Any]
) -> None:
    """A first and an incremental build of the delta on PostgreSQL give what DuckDB's full rebuild gives."""
    name, pg = pg_database
    settings = Settings(data_dir=tmp_path / "data")
    db = tmp_path / "warehouse.duckdb"
    _ingest(db, _write_drop(tmp_path / "drop-1", ROWS), settings)
    with duckdb.connect(str(db)) as con:
        insert_rows(con, "scans", SCANS)
    env = {**os.environ, "MEDTOWER_DBT_TARGET": "postgres", "MEDTOWER_PG_DATABASE": name}
    dbt = str(Path(sys.executable).with_name("dbt"))
    select = ["--select", *(f"+{m}" for m in INCREMENTAL)]

    def build(target: str, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [dbt, "run", *select, *VARS, *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir",
             str(DBT_PROJECT), "--target-path", str(tmp_path / target), "--log-path", str(tmp_path / "logs")],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"dbt on PostgreSQL:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        return proc

    _copy_raw_rows(db, pg, create=True)
    build("target-pg")
    _apply_delta(db, tmp_path / "drop-3", settings)
    _copy_raw_rows(db, pg, create=False)
    build("target-pg")
    assert all(_went_incremental(tmp_path / "target-pg", m) for m in INCREMENTAL)
    # DuckDB, the same data rebuilt in full, is the reference.
    _dbt(db, tmp_path / "target-duck", *select, "--full-refresh")
    expected = _marts(db)
    cur = pg.cursor()
    for mart in INCREMENTAL:
        with duckdb.connect(str(db), read_only=True) as duck:
            columns = _columns(duck, mart)
        cur.execute(f"select {', '.join(columns)} from marts.{mart}")
        got = sorted((tuple(_norm(v) for v in row) for row in cur.fetchall()), key=repr)
        assert got == expected[mart], mart
