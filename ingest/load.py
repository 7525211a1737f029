"""Ingest a drop folder into the warehouse: read, validate, quarantine, upsert — in one transaction.

Load mode is merge on the entity key: a row whose contract values hash to the stored
``_row_hash`` is left alone (an identical re-delivery changes nothing), any other row
replaces the stored version (DELETE + INSERT). Rows that break the contract go to
``meta.rejects`` with their file, line, column and reason; re-seeing the same reject
only moves its ``last_run_id`` / ``last_seen_at``.

A CSV larger than ``MEDTOWER_INGEST_BATCH_BYTES`` is validated and merged batch by batch
(``_load_csv_in_batches``), so a file costs one batch's working memory; it still commits with the run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import duckdb

from ingest.contract import Contract, Entity, load_contract, load_order
from ingest.dropfolder import (
    CsvBatches,
    DropFile,
    ReadResult,
    original_lines,
    quote_ident,
    read_csv_chunk,
    read_file,
    scan_folder,
)
from ingest.validate import (
    OFFSET_SUFFIX_RE,
    SQL_TYPES,
    HeaderMap,
    build_reasons,
    lit,
    map_header,
    ref_reasons,
    typed_sql,
    value_sql,
)
from medtower.settings import Settings
from medtower.warehouse import relation_exists

log = logging.getLogger(__name__)

BOOKKEEPING = [
    ("_extra", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("_source_line", "BIGINT"),
    ("_run_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_row_hash", "VARCHAR"),
]

META_DDL = [
    """CREATE TABLE IF NOT EXISTS meta.ingest_runs (
        run_id VARCHAR PRIMARY KEY, drop_dir VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP,
        outcome VARCHAR, error VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS meta.ingest_files (
        run_id VARCHAR, entity VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT, rows_read BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta.ingest_run_entities (
        run_id VARCHAR, entity VARCHAR, file VARCHAR, rows_read BIGINT, rows_loaded BIGINT,
        rows_unchanged BIGINT, rows_rejected BIGINT, rows_superseded BIGINT)""",
    """CREATE TABLE IF NOT EXISTS meta.rejects (
        reject_id VARCHAR PRIMARY KEY, entity VARCHAR, file VARCHAR, line BIGINT, "column" VARCHAR,
        reason VARCHAR, raw VARCHAR, raw_hash VARCHAR, first_run_id VARCHAR, first_seen_at TIMESTAMP,
        last_run_id VARCHAR, last_seen_at TIMESTAMP, raw_line BLOB)""",
    # the bytes of the refused line as delivered (warehouses from before it get the column here)
    "ALTER TABLE meta.rejects ADD COLUMN IF NOT EXISTS raw_line BLOB",
    # ``raw`` is what any reader is shown: personal data (pii columns) masked; the full row is kept in
    # ``raw_full`` (and ``raw_line``) for whoever may see it
    "ALTER TABLE meta.rejects ADD COLUMN IF NOT EXISTS raw_full VARCHAR",
    # a file refused whole says why; it is never skipped as "unchanged", it fails again
    "ALTER TABLE meta.ingest_files ADD COLUMN IF NOT EXISTS file_error VARCHAR",
]
PII_MASK = "*** personal data ***"


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    """Execute and drain, so the connection is free for the next statement."""
    return con.execute(sql, params or []).fetchall()


def ensure_schema(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create ``raw`` / ``meta`` and every raw table; add contract columns that are new."""
    _run(con, "CREATE SCHEMA IF NOT EXISTS raw")
    _run(con, "CREATE SCHEMA IF NOT EXISTS meta")
    for ddl in META_DDL:
        _run(con, ddl)
    for entity in contract:
        cols = [(c.name, SQL_TYPES[c.type]) for c in entity.columns] + BOOKKEEPING
        body = ", ".join(f"{quote_ident(n)} {t}" for n, t in cols)
        _run(con, f"CREATE TABLE IF NOT EXISTS raw.{entity.name} ({body})")
        existing = {
            r[0]
            for r in _run(
                con,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ?",
                [entity.name],
            )
        }
        for name, ctype in cols:
            if name not in existing:
                _run(con, f"ALTER TABLE raw.{entity.name} ADD COLUMN {quote_ident(name)} {ctype}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def ingest_folder(con: duckdb.DuckDBPyConnection, drop_dir: Path, settings: Settings) -> dict[str, Any]:
    """Load every ``<entity>.csv|xlsx`` of ``drop_dir``; all writes in one transaction."""
    drop_dir = Path(drop_dir)
    contract = load_contract()
    started = _utcnow()
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {
        "run_id": run_id,
        "outcome": "failed",
        "started_at": started.isoformat(),
        "ended_at": None,
        "drop_dir": str(drop_dir),
        "entities": [],
        "rejected_total": 0,
        "ignored_files": [],
        "failed_files": [],
        "error": None,
    }
    _run(con, "BEGIN TRANSACTION")
    try:
        ensure_schema(con, contract)
        _check_timezone(con, settings.default_timezone)
        if not drop_dir.is_dir():
            raise FileNotFoundError(f"drop folder {drop_dir} does not exist or is not a folder")
        scan = scan_folder(drop_dir, contract)
        result["ignored_files"] = scan.ignored
        by_entity: dict[str, list[DropFile]] = {}
        for f in scan.files:
            by_entity.setdefault(f.entity, []).append(f)
        changed: set[str] = set()  # entities whose stored rows this run changed
        for entity in load_order(contract):
            for file in by_entity.get(entity.name, []):
                conflict = scan.conflicts.get(entity.name)
                stats = None if conflict else _skip_unchanged(con, entity, file, changed, run_id, started)
                if stats is None:
                    stats = _ingest_file(con, contract, entity, file, conflict, run_id, started, settings)
                if stats["rows_loaded"] or stats.get("rows_removed"):
                    changed.add(entity.name)
                result["entities"].append(stats)
        result["rejected_total"] = sum(e["rows_rejected"] for e in result["entities"])
        result["failed_files"] = [
            {"entity": e["entity"], "file": e["file"], "error": e["file_error"]}
            for e in result["entities"]
            if e.get("file_error")
        ]
        ended = _utcnow()
        _run(
            con,
            "INSERT INTO meta.ingest_runs VALUES (?, ?, ?, ?, 'succeeded', NULL)",
            [run_id, str(drop_dir), started, ended],
        )
        _run(con, "COMMIT")
        result.update(outcome="succeeded", ended_at=ended.isoformat())
    except Exception as exc:
        log.exception("ingest run %s failed", run_id)
        _run(con, "ROLLBACK")
        ended = _utcnow()
        result.update(outcome="failed", ended_at=ended.isoformat(), error=f"{type(exc).__name__}: {exc}")
        try:  # record the failure on its own; the data itself is as before the run
            _run(con, "BEGIN TRANSACTION")
            ensure_schema(con, contract)
            _run(
                con,
                "INSERT INTO meta.ingest_runs VALUES (?, ?, ?, ?, 'failed', ?)",
                [run_id, str(drop_dir), started, ended, result["error"]],
            )
            _run(con, "COMMIT")
        except Exception:
            log.exception("could not record the failed run %s", run_id)
            _run(con, "ROLLBACK")
    finally:
        _drop_temp_tables(con)
    return result


def _depends_on(entity: Entity) -> set[str]:
    """Entities whose stored rows decide how this one's rows load: references and time-zone sources."""
    deps = {c.ref for c in entity.columns if c.ref} | {c.site_from for c in entity.columns if c.site_from}
    if any(c.type == "timestamp" for c in entity.columns):
        deps.add("sites")
    deps.discard(entity.name)
    return {d for d in deps if d}


def _skip_unchanged(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    file: DropFile,
    changed: set[str],
    run_id: str,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """Stats of a file left unread because it is byte for byte its last loaded delivery; else None.

    A file is read again when anything it depends on changed in this run (a parent it refers to, the
    sites whose time zones its timestamps take): a row quarantined for a missing parent may load now.
    """
    if _depends_on(entity) & changed:
        return None
    from ingest.dropfolder import _file_facts

    last = _run(
        con,
        """SELECT f.run_id, f.sha256, f.bytes, f.rows_read, f.file_error FROM meta.ingest_files f
           JOIN meta.ingest_runs r USING (run_id)
           WHERE r.outcome = 'succeeded' AND f.entity = ? AND f.file = ?
           ORDER BY r.started_at DESC LIMIT 1""",
        [entity.name, file.name],
    )
    # a file of another size changed: no need to hash it here, the read hashes it once
    if not last or last[0][4] is not None or last[0][2] != file.path.stat().st_size:
        return None
    sha, size = _file_facts(file.path)[:2]
    if last[0][1] != sha:
        return None
    prev_run, _, _, rows_read, _ = last[0]
    prev = _run(
        con,
        """SELECT rows_loaded + rows_unchanged, rows_rejected, rows_superseded FROM meta.ingest_run_entities
           WHERE run_id = ? AND entity = ? AND file = ?""",
        [prev_run, entity.name, file.name],
    )
    kept, rejected, superseded = prev[0] if prev else (rows_read, 0, 0)
    # its rejects are still open: they are seen again in this run
    _run(
        con,
        "UPDATE meta.rejects SET last_run_id = ?, last_seen_at = ? WHERE entity = ? AND file = ? "
        "AND last_run_id = ?",
        [run_id, now, entity.name, file.name, prev_run],
    )
    _run(
        con,
        "INSERT INTO meta.ingest_files (run_id, entity, file, sha256, bytes, rows_read) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, entity.name, file.name, sha, size, rows_read],
    )
    _run(
        con,
        "INSERT INTO meta.ingest_run_entities VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
        [run_id, entity.name, file.name, rows_read, kept, rejected, superseded],
    )
    log.info("ingest %s: %s unchanged since run %s, not read again", entity.name, file.name, prev_run)
    # the rows are accounted for as in the last delivery: in = unchanged + superseded + rejected
    return {
        "entity": entity.name,
        "file": file.name,
        "rows_read": rows_read,
        "rows_loaded": 0,
        "rows_unchanged": kept,
        "rows_rejected": rejected,
        "rows_superseded": superseded,
        "skipped": f"unchanged since run {prev_run}",
    }


def _check_timezone(con: duckdb.DuckDBPyConnection, tz: str) -> None:
    if not _run(con, "SELECT 1 FROM pg_timezone_names() WHERE name = ?", [tz]):
        raise ValueError(f"MEDTOWER_DEFAULT_TIMEZONE={tz!r} is not an IANA time zone name (e.g. UTC)")


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for (name,) in _run(con, "SELECT table_name FROM duckdb_tables() WHERE temporary"):
        _run(con, f"DROP TABLE IF EXISTS temp.main.{quote_ident(name)}")


MODES = ("merge", "replace", "append", "patch", "reconcile")


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    entity: Entity,
    file: DropFile,
    conflict: list[str] | None,
    run_id: str,
    now: dt.datetime,
    settings: Settings,
) -> dict[str, Any]:
    if conflict:
        # two deliveries of one entity: which one is newer is unknowable, so neither is loaded
        read = ReadResult(file=file, sha256="", bytes=file.path.stat().st_size)
        read.file_error = (
            f"{entity.name} is delivered more than once ({', '.join(conflict)}); deliver one file"
        )
        from ingest.dropfolder import _file_facts

        read.sha256 = _file_facts(file.path)[0]
    elif file.path.suffix.lower() == ".csv" and file.path.stat().st_size > settings.ingest_batch_bytes:
        log.info("ingest %s: %s in batches of %s bytes", entity.name, file.name, settings.ingest_batch_bytes)
        return _load_csv_in_batches(con, contract, entity, file, run_id, now, settings)
    else:
        read = read_file(con, file, entity, contract.limits.line_bytes)
    log.info("ingest %s: %s", entity.name, file.name)
    return load_read(con, contract, entity, read, run_id, now, settings)


def _new_stats(entity: Entity, file: DropFile) -> dict[str, Any]:
    return {
        "entity": entity.name,
        "file": file.name,
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_unchanged": 0,
        "rows_rejected": 0,
        "rows_superseded": 0,
    }


def _check_header(entity: Entity, read: ReadResult, mode: str) -> tuple[HeaderMap | None, list]:
    """The header against the contract: its map, and the reasons that refuse the whole delivery."""
    file_errors: list[tuple[str | None, str]] = []
    hmap: HeaderMap | None = None
    if read.file_error:
        file_errors.append((None, read.file_error))
        return hmap, file_errors
    name = read.file.name
    hmap = map_header(entity, read.header, name, patch=mode in ("patch", "reconcile"))
    if not hmap.source:
        # Not one column the contract knows: the wrong file, or another delimiter. One reason, not one
        # "missing" per contract column.
        got = ", ".join(h for h in read.header[:8] if h) + (" ..." if len(read.header) > 8 else "")
        file_errors.append(
            (
                None,
                f"no column of the header of {name} ({got}) is a column of {entity.name} in the "
                f"contract (expected {', '.join(entity.column_names[:6])} ...): is it the right file, "
                "comma-separated?",
            )
        )
    else:
        file_errors.extend(hmap.errors)
    return hmap, file_errors


def _reset_run_rejects(con: duckdb.DuckDBPyConnection) -> None:
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE run_rejects "
        '(line BIGINT, "column" VARCHAR, reason VARCHAR, raw VARCHAR)',
    )


def _refuse_header(con: duckdb.DuckDBPyConnection, read: ReadResult, file_errors: list) -> str:
    """Quarantine the reasons a whole delivery is refused (at line 1); returns the summary's file error."""
    header_raw = read.raw_text if read.raw_text is not None else json.dumps({"header": read.header})
    for column, reason in file_errors:
        _run(con, "INSERT INTO run_rejects VALUES (1, ?, ?, ?)", [column, reason, header_raw])
    return "; ".join(reason for _, reason in file_errors)


def _rows_in(con: duckdb.DuckDBPyConnection, read: ReadResult) -> int:
    if read.table:
        return int(_run(con, f"SELECT count(*) FROM {read.table}")[0][0]) + len(read.structural)
    return read.rows_read


def _finish_batch(
    con: duckdb.DuckDBPyConnection, entity: Entity, read: ReadResult, run_id: str, now: dt.datetime
) -> None:
    """Quarantine what ``run_rejects`` holds for this delivery (or batch) and drop its records' table."""
    file = read.file
    for s in read.structural:
        _run(
            con,
            "INSERT INTO run_rejects VALUES (?, NULL, ?, ?)",
            [s.line, s.reason, json.dumps({"_line": s.text})],
        )
    _store_rejects(con, entity.name, file.name, run_id, now, by_line=file.label is None)
    _mask_personal_data(con, entity, file.name, run_id)
    if file.label is None and file.path.suffix.lower() == ".csv":
        _store_original_bytes(con, entity.name, read, run_id)
    if read.table:
        _run(con, f"DROP TABLE IF EXISTS {read.table}")


def _record_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    file: DropFile,
    sha256: str,
    size: int,
    stats: dict[str, Any],
    run_id: str,
) -> None:
    _run(
        con,
        "INSERT INTO meta.ingest_files (run_id, entity, file, sha256, bytes, rows_read, file_error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, entity.name, file.name, sha256, size, stats["rows_read"], stats.get("file_error")],
    )
    _run(
        con,
        "INSERT INTO meta.ingest_run_entities VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            entity.name,
            file.name,
            stats["rows_read"],
            stats["rows_loaded"],
            stats["rows_unchanged"],
            stats["rows_rejected"],
            stats["rows_superseded"],
        ],
    )


