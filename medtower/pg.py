"""PostgreSQL as the warehouse (``MEDTOWER_DBT_TARGET=postgres``): the same queries, read through SQLAlchemy.

Every reader of MedTower (the pages' query modules, alert rules and plans, the CLI's read commands, trace)
writes its SQL once, in DuckDB's dialect, against a cursor: ``execute(sql, params)`` then ``fetchall``,
``fetchone``, ``df`` or ``description``. On PostgreSQL the same code runs on a :class:`PgCursor`, which
translates each statement with sqlglot (a maintained SQL transpiler: placeholders, ``QUALIFY``, ``list()``,
``date_diff`` and the rest; cached per statement) and runs it on a pooled SQLAlchemy connection (psycopg2,
the driver dbt-postgres uses too). Two kinds of gap are closed here rather than in every query:

- aggregates PostgreSQL 15 lacks: ``any_value`` is created on the server (:data:`SERVER_FUNCTIONS`, the
  classic first-non-null aggregate; PostgreSQL 16 has it built in); ``arg_max``/``arg_min`` become an
  ordered ``array_agg(...)[1]`` that, like DuckDB's, skips rows where either argument is NULL;
- DuckDB's ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` become ``ON CONFLICT`` on the table's primary key,
  read from the server's catalog;
- ``json`` columns are ``text``: MedTower reads them with ``json.loads`` and never queries into them, and
  PostgreSQL, unlike DuckDB, does not cast text to json on assignment.

A reader's :meth:`PostgresReader.connect` gives one REPEATABLE READ, READ ONLY transaction, so the queries
of one page or command see one snapshot even while a pipeline writes. A missing table is raised as
``duckdb.CatalogException`` (what every reader already turns into "this mart is not built yet"), so the
callers need no second except clause.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import duckdb
import pandas as pd
import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from medtower.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["PgCursor", "PostgresReader", "pg_engine", "pg_url", "to_postgres"]

# What DuckDB's cursor.description says for a column type, by PostgreSQL type OID: callers test these
# names (e.g. "DECIMAL", "DATE") to convert values, so a PostgreSQL cursor says the same.
_TYPE_NAMES = {
    16: "BOOLEAN",
    20: "BIGINT",
    21: "SMALLINT",
    23: "INTEGER",
    25: "VARCHAR",
    700: "FLOAT",
    701: "DOUBLE",
    1043: "VARCHAR",
    1082: "DATE",
    1083: "TIME",
    1114: "TIMESTAMP",
    1184: "TIMESTAMP WITH TIME ZONE",
    1700: "DECIMAL",
    114: "JSON",
    3802: "JSON",
}
_TEMPORAL = {1082, 1114, 1184}

# Created once per server by PostgresReader/pg_engine (idempotent), under SERVER_FUNCTIONS_LOCK: two processes
# replacing one function at once fail with "tuple concurrently updated".
SERVER_FUNCTIONS_LOCK = 0x6D6564746F776572  # "medtower": the key of pg_advisory_xact_lock
SERVER_FUNCTIONS = (
    "create or replace function public.medtower_first_non_null(anyelement, anyelement) returns anyelement "
    "language sql immutable strict parallel safe as 'select $1'",
    "do $$ begin "
    "if not exists (select 1 from pg_proc where proname = 'any_value' and prokind = 'a') then "
    "create aggregate public.any_value(anyelement) "
    "(sfunc = public.medtower_first_non_null, stype = anyelement); "
    "end if; end $$",
    # DuckDB's round(double, n) is a double, rounded half away from zero; PostgreSQL has only
    # round(numeric, n) (a numeric: Decimal in Python). This overload serves doubles; numerics keep theirs.
    "create or replace function public.round(double precision, integer) returns double precision "
    "language sql immutable strict parallel safe "
    "as 'select pg_catalog.round($1::numeric, $2)::double precision'",
    # DuckDB's date_trunc of a date is a timestamp; PostgreSQL casts the date to timestamptz (its session's
    # time zone shows in the result). An exact match for a date, so PostgreSQL's own serve the rest.
    "create or replace function public.date_trunc(text, date) returns timestamp "
    "language sql immutable strict parallel safe as 'select pg_catalog.date_trunc($1, $2::timestamp)'",
    # DuckDB's list_sort(list, 'ASC'|'DESC', 'NULLS FIRST'|'NULLS LAST'): PostgreSQL has no array sort.
    "create or replace function public.medtower_array_sort(anyarray, boolean, boolean) returns anyarray "
    "language sql immutable strict parallel safe as $f$ "
    "select array(select v from unnest($1) as u(v) "
    "order by case when $3 then v is not null else v is null end, "
    "case when $2 then null else v end, case when $2 then v end desc) $f$",
    # A value as DuckDB writes it as text: a double keeps its '.0' (DuckDB '1.0', PostgreSQL '1') and its
    # infinities and NaN are spelled as DuckDB spells them; every other type as PostgreSQL writes it.
    "create or replace function public.medtower_text(anyelement) returns text "
    "language sql immutable parallel safe as $f$ "
    "select case when pg_typeof($1) in ('double precision'::regtype, 'real'::regtype) then "
    "case when $1::text ~ '^-?[0-9]+$' then $1::text || '.0' "
    "when $1::text = 'NaN' then 'nan' when $1::text = 'Infinity' then 'inf' "
    "when $1::text = '-Infinity' then '-inf' else $1::text end "
    "else $1::text end $f$",
)

_MARK = "__medtower_param_{}__"
_MARK_RE = re.compile(r"__medtower_param_(\d+)__")


class _Dialect(Postgres):
    """PostgreSQL as sqlglot writes it, with DuckDB's ``arg_max``/``arg_min`` spelled out."""

    class Generator(Postgres.Generator):  # type: ignore[valid-type,misc]
        # JSON is kept as text, as the callers read it (json.loads): PostgreSQL would refuse text into a json
        # column where DuckDB casts it.
        TYPE_MAPPING: ClassVar[dict[Any, str]] = {
            **Postgres.Generator.TYPE_MAPPING,
            exp.DataType.Type.JSON: "TEXT",
        }
        TRANSFORMS: ClassVar[dict[Any, Any]] = {
            **Postgres.Generator.TRANSFORMS,
            exp.ArgMax: lambda self, e: _arg_extreme(self, e, "DESC"),
            exp.ArgMin: lambda self, e: _arg_extreme(self, e, "ASC"),
            exp.ArraySort: lambda self, e: _array_sort(self, e),
        }


