"""The writer's side of a PostgreSQL warehouse on the real server: tables copied whole or not at all, and
marts swapped in whole (medtower/pg_sync.py).

Each test works in a database of its own, created and dropped here. Locally without a server it skips;
under CI (.ci/postgres.sh started one) it fails instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import duckdb
import pytest

from medtower.pg_sync import prepare_marts_build, swap_marts, sync_tables
from medtower.settings import load_settings
from tests.pg import pg_admin

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def server(tmp_path):
    """Settings for a fresh database of this test, and a psycopg2 connection to it."""
    import psycopg2

    admin = pg_admin()
    name = f"medtower_sync_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {name}")
    settings = load_settings(pg_database=name, data_dir=tmp_path / "data")
    conn = psycopg2.connect(
        host=settings.pg_host, port=settings.pg_port, user=settings.pg_user, dbname=name, connect_timeout=5
    )
    conn.autocommit = True
    try:
        yield settings, conn.cursor()
    finally:
        conn.close()
        from medtower import pg

        for engine in pg._engines.values():
            engine.dispose()
        pg._engines.clear()
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


def _duck() -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect(":memory:")
    duck.execute("create schema raw")
    duck.execute(
        "create table raw.lots (lot_id varchar, qty decimal(18,3), made_at timestamp, expires date, "
        "released boolean, note varchar, n bigint, payload blob)"
    )
    duck.execute(
        "insert into raw.lots values "
        "('L1', 12.5, '2026-03-01 08:15:30.123456', '2027-03-01', true, 'has, a comma and \"quotes\"', 7, "
        "'\\x00\\xff'::blob), "
        "('L2', null, null, null, null, '', null, null), "
        "('L3', 0, '2026-03-02 00:00:00', '2027-03-02', false, 'two' || chr(10) || 'lines', -1, 'abc'::blob)"
    )
    duck.execute("create table raw.sites (site_id varchar, name varchar)")
    duck.execute("insert into raw.sites values ('S1', 'Galway')")
    return duck


def test_tables_arrive_with_their_values_and_types(server) -> None:
    settings, cur = server
    result = sync_tables(settings, _duck(), "raw")
    assert result["tables"] == {"lots": 3, "sites": 1}
    cur.execute("select * from raw.lots order by lot_id")
    rows = cur.fetchall()
    assert rows[0][:7] == (
        "L1",
        Decimal("12.500"),
        dt.datetime(2026, 3, 1, 8, 15, 30, 123456),
        dt.date(2027, 3, 1),
        True,
        'has, a comma and "quotes"',
        7,
    )
    assert bytes(rows[0][7]) == b"\x00\xff"
    # NULL stays NULL and an empty string stays an empty string.
    assert rows[1][1:4] == (None, None, None) and rows[1][5] == "" and rows[1][7] is None
    assert rows[2][5] == "two\nlines" and bytes(rows[2][7]) == b"abc"
    cur.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'lots' order by ordinal_position"
    )
    assert [t for _, t in cur.fetchall()] == [
        "text",
        "numeric",
        "timestamp without time zone",
        "date",
        "boolean",
        "text",
        "bigint",
        "bytea",
    ]


def test_a_failed_copy_leaves_every_table_as_it_was(server) -> None:
    settings, cur = server
    duck = _duck()
    sync_tables(settings, duck, "raw")
    duck.execute("insert into raw.sites values ('S2', 'Penang')")
    duck.execute("create table raw.zz_lists (tags varchar[])")  # no PostgreSQL type: fails after sites
    duck.execute("insert into raw.zz_lists values (['a'])")
    with pytest.raises(ValueError, match="VARCHAR\\[\\]"):
        sync_tables(settings, duck, "raw")
    cur.execute("select site_id from raw.sites order by 1")
    assert cur.fetchall() == [("S1",)], "sites was copied again although the call failed"
    cur.execute("select count(*) from information_schema.tables where table_schema = 'raw'")
    assert cur.fetchone() == (2,)


def test_marts_are_swapped_whole_and_a_build_that_never_swaps_changes_nothing(server) -> None:
    settings, cur = server
    cur.execute("create schema marts")
    cur.execute("create table marts.fct_events (id int primary key, qty int)")
    cur.execute("insert into marts.fct_events values (1, 10), (2, 20)")
    cur.execute("create table marts.dim_sites (site_id text)")
    cur.execute("insert into marts.dim_sites values ('S1')")

    # A full build keeps only the incremental fact: the other mart is rebuilt whole by dbt.
    prepared = prepare_marts_build(settings, keep=["fct_events"])
    assert prepared["copied"] == ["fct_events"]
    cur.execute("select id, qty from marts_next.fct_events order by id")
    assert cur.fetchall() == [(1, 10), (2, 20)]
    cur.execute("select count(*) from information_schema.tables where table_schema = 'marts_next'")
    assert cur.fetchone() == (1,)
    # The key came along (a merge on it works in marts_next).
    cur.execute("insert into marts_next.fct_events values (2, 21) on conflict (id) do update set qty = 21")

    # What the build writes into marts_next is not seen until the swap.
    cur.execute("create table marts_next.dim_sites (site_id text)")
    cur.execute("insert into marts_next.dim_sites values ('S1'), ('S2')")
    cur.execute("select count(*) from marts.dim_sites")
    assert cur.fetchone() == (1,)

    # A failed build never swaps; the next run starts marts_next again from the marts as they are.
    again = prepare_marts_build(settings, keep=None)
    assert again["copied"] == ["dim_sites", "fct_events"]
    cur.execute("select qty from marts_next.fct_events where id = 2")
    assert cur.fetchone() == (20,), "marts_next must start from the marts, not from a failed build"
    cur.execute("insert into marts_next.dim_sites values ('S2')")

    swap_marts(settings)
    cur.execute("select site_id from marts.dim_sites order by 1")
    assert cur.fetchall() == [("S1",), ("S2",)]
    cur.execute("select nspname from pg_namespace where nspname like 'marts%' order by 1")
    assert cur.fetchall() == [("marts",)]
