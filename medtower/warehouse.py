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

Crash hygiene: a writer killed outright (``kill -9``, power loss) cannot delete its copy, so the next
writer, once it holds the lock, removes what is left in the build area (copies, WALs, DuckDB's spill
files of dead processes, a half-made link) before it starts, and says so. Before it copies anything it
checks the free disk, so a full disk is one clear error and never a half-written copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from medtower.settings import Settings

log = logging.getLogger(__name__)


class WarehouseMissingError(RuntimeError):
    pass


class WarehouseBusyError(RuntimeError):
    pass


class DiskSpaceError(RuntimeError):
    """Too little free disk for a run; raised before any copy is made."""


MB = 1024 * 1024
# A run copies the warehouse into the build area and grows it a little before the publish.
SPACE_FACTOR = 1.2
# DuckDB names its spill files duckdb_temp_<pid>_...; only a dead process's may go.
SPILL_FILE = re.compile(r"duckdb_temp_(?P<pid>\d+)_")


def duckdb_config(settings: Settings) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB's resources for every writer; dbt gets the same (``MEDTOWER_DUCKDB_*`` in its profile)."""
    return {
        "memory_limit": settings.duckdb_memory_limit,
        "threads": settings.duckdb_threads,
        "temp_directory": str(settings.duckdb_temp_dir.resolve()),
    }


def connect_writer(settings: Settings, path: Path) -> duckdb.DuckDBPyConnection:
    """Open a staged copy for writing with the memory limit, threads and spill folder of the settings."""
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), config=duckdb_config(settings))


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
def staged(settings: Settings, on_locked: Callable[[list[Path]], None] | None = None) -> Iterator[Path]:
    """Yield a private copy of the warehouse; publish it atomically if the block succeeds.

    The copy starts as the published warehouse (or empty on first run). Any
    exception discards the copy and leaves the published file untouched. Under the
    lock and before the copy: what a killed writer left is removed, ``on_locked`` is
    told what (the pipeline puts it and its own start on record), and the free disk
    is checked (``DiskSpaceError``).
    """
    with writer_lock(settings):
        removed = remove_leftovers(settings)
        if on_locked is not None:
            on_locked(removed)
        check_free_space(settings)
        # A folder per run (the copy, its WAL and spill go together), reached also as build/current.
        run_dir = settings.build_dir / f"run-{uuid.uuid4().hex[:12]}"
        current = build_alias(settings)
        try:
            run_dir.mkdir()
            current.parent.symlink_to(run_dir.name)
            work = run_dir / current.name
            if settings.warehouse_path.exists():
                shutil.copyfile(current_version(settings), work)
            yield work
            _publish(work, settings)
        finally:
            current.parent.unlink(missing_ok=True)
            shutil.rmtree(run_dir, ignore_errors=True)


def build_alias(settings: Settings) -> Path:
    """The staged copy under a path that is the same every run, for dbt.

    dbt keys its partial parse on the profile, the DuckDB path included: a new path each
    run would make every build parse the whole project again (about 20 s here).
    """
    return (settings.build_dir / "current" / "warehouse.duckdb").absolute()


def remove_leftovers(settings: Settings) -> list[Path]:
    """Delete what an interrupted writer left; call only under the writer lock.

    Everything in the build area (only the lock holder writes there), a half-made
    link beside the warehouse, and the spill files of dead processes in the temp folder.
    """
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    found = list(settings.build_dir.iterdir())
    found += settings.data_dir.glob(f".{settings.warehouse_path.name}.*.tmp")
    temp = settings.duckdb_temp_dir
    if temp.is_dir():
        for spill in temp.iterdir():
            match = SPILL_FILE.match(spill.name)
            if match and not process_alive(int(match["pid"])):
                found.append(spill)
    removed = []
    for path in sorted(found):
        with contextlib.suppress(FileNotFoundError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    if removed:
        log.warning("removed what an interrupted writer left: %s", ", ".join(str(p) for p in removed))
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this id exists on this machine (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_free_space(settings: Settings) -> None:
    """Fail before any work when the build area's disk cannot take a copy of the warehouse."""
    size = current_version(settings).stat().st_size if settings.warehouse_path.exists() else 0
    need = max(int(size * SPACE_FACTOR), settings.min_free_disk_mb * MB)
    free = shutil.disk_usage(settings.build_dir).free
    if free < need:
        raise DiskSpaceError(
            f"needs {-(-need // MB):,} MB free in {settings.build_dir}, has {free // MB:,} MB "
            f"(a run copies the {size / MB:,.1f} MB warehouse there and grows it; at least "
            f"MEDTOWER_MIN_FREE_DISK_MB={settings.min_free_disk_mb}): free some space on that disk "
            "or point MEDTOWER_DATA_DIR at a larger one; nothing was changed"
        )


def _publish(work: Path, settings: Settings) -> None:
    link = settings.warehouse_path
    # Fold any WAL into the file so the published version is one complete database.
    con = connect_writer(settings, work)
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