def _arg_extreme(gen: Any, e: exp.Expression, order: str) -> str:
    arg, val = gen.sql(e, "this"), gen.sql(e, "expression")
    return (
        f"(ARRAY_AGG({arg} ORDER BY {val} {order}) FILTER (WHERE {arg} IS NOT NULL AND {val} IS NOT NULL))[1]"
    )


def _array_sort(gen: Any, e: exp.Expression) -> str:
    """``list_sort`` by ``public.medtower_array_sort``, its direction and NULL order as DuckDB's."""
    desc = str(gen.sql(e, "asc")).upper() == "FALSE"
    nulls_first = str(gen.sql(e, "nulls_first")).upper() == "TRUE"
    return f"MEDTOWER_ARRAY_SORT({gen.sql(e, 'this')}, {str(desc).upper()}, {str(nulls_first).upper()})"


TableColumns = Callable[[str], tuple[list[str], list[str]]]


# What a placeholder is in DuckDB SQL, outside string literals, quoted names and comments.
_LEXEME = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$\$|::|(\?|\$[A-Za-z_0-9]+)", re.S
)


def _mark_placeholders(sql: str) -> tuple[str, tuple[str | None, ...]]:
    """``?`` and ``$name`` replaced by numbered marks (sqlglot cannot parse ``unnest(?::varchar[])``)."""
    names: list[str | None] = []

    def mark(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)
        names.append(None if m.group(1) == "?" else m.group(1)[1:])
        return _MARK.format(len(names) - 1)

    return _LEXEME.sub(mark, sql), tuple(names)


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> tuple[tuple[exp.Expression, ...], tuple[str | None, ...]]:
    """Parse DuckDB SQL once; placeholders replaced by numbered marks, their names (None: positional) kept."""
    marked, names = _mark_placeholders(sql)
    trees: list[Any] = []
    for tree in sqlglot.parse(marked, read="duckdb"):
        if tree is None:
            continue
        for ignore in list(tree.find_all(exp.IgnoreNulls)):
            if isinstance(ignore.this, exp.AnyValue):  # DuckDB's any_value skips NULLs; so does ours
                ignore.replace(ignore.this)
        for n, sub in enumerate(tree.find_all(exp.Subquery)):  # PostgreSQL 15 names every derived table
            if not sub.alias and isinstance(sub.parent, exp.From | exp.Join):
                sub.set("alias", exp.TableAlias(this=exp.to_identifier(f"_medtower_q{n}")))
        for select in tree.find_all(exp.Select):
            group = select.args.get("group")
            if group is not None and group.args.get("all"):
                select.set("group", _group_by_all(select))
        _keep_duckdb_types(tree)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "TABLE":
            if tree.args.get("replace"):  # PostgreSQL has no CREATE OR REPLACE TABLE
                trees.append(_drop_first(tree))
                tree.set("replace", False)
            _add_rowid(tree)
        trees.append(tree)
    return tuple(trees), names


