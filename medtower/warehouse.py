"""Warehouse access: a work database the writer changes in place, and read-only published versions.

DuckDB allows one writing process or many readers, so there are two kinds of file:

- The **work database** ``<data_dir>/work/warehouse.duckdb`` holds everything: raw, meta, the staging and
  intermediate views, the marts and the alert state. Only the writer that holds the writer lock opens it,
  and every writer step (ingest, source pulls, dbt build, alert evaluation) changes it in place: no run
  copies the warehouse. Its path never changes, so dbt's partial parse holds from run to run.
- **Published versions** ``<data_dir>/warehouse-<stamp>.duckdb`` hold what readers read and nothing else,
  the schemas of ``PUBLISHED_SCHEMAS`` (``marts``, ``meta``, ``alerts``); each is written once and never
  changed. ``warehouse.duckdb`` is a symlink swapped atomically to the newest. Readers (the web app,
  alert queries, the CLI's read commands) open the version the link points at read-only and never take
  the write lock. They open the versioned path because DuckDB caches open databases per path inside a
  process: with one fixed path, a long-lived reader would keep every later connection on the old data.

Publishing (``Work.publish``) ATTACHes a new file in the build area, copies every table and view of the
published schemas into it as a table (CREATE TABLE AS SELECT, in one transaction), checkpoints and
fsyncs it, moves it beside the link and swaps the link. When no build ran since the last publish, the
new file starts as a copy of the last version and only meta and alerts are written again (the CTAS of
the marts is most of a publish's time). A failed or killed run never reaches the swap,
so readers keep the last good version; what it changed in the work database stays there, and the
pipeline's dirty mark (``medtower.pipeline``) makes the next run build again.

A superseded version is deleted once it has been superseded for longer than ``RETIRE_AFTER_SECONDS``,
the time the web app's reader (dashboards/warehouse_reader.py) keeps a superseded version attached; on
Linux a reader that has the file open keeps reading it even after the delete. So at rest the data dir
holds the work database and one published version.

A data dir of the older layout (the published file was the whole warehouse, no work database) is
migrated once: the first writer seeds the work database from the published file and says so.

Crash hygiene: a writer killed outright (``kill -9``, power loss) cannot clean up, so the next writer,
once it holds the lock, removes what is left (a half-written version in the build area, a half-copied
seed, a half-made link, DuckDB's spill files of dead processes) before it starts, and says so. The work
database itself is never removed: DuckDB replays its WAL on the next open, and a transaction the kill
cut short was never committed. Before any work the writer checks the free disk, so a full disk is one
clear error and never a half-written version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# The next published version is about the size of the last; a little headroom for it to grow.
SPACE_FACTOR = 1.2
# What readers read (dashboards/, alerts/, medtower/ query nothing else): all a version holds.
PUBLISHED_SCHEMAS = ("marts", "meta", "alerts")
# How long a superseded version stays for readers still on it; the web app's reader retires its
# connection to a superseded version after as long (dashboards/warehouse_reader.py).
RETIRE_AFTER_SECONDS = 120.0
# Versions are warehouse-<stamp>.duckdb; a plain file of the older layout is kept as warehouse-legacy-<stamp>.
STAMP = "%Y%m%dT%H%M%S%f"
LEGACY = "legacy-"
VERSION = re.compile(r"(?P<legacy>legacy-)?(?P<stamp>\d{8}T\d{12})")
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
    """Open the work database for writing with the memory limit, threads and spill folder of the settings."""
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), config=duckdb_config(settings))


def connect_readonly(settings: Settings) -> Any:
    """Open the published warehouse read-only (never takes the write lock); use it as a context manager.

    On a PostgreSQL warehouse (``MEDTOWER_DBT_TARGET=postgres``) a cursor of ``medtower.pg`` that takes the
    same DuckDB SQL, in one read-only snapshot.
    """
    if settings.on_postgres:
        from medtower.pg import PostgresReader

        return PostgresReader(settings).connect()
    path = settings.warehouse_path
    if not path.exists():
        raise WarehouseMissingError(
            f"no warehouse at {path}: run `medtower run DROP_DIR` (or `make run`) first, "
            "or point MEDTOWER_DATA_DIR at the folder that holds warehouse.duckdb"
        )
    return duckdb.connect(str(current_version(settings)), read_only=True)


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is a table or view here. Asked, not tried: a failing statement would abort
    the connection's open transaction."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


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


@dataclass
class Work:
    """The work database of a writer session; ``publish`` puts what readers read on show."""

    settings: Settings
    path: Path
    # The published file the work database was seeded from (a data dir of the older layout), or None.
    seeded_from: Path | None = None

    def publish(
        self, *, marts_unchanged: bool = False, marts_rebuilt: list[str] | None = None
    ) -> dict[str, Any]:
        """Write the published schemas into a new version and swap the link; its name, size and time.

        ``marts_unchanged``: the caller knows the marts are those of the version published now (no build
        since), so the new version starts as a file copy of it and only meta and alerts are written again.
        ``marts_rebuilt``: the caller knows only these marts differ from the version published now (the
        builds since rebuilt them), so the copy gets those marts written again, not all.
        """
        return _publish(self.settings, self.path, reuse_marts=marts_unchanged, rebuilt=marts_rebuilt)


def work_path(settings: Settings) -> Path:
    """The writer's own database, at a path that is the same every run (dbt's partial parse keys on it)."""
    return (settings.data_dir / "work" / settings.warehouse_path.name).absolute()


@contextlib.contextmanager
def work_database(
    settings: Settings, on_locked: Callable[[list[Path]], None] | None = None
) -> Iterator[Work]:
    """Hold the writer lock and yield the work database, to change in place and publish when ready.

    Under the lock and before anything else: what a killed writer left is removed, ``on_locked`` is told
    what (the pipeline puts it and its own start on record), the free disk is checked
    (``DiskSpaceError``), a data dir of the older layout is migrated, and superseded versions past the
    retire window are deleted. Nothing is published unless the block calls ``Work.publish``.
    """
    with writer_lock(settings):
        removed = remove_leftovers(settings)
        if on_locked is not None:
            on_locked(removed)
        check_free_space(settings)
        seeded = seed_work_database(settings)
        prune_versions(settings)
        work_path(settings).parent.mkdir(parents=True, exist_ok=True)
        yield Work(settings, work_path(settings), seeded)


def seed_work_database(settings: Settings) -> Path | None:
    """Migrate a data dir of the older layout once: copy its published warehouse into the work database.

    Call under the writer lock. Copied under a temporary name and renamed, so a kill mid-copy leaves a
    file the next writer removes, never a half work database. Returns the file seeded from, or None.
    """
    work = work_path(settings)
    if work.exists() or not settings.warehouse_path.exists():
        return None
    source = current_version(settings)
    work.parent.mkdir(parents=True, exist_ok=True)
    partial = work.with_name(f".{work.name}.seed.tmp")
    shutil.copyfile(source, partial)
    _fsync_file(partial)
    os.replace(partial, work)
    _fsync_dir(work.parent)
    log.warning(
        "migrated the data dir to the work-database layout: seeded %s from the published warehouse %s "
        "(once; from now on writers change it in place and publish only the schemas %s)",
        work,
        source,
        ", ".join(PUBLISHED_SCHEMAS),
    )
    return source


def remove_leftovers(settings: Settings) -> list[Path]:
    """Delete what an interrupted writer left; call only under the writer lock.

    Everything in the build area (only the lock holder writes there: half-written versions, and the
    staged copies of the older layout), a half-made link beside the warehouse, a half-copied seed of the
    work database, and the spill files of dead processes in the temp folder.
    """
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    found = list(settings.build_dir.iterdir())
    found += settings.data_dir.glob(f".{settings.warehouse_path.name}.*.tmp")
    found += work_path(settings).parent.glob(f".{work_path(settings).name}.*.tmp")
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
    """Fail before any work when the disk cannot take the next published version (and a migration's seed).

    The next version is about the size of the last one; a data dir of the older layout also copies its
    whole published warehouse into the work database once.
    """
    size = current_version(settings).stat().st_size if settings.warehouse_path.exists() else 0
    seed = size if size and not work_path(settings).exists() else 0
    need = max(int((size + seed) * SPACE_FACTOR), settings.min_free_disk_mb * MB)
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(settings.build_dir).free
    if free < need:
        seeding = " and seeds the work database with a copy of it once" if seed else ""
        raise DiskSpaceError(
            f"needs {-(-need // MB):,} MB free in {settings.build_dir}, has {free // MB:,} MB "
            f"(a run writes the next published version there, about the {size / MB:,.1f} MB of the last "
            f"one{seeding}; at least MEDTOWER_MIN_FREE_DISK_MB={settings.min_free_disk_mb}): free some "
            "space on that disk or point MEDTOWER_DATA_DIR at a larger one; nothing was changed"
        )


def _publish(
    settings: Settings, work: Path, *, reuse_marts: bool = False, rebuilt: list[str] | None = None
) -> dict[str, Any]:
    began = time.monotonic()
    link = settings.warehouse_path
    stamp = dt.datetime.now(dt.UTC).strftime(STAMP)
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    written = settings.build_dir / f"{link.stem}-{stamp}{link.suffix}"
    base: Path | None = None
    try:
        con = connect_writer(settings, work)
        try:
            con.execute("SET enable_progress_bar = false")  # a long copy would draw on the CLI's terminal
            # Only a version of this layout (behind the link) holds exactly the published schemas.
            partial = not reuse_marts and rebuilt is not None
            base = current_version(settings) if (reuse_marts or partial) and link.is_symlink() else None
            if base is not None:
                shutil.copyfile(base, written)
            if base is None:
                tables = _copy_published_schemas(con, written)
            elif partial:
                tables = _copy_published_schemas(con, written, only={"marts": set(rebuilt or ())})
            else:
                tables = _copy_published_schemas(con, written, keep=("marts",))
        finally:
            con.close()
        _fsync_file(written)
        version = link.with_name(written.name)
        os.replace(written, version)
    except BaseException:
        for path in (written, written.with_name(written.name + ".wal")):
            path.unlink(missing_ok=True)
        raise
    if link.exists() and not link.is_symlink():
        # A plain file from the older layout (or copied in by hand): kept as a version until it retires.
        os.replace(link, link.with_name(f"{link.stem}-{LEGACY}{stamp}{link.suffix}"))
    tmp_link = link.with_name(f".{link.name}.{stamp}.tmp")
    os.symlink(version.name, tmp_link)
    os.replace(tmp_link, link)
    _fsync_dir(link.parent)
    prune_versions(settings)
    seconds = time.monotonic() - began
    size = version.stat().st_size
    log.info(
        "published warehouse %s -> %s (%d tables, %.1f MB, %.1fs)",
        link,
        version.name,
        tables,
        size / MB,
        seconds,
    )
    return {
        "version": version.name,
        "tables": tables,
        "bytes": size,
        "seconds": round(seconds, 3),
        "marts_of": base.name if base is not None else None,  # marts copied as a file from that version
        "marts_written": None if base is None else (0 if reuse_marts else len(rebuilt or ())),
    }


def _copy_published_schemas(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    keep: tuple[str, ...] = (),
    only: dict[str, set[str]] | None = None,
) -> int:
    """Copy every table and view of the published schemas into ``target`` as tables; how many.

    ``target`` may be a copy of the last version. ``keep``: schemas it already holds as they should be;
    ``only``: schemas of which it holds all but these tables as they should be, so only these are written
    again (and a table the work database no longer has is dropped); the other schemas are replaced whole.
    """
    only = only or {}
    con.execute(f"ATTACH {_literal(str(target))} AS published")
    try:
        schemas = {
            name
            for (name,) in con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database()"
            ).fetchall()
        }
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by table_schema, table_name"
        ).fetchall()
        con.execute("BEGIN TRANSACTION")
        count = 0
        try:
            for schema in PUBLISHED_SCHEMAS:
                if schema in keep:
                    continue
                if schema in only and schema in schemas:
                    count += _replace_tables(
                        con, schema, only[schema], [t for s, t in relations if s == schema]
                    )
                    continue
                con.execute(f"DROP SCHEMA IF EXISTS published.{_ident(schema)} CASCADE")
                if schema not in schemas:
                    continue
                con.execute(f"CREATE SCHEMA published.{_ident(schema)}")
                for table in (t for s, t in relations if s == schema):
                    name = f"{_ident(schema)}.{_ident(table)}"
                    con.execute(f"CREATE TABLE published.{name} AS SELECT * FROM {name}")
                    count += 1
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        con.execute("CHECKPOINT published")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH DATABASE IF EXISTS published")
    return count


def _replace_tables(con: duckdb.DuckDBPyConnection, schema: str, tables: set[str], present: list[str]) -> int:
    """In the attached copy ``published``: write these tables of ``schema`` again (and any it lacks), drop
    those the work database no longer has."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS published.{_ident(schema)}")
    there = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'published' "
            "and table_schema = ?",
            [schema],
        ).fetchall()
    }
    for gone in sorted(there - set(present)):
        con.execute(f"DROP TABLE published.{_ident(schema)}.{_ident(gone)}")
    count = 0
    for table in sorted(t for t in present if t in tables or t not in there):
        name = f"{_ident(schema)}.{_ident(table)}"
        con.execute(f"CREATE OR REPLACE TABLE published.{name} AS SELECT * FROM {name}")
        count += 1
    return count


