"""MedTower's DuckDB SQL on PostgreSQL (medtower/pg.py), against the real server: each query gives on
PostgreSQL what it gives on DuckDB over the same few rows.

Each test module works in a database of its own, created and dropped here. Without MEDTOWER_PG_HOST it
skips; with it set (CI: .ci/run evals .ci/postgres.sh) a server that does not answer is a failure.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from tests.pg import pg_admin

pytestmark = [pytest.mark.postgres]

# A few rows whose values are the edge cases: halves (rounding), whole doubles (text), ties in time.
DDL = ["create table nums (k varchar primary key, d double, i integer, b bigint, n decimal(18,3))"]
NUMS = [
    ("a", 2.5, 1, 10_000_000_000, Decimal("1.250")),
    ("b", -3.0, 2, 20_000_000_000, Decimal("2.500")),
    ("c", 0.1, 4, 3, Decimal("0.125")),
    ("d", 1e16, 7, 4, Decimal("10.000")),
    ("e", 1e-5, 8, 5, None),
    ("f", 123456.789, 9, 6, Decimal("-0.005")),
    ("g", 0.5, 11, 7, Decimal("3.333")),
    ("h", 100.0, 12, 8, Decimal("0.000")),
]


def _server_settings(name: str, tmp: Any) -> Any:
    from medtower.settings import load_settings

    return load_settings(dbt_target="postgres", pg_database=name, data_dir=tmp / "data")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[duckdb.DuckDBPyConnection, Any]]:
    """The same tables and rows in DuckDB and on a fresh PostgreSQL database (through PgCursor)."""
    from medtower import pg

    admin = pg_admin()
    name = f"medtower_sql_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {name} template template0 lc_collate 'C' lc_ctype 'C'")
    settings = _server_settings(name, tmp_path_factory.mktemp("pgsql"))
    duck = duckdb.connect(":memory:")
    try:
        from alerts.store import ensure_schema

        with pg.connect_writer(settings) as cur:
            ensure_schema(duck)  # the alert state's tables, as the engine creates them
            ensure_schema(cur)  # type: ignore[arg-type]
            for statement in DDL:
                duck.execute(statement)
                cur.execute(statement)
            for con in (duck, cur):
                con.executemany("insert into nums values (?, ?, ?, ?, ?)", NUMS)
        yield duck, settings
    finally:
        duck.close()
        for engine in pg._engines.values():
            engine.dispose()
        pg._engines.clear()
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


def _read(settings: Any, sql: str, params: Any = None) -> tuple[list[tuple[Any, ...]], list[str]]:
    from medtower.pg import PostgresReader

    with PostgresReader(settings).connect() as cur:
        cur.execute(sql, params)
        return cur.fetchall(), [d[1] for d in cur.description or []]


def _same(both: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on both, asserted equal in value and in Python type; DuckDB's rows."""
    duck, settings = both
    want = duck.execute(sql, params).fetchall()
    got, _ = _read(settings, sql, params)
    assert got == want, f"{sql}\nPostgreSQL: {got}\nDuckDB:     {want}"
    for g, w in zip(got, want, strict=True):
        assert [type(v) for v in g] == [type(v) for v in w], f"{sql}: types {g} vs {w}"
    return want


# -- placeholders ---------------------------------------------------------------------------------------


def test_placeholders_are_bound_by_name_where_sqlglot_moves_or_repeats_them(both) -> None:
    june1, june30, aug15 = dt.date(2026, 6, 1), dt.date(2026, 6, 30), dt.date(2026, 8, 15)
    # date_diff('day', a, b) is written b - a: a placeholder bound by its place in the text gets -29.
    rows = _same(both, "select date_diff('day', ?::date, ?::date) as days, ? as tag", [june1, june30, "x"])
    assert rows == [(29, "x")]
    # A month difference names each date twice.
    rows = _same(both, "select date_diff('month', ?::date, ?::date) as months, ? as k", [june1, aug15, "m"])
    assert rows == [(2, "m")]
    # In a CTE and a union.
    rows = _same(
        both,
        """with picked as (select k from nums where i > ?)
           select k, date_diff('day', ?::date, ?::date) from picked
           union all select ?, ? order by 1""",
        [8, june1, june30, "zz", 0],
    )
    assert rows == [("f", 29), ("g", 29), ("h", 29), ("zz", 0)]  # i > 8: 9, 11, 12


