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
import contextvars
import datetime as dt
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from medtower.warehouse import RETIRE_AFTER_SECONDS, WarehouseMissingError

__all__ = ["RETIRE_AFTER_SECONDS", "ResultCache", "WarehouseReader", "cached_result"]


class ResultCache:
    """Query results of the published files, kept by (file, SQL, parameters), least recently used out first.

    A published file is never written again (a publish is a new file under the name), so a result read
    from it stays true for as long as the file is the one published. The pages run the same queries on
    every filter change that leaves them alone: a drill-down uses no period, so a period change ran its
    ~15 queries again for the same rows (docs/benchmarks.md). Bounded by the frames' memory; a frame is
    handed out as a copy, as callers may change what they are given. ``max_bytes`` 0 keeps nothing.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._lock = threading.Lock()
        self._frames: OrderedDict[tuple[Any, ...], tuple[pd.DataFrame, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...]) -> pd.DataFrame | None:
        with self._lock:
            hit = self._frames.get(key)
            if hit is None:
                self.misses += 1
                return None
            self._frames.move_to_end(key)
            self.hits += 1
        return hit[0].copy()

    def put(self, key: tuple[Any, ...], frame: pd.DataFrame) -> None:
        size = int(frame.memory_usage(index=True, deep=True).sum())
        if size > self.max_bytes // 4:  # one huge result would push out everything else
            return
        kept = frame.copy()
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._frames[key] = (kept, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._frames:
                _, (_, dropped) = self._frames.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._frames)


# The cursor ``WarehouseReader.connect`` handed out in this context, the identity of the file it reads and
# the reader's cache: ``cached_result`` keeps results of that cursor only.
_ATTACHED: contextvars.ContextVar[tuple[Any, tuple[int, int, int], ResultCache] | None] = (
    contextvars.ContextVar("medtower_attached", default=None)
)


def _frozen(value: Any) -> Any:
    """A parameter as a key: sequences element by element (an array's repr shortens a long one with '...')."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        if isinstance(items, list | tuple):
            return ("seq", *(_frozen(v) for v in items))
        value = items
    return (type(value).__name__, repr(value))


def cached_result(
    con: Any, sql: str, params: list[Any] | tuple[Any, ...], run: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """``run()``'s frame, from the cache when ``con`` is a cursor of ``WarehouseReader.connect`` that ran the
    same SQL with the same parameters on the same published file before; any other connection runs it."""
    attached = _ATTACHED.get()
    if attached is None or attached[0] is not con or not attached[2].max_bytes:
        return run()
    _, identity, cache = attached
    key = (identity, sql, _frozen(params))
    frame = cache.get(key)
    if frame is None:
        frame = run()
        cache.put(key, frame)
    return frame


class WarehouseReader:
    def __init__(self, path: Path, cache_bytes: int = 0) -> None:
        self.path = Path(path)
        self.results = ResultCache(cache_bytes)
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

    def _base_connection(self) -> tuple[duckdb.DuckDBPyConnection, tuple[int, int, int]]:
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
            return self._base, key

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the newest published warehouse, with the warehouse as default catalog."""
        base, identity = self._base_connection()
        cur = base.cursor()
        token = _ATTACHED.set((cur, identity, self.results))
        try:
            cur.execute("USE wh")
            yield cur
        finally:
            _ATTACHED.reset(token)
            cur.close()
