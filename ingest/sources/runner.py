"""Pull a source into the warehouse: batch by batch, each committed with its watermark.

Every batch goes through ``ingest.load.load_read`` (the drop folder's validation, quarantine and
bookkeeping) in its own transaction together with the watermark (``meta.source_watermarks``) or the
unit it finishes (``meta.source_items``). A pull that fails part-way keeps what it committed and the
next pull resumes from there; a second identical pull finds nothing new, and what it re-reads at the
cursor boundary is unchanged, so it loads nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ingest.contract import Contract, load_contract, load_order
from ingest.dropfolder import DropFile, ReadResult, quote_ident
from ingest.load import _check_timezone, _drop_temp_tables, _run, _utcnow, ensure_schema, load_read
from ingest.sources import Batch, SourceConfig, StreamConfig, connector, map_record, text
from medtower.settings import Settings

log = logging.getLogger(__name__)

SOURCE_DDL = [
    """CREATE TABLE IF NOT EXISTS meta.source_watermarks (
        source VARCHAR, entity VARCHAR, cursor VARCHAR, run_id VARCHAR, updated_at TIMESTAMP,
        PRIMARY KEY (source, entity))""",
    """CREATE TABLE IF NOT EXISTS meta.source_items (
        source VARCHAR, item VARCHAR, digest VARCHAR, run_id VARCHAR, loaded_at TIMESTAMP, outcome VARCHAR,
        PRIMARY KEY (source, item, digest))""",
    """CREATE TABLE IF NOT EXISTS meta.source_pulls (
        run_id VARCHAR PRIMARY KEY, source VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP,
        outcome VARCHAR, batches BIGINT, rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT,
        rows_removed BIGINT, error VARCHAR)""",
]


def ensure_source_schema(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    ensure_schema(con, contract)
    for ddl in SOURCE_DDL:
        _run(con, ddl)


@dataclass
class _State:
    """What the warehouse says the source has delivered so far."""

    watermarks: dict[str, str | None] = field(default_factory=dict)
    items: set[tuple[str, str]] = field(default_factory=set)

    def watermark(self, entity: str) -> str | None:
        return self.watermarks.get(entity)

    def seen(self, item: str, digest: str) -> bool:
        return (item, digest) in self.items


def source_state(con: duckdb.DuckDBPyConnection, source: str) -> _State:
    state = _State()
    for entity, cursor in _run(
        con, "SELECT entity, cursor FROM meta.source_watermarks WHERE source = ?", [source]
    ):
        state.watermarks[entity] = cursor
    for item, digest in _run(
        con, "SELECT item, digest FROM meta.source_items WHERE source = ? AND outcome = 'loaded'", [source]
    ):
        state.items.add((item, digest))
    return state


def read_records(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    label: str,
    records: list[dict[str, str | None]],
    raw: list[str] | None = None,
) -> ReadResult:
    """Records into ``src_<entity>`` shaped like a read CSV file: c0..cN VARCHAR and ``_line``.

    ``raw``: each record as the source sent it, kept for the quarantine (``_raw``).
    """
    header: list[str] = []
    for r in records:
        for k in r:
            if k not in header:
                header.append(k)
    file = DropFile(entity=entity, path=Path(label), label=label)
    result = ReadResult(file=file, sha256="", bytes=0, header=header, rows_read=len(records))
    arrays = {f"c{i}": pa.array([r.get(h) for r in records], type=pa.string()) for i, h in enumerate(header)}
    arrays["_line"] = pa.array(range(1, len(records) + 1), type=pa.int64())
    if raw is not None:
        arrays["_raw"] = pa.array(raw, type=pa.string())
        result.has_raw = True
    table = f"src_{entity}"
    con.register("records_arrow", pa.table(arrays))
    try:
        _run(con, f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM records_arrow")
    finally:
        con.unregister("records_arrow")
    result.table = table
    return result


def _key_rows(stream: StreamConfig, keys: list[dict[str, Any]], mapped: bool) -> list[tuple[str | None, ...]]:
    out = []
    for k in keys:
        rec = k if mapped else map_record(stream, k)
        out.append(tuple(text(rec.get(c)) for c in stream.key))
    return out


def _remove_keys(
    con: duckdb.DuckDBPyConnection,
    stream: StreamConfig,
    label: str,
    keys: list[tuple[str | None, ...]],
    *,
    keep: bool,
) -> int:
    """Delete the stored rows of ``label`` whose key is in ``keys`` (``keep``: whose key is not)."""
    if not keys and not keep:
        return 0
    cols = ", ".join(f"k{i} VARCHAR" for i in range(len(stream.key)))
    _run(con, f"CREATE OR REPLACE TEMP TABLE gone_keys ({cols})")
    con.executemany(f"INSERT INTO gone_keys VALUES ({', '.join('?' for _ in stream.key)})", keys)
    match = " AND ".join(
        f"CAST(t.{quote_ident(k)} AS VARCHAR) IS NOT DISTINCT FROM g.k{i}" for i, k in enumerate(stream.key)
    )
    cond = f"{'NOT ' if keep else ''}EXISTS (SELECT 1 FROM gone_keys g WHERE {match})"
    where = f"FROM raw.{stream.entity} t WHERE t._source_file = ? AND {cond}"
    n = int(_run(con, f"SELECT count(*) {where}", [label])[0][0])
    if n:
        _run(con, f"DELETE {where}", [label])
    _run(con, "DROP TABLE gone_keys")
    return n


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    source: SourceConfig,
    batch: Batch,
    run_id: str,
    now: dt.datetime,
    settings: Settings,
) -> dict[str, Any]:
    stream = source.stream(batch.entity)
    entity = contract[batch.entity]
    live: list[dict[str, Any]] = []
    deleted = list(batch.deleted_keys)
    for rec in batch.records:
        if stream.deleted_flag and text(rec.get(stream.deleted_flag)) in ("true", "1", "Y", "y"):
            deleted.append(rec)
        else:
            live.append(rec)
    # each record as the source sent it (a connector may give its own bytes as "_raw"), for the quarantine
    raw = [r.pop("_raw", None) or json.dumps(r, sort_keys=True, default=str) for r in live]
    records = live if batch.mapped else [map_record(stream, r) for r in live]
    stats: dict[str, Any]
    if batch.file_error or records:
        read = read_records(con, batch.entity, batch.label, records, raw)
        if batch.file_error:
            read.file_error, read.raw_text = batch.file_error, batch.raw_text
        stats = load_read(con, contract, entity, read, run_id, now, settings, batch.mode or stream.mode)
    else:
        stats = {"entity": batch.entity, "file": batch.label, "rows_read": 0, "rows_loaded": 0}
        stats.update(rows_unchanged=0, rows_rejected=0, rows_superseded=0)
    removed = _remove_keys(con, stream, batch.label, _key_rows(stream, deleted, batch.mapped), keep=False)
    if batch.all_keys is not None:
        removed += _remove_keys(
            con, stream, batch.label, _key_rows(stream, batch.all_keys, batch.mapped), keep=True
        )
    stats["rows_removed"] = int(stats.get("rows_removed", 0)) + removed
    stats["rows_read"] += len(deleted)
    if batch.cursor is not None:
        _run(
            con,
            """INSERT INTO meta.source_watermarks VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (source, entity) DO UPDATE SET cursor = EXCLUDED.cursor,
                   run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at""",
            [source.name, batch.entity, batch.cursor, run_id, now],
        )
    return stats


def _mark_item(
    con: duckdb.DuckDBPyConnection,
    source: str,
    item: tuple[str, str],
    run_id: str,
    now: dt.datetime,
    outcome: str,
) -> None:
    _run(
        con,
        """INSERT INTO meta.source_items VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (source, item, digest) DO UPDATE SET run_id = EXCLUDED.run_id,
               loaded_at = EXCLUDED.loaded_at, outcome = EXCLUDED.outcome""",
        [source, item[0], item[1], run_id, now, outcome],
    )


def pull_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    settings: Settings,
    *,
    max_batches: int = 100_000,
    max_seconds: float = 3600.0,
) -> dict[str, Any]:
    """Pull one source into ``con``; each batch commits with its watermark. Never raises on a source fault.

    The result has ``outcome`` (succeeded / failed), the per-batch ``entities`` stats (the drop folder's
    shape), the totals and ``error``. Batches of one unit are loaded parents first (contract order).
    """
    contract = load_contract()
    started = _utcnow()
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {
        "run_id": run_id,
        "source": source.name,
        "kind": source.kind,
        "outcome": "failed",
        "started_at": started.isoformat(),
        "entities": [],
        "failed_files": [],
        "error": None,
    }
    _run(con, "BEGIN TRANSACTION")
    ensure_source_schema(con, contract)
    _check_timezone(con, settings.default_timezone)
    _run(con, "COMMIT")
    rank = {e.name: i for i, e in enumerate(load_order(contract))}
    began = time.monotonic()
    n_batches = 0
    try:
        state = source_state(con, source.name)
        pending: list[Batch] = []
        unit: tuple[str, str] | None = None

        def flush() -> None:
            nonlocal pending
            if not pending:
                return
            _run(con, "BEGIN TRANSACTION")
            try:
                for b in sorted(pending, key=lambda b: rank.get(b.entity, 0)):
                    stats = _load_batch(con, contract, source, b, run_id, started, settings)
                    result["entities"].append(stats)
                item = pending[0].item
                if item is not None:
                    failed = any(b.file_error for b in pending)
                    _mark_item(con, source.name, item, run_id, started, "rejected" if failed else "loaded")
                _run(con, "COMMIT")
            except Exception:
                _run(con, "ROLLBACK")
                raise
            finally:
                _drop_temp_tables(con)
            pending = []

        conn = connector(source)
        for batch in conn.pull(state):
            if batch.entity not in contract.entities or all(s.entity != batch.entity for s in source.streams):
                raise ValueError(f"source {source.name} yielded entity {batch.entity!r}, not configured")
            # a unit (EDI interchange, EPCIS document) commits whole; a cursor batch commits alone
            if batch.item is None or batch.item != unit:
                flush()
            unit = batch.item
            pending.append(batch)
            if unit is None:
                flush()
            n_batches += 1
            if n_batches >= max_batches or time.monotonic() - began > max_seconds:
                log.warning(
                    "source %s: stopped after %d batches / %.0f s; the next pull goes on",
                    source.name,
                    n_batches,
                    time.monotonic() - began,
                )
                break
        flush()
        # what a connector read but did not load, in words (EPCIS: sensor-only events, retracted events)
        result["notes"] = list(getattr(conn, "notes", []))
        result["outcome"] = "succeeded"
    except Exception as exc:
        log.exception(
            "pull of source %s failed; what was committed stays, the next pull resumes", source.name
        )
        result["error"] = f"{type(exc).__name__}: {exc}"
    ended = _utcnow()
    ents = result["entities"]
    result["failed_files"] = [
        {"entity": e["entity"], "file": e["file"], "error": e["file_error"]}
        for e in ents
        if e.get("file_error")
    ]
    totals = {
        k: sum(int(e.get(k, 0)) for e in ents)
        for k in ("rows_read", "rows_loaded", "rows_rejected", "rows_removed")
    }
    result.update(
        totals, batches=n_batches, ended_at=ended.isoformat(), rejected_total=totals["rows_rejected"]
    )
    result["seconds"] = (ended - started).total_seconds()
    _run(
        con,
        "INSERT INTO meta.source_pulls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            source.name,
            started,
            ended,
            result["outcome"],
            n_batches,
            totals["rows_read"],
            totals["rows_loaded"],
            totals["rows_rejected"],
            totals["rows_removed"],
            result["error"],
        ],
    )
    return result


def source_status(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, Any]:
    """Watermarks, units done and the last pull of one source, for `medtower sources list`."""
    if not _run(
        con,
        "SELECT 1 FROM information_schema.tables WHERE table_schema = 'meta' AND table_name = 'source_pulls'",
    ):
        return {"watermarks": {}, "items": 0, "last_pull": None}
    marks = dict(_run(con, "SELECT entity, cursor FROM meta.source_watermarks WHERE source = ?", [source]))
    items = _run(
        con, "SELECT count(*) FROM meta.source_items WHERE source = ? AND outcome = 'loaded'", [source]
    )
    last = _run(
        con,
        """SELECT run_id, started_at, outcome, rows_loaded, rows_rejected, error FROM meta.source_pulls
           WHERE source = ? ORDER BY started_at DESC LIMIT 1""",
        [source],
    )
    keys = ("run_id", "started_at", "outcome", "rows_loaded", "rows_rejected", "error")
    return {
        "watermarks": marks,
        "items": int(items[0][0]),
        "last_pull": dict(zip(keys, last[0], strict=True)) if last else None,
    }
