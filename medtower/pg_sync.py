"""The writer's side of a PostgreSQL warehouse: raw and meta go from the work database to the server.

Ingest stays where its checks are (the DuckDB work database: contract validation, quarantine, merge). On a
PostgreSQL warehouse (``MEDTOWER_DBT_TARGET=postgres``) the pipeline then copies the raw tables it loaded to
the server (:func:`sync_tables`) for ``dbt build --target postgres``, evaluates the alert rules on the server
(``medtower.pg.connect_writer``: the alert state lives in its ``alerts`` schema), and at publish copies the
``meta`` schema (ingest runs, rejects, dbt results) and records the publish (:func:`publish`).

Each table is copied as a stream (DuckDB ``COPY ... TO`` a CSV file in the spill folder, then PostgreSQL
``COPY ... FROM STDIN``) into a new table, and every table of one call replaces its old one in one
transaction: a reader sees the old tables or the new ones, never half; a failure leaves the old ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from medtower.pg import pg_engine
from medtower.settings import Settings

log = logging.getLogger(__name__)

# DuckDB column types as PostgreSQL writes them (DECIMAL(p,s) becomes numeric(p,s)).
PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(38,0)",
    "UBIGINT": "numeric(20,0)",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "JSON": "text",
    "BLOB": "bytea",  # as medtower.pg writes json columns
}

PUBLISHES = "meta.publishes"


def pg_type(duck_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type; a type without one is a clear error."""
    if duck_type.startswith("DECIMAL"):
        return duck_type.replace("DECIMAL", "numeric")
    try:
        return PG_TYPES[duck_type]
    except KeyError:
        raise ValueError(
            f"no PostgreSQL type for DuckDB type {duck_type}: add it to medtower.pg_sync.PG_TYPES"
        ) from None


def tables_of(duck: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        r[0]
        for r in duck.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_type = 'BASE TABLE' order by 1",
            [schema],
        ).fetchall()
    ]


def sync_tables(
    settings: Settings, duck: duckdb.DuckDBPyConnection, schema: str, tables: list[str] | None = None
) -> dict[str, Any]:
    """Replace ``schema.<table>`` on the server with the work database's, every table in one transaction.

    ``tables`` None: every table of the schema. Returns rows and seconds per table.
    """
    began = time.monotonic()
    names = tables_of(duck, schema) if tables is None else tables
    spill = settings.duckdb_temp_dir
    spill.mkdir(parents=True, exist_ok=True)
    engine = pg_engine(settings)
    rows: dict[str, int] = {}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"create schema if not exists {schema}")
        for table in names:
            rows[table] = copy_table(duck, cur, schema, table, spill)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    seconds = round(time.monotonic() - began, 3)
    log.info(
        "copied %d %s tables (%d rows) to PostgreSQL in %.1f s",
        len(rows),
        schema,
        sum(rows.values()),
        seconds,
    )
    return {"schema": schema, "tables": rows, "seconds": seconds}


def copy_table(duck: duckdb.DuckDBPyConnection, cur: Any, schema: str, table: str, spill: Path) -> int:
    cols = duck.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not cols:
        raise ValueError(f"{schema}.{table} is not in the work database")
    fresh = f'{schema}."{table}__medtower_new"'
    cur.execute(f"drop table if exists {fresh}")
    cur.execute(f"create table {fresh} (" + ", ".join(f'"{c}" {pg_type(t)}' for c, t in cols) + ")")
    path = spill / f"pg-sync-{uuid.uuid4().hex}.csv"
    try:
        select = ", ".join(_as_text(c, t) for c, t in cols)
        duck.execute(
            f"copy (select {select} from {schema}.\"{table}\") to '{path.as_posix()}' "
            "(format csv, header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
        )
        with path.open("r", encoding="utf-8", newline="") as fh:
            cur.copy_expert(f"copy {fresh} from stdin with (format csv, null '\\N')", fh)
        copied = int(cur.rowcount)
    finally:
        path.unlink(missing_ok=True)
    cur.execute(f'drop table if exists {schema}."{table}" cascade')
    cur.execute(f'alter table {fresh} rename to "{table}"')
    return copied


def _as_text(column: str, duck_type: str) -> str:
    if duck_type == "BLOB":  # PostgreSQL's hex form of bytea
        return f"'\\x' || hex(\"{column}\")"
    if duck_type == "TIMESTAMP WITH TIME ZONE":  # an explicit offset, which PostgreSQL reads back exactly
        return f"strftime(\"{column}\", '%Y-%m-%d %H:%M:%S.%f%z')"
    return f'"{column}"'


def publish(settings: Settings, duck: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """Copy ``meta`` to the server and record the publish there (what the readers' stamp shows)."""
    began = time.monotonic()
    result = sync_tables(settings, duck, "meta", [t for t in tables_of(duck, "meta") if t != "publishes"])
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with pg_engine(settings).begin() as conn:
        conn.exec_driver_sql(
            f"create table if not exists {PUBLISHES} "
            "(run_id text primary key, published_at timestamp not null)"
        )
        conn.exec_driver_sql(f"insert into {PUBLISHES} values (%s, %s)", (run_id, at))
    return {
        "target": "postgres",
        "published_at": at.isoformat(),
        "meta": result["tables"],
        "seconds": round(time.monotonic() - began, 3),
    }


# dbt builds the marts here (MEDTOWER_DBT_MARTS_SCHEMA, dbt_project/macros/generate_schema_name.sql); once the
# build and its tests pass, swap_marts puts it in place of `marts` in one transaction.
MARTS_NEXT = "marts_next"


def prepare_marts_build(settings: Settings, keep: list[str] | None) -> dict[str, Any]:
    """An empty ``marts_next`` holding copies of the marts the build will not replace whole.

    ``keep``: those marts (the incremental facts, which a build merges into); None: every mart (a build of a
    selection leaves the others as they are).
    """
    began = time.monotonic()
    with pg_engine(settings).begin() as conn:
        conn.exec_driver_sql(f"drop schema if exists {MARTS_NEXT} cascade")
        conn.exec_driver_sql(f"create schema {MARTS_NEXT}")
        present = [
            r[0]
            for r in conn.exec_driver_sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        copied = [t for t in present if keep is None or t in keep]
        for table in copied:
            conn.exec_driver_sql(f'create table {MARTS_NEXT}."{table}" (like marts."{table}" including all)')
            conn.exec_driver_sql(f'insert into {MARTS_NEXT}."{table}" select * from marts."{table}"')
    return {"copied": copied, "seconds": round(time.monotonic() - began, 3)}


def swap_marts(settings: Settings) -> None:
    """``marts_next`` becomes ``marts`` in one transaction; readers see the old marts or the new, whole."""
    with pg_engine(settings).begin() as conn:
        conn.exec_driver_sql("drop schema if exists marts_superseded cascade")
        if conn.exec_driver_sql("select 1 from pg_namespace where nspname = 'marts'").fetchone():
            conn.exec_driver_sql("alter schema marts rename to marts_superseded")
        conn.exec_driver_sql(f"alter schema {MARTS_NEXT} rename to marts")
        conn.exec_driver_sql("drop schema if exists marts_superseded cascade")