def published_versions(settings: Settings) -> list[Path]:
    """The version files beside the link, oldest first (files of other names are left alone)."""
    link = settings.warehouse_path
    found = [
        (m["stamp"], m["legacy"] is None, p)
        for p in link.parent.glob(f"{link.stem}-*{link.suffix}")
        if (m := VERSION.fullmatch(p.name[len(link.stem) + 1 : -len(link.suffix) or None]))
    ]
    return [p for _, _, p in sorted(found)]


def prune_versions(
    settings: Settings, *, retire_after: float = RETIRE_AFTER_SECONDS, now: dt.datetime | None = None
) -> list[Path]:
    """Delete the versions superseded longer than ``retire_after`` seconds ago; the ones deleted.

    Safe at any time, also without the writer lock: the newest version and the one the link points at
    are never deleted, and a version is superseded when the next one was published (its stamp).
    """
    link = settings.warehouse_path
    current = link.resolve() if link.is_symlink() else None
    now = now or dt.datetime.now(dt.UTC)
    versions = published_versions(settings)
    removed = []
    for older, newer in itertools.pairwise(versions):
        superseded = _stamp_of(older) if LEGACY in older.name else _stamp_of(newer)
        if older == current or (now - superseded).total_seconds() <= retire_after:
            continue
        with contextlib.suppress(FileNotFoundError):
            older.unlink()
            removed.append(older)
    if removed:
        log.info("deleted superseded warehouse versions: %s", ", ".join(p.name for p in removed))
    return removed


def _stamp_of(version: Path) -> dt.datetime:
    stamp = version.name.rsplit("-", 1)[1].removesuffix(version.suffix)
    return dt.datetime.strptime(stamp, STAMP).replace(tzinfo=dt.UTC)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