def load_read(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    entity: Entity,
    read: ReadResult,
    run_id: str,
    now: dt.datetime,
    settings: Settings,
    mode: str = "merge",
) -> dict[str, Any]:
    """Validate, quarantine and load one delivery already read into ``read.table``.

    Files and connector batches (``ingest.sources``) both come through here, so they share the
    contract's checks, the quarantine and the run bookkeeping. ``mode``: ``merge`` upserts on the key;
    ``replace`` also removes the stored rows of the same delivery label that this one no longer holds;
    ``append`` only adds keys not stored yet; ``patch`` updates the delivered columns of stored rows and
    quarantines a row whose key is not stored; ``reconcile`` writes nothing and quarantines each row whose
    key is not stored or whose delivered values differ from the stored ones (a copy of our own PO, EDI 850).
    """
    if mode not in MODES:
        raise ValueError(f"load mode {mode!r} for {entity.name}: allowed {', '.join(MODES)}")
    stats = _new_stats(entity, read.file)
    hmap, file_errors = _check_header(entity, read, mode)
    _reset_run_rejects(con)
    if file_errors:
        # The whole file is refused: the summary names it and `medtower ingest` exits non-zero.
        stats["file_error"] = _refuse_header(con, read, file_errors)
        stats["rows_read"] = stats["rows_rejected"] = _rows_in(con, read)
    else:
        assert hmap is not None and read.table is not None
        stats.update(
            _validate_and_load(con, contract, entity, read.file, read, hmap, run_id, now, settings, mode)
        )
    _finish_batch(con, entity, read, run_id, now)
    _record_file(con, entity, read.file, read.sha256, read.bytes, stats, run_id)
    return stats