def _keep_duckdb_types(tree: Any) -> None:
    """Results typed as DuckDB types them: ``avg`` a double (PostgreSQL: numeric for integers and
    numerics), ``round(x)`` rounding half away from zero like ``round(x, 0)`` (PostgreSQL's round of a double
    rounds half to even), a cast to text written as DuckDB writes it (``public.medtower_text``)."""
    for avg in list(tree.find_all(exp.Avg)):
        whole: exp.Expression = avg  # the aggregate with its FILTER and OVER, which a cast must take in
        while isinstance(whole.parent, exp.Filter | exp.Window | exp.IgnoreNulls | exp.RespectNulls):
            whole = whole.parent
        whole.replace(exp.cast(whole.copy(), exp.DataType.build("double")))
    for rnd in list(tree.find_all(exp.Round)):
        if rnd.args.get("decimals") is None:
            rnd.set("decimals", exp.Literal.number(0))
    for cast in list(tree.find_all(exp.Cast)):
        if not cast.to.is_type(exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR):
            continue
        inner = cast.this
        # A literal or placeholder has no type of its own on PostgreSQL (a polymorphic function refuses it).
        if isinstance(inner, exp.Literal | exp.Null) or (
            isinstance(inner, exp.Column) and _MARK_RE.fullmatch(inner.name)
        ):
            continue
        if isinstance(cast.parent, exp.Cast):  # a cast of the text again reads the same text
            continue
        cast.replace(exp.func("medtower_text", inner.copy()))


def _drop_first(create: exp.Create) -> exp.Expression:
    """``DROP TABLE IF EXISTS`` the table a ``CREATE OR REPLACE TABLE`` replaces (a temporary one in
    ``pg_temp`` only, never a permanent table of that name)."""
    target = create.this.this if isinstance(create.this, exp.Schema) else create.this
    table = target.copy()
    props = create.args.get("properties")
    if props is not None and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
        table.set("db", exp.to_identifier("pg_temp"))
    return exp.Drop(tables=[table], kind="TABLE", exists=True)


ROWID = "rowid"


def _add_rowid(create: exp.Create) -> None:
    """A table created with its columns gets DuckDB's ``rowid`` as an identity column.

    DuckDB's ``rowid`` of a table rows are only appended to is the order they were inserted in, which the
    readers use to break ties (``order by evaluated_at, rowid``). PostgreSQL's ``ctid`` is not that: it is
    the row's place on disk, which an update or a vacuum changes and a new row may take an earlier free
    place. An identity column numbers rows in the order the single writer inserts them, and ``insert ...
    values`` that list fewer values than columns leave it to its default.
    """
    schema = create.this
    if not isinstance(schema, exp.Schema) or create.args.get("expression") is not None:
        return
    if any(isinstance(c, exp.ColumnDef) and c.name.lower() == ROWID for c in schema.expressions):
        return
    schema.append(
        "expressions",
        exp.ColumnDef(
            this=exp.to_identifier(ROWID),
            kind=exp.DataType.build("bigint"),
            constraints=[exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False))],
        ),
    )


