"""The audit trail (21 CFR Part 11 §11.10(e), EU Annex 11 §9): who did what, when, from what to what, and why.

Every create, change and delete a person or the system makes (alert acknowledgements, assignments,
comments and resolutions, exports, alert-rule changes, pipeline runs and publishes, and logins once they
exist) is appended here as one record. The records are computer-generated: the time is taken here, in UTC,
and also written in the site's local time (the site's time zone from ``marts.dim_sites``, or
``MEDTOWER_DEFAULT_TIMEZONE`` when the record belongs to no site). A caller says only who, what, the old and
new values and, where one is required, why.

Tamper evidence: each record carries the SHA-256 of the record before it (``prev_hash``; the first one
carries 64 zeros) and its own ``hash``, the SHA-256 of its canonical JSON (sorted keys, no spaces, UTF-8,
without ``hash``). Editing a field, deleting, inserting or reordering records breaks the chain at a place
``verify`` names. A rewrite of the whole tail from some record on, hashes recomputed, can only be caught
against a head hash kept elsewhere: ``verify(expect_head=...)`` (``medtower audit verify --head HASH``).

Storage: one SQLite file outside the warehouse (``<data_dir>/audit/audit-trail.sqlite``, or
``MEDTOWER_AUDIT_PATH``), WAL mode, so a rebuild, restore or deletion of the warehouse never touches it.
Triggers refuse UPDATE and DELETE. The pipeline and the web app may append at the same time: an append
runs in ``BEGIN IMMEDIATE`` (SQLite's write lock), reads the head and inserts the next record in that one
transaction, so two writers never chain onto the same head.

For other code (login, user administration, signatures), the whole interface is ``record``::

    from medtower import audit
    audit.record(settings, "alice", "login", "user", "alice", None, {"result": "succeeded"}, source="web")
    audit.record(settings, "alice", "login_failed", "user", "alice", None, {"reason": "bad password"})
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from medtower.settings import Settings

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# The actor of what MedTower does by itself (pipeline runs, publishes, rule changes it detects).
SYSTEM = "system"
# The actor of a web request without a signed-in user (the guard lets none of them act: a safe default).
ANONYMOUS = "anonymous (no login)"
# The fields of a record, in the order the CSV export writes them; ``hash`` is over all the others.
FIELDS = (
    "seq",
    "record_id",
    "at_utc",
    "at_site",
    "site_id",
    "site_tz",
    "actor",
    "action",
    "object_type",
    "object_id",
    "old",
    "new",
    "reason",
    "source",
    "prev_hash",
    "hash",
)
MAX_TEXT = 20_000


def store_path(settings: Settings) -> Path:
    """Where the trail lives: ``MEDTOWER_AUDIT_PATH`` or ``<data_dir>/audit/audit-trail.sqlite``."""
    return settings.audit_path or settings.data_dir / "audit" / "audit-trail.sqlite"


def canonical(rec: dict[str, Any]) -> str:
    """The text a record's hash is taken over: every field but ``hash``, keys sorted, no spaces."""
    body = {k: v for k, v in rec.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(rec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(rec).encode("utf-8")).hexdigest()


_SCHEMA = (
    """create table if not exists entries (
        position integer primary key autoincrement,
        record text not null,
        hash text not null)""",
    # Append-only: the application never updates or deletes; someone who drops these to edit the file
    # still breaks the chain.
    """create trigger if not exists entries_no_update before update on entries
        begin select raise(abort, 'the audit trail is append-only'); end""",
    """create trigger if not exists entries_no_delete before delete on entries
        begin select raise(abort, 'the audit trail is append-only'); end""",
)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level None: transactions are ours (BEGIN IMMEDIATE), not the sqlite3 module's.
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    con.execute("pragma busy_timeout=30000")
    # WAL is a property of the file, set once. Switching to it while another process creates the file
    # returns "database is locked" without SQLite's busy handler, so it is retried here (bounded).
    deadline = time.monotonic() + 30
    while True:
        try:
            if str(con.execute("pragma journal_mode=wal").fetchone()[0]).lower() == "wal":
                break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"audit trail {path}: could not switch it to WAL within 30 s")
        time.sleep(0.05)
    con.execute("pragma synchronous=full")
    for statement in _SCHEMA:
        con.execute(statement)
    return con