def _load_csv_in_batches(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    entity: Entity,
    file: DropFile,
    run_id: str,
    now: dt.datetime,
    settings: Settings,
) -> dict[str, Any]:
    """A CSV larger than one batch: validated and merged batch by batch, inside the run's transaction.

    Each batch goes through the same checks, quarantine and merge as a whole file. Only the duplicate keys
    reach across batches (the file's last line of a key is its version): the keys that repeat are found
    first by a quick read of the key columns, and only then, if there are any, where each one last occurs.
    """
    from ingest.dropfolder import _csv_header

    with open(file.path, "rb") as handle:
        header = _csv_header(handle.read(1 << 20))
    if not header or all(h == "" for h in header):  # an empty header: refused the ordinary way
        return load_read(
            con,
            contract,
            entity,
            read_file(con, file, entity, contract.limits.line_bytes),
            run_id,
            now,
            settings,
        )
    work = chunk_dir(settings)
    line_bytes = contract.limits.line_bytes
    stats = _new_stats(entity, file)
    hmap, file_errors = _check_header(
        entity, ReadResult(file=file, sha256="", bytes=0, header=header), "merge"
    )
    last_lines = None
    if not file_errors:
        assert hmap is not None
        last_lines = _repeated_keys(con, entity, hmap, file, len(header), line_bytes, settings, work)
    batches = CsvBatches(file.path, settings.ingest_batch_bytes, work, line_bytes)
    for number, chunk in enumerate(batches):
        read = read_csv_chunk(con, file, chunk, line_bytes)
        read.header = header
        _reset_run_rejects(con)
        if file_errors:
            if number == 0:
                stats["file_error"] = _refuse_header(con, read, file_errors)
            stats["rows_read"] += _rows_in(con, read)
        else:
            assert hmap is not None
            part = _validate_and_load(
                con,
                contract,
                entity,
                file,
                read,
                hmap,
                run_id,
                now,
                settings,
                "merge",
                last_lines,
                number > 0,
            )
            for k, n in part.items():
                stats[k] = stats.get(k, 0) + n
        _finish_batch(con, entity, read, run_id, now)
    if file_errors:
        stats["rows_rejected"] = stats["rows_read"]
    if last_lines:
        _run(con, f"DROP TABLE IF EXISTS {last_lines}")
    _record_file(con, entity, file, batches.sha256, batches.bytes, stats, run_id)
    return stats


