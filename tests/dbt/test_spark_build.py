"""The same dbt project builds and tests on Spark and gives the same marts and KPIs as on DuckDB.

The small hand-made plant (tests/small_plant.py) is built on DuckDB by the shared ``small_warehouse``
fixture. Its raw tables go to Parquet (DuckDB COPY) and become ``raw.<table>`` of a local Spark session
(pyspark, Java 17), then `dbt build --target spark` runs for real (models, unit tests and data tests)
in that same session: dbt-spark's session method takes ``SparkSession.builder.getOrCreate()``, so it
gets the session that holds ``raw``. The Spark marts are written back to Parquet, read into a DuckDB
file and compared with DuckDB's, row by row, and through ``medtower.kpis`` KPI by KPI (also against the
values worked out by hand in small_plant.EXPECTED).

Spark runs in a child process (``python tests/dbt/test_spark_build.py``), so its JVM (~600 MB) ends
with the build instead of living on in pytest. Without pyspark or Java the test skips locally and
fails under CI (env CI set), like the PostgreSQL test.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"

# DuckDB raw column types (ingest/contract) -> Spark SQL types; DECIMAL(p,s) keeps its spelling.
SPARK_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "double",
}

# A session for a build of a few hundred rows: one shuffle partition, no UI, Parquet timestamps DuckDB reads
# exactly; only 127.0.0.1. It starts in a zone far from UTC: the profile's server_side_parameters must set
# UTC for dbt (raw timestamps are UTC instants; Spark casts a timestamp to a date in the session's zone).
SPARK_CONF = {
    "spark.master": "local[2]",
    "spark.app.name": "medtower-dbt-test",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.session.timeZone": "Pacific/Auckland",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # For a few rows, planning adaptively and compiling every query to Java cost more than they save:
    # off, the ~490 data and unit tests run in about half the time; the results are the same.
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
}


# --- the Spark side, run as a child process ------------------------------------------------------------


def spark_build(work: Path, as_of: str) -> int:
    """Create ``raw`` from ``work/raw/*.parquet`` in a Hive-catalog session (Derby metastore and
    spark-warehouse under ``work``), run `dbt build --target spark` in it, write every mart to
    ``work/spark-marts/<mart>/``. Returns dbt's exit code."""
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    tables: dict[str, list[list[str]]] = json.loads((work / "raw" / "columns.json").read_text())
    os.chdir(work)  # derby.log and anything else Spark drops in its working directory
    builder = SparkSession.builder.enableHiveSupport()
    conf = {
        **SPARK_CONF,
        "spark.sql.warehouse.dir": str(work / "spark-warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={work / 'metastore_db'};create=true"
        ),
    }
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql("create database raw")
    for table, columns in tables.items():
        ddl = ", ".join(f"`{name}` {spark_type}" for name, spark_type in columns)
        spark.sql(f"create table raw.{table} ({ddl}) using parquet location '{work / 'raw' / table}.parquet'")
    result = dbtRunner().invoke(
        [
            "build",
            "--target",
            "spark",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--vars",
            json.dumps({"as_of": as_of}),
            # two dbt threads keep both cores busy: one thread's Python and metastore work, the other's job
            "--threads",
            "2",
        ]
    )
    if not result.success:
        return 1
    for mart in spark.catalog.listTables("marts"):
        frame = spark.table(f"marts.{mart.name}").coalesce(1)
        frame.write.mode("overwrite").parquet(str(work / "spark-marts" / mart.name))
    spark.stop()
    return 0


# --- the test side --------------------------------------------------------------------------------------


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        return "pyspark or dbt-spark is not installed: pip install -e '.[dev]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java for Spark (Java 17: apt-get install openjdk-17-jre-headless)"
    return None


def _export_raw(duck: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Every raw table to ``folder/<table>.parquet``, timestamps as UTC instants (Spark's TIMESTAMP),
    and its columns with their Spark types to ``folder/columns.json``."""
    folder.mkdir(parents=True)
    duck.execute("set TimeZone = 'UTC'")
    tables: dict[str, list[list[str]]] = {}
    names = duck.execute(
        "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
    ).fetchall()
    for (table,) in names:
        columns = duck.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
        select = ", ".join(
            f'cast("{c}" as timestamptz) as "{c}"' if t == "TIMESTAMP" else f'"{c}"' for c, t in columns
        )
        duck.execute(
            f"copy (select {select} from raw.{table}) to '{folder / table}.parquet' (format parquet)"
        )
        tables[table] = [[c, t.lower() if t.startswith("DECIMAL") else SPARK_TYPES[t]] for c, t in columns]
    (folder / "columns.json").write_text(json.dumps(tables, indent=1))


def _load_marts(folder: Path, db_path: Path) -> None:
    """The Spark marts into ``marts.<mart>`` of a DuckDB file; Spark's UTC instants back to TIMESTAMP."""
    with duckdb.connect(str(db_path)) as con:
        con.execute("set TimeZone = 'UTC'; create schema marts")
        for mart in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            con.execute(
                f"create table marts.{mart} as select * from read_parquet('{folder / mart}/*.parquet')"
            )
            for column, data_type in con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = ?",
                [mart],
            ).fetchall():
                if data_type == "TIMESTAMP WITH TIME ZONE":
                    con.execute(f'alter table marts.{mart} alter "{column}" type timestamp')


@pytest.fixture(scope="module")
def spark_and_duck(small_warehouse, tmp_path_factory: pytest.TempPathFactory):
    """(Spark's marts, DuckDB's marts) as read-only DuckDB connections, and dbt's Spark run results."""
    missing = _spark_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build on Spark; {missing}")
        pytest.skip(missing)
    from tests.small_plant import AS_OF

    work = tmp_path_factory.mktemp("spark_build")
    with duckdb.connect(str(small_warehouse.path), read_only=True) as duck:
        _export_raw(duck, work / "raw")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "MEDTOWER_DBT_TARGET": "spark",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    proc = subprocess.run(
        [sys.executable, __file__, str(work), AS_OF.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        if "JAVA_GATEWAY_EXITED" in proc.stderr and not os.environ.get("CI"):
            pytest.skip(f"Spark cannot start here: {proc.stderr[-1500:]}")
        pytest.fail(f"dbt build --target spark failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}")
    _load_marts(work / "spark-marts", work / "spark-marts.duckdb")
    spark = duckdb.connect(str(work / "spark-marts.duckdb"), read_only=True)
    duck = duckdb.connect(str(small_warehouse.path), read_only=True)
    results = json.loads((work / "target" / "run_results.json").read_text())
    yield spark, duck, results
    spark.close()
    duck.close()


def _norm(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float | int):
        return round(float(value), 6)
    return value


def _rows(fetched: list[tuple]) -> list[tuple]:
    return sorted((tuple(_norm(v) for v in row) for row in fetched), key=repr)


def _marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    query = "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
    return [r[0] for r in con.execute(query).fetchall()]


def test_spark_ran_every_model_and_test(spark_and_duck, small_warehouse) -> None:
    """Every model, unit test and data test of the project ran on Spark and passed, as many as on DuckDB."""
    _, _, results = spark_and_duck
    statuses: dict[str, dict[str, int]] = {}
    for result in results["results"]:
        kind = result["unique_id"].split(".")[0]
        counts = statuses.setdefault(kind, {})
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    duck_results = json.loads((small_warehouse.target_dir / "run_results.json").read_text())
    expected: dict[str, int] = {}
    for result in duck_results["results"]:
        kind = result["unique_id"].split(".")[0]
        if kind in ("model", "test", "unit_test"):
            expected[kind] = expected.get(kind, 0) + 1
    assert expected["model"] >= 60 and expected["test"] >= 300 and expected["unit_test"] >= 20, expected
    assert statuses["model"] == {"success": expected["model"]}, statuses
    assert statuses["test"] == {"pass": expected["test"]}, statuses
    assert statuses["unit_test"] == {"pass": expected["unit_test"]}, statuses


def test_every_mart_has_the_same_rows_on_spark(spark_and_duck) -> None:
    """Same marts, same columns, and the same rows as a multiset (numbers to 6 decimals), mart by mart."""
    spark, duck, _ = spark_and_duck
    marts = _marts(duck)
    assert len(marts) >= 25, f"only {len(marts)} marts built on DuckDB"
    assert _marts(spark) == marts
    problems = []
    nonempty = 0
    for mart in marts:
        columns_sql = (
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position"
        )
        columns = [r[0] for r in duck.execute(columns_sql, [mart]).fetchall()]
        spark_columns = [r[0] for r in spark.execute(columns_sql, [mart]).fetchall()]
        if spark_columns != columns:
            problems.append(f"marts.{mart}: columns {spark_columns} on Spark, {columns} on DuckDB")
            continue
        select = ", ".join(f'"{c}"' for c in columns)
        duck_rows = _rows(duck.execute(f"select {select} from marts.{mart}").fetchall())
        spark_rows = _rows(spark.execute(f"select {select} from marts.{mart}").fetchall())
        nonempty += bool(duck_rows)
        if spark_rows != duck_rows:
            only_duck = sorted(set(duck_rows) - set(spark_rows), key=repr)[:2]
            only_spark = sorted(set(spark_rows) - set(duck_rows), key=repr)[:2]
            problems.append(
                f"marts.{mart}: {len(duck_rows)} rows on DuckDB, {len(spark_rows)} on Spark; "
                f"e.g. only on DuckDB {only_duck}, only on Spark {only_spark}"
            )
    assert not problems, "\n".join(problems)
    assert nonempty >= 25, f"only {nonempty} marts have rows: the comparison would prove little"


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to 1e-9 (Spark may add doubles in another order), inside dicts, lists and
    dataclasses too."""
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and _same(dataclasses.asdict(a), dataclasses.asdict(b))  # type: ignore[arg-type]
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if (
        isinstance(a, float | int)
        and isinstance(b, float | int)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_every_kpi_equals_duckdb_and_the_hand_worked_value(spark_and_duck) -> None:
    """`medtower kpis` on Spark's marts: every catalog KPI, all sites and per site, equals DuckDB's,
    and the all-sites values equal tests/small_plant.EXPECTED."""
    from medtower.kpis import CATALOG, compute_kpis, kpis_by_site
    from tests.small_plant import AS_OF, EXPECTED

    spark, duck, _ = spark_and_duck
    on_spark = compute_kpis(spark, AS_OF)["kpis"]
    on_duck = compute_kpis(duck, AS_OF)["kpis"]
    ids = [k.id for k in CATALOG]
    assert sorted(on_spark) == sorted(ids) == sorted(EXPECTED)
    differ = {k: (on_spark[k], on_duck[k]) for k in ids if not _same(on_spark[k], on_duck[k])}
    assert not differ, f"KPI (Spark, DuckDB): {differ}"
    wrong = {k: (on_spark[k], EXPECTED[k]) for k in ids if not _same(on_spark[k], EXPECTED[k])}
    assert not wrong, f"KPI (Spark, by hand): {wrong}"
    assert sum(v is not None for v in on_spark.values()) >= len(ids) - 1

    by_site_spark = kpis_by_site(spark, AS_OF)
    by_site_duck = kpis_by_site(duck, AS_OF)
    assert _same(by_site_spark, by_site_duck), (by_site_spark, by_site_duck)


def test_key_marts_agree_on_counts_and_sums(spark_and_duck) -> None:
    """A few marts the pages lean on, summed independently of the row comparison's normalisation."""
    spark, duck, _ = spark_and_duck
    queries = [
        "select kpi_id, coalesce(site_id, '-'), count(*), sum(numerator), sum(denominator) "
        "from marts.fct_kpi_events group by 1, 2 order by 1, 2",
        "select kpi_id, count(*), count(end_date), sum(amount) from marts.fct_kpi_intervals "
        "group by 1 order by 1",
        "select status, count(*), count(expiry_date) from marts.dim_lots group by 1 order by 1",
        "select movement_type, count(*), sum(qty_in), sum(qty_out) from marts.fct_inventory_movements "
        "group by 1 order by 1",
    ]
    for query in queries:
        on_spark = [tuple(_norm(v) for v in row) for row in spark.execute(query).fetchall()]
        on_duck = [tuple(_norm(v) for v in row) for row in duck.execute(query).fetchall()]
        assert on_duck and on_spark == on_duck, query


if __name__ == "__main__":
    sys.exit(spark_build(Path(sys.argv[1]), sys.argv[2]))
