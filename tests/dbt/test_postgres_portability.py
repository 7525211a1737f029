"""The same dbt project builds on PostgreSQL and gives the same marts as on DuckDB.

Raw tables loaded by the real ingest into DuckDB are copied to a PostgreSQL server on
127.0.0.1 (started by .ci/postgres.sh), then `dbt build --target postgres` runs for real.
Locally without a server the test skips; under CI it fails instead.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from medtower.pg_sync import copy_table, tables_of
from tests.pg import pg_admin

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AS_OF = dt.date(2026, 6, 30)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pg():
    conn = pg_admin()
    yield conn
    conn.close()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


def _copy_raw(duck: duckdb.DuckDBPyConnection, pg) -> None:
    """The work database's raw tables onto a clean server, as the pipeline's PostgreSQL mode copies them."""
    cur = pg.cursor()
    cur.execute(
        "drop schema if exists raw cascade; drop schema if exists staging cascade; "
        "drop schema if exists intermediate cascade; drop schema if exists marts cascade; "
        "create schema raw"
    )
    with tempfile.TemporaryDirectory() as spill:
        for table in tables_of(duck, "raw"):
            copy_table(duck, cur, "raw", table, Path(spill))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg):
    root = tmp_path_factory.mktemp("portability")
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(root / "data")}
    feed = root / "feed"
    _run(
        env,
        sys.executable,
        "-m",
        "medtower",
        "demo",
        "--out",
        str(feed),
        "--scale",
        "0.05",
        "--as-of",
        AS_OF.isoformat(),
    )
    _run(env, sys.executable, "-m", "medtower", "ingest", str(feed))
    warehouse = root / "data" / "work" / "warehouse.duckdb"  # raw: the writer's work database
    with duckdb.connect(str(warehouse), read_only=True) as duck:
        _copy_raw(duck, pg)
    # The DuckDB side: a private copy built by dbt for real.
    duck_copy = root / "duck.duckdb"
    duck_copy.write_bytes(warehouse.read_bytes())
    dbt = str(Path(sys.executable).with_name("dbt"))
    common = [
        "--project-dir",
        str(REPO / "dbt_project"),
        "--profiles-dir",
        str(REPO / "dbt_project"),
        "--vars",
        f'{{"as_of": "{AS_OF.isoformat()}"}}',
    ]
    _run(
        {**env, "MEDTOWER_DBT_TARGET": "duckdb", "MEDTOWER_DBT_DUCKDB_PATH": str(duck_copy)},
        dbt,
        "build",
        *common,
        "--target-path",
        str(root / "target-duck"),
    )
    _run(
        {**env, "MEDTOWER_DBT_TARGET": "postgres"},
        dbt,
        "build",
        *common,
        "--target-path",
        str(root / "target-pg"),
    )
    return duckdb.connect(str(duck_copy), read_only=True), pg


def _norm(value: object) -> object:
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    return value


def _rows(fetched: list[tuple]) -> list[tuple]:
    return sorted((tuple(_norm(v) for v in row) for row in fetched), key=repr)


def test_every_mart_has_the_same_rows_on_postgres(both) -> None:
    """Same columns, and the same rows as a multiset (numbers to 6 decimals), mart by mart."""
    duck, pg = both
    marts = [
        r[0]
        for r in duck.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
    ]
    assert len(marts) >= 25, f"only {len(marts)} marts built on DuckDB"
    cur = pg.cursor()
    problems = []
    for mart in marts:
        columns = [
            r[0]
            for r in duck.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [mart],
            ).fetchall()
        ]
        cur.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = %s order by ordinal_position",
            [mart],
        )
        pg_columns = [r[0] for r in cur.fetchall()]
        if pg_columns != columns:
            problems.append(f"marts.{mart}: columns {pg_columns} on PostgreSQL, {columns} on DuckDB")
            continue
        select = ", ".join(f'"{c}"' for c in columns)
        duck_rows = _rows(duck.execute(f"select {select} from marts.{mart}").fetchall())
        cur.execute(f"select {select} from marts.{mart}")
        pg_rows = _rows(cur.fetchall())
        if pg_rows != duck_rows:
            only_duck = sorted(set(duck_rows) - set(pg_rows), key=repr)[:2]
            only_pg = sorted(set(pg_rows) - set(duck_rows), key=repr)[:2]
            problems.append(
                f"marts.{mart}: {len(duck_rows)} rows on DuckDB, {len(pg_rows)} on PostgreSQL; "
                f"e.g. only on DuckDB {only_duck}, only on PostgreSQL {only_pg}"
            )
    assert not problems, "\n".join(problems)


def test_kpi_facts_agree_on_postgres(both) -> None:
    duck, pg = both
    query = (
        "select kpi_id, coalesce(site_id, '-'), count(*), sum(numerator), sum(denominator) "
        "from marts.fct_kpi_events group by 1, 2 order by 1, 2"
    )
    cur = pg.cursor()
    cur.execute(query)
    pg_rows = [tuple(_norm(v) for v in row) for row in cur.fetchall()]
    duck_rows = [tuple(_norm(v) for v in row) for row in duck.execute(query).fetchall()]
    assert duck_rows and pg_rows == duck_rows