def chunk_dir(settings: Settings) -> Path:
    """Where a large file's chunks go: named like DuckDB's own spill files (``duckdb_temp_<pid>_``), so the
    next writer's crash hygiene (``medtower.warehouse.remove_leftovers``) removes what a killed run left."""
    return settings.duckdb_temp_dir / f"duckdb_temp_{os.getpid()}_ingest_{uuid.uuid4().hex[:8]}"


def _repeated_keys(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    hmap: HeaderMap,
    file: DropFile,
    n_columns: int,
    line_bytes: int,
    settings: Settings,
    work: Path,
) -> str | None:
    """Temp table ``(k0.., last_line)`` of the keys a large file holds more than once, or None (the usual
    case: no key repeats, so no batch's row can be superseded by a later batch's)."""
    name = entity.name
    keys = [value_sql(hmap, k) for k in entity.key]
    key_cols = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    ks = ", ".join(f"k{i}" for i in range(len(keys)))
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns)) + "}"
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE dupkeys_{name} AS
            SELECT {ks} FROM (SELECT {key_cols} FROM read_csv({lit(str(file.path))}, columns={columns},
                header=true, auto_detect=false, delim=',', quote='"', escape='"', strict_mode=true,
                null_padding=false, encoding='utf-8', max_line_size={int(line_bytes)}, ignore_errors=true))
            GROUP BY ALL HAVING count(*) > 1""",
    )
    if not _run(con, f"SELECT count(*) FROM (SELECT 1 FROM dupkeys_{name} LIMIT 1)")[0][0]:
        _run(con, f"DROP TABLE dupkeys_{name}")
        return None
    # some keys repeat: where each of them occurs, in a first pass over the batches
    match = " AND ".join(f"s.k{i} IS NOT DISTINCT FROM d.k{i}" for i in range(len(keys)))
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE duplines_{name} AS "
        f"SELECT *, 0::BIGINT AS _line FROM dupkeys_{name} LIMIT 0",
    )
    for chunk in CsvBatches(file.path, settings.ingest_batch_bytes, work, line_bytes):
        read = read_csv_chunk(con, file, chunk, line_bytes)
        _run(
            con,
            f"""INSERT INTO duplines_{name}
                SELECT s.* FROM (SELECT {key_cols}, _line FROM {read.table}) s
                WHERE EXISTS (SELECT 1 FROM dupkeys_{name} d WHERE {match})""",
        )
        _run(con, f"DROP TABLE IF EXISTS {read.table}")
    out = f"lastlines_{name}"
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE {out} AS SELECT {ks}, max(_line) AS last_line FROM duplines_{name}
            GROUP BY ALL HAVING count(*) > 1""",
    )
    _run(con, f"DROP TABLE dupkeys_{name}")
    _run(con, f"DROP TABLE duplines_{name}")
    return out


def _tz_source(contract: Contract, entity: Entity, hmap: HeaderMap, settings: Settings) -> tuple[str, str]:
    """(join clause, tz expression) giving each row's site time zone, in SQL.

    The row's own site_id, else the site of the first delivered column that refers to (``ref``) or names
    (``site_from``) an entity with a site_id, else MEDTOWER_DEFAULT_TIMEZONE.
    """
    default = lit(settings.default_timezone)
    if "site_id" in hmap.source:
        via = f"LEFT JOIN raw.sites tz_s ON tz_s.site_id = {value_sql(hmap, 'site_id')}"
        return via, f"coalesce(tz_s.timezone, {default})"
    for col in entity.columns:
        target = col.ref or col.site_from
        if col.name not in hmap.source or target is None or target == entity.name:
            continue
        parent = contract[target]
        if "site_id" not in parent.column_names:
            continue
        pk = quote_ident(parent.key[0])
        via = (
            f"LEFT JOIN (SELECT {pk} AS k, any_value(site_id) AS site_id FROM raw.{parent.name} "
            f"GROUP BY {pk}) tz_p ON tz_p.k = {value_sql(hmap, col.name)} "
            "LEFT JOIN raw.sites tz_s ON tz_s.site_id = tz_p.site_id"
        )
        return via, f"coalesce(tz_s.timezone, {default})"
    return "", default


