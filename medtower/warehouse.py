"""Warehouse access: read-only connections for readers, staged copies for writers.

DuckDB allows one writing process or many readers. Readers (the web app, alerts
queries, the CLI's read commands) open the *published* file read-only. A writer
(ingest, dbt build, alert state) never touches the published file: it copies it
into the build area, works on the copy, and publishes it as a new version.

Publishing: each version is its own file ``warehouse-<stamp>.duckdb`` and
``warehouse.duckdb`` is a symlink swapped atomically to the newest one. Readers
resolve the link and open the versioned path, because DuckDB caches open
databases per path inside a process: with one fixed path, a long-lived reader
would keep every later connection of that process on the old data. A reader that
already has the old version open keeps its snapshot; the next connection sees
the new one. The previous version is kept for readers that resolved the link a
moment before the swap; older ones are deleted. A failed run deletes its copy,
so the last good warehouse stays in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb

from medtower.settings import Settings

log = logging.getLogger(__name__)


class WarehouseMissingError(RuntimeError):
    pass


class WarehouseBusyError(RuntimeError):
    pass


def connect_readonly(settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only (never takes the write lock)."""
    path = settings.warehouse_path
    if not path.exists():
        raise WarehouseMissingError(
            f"no warehouse at {path}: run `medtower run DROP_DIR` (or `make run`) first, "
            "or point MEDTOWER_DATA_DIR at the folder that holds warehouse.duckdb"
        )
    return duckdb.connect(str(current_version(settings)), read_only=True)


def current_version(settings: Settings) -> Path:
    """The versioned file the published link points at right now."""
    return settings.warehouse_path.resolve()


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time per data dir, across processes."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = settings.data_dir / ".writer.lock"
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise WarehouseBusyError(
                f"another MedTower writer holds {lock_path}; wait for it to finish"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def staged(settings: Settings) -> Iterator[Path]:
    """Yield a private copy of the warehouse; publish it atomically if the block succeeds.

    The copy starts as the published warehouse (or empty on first run). Any
    exception discards the copy and leaves the published file untouched.
    """
    with writer_lock(settings):
        settings.build_dir.mkdir(parents=True, exist_ok=True)
        work = settings.build_dir / f"warehouse-{uuid.uuid4().hex[:12]}.duckdb"
        if settings.warehouse_path.exists():
            shutil.copyfile(current_version(settings), work)
        try:
            yield work
            _publish(work, settings.warehouse_path)
        finally:
            for leftover in (work, work.with_suffix(".duckdb.wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


def _publish(work: Path, link: Path) -> None:
    # Fold any WAL into the file so the published version is one complete database.
    con = duckdb.connect(str(work))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with open(work, "rb") as handle:
        os.fsync(handle.fileno())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    version = link.with_name(f"{link.stem}-{stamp}{link.suffix}")
    os.replace(work, version)
    previous = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        # A plain file from an older layout (or copied in by hand): keep it as a version.
        legacy = link.with_name(f"{link.stem}-legacy-{stamp}{link.suffix}")
        os.replace(link, legacy)
        previous = legacy
    tmp_link = link.with_name(f".{link.name}.{stamp}.tmp")
    os.symlink(version.name, tmp_link)
    os.replace(tmp_link, link)
    _fsync_dir(link.parent)
    _prune_versions(link, keep={version, previous})
    log.info("published warehouse %s -> %s", link, version.name)


def _prune_versions(link: Path, keep: set[Path | None]) -> None:
    for old in link.parent.glob(f"{link.stem}-*{link.suffix}"):
        if old not in keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