def _group_by_all(select: exp.Select) -> exp.Group:
    """DuckDB's ``GROUP BY ALL``: by every output column that is not an aggregate, by position."""
    keys = []
    for i, projection in enumerate(select.expressions, start=1):
        aggregates = [a for a in projection.find_all(exp.AggFunc) if not a.find_ancestor(exp.Window)]
        if not aggregates and not isinstance(projection.unalias(), exp.Literal):
            keys.append(exp.Literal.number(i))
    return exp.Group(expressions=keys)


def to_postgres(sql: str, columns: TableColumns | None = None) -> tuple[str, tuple[str | None, ...]]:
    """DuckDB SQL as PostgreSQL SQL for psycopg2, and its placeholders in order (a name, or None for ``?``).

    ``columns(table)`` gives a table's (primary key, all columns), needed to write ``INSERT OR REPLACE``.
    """
    trees, names = _translate(sql)
    out = []
    for tree in trees:
        tree = tree.copy()
        if isinstance(tree, exp.Insert) and tree.args.get("alternative"):
            tree = _on_conflict(tree, columns)
        out.append(tree.sql(dialect=_Dialect))
    text = ";\n".join(out)
    # psycopg2 formats every statement SQLAlchemy gives it (with empty parameters too): a literal % is %%.
    text = text.replace("%", "%%")
    if names:
        text = _MARK_RE.sub(lambda m: _pyformat(names, int(m.group(1))), text)
    return text, names


def _pyformat(names: tuple[str | None, ...], i: int) -> str:
    """Every placeholder by name: sqlglot moves and repeats expressions (``date_diff('day', a, b)`` is
    ``b - a``; a month difference names each date twice), so the order in the text is not the order given."""
    name = names[i]
    return f"%({_POSITIONAL.format(i)})s" if name is None else f"%({name})s"


_POSITIONAL = "_medtower_p{}"


def _on_conflict(tree: exp.Insert, columns: TableColumns | None) -> exp.Insert:
    alternative = str(tree.args["alternative"]).upper()
    tree.set("alternative", None)
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    if alternative == "IGNORE":
        tree.set("conflict", exp.OnConflict(duplicate=False, action=exp.var("DO NOTHING")))
        return tree
    if alternative != "REPLACE" or columns is None:
        raise ValueError(f"INSERT OR {alternative} cannot be written for PostgreSQL: {tree.sql('duckdb')}")
    name = ".".join(p.name for p in table.parts)
    key, every = columns(name)
    if not key:
        raise ValueError(f"INSERT OR REPLACE into {name}: the table has no primary key on PostgreSQL")
    given = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else every
    updates = [
        exp.EQ(this=exp.column(c), expression=exp.column(c, table="excluded"))
        for c in given
        if c not in key and c != ROWID  # a replaced row keeps its place, as in DuckDB
    ]
    conflict = exp.OnConflict(
        duplicate=False,
        conflict_keys=[exp.Ordered(this=exp.column(k), nulls_first=False) for k in key],
        action=exp.var("DO UPDATE") if updates else exp.var("DO NOTHING"),
        expressions=updates or None,
    )
    tree.set("conflict", conflict)
    return tree


def pg_url(settings: Settings) -> sa.URL:
    """The server of ``MEDTOWER_PG_*`` (the same variables dbt's postgres target reads)."""
    return sa.URL.create(
        "postgresql+psycopg2",
        username=settings.pg_user,
        password=settings.pg_password.get_secret_value() if settings.pg_password else None,
        host=settings.pg_host,
        port=settings.pg_port,
        database=settings.pg_database,
    )


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def pg_engine(settings: Settings) -> sa.Engine:
    """One pooled engine per server in a process, with MedTower's server functions in place."""
    url = pg_url(settings)
    key = url.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 10}
            )
            with engine.begin() as conn:
                install_server_functions(conn)
            _engines[key] = engine
        return engine


