"""Shared fixtures.

``small_warehouse``: a hand-made plant (two sites, a few lots, work orders, inspections, NCRs, CAPAs,
orders) written into raw tables of a temporary DuckDB file, then ``dbt build`` for real (once per
test session). Tests assert KPI values and traces worked out by hand in tests/small_plant.py.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) each folder of tests runs in one worker,
    so a folder's session fixtures (the dashboards' demo warehouse, the demo feeds) are built once."""
    for item in items:
        parts = item.path.relative_to(REPO / "tests").parts
        item.add_marker(pytest.mark.xdist_group(parts[0] if len(parts) > 1 else "tests"))


@dataclass(frozen=True)
class BuiltWarehouse:
    path: Path
    target_dir: Path
    build_log: str


def run_dbt(db_path: Path, target_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run dbt on the project into ``db_path``, keeping target/ and logs/ out of the source tree."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {
        **os.environ,
        "MEDTOWER_DBT_DUCKDB_PATH": str(db_path),
        "MEDTOWER_DBT_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [
        str(dbt),
        *args,
        "--profiles-dir",
        str(DBT_PROJECT),
        "--project-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
    ]
    return subprocess.run(
        cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows of a hand-made plant into ``raw.<table>``, as if one ingest run had loaded them."""
    columns = sorted({c for row in rows for c in row})
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into raw.{table} ({', '.join(columns)}, _loaded_at, _run_id) values ({placeholders}, ?, ?)",
        [[row.get(c) for c in columns] + [dt.datetime(2026, 6, 30, 23, 0), "test"] for row in rows],
    )


def build_plant(
    root: Path, rows: dict[str, list[dict[str, Any]]], as_of: dt.date, *select: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A hand-made plant written into the raw schema of ``root/warehouse.duckdb`` and built by dbt for real
    (only ``select`` and what it needs, when given); the test fails with dbt's output if the build does."""
    from ingest.contract import load_contract
    from ingest.load import ensure_schema

    db_path = root / "warehouse.duckdb"
    with duckdb.connect(str(db_path)) as con:
        ensure_schema(con, load_contract())
        for table, table_rows in rows.items():
            insert_rows(con, table, table_rows)
    selection = ["--select", *select, "--indirect-selection", "cautious"] if select else []
    proc = run_dbt(
        db_path, root / "target", "build", *selection, "--vars", f"{{as_of: '{as_of.isoformat()}'}}"
    )
    if proc.returncode != 0:
        pytest.fail(f"dbt build of the plant in {root} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}")
    return db_path, proc


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    from tests.small_plant import AS_OF, ROWS

    root = tmp_path_factory.mktemp("small_warehouse")
    db_path, proc = build_plant(root, ROWS, AS_OF)
    return BuiltWarehouse(db_path, root / "target", proc.stdout)


@pytest.fixture()
def small_con(small_warehouse: BuiltWarehouse):
    con = duckdb.connect(str(small_warehouse.path), read_only=True)
    yield con
    con.close()