# --- site time ------------------------------------------------------------------------------------------

_zones: dict[tuple[str, str], dict[str, str]] = {}


def _site_zones(settings: Settings) -> dict[str, str]:
    """site_id -> time zone from the published warehouse's ``marts.dim_sites``; empty when there is none.

    Read once per published version (the cache key), through an in-memory DuckDB that ATTACHes the file, so
    it never clashes with another connection of this process to the same file.
    """
    try:
        if settings.on_postgres:
            from medtower.warehouse import connect_readonly

            with connect_readonly(settings) as con:
                rows = con.execute("select site_id, timezone from marts.dim_sites").fetchall()
            return {str(s): str(z) for s, z in rows if z}
        from medtower.warehouse import current_version

        if not settings.warehouse_path.exists():
            return {}
        version = current_version(settings)
        key = (str(version), str(version.stat().st_mtime_ns))
        if key not in _zones:
            import duckdb

            con = duckdb.connect(":memory:")
            try:
                con.execute(f"attach '{version.as_posix()}' as wh (read_only)")
                rows = con.execute("select site_id, timezone from wh.marts.dim_sites").fetchall()
            finally:
                con.close()
            _zones.clear()
            _zones[key] = {str(s): str(z) for s, z in rows if z}
        return _zones[key]
    except Exception as exc:  # the trail must be written even when the warehouse cannot be read
        log.debug("audit: site time zones not readable (%s); using the default time zone", exc)
        return {}


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def site_from_alert_key(key: str) -> str | None:
    """The ``site_id`` label of an alert key (``rule:label=value,...``), if it has one."""
    _, _, labels = key.partition(":")
    for part in labels.split(","):
        name, _, value = part.partition("=")
        if name == "site_id" and value and value != "None":
            return value
    return None


# --- writing --------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Old and new values as JSON would carry them (dates as ISO text), so the hash is stable on re-read."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _source() -> str:
    """Where a record comes from when the caller does not say: the web app (a Flask request) or the CLI."""
    try:
        from flask import has_request_context

        if has_request_context():
            return "web"
    except ImportError:
        pass
    return "cli" if Path(sys.argv[0] if sys.argv else "").name == "medtower" else "process"