# -- CREATE OR REPLACE TEMP TABLE --------------------------------------------------------------------------


def test_create_or_replace_temp_table_replaces_only_the_temporary_table(both) -> None:
    from medtower import pg

    duck, settings = both
    with pg.connect_writer(settings) as cur:
        cur.execute("create table if not exists walk_probe (x integer)")
        cur.execute("insert into walk_probe values (42)")
        for con in (duck, cur):
            con.execute("create or replace temp table walk_probe (scope integer, lot_id varchar)")
            con.execute("insert into walk_probe values (1, 'L1')")
            con.execute("create or replace temp table walk_probe (scope integer, lot_id varchar)")
            con.execute("insert into walk_probe values (2, 'L2')")
        assert cur.execute("select scope, lot_id from walk_probe").fetchall() == [(2, "L2")]
        assert duck.execute("select scope, lot_id from walk_probe").fetchall() == [(2, "L2")]
        # The permanent table of that name is untouched: the drop is of pg_temp's table only.
        assert cur.execute("select x from public.walk_probe").fetchall() == [(42,)]
        cur.execute("drop table public.walk_probe")


# -- result types ------------------------------------------------------------------------------------------


def test_round_and_avg_stay_doubles_and_round_half_away_from_zero(both) -> None:
    rows = _same(both, "select k, round(d, 1), round(d), round(d * 10, -1) from nums order by k")
    # By hand: 2.5 -> 3 (half away from zero, where PostgreSQL's round of a double gives 2), 0.5 -> 1.
    assert rows[0][1:3] == (2.5, 3.0) and rows[6][2] == 1.0
    assert all(isinstance(v, float) for r in rows for v in r[1:])
    rows = _same(both, "select avg(i), avg(d) filter (where i < 3) from nums")
    # (1+2+4+7+8+9+11+12)/8 = 54/8; (2.5-3.0)/2.
    assert rows == [(6.75, -0.25)]
    # The numerics' average (17.203 over their 7 values) is a double on both, equal to the last bits (DuckDB
    # divides in doubles, PostgreSQL in numerics, then casts).
    duck, settings = both
    (got,), _ = _read(settings, "select avg(n) from nums")
    assert isinstance(got[0], float) and got[0] == pytest.approx(17.203 / 7, rel=1e-15)
    assert duck.execute("select avg(n) from nums").fetchone()[0] == pytest.approx(17.203 / 7, rel=1e-15)
    _same(both, "select k, avg(i) over (order by k rows between 1 preceding and current row) from nums")
    # A numeric keeps its scale: round of a decimal is a decimal on both.
    _same(both, "select k, round(n, 2) from nums where n is not null order by k")


def test_sums_of_integers_are_ints_and_sums_of_decimals_decimals(both) -> None:
    rows = _same(both, "select sum(b), sum(i), sum(n), count(*) from nums")
    assert rows == [(30_000_000_033, 54, Decimal("17.203"), 8)]
    assert isinstance(rows[0][0], int) and isinstance(rows[0][2], Decimal)
    _, types = _read(both[1], "select sum(b), sum(n) from nums")
    assert types == ["HUGEINT", "DECIMAL"]


def test_a_double_as_text_reads_as_duckdb_writes_it(both) -> None:
    rows = _same(both, "select k, cast(d as varchar), d::varchar || ' units', cast(i as varchar) from nums")
    text = {r[0]: r[1] for r in rows}
    # By hand, as DuckDB writes them: a whole double keeps '.0' (PostgreSQL alone would write '-3', '100').
    assert text["b"] == "-3.0" and text["h"] == "100.0" and text["a"] == "2.5" and text["c"] == "0.1"
    _same(both, "select cast(n as varchar), cast(? as varchar), cast(null as varchar) from nums", ["p"])


def test_text_is_ordered_by_code_point_as_in_duckdb(both) -> None:
    words = ["b", "B", "a", "_x", "Z", "ä", "10", "9", "a b", "ab"]
    values = ", ".join(f"('{w}')" for w in words)
    rows = _same(both, f"select w from (values {values}) as t(w) order by w")
    assert [r[0] for r in rows] == sorted(words)  # Python sorts by code point, as DuckDB does
    _same(both, f"select min(w), max(w) from (values {values}) as t(w)")