def _local_time_reasons(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    hmap: HeaderMap,
    src: str,
    out: str,
    via: str,
    tz: str,
    default_tz: str,
    n_rows: int,
) -> None:
    """Quarantine local times (no offset) that do not exist at the site or happen twice (DST changes).

    The exact test takes six time-zone conversions per value; it runs only on values in a wall-clock hour
    near a change of a zone's UTC offset (``_offset_change_hours``), a hash lookup for all the others.
    """
    for col in entity.columns:
        if col.type != "timestamp" or col.name not in hmap.source:
            continue
        v = value_sql(hmap, col.name)
        local = f"TRY_CAST({v} AS TIMESTAMP)"
        no_offset = (
            f"{v} IS NOT NULL AND NOT regexp_matches({v}, '{OFFSET_SUFFIX_RE}') AND {local} IS NOT NULL"
        )
        candidates = f"SELECT src._line, {v} AS v, {tz} AS tz, {local} AS local FROM {src} src {via}"
        if n_rows > SMALL_DELIVERY:
            # the span of the delivered times (whole years around it are listed: an offset does not matter)
            lo, hi = _run(con, f"SELECT min({local}), max({local}) FROM {src}")[0]
            if lo is None:
                continue
            hours = _offset_change_hours(con, lo, hi, default_tz)
            where = f" WHERE {no_offset}"
            if hours:
                candidates += f" JOIN {hours} x ON x.tz = {tz} AND x.h = date_trunc('hour', {local})"
                # the rows in those hours first (a hash lookup), then the offset test on the few left: the
                # optimizer would otherwise run the regular expression on every row before the join
                candidates = f"WITH c AS MATERIALIZED ({candidates}) SELECT * FROM c"
                where = f" WHERE c.v IS NOT NULL AND NOT regexp_matches(c.v, '{OFFSET_SUFFIX_RE}')"
                where += " AND c.local IS NOT NULL"
            # the candidates first, in a table of their own: the optimizer would otherwise test every row
            _run(con, f"CREATE OR REPLACE TEMP TABLE dst_candidates AS {candidates}{where}")
            candidates = "SELECT * FROM dst_candidates"
        else:  # a small delivery (a connector's batch): one statement, every value tested
            candidates += f" WHERE {no_offset}"
        instant = "timezone(c.tz, c.local)"
        gap = f"timezone(c.tz, {instant}) <> c.local"
        twice = " OR ".join(
            f"timezone(c.tz, {instant} {op} INTERVAL {n} MINUTE) = c.local" for op in "+-" for n in (30, 60)
        )
        _run(
            con,
            f"""INSERT INTO {out}
                SELECT c._line, {lit(col.name)},
                       c.v || CASE WHEN {gap}
                           THEN ' does not exist in ' || c.tz
                                || ': the clocks skip it (daylight saving starts)'
                           ELSE ' happens twice in ' || c.tz || ' (daylight saving ends)' END
                       || '; send it with its UTC offset'
                FROM ({candidates}) c
                WHERE {gap} OR {twice}""",
        )
        if n_rows > SMALL_DELIVERY:
            _run(con, "DROP TABLE IF EXISTS dst_candidates")


SMALL_DELIVERY = 5_000  # rows; fewer are tested for daylight-saving times directly (fewer statements)