def record(
    settings: Settings,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    site: str | None = None,
    *,
    source: str | None = None,
    require_reason: bool = False,
) -> dict[str, Any]:
    """Append one record and return it (with its ``seq`` and ``hash``).

    ``actor``: the user name, or ``audit.SYSTEM``. ``action``: a verb such as ``ack``, ``resolve``,
    ``assign``, ``comment``, ``export``, ``login``, ``login_failed``, ``user_add``, ``role_change``,
    ``rules_changed``, ``pipeline_run``, ``publish``. ``object_type``/``object_id``: what was acted on
    (``alert``/key, ``user``/name, ``grid``/name ...). ``old``/``new``: JSON-able values before and after
    (None for a create or a delete). ``reason``: why; with ``require_reason`` a missing one is refused.
    ``site``: the site the object belongs to (its local time is recorded beside UTC). ``source``: where
    it came from (``cli``, ``web``, ``pipeline``).

    Raises ValueError for a record that says nothing (no actor, action or object); sqlite3 errors when the
    trail cannot be written, so an action is never done without its record.
    """
    if not actor or not str(actor).strip():
        raise ValueError("an audit record needs an actor (the user, or audit.SYSTEM)")
    if not action or not object_type or object_id is None or str(object_id) == "":
        raise ValueError("an audit record needs an action, an object type and an object id")
    if require_reason and not (reason and reason.strip()):
        raise ValueError(f"{action} of {object_type} {object_id} needs a reason")
    if reason and len(reason) > MAX_TEXT:
        raise ValueError(f"the reason is {len(reason):,} characters long; keep it under {MAX_TEXT:,}")
    zone_name = _site_zones(settings).get(site) if site else None
    zone = _zone(zone_name, settings.default_timezone)
    rec: dict[str, Any] = {
        "record_id": uuid.uuid4().hex,
        "site_id": site,
        "site_tz": str(zone.key),
        "actor": str(actor).strip(),
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "old": _json_safe(old),
        "new": _json_safe(new),
        "reason": reason.strip() if reason else None,
        "source": source or _source(),
    }
    con = _connect(store_path(settings))
    try:
        con.execute("begin immediate")  # the write lock: one appender at a time, so the chain never forks
        try:
            head = con.execute("select record, hash from entries order by position desc limit 1").fetchone()
            last = con.execute("select seq from sqlite_sequence where name = 'entries'").fetchone()
            rec["seq"] = (int(last[0]) if last else 0) + 1
            rec["prev_hash"] = head[1] if head else GENESIS
            now = dt.datetime.now(dt.UTC)  # taken under the lock: the trail's times never go backwards
            rec["at_utc"] = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
            rec["at_site"] = now.astimezone(zone).isoformat(timespec="seconds")
            rec["hash"] = record_hash(rec)
            con.execute(
                "insert into entries (position, record, hash) values (?, ?, ?)",
                (rec["seq"], canonical(rec), rec["hash"]),
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.close()
    return {k: rec[k] for k in FIELDS}


def record_quietly(settings: Settings, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """``record`` for the pipeline's own bookkeeping: a trail that cannot be written is logged, not raised,
    so a full disk under the trail does not fail a build that already succeeded."""
    try:
        return record(settings, *args, **kwargs)
    except Exception as exc:
        log.error("audit trail not written (%s): %s %s", store_path(settings), args[:4], exc)
        return None


# --- reading --------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One stored row: where it sits, what it says (None when unreadable), the hash stored beside it."""

    position: int
    record: dict[str, Any] | None
    stored_hash: str
    raw: str


def _entries(settings: Settings) -> tuple[list[Entry], int]:
    """Every stored row in position order, and the highest position ever issued (0 for none)."""
    path = store_path(settings)
    if not path.exists():
        return [], 0
    con = _connect(path)
    try:
        rows = con.execute("select position, record, hash from entries order by position").fetchall()
        top = con.execute("select seq from sqlite_sequence where name = 'entries'").fetchone()
    finally:
        con.close()
    out = []
    for position, raw, stored in rows:
        try:
            rec = json.loads(raw)
            rec = rec if isinstance(rec, dict) else None
        except (TypeError, json.JSONDecodeError):
            rec = None
        out.append(Entry(int(position), rec, str(stored), str(raw)))
    return out, int(top[0]) if top else 0


def read(
    settings: Settings,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    source: str | None = None,
    since: dt.datetime | dt.date | str | None = None,
    until: dt.datetime | dt.date | str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """The records (oldest first unless ``newest_first``), filtered; text filters match case-insensitively
    anywhere in the field (``object_id="CMP-3"`` finds every alert of that material). ``since``/``until``
    are UTC (a date: the whole day; ``until`` is inclusive)."""
    lo = _utc_text(since, end=False)
    hi = _utc_text(until, end=True)
    wanted = {
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "source": source,
    }
    out = []
    for e in _entries(settings)[0]:
        rec = e.record
        if rec is None:
            continue
        if any(v and v.strip().lower() not in str(rec.get(k) or "").lower() for k, v in wanted.items()):
            continue
        at = str(rec.get("at_utc") or "")
        if (lo and at < lo) or (hi and at > hi):
            continue
        out.append({**{k: rec.get(k) for k in FIELDS}, "hash": e.stored_hash})
    if newest_first:
        out.reverse()
    return out[:limit] if limit else out


def _utc_text(value: dt.datetime | dt.date | str | None, *, end: bool) -> str | None:
    """A bound as the trail's ``at_utc`` text, so comparing strings compares times."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.max if end else dt.time.min)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


# --- verification ---------------------------------------------------------------------------------------


@dataclass
class Problem:
    position: int  # where in the file (1 = first stored row)
    seq: int | None  # the record's own sequence number, when readable
    kind: str  # edited | deleted | inserted | reordered | unreadable | head
    message: str


@dataclass
class Verification:
    ok: bool
    records: int
    head: str  # the hash of the last record (GENESIS for an empty trail)
    problems: list[Problem] = field(default_factory=list)
    path: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.records:,} records, chain head {self.head}"
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"audit trail TAMPERED: {first.message}{more}"


def verify(settings: Settings, *, expect_head: str | None = None) -> Verification:
    """Recompute the chain and say where it breaks.

    Per stored row: the record must hash to the hash stored beside it (else *edited*), carry
    the sequence number of its position (else *reordered*, or a record *inserted* / *deleted* before it), and
    chain onto the row before it. The highest position SQLite ever issued tells a deleted last record.
    """
    entries, top = _entries(settings)
    problems: list[Problem] = []
    valid_hashes = {}
    for e in entries:
        if e.record is not None and record_hash(e.record) == e.stored_hash:
            valid_hashes[e.stored_hash] = e
    seqs = [e.record.get("seq") for e in entries if e.record is not None]
    # Every number once, but not in order: records were moved, not added or removed.
    permutation = sorted(s for s in seqs if isinstance(s, int)) == list(range(1, len(entries) + 1))
    for i, e in enumerate(entries):
        rec = e.record
        seq = rec.get("seq") if rec else None
        where = f"record {i + 1} (seq {seq})" if seq is not None else f"record {i + 1}"
        if rec is None:
            problems.append(Problem(i + 1, None, "unreadable", f"{where}: not a readable record"))
            continue
        if record_hash(rec) != e.stored_hash:
            changed = "its fields do not match its hash"
            problems.append(Problem(i + 1, seq, "edited", f"{where} was edited: {changed}"))
        prev = entries[i - 1] if i else None
        expected_prev = prev.stored_hash if prev else GENESIS
        if seq != i + 1 and isinstance(seq, int) and permutation:
            message = f"{where}: record seq {seq} stands at position {i + 1}: reordered"
            problems.append(Problem(i + 1, seq, "reordered", message))
        if rec.get("prev_hash") == expected_prev:
            prev_seq = (prev.record or {}).get("seq") if prev else 0
            if isinstance(seq, int) and isinstance(prev_seq, int) and seq > prev_seq + 1:
                gone = list(range(prev_seq + 1, seq))
                problems.append(
                    Problem(i + 1, seq, "deleted", f"{_seqs(gone)} deleted: missing before {where}")
                )
            continue
        target = valid_hashes.get(str(rec.get("prev_hash")))
        before = entries[i - 2] if i >= 2 else None
        if target is not None and before is not None and target is before:
            bad = entries[i - 1]
            problems.append(
                Problem(
                    i,
                    (bad.record or {}).get("seq"),
                    "inserted",
                    f"record {i} (seq {(bad.record or {}).get('seq')}) was inserted: record {i + 1} "
                    f"chains to record {i - 1}",
                )
            )
        elif target is not None and target.position > e.position:
            problems.append(
                Problem(i + 1, seq, "reordered", f"{where} chains to a later record: records reordered")
            )
        elif target is None and rec.get("prev_hash") == GENESIS and i > 0:
            problems.append(Problem(i + 1, seq, "inserted", f"{where} claims to be the first record"))
        elif (
            prev is not None
            and isinstance(seq, int)
            and isinstance((prev.record or {}).get("seq"), int)
            and (
                seq > int(prev.record["seq"]) + 1  # type: ignore[index]
            )
        ):
            gone = list(range(int(prev.record["seq"]) + 1, seq))  # type: ignore[index]
            problems.append(
                Problem(
                    i + 1,
                    seq,
                    "deleted",
                    f"{_seqs(gone)} deleted: missing between record {i} and record {i + 1} (seq {seq})",
                )
            )
        elif prev is None and isinstance(seq, int) and seq > 1:
            problems.append(
                Problem(1, seq, "deleted", f"{_seqs(list(range(1, seq)))} deleted: missing before {where}")
            )
        elif not any(p.position == i and p.kind == "edited" for p in problems):
            problems.append(
                Problem(
                    i,
                    (prev.record or {}).get("seq") if prev else None,
                    "edited",
                    f"record {i} was edited (and its hash recomputed): record {i + 1} holds a different "
                    "hash for it",
                )
            )
    last_seq = entries[-1].record.get("seq") if entries and entries[-1].record else None
    highest = max([top, *(s for s in seqs if isinstance(s, int))]) if entries or top else 0
    if isinstance(last_seq, int) and highest > last_seq and not any(p.kind == "reordered" for p in problems):
        gone = list(range(last_seq + 1, highest + 1))
        problems.append(
            Problem(
                len(entries) + 1, None, "deleted", f"{_seqs(gone)} deleted: missing after the last record"
            )
        )
    elif not entries and top:
        problems.append(
            Problem(1, None, "deleted", f"{_seqs(list(range(1, top + 1)))} deleted: the trail is empty")
        )
    head = entries[-1].stored_hash if entries else GENESIS
    if expect_head and expect_head != head and expect_head not in valid_hashes:
        problems.append(
            Problem(
                len(entries),
                None,
                "head",
                f"the chain no longer holds the head {expect_head[:16]}…: records were rewritten since",
            )
        )
    return Verification(not problems, len(entries), head, problems, str(store_path(settings)))


def _seqs(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"record seq {numbers[0]}"
    return f"records seq {numbers[0]}-{numbers[-1]}"


# --- export ---------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def export_csv(rows: Iterable[dict[str, Any]], out: Path) -> int:
    """Every field of every record, one row each; cells a spreadsheet would run as formulas are text."""
    import csv

    from medtower.spreadsheet import safe_cell

    n = 0
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([safe_cell(_cell(r.get(k))) for k in FIELDS])
            n += 1
    return n


def export_html(rows: list[dict[str, Any]], check: Verification, out: Path, *, title: str = "") -> int:
    """A printable, self-contained page for an inspector: the verification result first, then the records."""
    import html

    esc = html.escape
    status = "intact" if check.ok else "TAMPERED"
    problems = "".join(f"<li>{esc(p.message)}</li>" for p in check.problems)
    head_cells = "".join(
        f"<th>{esc(h)}</th>"
        for h in ("seq", "UTC", "site time", "who", "action", "object", "old", "new", "why", "source", "hash")
    )
    body = []
    for r in rows:
        obj = f"{r.get('object_type')} {r.get('object_id')}"
        cells = [
            r.get("seq"),
            r.get("at_utc"),
            f"{r.get('at_site')} ({r.get('site_tz')}{', ' + r['site_id'] if r.get('site_id') else ''})",
            r.get("actor"),
            r.get("action"),
            obj,
            _cell(r.get("old")),
            _cell(r.get("new")),
            r.get("reason"),
            r.get("source"),
            str(r.get("hash") or "")[:16] + "…",
        ]
        body.append("<tr>" + "".join(f"<td>{esc(_cell(c))}</td>" for c in cells) + "</tr>")
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedTower audit trail</title>
<style>
body{{font:11px/1.35 system-ui,sans-serif;margin:1.5em}} h1{{font-size:16px}}
table{{border-collapse:collapse;width:100%}} th,td{{border:1px solid #999;padding:2px 4px;vertical-align:top;
text-align:left;word-break:break-word}} th{{background:#eee}} .ok{{color:#064}} .bad{{color:#a00}}
@media print{{body{{margin:0}} tr{{break-inside:avoid}} thead{{display:table-header-group}}}}
</style></head><body>
<h1>MedTower audit trail{(" — " + esc(title)) if title else ""}</h1>
<p>Generated {generated} from <code>{esc(check.path)}</code>.
{len(rows):,} of {check.records:,} records shown.</p>
<section id="verification" class="{"ok" if check.ok else "bad"}">
<h2>Verification: chain {status}</h2>
<p>{esc(check.summary())}</p>{f"<ul>{problems}</ul>" if problems else ""}
<p>Chain head (SHA-256 of the last record): <code>{esc(check.head)}</code></p>
</section>
<table><thead><tr>{head_cells}</tr></thead><tbody>
{"".join(body)}
</tbody></table></body></html>
"""
    out.write_text(page, encoding="utf-8")
    return len(rows)