def test_list_sort_sorts_as_duckdb_does(both) -> None:
    # The quality plan's scope aggregates: sorted lists of the lots, work orders and customers reached.
    rows = _same(
        both,
        """select list_sort(list(k)), list_sort(list(i), 'DESC'),
                  list_reverse_sort(list(k) filter (where i < 5)),
                  list_sort(list(n), 'ASC', 'NULLS FIRST'), list_sort(list(n), 'DESC', 'NULLS LAST')
           from nums""",
    )
    assert rows[0][0] == list("abcdefgh") and rows[0][1] == [12, 11, 9, 8, 7, 4, 2, 1]
    assert rows[0][2] == ["c", "b", "a"] and rows[0][3][0] is None and rows[0][4][-1] is None


def test_date_trunc_of_a_date_is_a_timestamp_without_time_zone(both) -> None:
    rows = _same(
        both,
        "select date_trunc('week', ?::date), date_trunc('month', ?::date), date_trunc('day', ?::timestamp)",
        [dt.date(2026, 7, 1), dt.date(2026, 7, 1), dt.datetime(2026, 7, 1, 13, 30)],
    )
    # 2026-07-01 is a Wednesday: its ISO week starts on Monday 2026-06-29.
    assert rows == [(dt.datetime(2026, 6, 29), dt.datetime(2026, 7, 1), dt.datetime(2026, 7, 1))]


# -- rowid -------------------------------------------------------------------------------------------------


def test_rule_health_orders_ties_by_insertion_as_duckdb_rowid_does(both) -> None:
    from medtower import pg
    from medtower.alert_queries import rule_health

    duck, settings = both
    at = dt.datetime(2026, 6, 30, 6, 0)
    # Two runs at the same instant: the one inserted last is the latest; in it, rule r1 was evaluated twice
    # at one instant (a retry): the row inserted last is the one shown.
    rows = [
        ("run-b", "r1", at, "error", "first try"),
        ("run-a", "r1", at, "ok", None),
        ("run-a", "r2", at, "ok", None),
        ("run-c", "r1", at, "error", "timeout"),
        ("run-c", "r2", at, "ok", None),
        ("run-c", "r1", at, "ok", None),
    ]
    insert = (
        "insert into alerts.evaluations (run_id, rule_id, evaluated_at, as_of, status, error, duration_ms) "
        "values (?, ?, ?, ?, ?, ?, 1.5)"
    )
    with pg.connect_writer(settings) as cur:
        for con in (duck, cur):
            for run_id, rule, when, status, error in rows:
                con.execute(insert, [run_id, rule, when, at.date(), status, error])
        # An update moves the row on disk (its ctid) but not its place in the order of insertion.
        cur.execute(
            "update alerts.evaluations set duration_ms = 2.0 where run_id = 'run-c' and rule_id = 'r2'"
        )
        duck.execute(
            "update alerts.evaluations set duration_ms = 2.0 where run_id = 'run-c' and rule_id = 'r2'"
        )
    from medtower.pg import PostgresReader

    want = rule_health(duck)
    with PostgresReader(settings).connect() as cur:
        got = rule_health(cur)  # type: ignore[arg-type]
    assert got == want
    assert [(r["run_id"], r["rule_id"], r["status"]) for r in got] == [
        ("run-c", "r1", "ok"),
        ("run-c", "r2", "ok"),
    ]
    _same(both, "select run_id, rule_id, status from alerts.evaluations order by rowid")


# -- server functions --------------------------------------------------------------------------------------


def test_server_functions_are_installed_by_one_process_at_a_time(both) -> None:
    """Eight connections install them at once, as eight app workers starting together do."""
    import sqlalchemy as sa

    from medtower.pg import install_server_functions, pg_url

    engine = sa.create_engine(pg_url(both[1]), poolclass=sa.pool.NullPool)
    errors: list[str] = []
    start = threading.Barrier(8, timeout=30)

    def install() -> None:
        try:
            for _ in range(5):
                with engine.begin() as conn:
                    start.wait() if _ == 0 else None
                    install_server_functions(conn)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=install) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert errors == []
    _same(both, "select any_value(k order by k) is not null from nums")