def install_server_functions(conn: sa.Connection) -> None:
    """MedTower's server functions, one process at a time (the lock is held until the transaction ends)."""
    conn.exec_driver_sql(f"select pg_advisory_xact_lock({SERVER_FUNCTIONS_LOCK})")
    for statement in SERVER_FUNCTIONS:
        conn.exec_driver_sql(statement)
    collation = conn.exec_driver_sql(
        "select datcollate from pg_database where datname = current_database()"
    ).scalar()
    if str(collation) not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
        log.warning(
            "the PostgreSQL database sorts text by %s, DuckDB by code point: lists and pages may be ordered "
            "differently; create the warehouse database with LC_COLLATE 'C' (or 'C.UTF-8')",
            collation,
        )


class PgCursor:
    """DuckDB's cursor surface (as MedTower uses it) on one SQLAlchemy connection.

    A reader's failed statement rolls its snapshot back so the next one runs. A writer's whole session is
    one transaction (committed by :func:`connect_writer`), so a failed or killed evaluation changes
    nothing; inside it every statement is a savepoint, so one failing statement (a rule's query, recorded
    as the rule's error) does not abort the rest, and ``begin``/``commit``/``rollback`` are a savepoint too.
    """

    def __init__(self, conn: sa.Connection, *, writer: bool = False) -> None:
        self._conn = conn
        self._writer = writer
        self._rows: list[tuple[Any, ...]] = []
        self._pos = 0
        self.description: list[tuple[Any, ...]] | None = None
        self._oids: list[int] = []
        self._nested: sa.NestedTransaction | None = None

    # -- statements -----------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> PgCursor:
        text, names = to_postgres(sql, self._table_columns)
        bound = _bind(names, params)
        self._take(self._run(sql, text, bound))
        return self

    def _run(self, sql: str, text: str, bound: Any) -> sa.CursorResult[Any]:
        def once() -> sa.CursorResult[Any]:
            if bound is None:
                return self._conn.exec_driver_sql(text)
            return self._conn.exec_driver_sql(text, bound)

        try:
            if self._writer and self._nested is None:
                with self._conn.begin_nested():
                    return once()
            return once()
        except sa.exc.DBAPIError as exc:
            if not self._writer:
                with contextlib.suppress(Exception):
                    self._conn.rollback()  # the aborted snapshot: the next statement starts a new one
            raise _translate_error(exc, sql) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> PgCursor:
        text, names = to_postgres(sql, self._table_columns)
        batch = [_bind(names, row) for row in rows]
        if not batch:
            return self
        self._run(sql, text, batch)
        self._rows, self._pos, self.description = [], 0, None
        return self

    def _take(self, result: sa.CursorResult[Any]) -> None:
        if result.returns_rows:
            raw = result.cursor.description if result.cursor is not None else []
            self._oids = [int(d[1]) for d in raw]  # type: ignore[call-overload]
            names = [_TYPE_NAMES.get(o, str(o)) for o in self._oids]
            rows = [tuple(r) for r in result.fetchall()]
            for i, d in enumerate(raw):
                if self._oids[i] == 1700 and _unconstrained(d) and _integral(rows, i):
                    # sum() of integers: PostgreSQL's numeric, DuckDB's HUGEINT (an int in Python)
                    names[i] = "HUGEINT"
                    self._oids[i] = 20
                    rows = [(*r[:i], None if r[i] is None else int(r[i]), *r[i + 1 :]) for r in rows]
            self.description = [(d[0], n, *[None] * 5) for d, n in zip(raw, names, strict=True)]
            self._rows = rows
        else:
            self._oids, self.description, self._rows = [], None, []
        self._pos = 0

    # -- results --------------------------------------------------------------------------------------
    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._pos = self._rows[self._pos :], len(self._rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self._rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    def df(self) -> pd.DataFrame:
        """The rest of the result as DuckDB's ``.df()`` gives it: dates and times as datetime64, numerics as
        float."""
        names = [d[0] for d in self.description or []]
        frame = pd.DataFrame(self.fetchall(), columns=names)
        for i, oid in enumerate(self._oids):
            col = frame.columns[i]
            if oid in _TEMPORAL:
                frame[col] = pd.to_datetime(frame[col])
            elif oid == 1700:
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        return frame

    # -- transactions (the alert engine's explicit ones) ---------------------------------------------
    def begin(self) -> None:
        if not self._writer:
            raise RuntimeError("a reader's cursor does not write")
        self._nested = self._conn.begin_nested()

    def commit(self) -> None:
        if self._nested is not None:
            self._nested.commit()
        self._nested = None

    def rollback(self) -> None:
        if self._nested is not None:
            self._nested.rollback()
        self._nested = None

    def cursor(self) -> PgCursor:
        return PgCursor(self._conn, writer=self._writer)

    def close(self) -> None:
        self._rows = []

    def __enter__(self) -> PgCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @functools.cache  # noqa: B019 - one cursor lives for one request or command
    def _table_columns(self, table: str) -> tuple[list[str], list[str]]:
        schema, _, name = table.rpartition(".")
        rows = self._conn.exec_driver_sql(
            "select a.attname, coalesce(a.attnum = any(i.indkey), false) "
            "from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "left join pg_index i on i.indrelid = c.oid and i.indisprimary "
            "where c.relname = %s and n.nspname = %s and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            (name, schema or "public"),
        ).fetchall()
        return [r[0] for r in rows if r[1]], [r[0] for r in rows]


def _bind(names: tuple[str | None, ...], params: Sequence[Any] | dict[str, Any] | None) -> Any:
    if not names:
        return None
    if isinstance(params, dict):
        if any(n is None for n in names):
            raise ValueError("a statement with ? placeholders was given named parameters")
        return {n: _value(params[n]) for n in names if n is not None}
    values = list(params or [])
    if any(n is not None for n in names):  # $1, $2: DuckDB's numbered parameters
        return {n: _value(values[int(n) - 1]) for n in names if n is not None and n.isdigit()}
    if len(values) != len(names):
        raise ValueError(f"the statement has {len(names)} placeholders, {len(values)} values were given")
    return {_POSITIONAL.format(i): _value(v) for i, v in enumerate(values)}


def _unconstrained(column: Any) -> bool:
    """A numeric column without precision and scale (psycopg2 says 65535): an aggregate's, not a table's."""
    return getattr(column, "scale", None) in (None, 65535)


def _integral(rows: list[tuple[Any, ...]], i: int) -> bool:
    """Whether column ``i`` holds only whole numbers written without a fraction (and at least one)."""
    values = [r[i] for r in rows if r[i] is not None]
    return bool(values) and all(
        isinstance(v, Decimal) and v.is_finite() and int(v.as_tuple().exponent) >= 0 for v in values
    )


def _value(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


def _translate_error(exc: sa.exc.DBAPIError, sql: str) -> Exception:
    code = getattr(exc.orig, "pgcode", None)
    first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if code in ("42P01", "3F000"):  # undefined_table, invalid_schema_name
        return duckdb.CatalogException(f"Catalog Error: {first}")
    return exc


class PostgresReader:
    """The web app's and CLI's reader on a PostgreSQL warehouse (the DuckDB one is WarehouseReader)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = pg_engine(settings)

    def published_at(self) -> dt.datetime | None:
        """When the marts now served were published (the last run record's finish), UTC."""
        with self.connect() as cur:
            try:
                row = cur.execute("select max(published_at) from meta.publishes").fetchone()
            except duckdb.CatalogException:
                return None
        value = row[0] if row else None
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    def identity(self) -> tuple[Any, ...] | None:
        """A cache key that changes with every publish."""
        at = self.published_at()
        return None if at is None else ("postgres", at.isoformat())

    @contextlib.contextmanager
    def connect(self) -> Iterator[PgCursor]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            cur = PgCursor(conn)
            try:
                yield cur
            finally:
                with contextlib.suppress(Exception):
                    conn.rollback()


@contextlib.contextmanager
def connect_writer(settings: Settings) -> Iterator[PgCursor]:
    """A read-write cursor on the server for the writer (alert evaluation, publish), committed on success."""
    with pg_engine(settings).connect() as conn:
        cur = PgCursor(conn, writer=True)
        try:
            yield cur
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