def _offset_change_hours(
    con: duckdb.DuckDBPyConnection, lo: dt.datetime, hi: dt.datetime, default_tz: str
) -> str | None:
    """Temp table ``(tz, h)``: for every zone a row can take (the sites' and the default), the local
    wall-clock hours in which a time can be skipped or happen twice, over whole years around ``lo`` ..
    ``hi``; None when the span is too long to list (the exact test then runs on every value).

    Found hour by hour in UTC: where one UTC hour is not one local hour, the offset changed by ``d``; the
    local times from ``d`` + 1 hour before to ``d`` + 1 hour after that change are listed (any ``d``: an
    hour's daylight saving, Lord Howe's half hour, Samoa's skipped day). Kept for the run (the temp
    table ``offset_change_span`` says for which years and zones) and widened when a batch needs more.
    """
    if (hi - lo) > dt.timedelta(days=366 * 60):
        return None
    out = "offset_change_hours"
    zones = _run(
        con,
        "SELECT md5(string_agg(tz, ',' ORDER BY tz)) FROM "
        "(SELECT timezone AS tz FROM raw.sites WHERE timezone IS NOT NULL UNION SELECT ?)",
        [default_tz],
    )[0][0]
    first, last = max(lo.year - 1, 1), min(hi.year + 1, 9999)
    has_span = _run(
        con, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'offset_change_span'"
    )[0][0]
    if has_span:
        cached = _run(con, "SELECT first_year, last_year, zones FROM offset_change_span")
        if cached and cached[0][2] == zones:
            if cached[0][0] <= first and last <= cached[0][1]:
                return out
            first, last = min(first, cached[0][0]), max(last, cached[0][1])
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
            WITH z AS (SELECT timezone AS tz FROM raw.sites WHERE timezone IS NOT NULL UNION SELECT ?),
            u AS (SELECT tz, unnest(generate_series(make_timestamp(?, 1, 1, 0, 0, 0),
                                                    make_timestamp(?, 12, 31, 23, 0, 0),
                                                    INTERVAL 1 HOUR)) AS u FROM z),
            l AS (SELECT tz, timezone(tz, timezone('UTC', u)) AS l0,
                         timezone(tz, timezone('UTC', u + INTERVAL 1 HOUR)) AS l1 FROM u),
            t AS (SELECT tz, least(l0, l1) AS lo, greatest(l0, l1) AS hi,
                         to_seconds(abs(epoch(l1) - epoch(l0) - 3600) + 3600) AS d
                  FROM l WHERE l1 - l0 <> INTERVAL 1 HOUR)
            SELECT DISTINCT tz,
                   unnest(generate_series(date_trunc('hour', lo - d), hi + d, INTERVAL 1 HOUR)) AS h
            FROM t""",
        [default_tz, first, last],
    )
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE offset_change_span AS "
        "SELECT ?::INTEGER AS first_year, ?::INTEGER AS last_year, ?::VARCHAR AS zones",
        [first, last, zones],
    )
    return out


def _validate_and_load(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    entity: Entity,
    file: DropFile,
    read: ReadResult,
    hmap: HeaderMap,
    run_id: str,
    now: dt.datetime,
    settings: Settings,
    mode: str = "merge",
    last_lines: str | None = None,
    later_batch: bool = False,
) -> dict[str, int]:
    """One delivery, or one batch of a large file (``last_lines``: the file's repeated keys and the line
    of each one's last occurrence, see ``_repeated_keys``)."""
    src = read.table
    assert src is not None
    name = entity.name
    reasons = build_reasons(con, entity, hmap, src, contract.limits)
    ref_reasons(con, contract, entity, hmap, src, reasons)
    via, tz = _tz_source(contract, entity, hmap, settings)
    n_src = int(_run(con, f"SELECT count(*) FROM {src}")[0][0])
    _local_time_reasons(con, entity, hmap, src, reasons, via, tz, settings.default_timezone, n_src)
    _run(con, f"CREATE OR REPLACE TEMP TABLE bad_{name} AS SELECT DISTINCT _line FROM {reasons}")

    # keys of this run's quarantined rows: a child pointing at one says so in its reason
    if len(entity.key) == 1 and entity.key[0] in hmap.source:
        kv = value_sql(hmap, entity.key[0])
        _run(
            con,
            # keys of this delivery's quarantined rows (a large file's: of all its batches so far)
            (
                f"INSERT INTO qkeys_{name} "
                if later_batch
                else f"CREATE OR REPLACE TEMP TABLE qkeys_{name} AS "
            )
            + f"""SELECT DISTINCT {kv} AS k FROM {src}
                WHERE _line IN (SELECT _line FROM bad_{name}) AND {kv} IS NOT NULL""",
        )

    # duplicate keys inside the file: the later line is the newer version
    keys = [value_sql(hmap, k) for k in entity.key]
    key_cols = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    key_match = " AND ".join(f"s.k{i} IS NOT DISTINCT FROM d.k{i}" for i in range(len(keys)))
    ks = ", ".join(f"k{i}" for i in range(len(keys)))
    d_sql = f"SELECT {ks}, max(_line) AS last_line FROM s GROUP BY ALL HAVING count(*) > 1"
    if last_lines:  # a batch: the keys that repeat in the whole file, and those that repeat in the batch
        d_sql = f"""SELECT {ks}, max(last_line) AS last_line
                    FROM (SELECT * FROM {last_lines} UNION ALL {d_sql}) GROUP BY ALL"""
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE sup_{name} AS
            WITH s AS (SELECT _line, {key_cols} FROM {src}),
            d AS ({d_sql})
            SELECT s._line FROM s JOIN d ON {key_match} WHERE s._line < d.last_line
              AND s._line NOT IN (SELECT _line FROM bad_{name})""",
    )

    # typed, time-zone-converted good rows
    selects = []
    for col in entity.columns:
        v = value_sql(hmap, col.name)
        if col.type == "timestamp":
            expr = (
                f"CASE WHEN regexp_matches({v}, '{OFFSET_SUFFIX_RE}') "
                f"THEN timezone({tz}, CAST({v} AS TIMESTAMPTZ)) ELSE CAST({v} AS TIMESTAMP) END"
            )
        else:
            expr = typed_sql(col, v)
        selects.append(f"{expr} AS {quote_ident(col.name)}")
    extra = (
        "CAST(json_object("
        + ", ".join(f"{lit(n)}, {quote_ident(c)}" for n, c in hmap.extras)
        + ") AS VARCHAR)"
        if hmap.extras
        else "CAST(NULL AS VARCHAR)"
    )
    names = [quote_ident(c.name) for c in entity.columns]
    row_hash = (
        "md5(concat_ws(chr(31), " + ", ".join(f"coalesce(CAST({n} AS VARCHAR), chr(0))" for n in names) + "))"
    )
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE new_{name} AS
            SELECT *, {row_hash} AS _row_hash FROM (
                SELECT {", ".join(selects)}, {extra} AS _extra, {lit(file.name)} AS _source_file,
                       src._line AS _source_line, {lit(run_id)} AS _run_id,
                       CAST({lit(now.isoformat())} AS TIMESTAMP) AS _loaded_at
                FROM {src} src {via}
                WHERE src._line NOT IN (SELECT _line FROM bad_{name})
                  AND src._line NOT IN (SELECT _line FROM sup_{name})
            )""",
    )
    # the original row as delivered, for the quarantine
    raw_json = (
        "src._raw"  # a connector's record as the source sent it
        if read.has_raw
        else "CAST(json_object("
        + ", ".join(f"{lit(n)}, src.{quote_ident(c)}" for n, c in hmap.raw)
        + ") AS VARCHAR)"
    )
    key_match_raw = " AND ".join(
        f"t.{quote_ident(k)} IS NOT DISTINCT FROM n.{quote_ident(k)}" for k in entity.key
    )
    n_orphans = 0
    if mode == "patch":
        n_orphans = _patch_from_stored(con, entity, hmap, name, key_match_raw, row_hash, src, raw_json)
    elif mode == "reconcile":
        n_orphans = _reconcile_with_stored(con, entity, hmap, name, key_match_raw, src, raw_json)
    stored_filter = ""
    if mode == "append":  # events: a key already stored is never rewritten
        stored_filter = f" AND NOT EXISTS (SELECT 1 FROM raw.{name} t WHERE {key_match_raw})"
    elif mode == "reconcile":  # a copy of what we hold: never written
        stored_filter = " AND FALSE"
    _run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE chg_{name} AS
            SELECT * FROM new_{name} n
            WHERE n._row_hash NOT IN (SELECT _row_hash FROM raw.{name} WHERE _row_hash IS NOT NULL)
            {stored_filter}""",
    )
    n_new = _run(con, f"SELECT count(*) FROM new_{name}")[0][0]
    n_chg = _run(con, f"SELECT count(*) FROM chg_{name}")[0][0]
    if n_chg:
        if _run(con, f"SELECT count(*) FROM (SELECT 1 FROM raw.{name} LIMIT 1)")[0][0]:
            match = " AND ".join(
                f"t.{quote_ident(k)} IS NOT DISTINCT FROM c.{quote_ident(k)}" for k in entity.key
            )
            _run(con, f"DELETE FROM raw.{name} t USING chg_{name} c WHERE {match}")
        cols = ", ".join([*names, *(quote_ident(n) for n, _ in BOOKKEEPING)])
        _run(con, f"INSERT INTO raw.{name} ({cols}) SELECT {cols} FROM chg_{name}")
    n_removed = 0
    if mode == "replace":  # the delivery is the whole truth of what it delivers: drop what it no longer holds
        gone = f"""FROM raw.{name} t WHERE t._source_file = {lit(file.name)}
                    AND NOT EXISTS (SELECT 1 FROM new_{name} n WHERE {key_match_raw})"""
        n_removed = _run(con, f"SELECT count(*) {gone}")[0][0]
        if n_removed:
            _run(con, f"DELETE {gone}")

    # quarantine records for the bad rows, with the original row as delivered
    _run(
        con,
        f"""INSERT INTO run_rejects
            SELECT r._line, r."column", r.reason, {raw_json}
            FROM {reasons} r JOIN {src} src USING (_line)""",
    )
    n_bad = _run(con, f"SELECT count(*) FROM bad_{name}")[0][0]
    n_sup = _run(con, f"SELECT count(*) FROM sup_{name}")[0][0]
    for table in (f"new_{name}", f"chg_{name}", f"sup_{name}", reasons):
        _run(con, f"DROP TABLE IF EXISTS {table}")
    return {
        "rows_read": n_src + len(read.structural),
        "rows_loaded": n_chg,
        "rows_unchanged": n_new - n_chg,
        "rows_rejected": n_bad + n_orphans + len(read.structural),
        "rows_superseded": n_sup,
        "rows_removed": n_removed,
    }


def _patch_from_stored(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    hmap: HeaderMap,
    name: str,
    key_match: str,
    row_hash: str,
    src: str,
    raw_json: str,
) -> int:
    """``patch``: columns the delivery does not carry keep their stored values; unknown keys are quarantined.

    Returns the number of rows quarantined because no stored row has their key.
    """
    keys = ", ".join(f"{k}" for k in entity.key)
    _run(
        con,
        f"""INSERT INTO run_rejects
            SELECT n._source_line, NULL,
                   'no stored {name} row with this key ({keys}) to update: the update is kept here '
                   || 'until the record itself arrives', {raw_json}
            FROM new_{name} n JOIN {src} src ON src._line = n._source_line
            WHERE NOT EXISTS (SELECT 1 FROM raw.{name} t WHERE {key_match})""",
    )
    orphans = _run(
        con,
        f"SELECT count(*) FROM new_{name} n WHERE NOT EXISTS (SELECT 1 FROM raw.{name} t WHERE {key_match})",
    )[0][0]
    if orphans:
        _run(con, f"DELETE FROM new_{name} n WHERE NOT EXISTS (SELECT 1 FROM raw.{name} t WHERE {key_match})")
    missing = [c.name for c in entity.columns if c.name not in hmap.source]
    if missing:
        sets = ", ".join(f"{quote_ident(c)} = t.{quote_ident(c)}" for c in missing)
        _run(con, f"UPDATE new_{name} n SET {sets} FROM raw.{name} t WHERE {key_match}")
        _run(con, f"UPDATE new_{name} SET _row_hash = {row_hash}")
    return int(orphans)


def _reconcile_with_stored(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    hmap: HeaderMap,
    name: str,
    key_match: str,
    src: str,
    raw_json: str,
) -> int:
    """``reconcile``: quarantine each delivered row with no stored row of its key, and each delivered value
    (not empty, not a key column) that differs from the stored one, naming both; returns the rows flagged."""
    keys = ", ".join(entity.key)
    _run(
        con,
        f"""INSERT INTO run_rejects
            SELECT n._source_line, NULL, 'no stored {name} row with this key ({keys}): the source knows a '
                   || 'record we do not', {raw_json}
            FROM new_{name} n JOIN {src} src ON src._line = n._source_line
            WHERE NOT EXISTS (SELECT 1 FROM raw.{name} t WHERE {key_match})""",
    )
    for col in (c for c in hmap.source if c not in entity.key):
        q = quote_ident(col)
        _run(
            con,
            f"""INSERT INTO run_rejects
                SELECT n._source_line, {lit(col)}, 'differs from the stored {name} row: the source says '
                       || CAST(n.{q} AS VARCHAR) || ', we hold '
                       || coalesce(CAST(t.{q} AS VARCHAR), 'nothing'), {raw_json}
                FROM new_{name} n JOIN raw.{name} t ON {key_match}
                JOIN {src} src ON src._line = n._source_line
                WHERE n.{q} IS NOT NULL AND n.{q} IS DISTINCT FROM t.{q}""",
        )
    flagged = f"""FROM new_{name} n WHERE n._source_line IN (
        SELECT line FROM run_rejects WHERE reason LIKE 'no stored {name} row%'
           OR reason LIKE 'differs from the stored {name} row%')"""
    n = int(_run(con, f"SELECT count(*) {flagged}")[0][0])
    _run(con, f"DELETE {flagged}")
    return n


def mask_personal(entity: Entity, raw: str | None) -> str | None:
    """A quarantined row's JSON with the values of the entity's pii columns masked (keys any case)."""
    pii = {c.name for c in entity.columns if c.pii}
    if not pii or not raw:
        return raw
    try:
        row = json.loads(raw)
    except json.JSONDecodeError:
        return PII_MASK  # not a row we can read column by column: mask it whole
    if not isinstance(row, dict):
        return raw
    masked = {
        k: (PII_MASK if str(k).strip().lower() in pii and v not in (None, "") else v) for k, v in row.items()
    }
    return json.dumps(masked, ensure_ascii=False)


def _mask_personal_data(con: duckdb.DuckDBPyConnection, entity: Entity, file: str, run_id: str) -> None:
    """Rejects of this delivery: keep the full row in ``raw_full``, show ``raw`` with personal data masked."""
    if not any(c.pii for c in entity.columns):
        return
    rows = _run(
        con,
        "SELECT reject_id, raw FROM meta.rejects WHERE entity = ? AND file = ? AND last_run_id = ? "
        "AND raw_full IS NULL",
        [entity.name, file, run_id],
    )
    if not rows:  # DuckDB's executemany refuses an empty list
        return
    con.executemany(
        "UPDATE meta.rejects SET raw_full = raw, raw = ? WHERE reject_id = ?",
        [[mask_personal(entity, raw), rid] for rid, raw in rows],
    )


def _store_original_bytes(con: duckdb.DuckDBPyConnection, entity: str, read: ReadResult, run_id: str) -> None:
    """Keep the refused records' bytes exactly as delivered (not a re-encoded copy) in ``raw_line``."""
    wanted = [r[0] for r in _run(con, "SELECT DISTINCT line FROM run_rejects WHERE line IS NOT NULL")]
    if not wanted:
        return
    structural = sorted(s.line for s in read.structural if s.line is not None)
    next_src: dict[int, int | None] = {w: None for w in wanted}
    if read.table:
        next_src = dict(
            _run(
                con,
                f"""SELECT w.line, (SELECT min(s._line) FROM {read.table} s WHERE s._line > w.line)
                    FROM (SELECT DISTINCT line FROM run_rejects WHERE line IS NOT NULL) w""",
            )
        )
    ends: dict[int, int | None] = {}
    for w in wanted:
        candidates = [n for n in (next_src.get(w), *(x for x in structural if x > w)) if n is not None]
        ends[int(w)] = min(candidates) if candidates else None
    # a batch of a large file: its records are in the chunk file, whose line + offset is the file's line
    path, off = (read.chunk, read.line_offset) if read.chunk else (read.file.path, 0)
    in_chunk = original_lines(path, {w - off: (e - off if e is not None else None) for w, e in ends.items()})
    data = {w + off: b for w, b in in_chunk.items()}
    con.executemany(
        "UPDATE meta.rejects SET raw_line = ? WHERE entity = ? AND file = ? AND line = ? AND last_run_id = ?",
        [[data[w], entity, read.file.name, w, run_id] for w in ends if w in data],
    )


