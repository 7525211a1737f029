"""Warehouse access: read-only connections for readers, staged copies for writers.

DuckDB allows one writing process or many readers. Readers (the web app, alerts
queries, the CLI's read commands) open the *published* file read-only. A writer
(ingest, dbt build, alert state) never touches the published file: it copies it
into the build area, works on the copy, and publishes with an atomic rename. A
reader that already has the old file open keeps its snapshot; the next
connection sees the new one. A failed run deletes its copy, so the last good
warehouse stays in place.
"""

from __future__ import annotations

import contextlib
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
    return duckdb.connect(str(path), read_only=True)


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
            shutil.copyfile(settings.warehouse_path, work)
        try:
            yield work
            _publish(work, settings.warehouse_path)
        finally:
            for leftover in (work, work.with_suffix(".duckdb.wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


def _publish(work: Path, target: Path) -> None:
    # Fold any WAL into the file so the rename publishes one complete database.
    if work.exists():
        con = duckdb.connect(str(work))
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
    else:
        duckdb.connect(str(work)).close()
    with open(work, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(work, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    log.info("published warehouse %s", target)
