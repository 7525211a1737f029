"""Read-only access to the published warehouse for the web app.

DuckDB caches one database instance per path inside a process, so a plain
``duckdb.connect(path, read_only=True)`` keeps returning the *old* file after a
writer publishes a new one with an atomic rename, for as long as any connection
is open. The reader therefore opens an in-memory DuckDB and ATTACHes the file
read-only, keyed on the file's inode and mtime: the first request after a
publish attaches the new file; the previous one is closed ``RETIRE_AFTER_SECONDS``
later, once requests still using it have finished. The writer deletes a superseded
version only after as long (``medtower.warehouse.prune_versions``); a connection that
still has it attached keeps reading it even then, as Linux keeps an open file's data.
A published version holds the schemas ``marts``, ``meta`` and ``alerts`` only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from medtower.warehouse import RETIRE_AFTER_SECONDS, WarehouseMissingError

__all__ = ["RETIRE_AFTER_SECONDS", "WarehouseReader"]


class WarehouseReader:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._base: duckdb.DuckDBPyConnection | None = None
        self._retired: list[tuple[float, duckdb.DuckDBPyConnection]] = []

    def published_at(self) -> dt.datetime | None:
        """When the warehouse file now in place was published (UTC)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC)

    def identity(self) -> tuple[int, int, int] | None:
        """The published file's identity (inode, mtime, size): a cache key that changes on publish."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _base_connection(self) -> duckdb.DuckDBPyConnection:
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise WarehouseMissingError(
                f"no warehouse yet at {self.path}: run `medtower run DIR` to ingest a drop folder and "
                "build the marts"
            ) from exc
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            now = time.monotonic()
            for retired_at, con in list(self._retired):
                if now - retired_at > RETIRE_AFTER_SECONDS:
                    with contextlib.suppress(Exception):
                        con.close()
                    self._retired.remove((retired_at, con))
            if self._base is None or key != self._key:
                base = duckdb.connect(":memory:")
                base.execute(f"ATTACH '{self.path.as_posix()}' AS wh (READ_ONLY)")
                if self._base is not None:
                    self._retired.append((now, self._base))
                self._base, self._key = base, key
            return self._base

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the newest published warehouse, with the warehouse as default catalog."""
        cur = self._base_connection().cursor()
        try:
            cur.execute("USE wh")
            yield cur
        finally:
            cur.close()