def _store_rejects(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    file: str,
    run_id: str,
    now: dt.datetime,
    *,
    by_line: bool = True,
) -> None:
    """Append this delivery's rejects; one already quarantined (same place, reason and row) is only re-seen.

    ``by_line=False`` (a connector's batch, whose line is only the record's place in this batch): the same
    record with the same reason is the same reject wherever it sits, so a record re-read at the cursor
    boundary is not quarantined twice.
    """
    place = "coalesce(CAST(line AS VARCHAR), '')" if by_line else "''"
    _run(
        con,
        f"""INSERT INTO meta.rejects (reject_id, entity, file, line, "column", reason, raw, raw_hash,
                                      first_run_id, first_seen_at, last_run_id, last_seen_at)
            SELECT md5(concat_ws(chr(31), {lit(entity)}, {lit(file)}, {place},
                                 coalesce("column", ''), reason, md5(raw))) AS reject_id,
                   {lit(entity)}, {lit(file)}, line, "column", reason, raw, md5(raw),
                   ?, ?, ?, ?
            FROM (SELECT DISTINCT * FROM run_rejects)
            ON CONFLICT (reject_id) DO UPDATE SET last_run_id = EXCLUDED.last_run_id,
                last_seen_at = EXCLUDED.last_seen_at, line = EXCLUDED.line""",
        [run_id, now, run_id, now],
    )


def list_rejects(
    con: duckdb.DuckDBPyConnection,
    entity: str | None = None,
    limit: int | None = None,
    *,
    unmasked: bool = False,
) -> list[dict[str, Any]]:
    """Quarantined rows, ordered by entity, file, line (read-only; fine on a read-only connection).

    ``raw`` has personal data masked; ``unmasked``: the row as delivered (``raw_full``), with
    ``personal_data_shown`` saying where that differs (the caller checks the right and records the view).
    """
    if not relation_exists(con, "meta", "rejects"):
        return []
    raw = (
        "coalesce(raw_full, raw) AS raw, coalesce(raw_full <> raw, false) AS personal_data_shown"
        if unmasked
        else "raw"
    )
    sql = (
        f'SELECT entity, file, line, "column", reason, {raw}, first_run_id, first_seen_at, last_run_id, '
        "last_seen_at FROM meta.rejects"
    )
    params: list[Any] = []
    if entity:
        sql += " WHERE entity = ?"
        params.append(entity)
    sql += ' ORDER BY entity, file, line NULLS FIRST, "column" NULLS FIRST, reason'
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    rows = []
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        row["raw"] = json.loads(row["raw"]) if row["raw"] else {}
        rows.append(row)
    return rows
