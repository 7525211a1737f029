"""The ERP database as a source, through SQLAlchemy: tables or queries mapped onto contract entities.

Any database SQLAlchemy has a driver for (PostgreSQL, SQLite, MySQL, SQL Server, Oracle) is reached with
``connection.url`` (from ``url_env``: the URL carries the password) and an optional ``connection.schema``.
Per entity, ``options`` name either a ``table`` (any name, spaces included: ``tabStock Ledger Entry``) or
a ``query``. A table is read ``WHERE cursor >= :watermark ORDER BY cursor`` with quoted identifiers; a
query gets the committed watermark as the bound parameter ``:watermark`` (NULL on the first pull), so
it filters itself, e.g. ``WHERE :watermark IS NULL OR modified >= :watermark``. Rows stream from a
server-side cursor in pages of ``page_size``; each page is one batch, committed with its last cursor.

Deletions: ``deleted_flag`` (a soft-delete column) is handled by the framework. A hard delete leaves no
row to see, so with ``reconcile_keys: true`` the connector also reads the source's full key list and the
framework drops the stored rows that are no longer in it: on every pull, or, with the option
``reconcile_every_minutes: N``, on the first pull of each N-minute window (windows counted from the Unix
epoch, UTC; the window done is recorded as a unit in ``meta.source_items``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ingest.sources import Batch, PullState, SourceConfig, SourceConfigError, SourceError, StreamConfig
from ingest.sources.snapshot import PAGE_SIZE, pages

STREAM_OPTIONS = frozenset({"table", "query", "page_size", "reconcile_every_minutes"})


class SqlConnector:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        url = source.connection.get("url")
        if not url:
            raise SourceConfigError(
                f"source {source.name}: connection.url_env (an environment variable holding the "
                "SQLAlchemy database URL) is required"
            )
        try:
            self.url = sa.engine.make_url(str(url))
        except sa.exc.ArgumentError:
            raise SourceConfigError(
                f"source {source.name}: connection.url is not a database URL "
                "(dialect+driver://user@host:port/database, e.g. postgresql+psycopg2://...)"
            ) from None
        db = self.url.database
        if self.url.get_backend_name() == "sqlite" and db and db != ":memory:" and not Path(db).is_absolute():
            # a SQLite file named relative to sources.yaml, so a folder of sources can move as a whole
            self.url = self.url.set(database=str(source.base_dir / db))
        self.schema = source.connection.get("schema")
        self.page_size = self._positive_int(source.options, "page_size", PAGE_SIZE, f"source {source.name}")
        for stream in source.streams:
            where = f"source {source.name}, entity {stream.entity}"
            unknown = sorted(set(stream.options) - STREAM_OPTIONS)
            if unknown:
                raise SourceConfigError(
                    f"{where}: unknown option {', '.join(unknown)} "
                    f"(allowed: {', '.join(sorted(STREAM_OPTIONS))})"
                )
            if bool(stream.options.get("table")) == bool(stream.options.get("query")):
                raise SourceConfigError(f"{where}: give exactly one of the options table or query")
            if stream.options.get("query") and stream.cursor and ":watermark" not in stream.options["query"]:
                raise SourceConfigError(
                    f"{where}: the query of an incremental stream (cursor {stream.cursor}) must filter on "
                    "the bound parameter :watermark, e.g. WHERE :watermark IS NULL OR modified >= :watermark"
                )
            self._positive_int(stream.options, "page_size", self.page_size, where)
            self._positive_int(stream.options, "reconcile_every_minutes", 1, where)

    def _positive_int(self, options: Mapping[str, Any], key: str, default: int, where: str) -> int:
        value = options.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SourceConfigError(f"{where}: option {key} must be a whole number >= 1, not {value!r}")
        return value

    # --- reaching the database -------------------------------------------------------------------

    def _engine(self) -> Engine:
        try:
            return sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise SourceError(
                f"source {self.source.name}: no SQLAlchemy driver for {self.url.drivername} ({exc})"
            ) from None

    def _where(self) -> str:
        return f"source {self.source.name} ({self.url.render_as_string(hide_password=True)})"

    def _table(self, stream: StreamConfig, *columns: str) -> sa.TableClause:
        return sa.table(
            str(stream.options["table"]), *(sa.column(c) for c in dict.fromkeys(columns)), schema=self.schema
        )

    def check(self) -> str:
        engine = self._engine()
        parts = []
        try:
            with engine.connect() as conn:
                for stream in self.source.streams:
                    if stream.options.get("table"):
                        stmt = sa.select(sa.func.count()).select_from(self._table(stream))
                        n = self._execute(conn, stream, stmt, {}).scalar_one()
                        parts.append(f"{stream.options['table']} {n} rows")
                    else:
                        parts.append(f"{stream.entity} (query)")
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"{self._where()}: cannot connect: {_reason(exc)}") from None
        finally:
            engine.dispose()
        return f"{self.url.render_as_string(hide_password=True)}: {', '.join(parts)}"

    def _execute(
        self, conn: Connection, stream: StreamConfig, stmt: sa.Executable, params: dict[str, Any]
    ) -> sa.CursorResult[Any]:
        what = f"table {stream.options['table']!r}" if stream.options.get("table") else "its query"
        try:
            return conn.execute(stmt, params)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(
                f"{self._where()}, entity {stream.entity}: reading {what} failed: {_reason(exc)}"
            ) from None

    # --- pulling ---------------------------------------------------------------------------------

    def _rows_statement(self, stream: StreamConfig, watermark: Any) -> sa.Executable:
        if stream.options.get("query"):
            return sa.text(str(stream.options["query"]))
        key_fields = [stream.source_field(k) for k in stream.key]
        order = list(dict.fromkeys([*([stream.cursor] if stream.cursor else []), *key_fields]))
        t = self._table(stream, *order)
        stmt: sa.Select[Any] = (
            sa.select(sa.literal_column("*")).select_from(t).order_by(*(t.c[c] for c in order))
        )
        if stream.cursor and watermark is not None:
            stmt = stmt.where(t.c[stream.cursor] >= sa.bindparam("watermark"))
        return stmt

    def _keys_statement(self, stream: StreamConfig) -> sa.Executable:
        key_fields = [stream.source_field(k) for k in stream.key]
        if stream.options.get("query"):
            q = (
                sa.text(str(stream.options["query"]))
                .columns(*(sa.column(k) for k in key_fields))
                .subquery("q")
            )
            return sa.select(*(q.c[k] for k in key_fields))
        t = self._table(stream, *key_fields)
        return sa.select(*(t.c[k] for k in key_fields))

    def _reconcile_due(self, stream: StreamConfig, state: PullState) -> tuple[bool, tuple[str, str] | None]:
        """Whether to send the full key list now, and the unit that records this window as done."""
        if not stream.reconcile_keys:
            return False, None
        minutes = stream.options.get("reconcile_every_minutes")
        if not minutes:
            return True, None
        window = int(time.time() // (minutes * 60)) * minutes * 60
        start = dt.datetime.fromtimestamp(window, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        unit = (f"reconcile:{stream.entity}:{minutes} min from {start}", "keys")
        return not state.seen(*unit), unit

    def pull(self, state: PullState) -> Iterator[Batch]:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                for stream in self.source.streams:
                    yield from self._pull_stream(conn, stream, state)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"{self._where()}: {_reason(exc)}") from None
        finally:
            engine.dispose()

    def _pull_stream(self, conn: Connection, stream: StreamConfig, state: PullState) -> Iterator[Batch]:
        label = f"{self.source.name}:{stream.entity}"
        size = int(stream.options.get("page_size", self.page_size))
        # bound as text: the database casts it to the cursor column's type (a number, a timestamp)
        watermark = state.watermark(stream.entity) if stream.cursor else None
        stmt = self._rows_statement(stream, watermark)
        result = self._execute(conn.execution_options(yield_per=size), stream, stmt, {"watermark": watermark})
        if stream.mode == "replace":
            # replace drops the label's stored rows a delivery no longer holds: the delivery must be whole
            rows = [dict(r._mapping) for r in result]
            yield Batch(entity=stream.entity, records=rows, label=label)
        else:
            for part in result.partitions(size):
                rows = [dict(r._mapping) for r in part]
                yield from pages(rows, stream, label, size=len(rows))
        due, unit = self._reconcile_due(stream, state)
        if due:
            # read after the rows, so every key just loaded is in the list; a key gone since is really gone
            stmt = self._keys_statement(stream)
            keys = [dict(r._mapping) for r in self._execute(conn, stream, stmt, {"watermark": None})]
            yield Batch(entity=stream.entity, records=[], label=label, all_keys=keys, item=unit)


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's own message, first line, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
