"""The durable outbox: every email is recorded outside the warehouse before it is sent, and once sent.

The warehouse an evaluation writes to is a staged copy that a failed or killed run throws away, so what
was mailed cannot be recorded there: a run killed after the mail went out would send it again. The
outbox is a small SQLite file beside the warehouse (``$MEDTOWER_DATA_DIR/alert-outbox.sqlite``, like the
web app's ``alert-actions.sqlite``) written in autocommit, so each step is on disk before the next:

1. ``add_items``: each alert change of an evaluation (opened, severity raised, reminder, resolved) is an
   item with a key derived from the alert's own history (key, episode, notification count), so the same
   change computed again by a re-run is the same item and is not added twice;
2. ``compose_digests``: the items nobody has been sent yet become one digest per recipient (a digest
   still waiting for the server is folded into the new one, so a recipient gets one email); an item
   whose rule's roles have no address yet waits for the first evaluation that has one;
3. ``deliver_pending``: a digest is marked ``sending`` before SMTP, ``sent`` after the server's 250. A
   refusal leaves it ``pending`` (bounded retries now, the rest at the next evaluation). A connection
   dropped after the whole message went out is ``maybe_sent``, and so is a digest left ``sending`` by a
   process that died mid-send: neither is ever resent by itself (``medtower alerts outbox`` lists them;
   ``--resend ID`` queues one again once someone has checked it did not arrive).

Each digest's id is its idempotency key, and its Message-ID derives from it: a retry carries the same id.
The weekly KPI review goes through the same outbox (``enqueue_message``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alerts.channels import Channel, DeliveryError, MaybeSentError, mail_domain
from alerts.message import DigestItem, OutgoingMessage, build_digest
from medtower.settings import Settings

log = logging.getLogger(__name__)

FINAL = ("sent", "maybe_sent")

_DDL = [
    """create table if not exists items (
        item_key text primary key, alert_key text not null, rule_id text not null, reason text not null,
        severity text, title text, roles text, plan_lines text, detail text, created_at text, run_id text,
        status text not null, extra text)""",
    """create table if not exists digests (
        digest_id text primary key, kind text not null, recipients text not null, subject text,
        body_text text, body_html text, message_id text, created_at text, run_id text,
        status text not null, attempts integer not null default 0, last_attempt_at text,
        last_error text, sent_at text, superseded_by text)""",
    """create table if not exists digest_items (
        digest_id text not null, item_key text not null, shown integer not null,
        primary key (digest_id, item_key))""",
    """create table if not exists attempts (
        digest_id text not null, attempt integer not null, attempted_at text, run_id text,
        outcome text not null, error text)""",
]


def outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "alert-outbox.sqlite"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def connect(settings: Settings) -> sqlite3.Connection:
    """Autocommit (each status change is durable at once), WAL, full fsync."""
    path = outbox_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("pragma journal_mode=wal")
    con.execute("pragma synchronous=full")
    for statement in _DDL:
        con.execute(statement)
    # An outbox from before the digest formatted alerts from their details: the column they live in.
    if "extra" not in {r["name"] for r in con.execute("pragma table_info(items)")}:
        con.execute("alter table items add column extra text")
    return con


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[sqlite3.Connection]:
    """One composer/sender at a time (the scheduler's review job may run beside a pipeline run).

    Inside the lock a digest still marked ``sending`` belongs to a process that died mid-send.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / ".alert-outbox.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        con = connect(settings)
        try:
            yield con
        finally:
            con.close()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _digest_id(kind: str, recipients: list[str], keys: list[str]) -> str:
    text = "|".join([kind, ",".join(recipients), *sorted(keys)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _message_id(digest_id: str, kind: str, sender: str) -> str:
    return f"<{digest_id}.{kind}@{mail_domain(sender)}>"


# --- items and digests ------------------------------------------------------------------------


def add_items(settings: Settings, items: list[DigestItem]) -> int:
    """Record this evaluation's alert changes; an item computed again by a re-run is not added twice."""
    if not items:
        return 0
    con = connect(settings)
    try:
        before = con.total_changes
        con.execute("begin immediate")
        con.executemany(
            "insert or ignore into items (item_key, alert_key, rule_id, reason, severity, title, roles, "
            "plan_lines, detail, created_at, run_id, status, extra) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)",
            [
                (
                    i.item_key,
                    i.alert_key,
                    i.rule_id,
                    i.reason,
                    i.severity,
                    i.title,
                    json.dumps(list(i.roles)),
                    json.dumps(list(i.plan_lines)),
                    i.detail,
                    _iso(i.created_at),
                    i.run_id,
                    json.dumps(i.extra, default=str),
                )
                for i in items
            ],
        )
        con.execute("commit")
        return con.total_changes - before
    finally:
        con.close()


def _item(row: sqlite3.Row) -> DigestItem:
    return DigestItem(
        item_key=row["item_key"],
        alert_key=row["alert_key"],
        rule_id=row["rule_id"],
        reason=row["reason"],
        severity=row["severity"],
        title=row["title"],
        roles=tuple(json.loads(row["roles"] or "[]")),
        plan_lines=tuple(json.loads(row["plan_lines"] or "[]")),
        detail=row["detail"] or "",
        created_at=dt.datetime.fromisoformat(row["created_at"]) if row["created_at"] else None,
        run_id=row["run_id"] or "",
        extra=json.loads(row["extra"] or "{}"),
    )


def _shown(items: list[DigestItem]) -> list[DigestItem]:
    """The latest change per alert; an alert that opened and resolved before anyone was told is left out."""
    by_alert: dict[str, list[DigestItem]] = defaultdict(list)
    for item in items:
        by_alert[item.alert_key].append(item)
    out = []
    for changes in by_alert.values():
        changes.sort(key=lambda i: (i.created_at or dt.datetime.min, i.item_key))
        latest = changes[-1]
        if latest.reason == "resolved" and any(c.reason in ("opened", "reopened") for c in changes[:-1]):
            continue
        out.append(latest)
    return out


def compose_digests(
    settings: Settings,
    *,
    recipients_for_roles: Callable[[tuple[str, ...]], list[str]],
    as_of: dt.date,
    run_id: str,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Turn the waiting items into one digest per recipient; return digests made and items still waiting."""
    now = now or _utcnow()
    made = 0
    with _locked(settings) as con:
        waiting = [_item(r) for r in con.execute("select * from items where status = 'waiting'")]
        per_recipient: dict[str, list[DigestItem]] = defaultdict(list)
        no_one: list[DigestItem] = []
        for item in waiting:
            recipients = recipients_for_roles(item.roles)
            if not recipients:
                no_one.append(item)
            for address in recipients:
                per_recipient[address].append(item)
        if no_one:
            roles = sorted({r for i in no_one for r in i.roles})
            log.warning(
                "%d alert change(s) have no recipients (roles %s): set MEDTOWER_PLANNER_EMAILS / "
                "_QA_EMAILS / _MANAGEMENT_EMAILS; they are kept and sent once someone is configured",
                len(no_one),
                ", ".join(roles),
            )
        con.execute("begin immediate")
        for address, new in sorted(per_recipient.items()):
            old_ids = [
                r["digest_id"]
                for r in con.execute(
                    "select digest_id from digests where kind = 'alerts' and status = 'pending' "
                    "and recipients = ?",
                    [json.dumps([address])],
                )
            ]
            old: list[DigestItem] = []
            for digest_id in old_ids:
                old += [
                    _item(r)
                    for r in con.execute(
                        "select items.* from digest_items join items using (item_key) where digest_id = ?",
                        [digest_id],
                    )
                ]
            every = list({i.item_key: i for i in [*old, *new]}.values())
            shown = _shown(every)
            digest_id = _digest_id("alerts", [address], [i.item_key for i in every])
            if old_ids:
                con.execute(
                    f"update digests set status = 'superseded', superseded_by = ? "
                    f"where digest_id in ({','.join('?' * len(old_ids))})",
                    [digest_id if shown else None, *old_ids],
                )
            if not shown:
                continue
            message = build_digest(
                shown,
                recipient=address,
                as_of=as_of,
                base_url=settings.app_base_url,
                sender=settings.mail_from,
            )
            con.execute(
                "insert or ignore into digests (digest_id, kind, recipients, subject, body_text, "
                "body_html, message_id, created_at, run_id, status) "
                "values (?, 'alerts', ?, ?, ?, ?, ?, ?, ?, 'pending')",
                [
                    digest_id,
                    json.dumps([address]),
                    message.subject,
                    message.text,
                    message.html,
                    _message_id(digest_id, "alerts", settings.mail_from),
                    _iso(now),
                    run_id,
                ],
            )
            shown_keys = {i.item_key for i in shown}
            con.executemany(
                "insert or ignore into digest_items values (?, ?, ?)",
                [(digest_id, i.item_key, int(i.item_key in shown_keys)) for i in every],
            )
            made += 1
        unsent = {i.item_key for i in no_one}
        done = [i.item_key for i in waiting if i.item_key not in unsent]
        con.executemany("update items set status = 'digested' where item_key = ?", [(k,) for k in done])
        con.execute("commit")
    return {"digests": made, "waiting_for_recipients": len(no_one)}


def enqueue_message(
    settings: Settings,
    *,
    kind: str,
    idempotency_key: str,
    message: OutgoingMessage,
    run_id: str = "",
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """Record a ready-made email (the weekly KPI review) once per key; return its id and status."""
    digest_id = _digest_id(kind, list(message.to), [idempotency_key])
    with _locked(settings) as con:
        con.execute(
            "insert or ignore into digests (digest_id, kind, recipients, subject, body_text, body_html, "
            "message_id, created_at, run_id, status) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            [
                digest_id,
                kind,
                json.dumps(list(message.to)),
                message.subject,
                message.text,
                message.html,
                _message_id(digest_id, kind, message.sender or settings.mail_from),
                _iso(now or _utcnow()),
                run_id,
            ],
        )
        row = con.execute("select status from digests where digest_id = ?", [digest_id]).fetchone()
    return digest_id, str(row["status"])


# --- delivery ---------------------------------------------------------------------------------


def deliver_pending(
    settings: Settings,
    channel: Channel,
    *,
    run_id: str,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    clock: Callable[[], dt.datetime] | None = None,
) -> dict[str, int]:
    """Send every pending digest (oldest first); counts of sent, still pending and maybe sent."""
    now_fn = clock or _utcnow
    sent = maybe = 0
    with _locked(settings) as con:
        for row in con.execute("select digest_id from digests where status = 'sending'").fetchall():
            error = (
                "the sending process stopped before the server's answer was recorded (killed?); "
                "not resent: check the recipient's inbox"
            )
            con.execute(
                "update digests set status = 'maybe_sent', last_error = ? where digest_id = ?",
                [error, row["digest_id"]],
            )
            log.warning("digest %s is maybe sent: %s", row["digest_id"], error)
        todo = con.execute(
            "select * from digests where status = 'pending' order by created_at, digest_id"
        ).fetchall()
        channel_down = False
        for note in todo:
            if channel_down:
                break
            message = OutgoingMessage(
                to=tuple(json.loads(note["recipients"])),
                subject=note["subject"],
                text=note["body_text"],
                html=note["body_html"],
                sender=settings.mail_from,
                message_id=note["message_id"],
                date=dt.datetime.fromisoformat(note["created_at"]),
            )
            attempts = note["attempts"] or 0
            outcome = "pending"
            for attempt in range(1, max(1, retries) + 1):
                attempts += 1
                at = _iso(now_fn())
                con.execute(
                    "update digests set status = 'sending', attempts = ?, last_attempt_at = ? "
                    "where digest_id = ?",
                    [attempts, at, note["digest_id"]],
                )
                try:
                    channel.send(message)
                except MaybeSentError as exc:
                    outcome = "maybe_sent"
                    _attempt(con, note["digest_id"], attempts, at, run_id, "maybe_sent", str(exc))
                    con.execute(
                        "update digests set status = 'maybe_sent', last_error = ? where digest_id = ?",
                        [str(exc), note["digest_id"]],
                    )
                    log.warning(
                        "digest %s to %s is maybe sent, not resent: %s",
                        note["digest_id"],
                        ", ".join(message.to),
                        exc,
                    )
                    break
                except DeliveryError as exc:
                    _attempt(con, note["digest_id"], attempts, at, run_id, "failed", str(exc))
                    con.execute(
                        "update digests set status = 'pending', last_error = ? where digest_id = ?",
                        [str(exc), note["digest_id"]],
                    )
                    log.warning(
                        "delivery of digest %s failed, attempt %d/%d: %s",
                        note["digest_id"],
                        attempt,
                        retries,
                        exc,
                    )
                    if attempt < retries:
                        time.sleep(backoff_seconds * attempt)
                    continue
                outcome = "sent"
                _attempt(con, note["digest_id"], attempts, at, run_id, "sent", None)
                con.execute(
                    "update digests set status = 'sent', sent_at = ?, last_error = null where digest_id = ?",
                    [_iso(now_fn()), note["digest_id"]],
                )
                log.info("sent %s digest %s to %s", note["kind"], note["digest_id"], ", ".join(message.to))
                break
            sent += outcome == "sent"
            maybe += outcome == "maybe_sent"
            # The server refused every attempt: leave the rest for the next evaluation instead of
            # spending the bounded retry budget on every digest.
            channel_down = outcome == "pending"
        pending = con.execute("select count(*) from digests where status = 'pending'").fetchone()[0]
    return {"sent": sent, "pending": int(pending), "maybe_sent": maybe}


def _attempt(
    con: sqlite3.Connection,
    digest_id: str,
    attempt: int,
    at: str | None,
    run_id: str,
    outcome: str,
    error: str | None,
) -> None:
    con.execute(
        "insert into attempts values (?, ?, ?, ?, ?, ?)", [digest_id, attempt, at, run_id, outcome, error]
    )


# --- reading ----------------------------------------------------------------------------------


def item_status(settings: Settings, item_keys: list[str]) -> dict[str, tuple[str, int]]:
    """Per item: where it stands (waiting, pending, sending, sent, maybe_sent) and its digest's attempts."""
    if not item_keys or not outbox_path(settings).exists():
        return {}
    rank = {"sent": 4, "maybe_sent": 3, "sending": 2, "pending": 1}
    con = connect(settings)
    try:
        out: dict[str, tuple[str, int]] = {}
        for chunk_start in range(0, len(item_keys), 500):
            chunk = item_keys[chunk_start : chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            for row in con.execute(f"select item_key, status from items where item_key in ({marks})", chunk):
                out[row["item_key"]] = ("waiting" if row["status"] == "waiting" else "pending", 0)
            for row in con.execute(
                f"select di.item_key, d.status, d.attempts from digest_items di join digests d "
                f"using (digest_id) where di.item_key in ({marks}) and d.status <> 'superseded'",
                chunk,
            ):
                best = out.get(row["item_key"], ("pending", 0))
                if rank.get(row["status"], 0) >= rank.get(best[0], 0):
                    out[row["item_key"]] = (row["status"], int(row["attempts"] or 0))
        return out
    finally:
        con.close()


def resend(settings: Settings, digest_id: str) -> None:
    """Put a maybe-sent digest back in the queue, after a person checked it did not arrive."""
    with _locked(settings) as con:
        row = con.execute("select status from digests where digest_id = ?", [digest_id]).fetchone()
        if row is None:
            raise ValueError(
                f"no digest {digest_id!r} in {outbox_path(settings)}: see `medtower alerts outbox`"
            )
        if row["status"] != "maybe_sent":
            raise ValueError(
                f"digest {digest_id} is {row['status']}, not maybe_sent: only those are resent by hand"
            )
        con.execute("update digests set status = 'pending' where digest_id = ?", [digest_id])


def digest_status(settings: Settings, digest_id: str) -> str | None:
    con = connect(settings)
    try:
        row = con.execute("select status from digests where digest_id = ?", [digest_id]).fetchone()
    finally:
        con.close()
    return None if row is None else str(row["status"])


def list_digests(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first: what was sent, what waits, what is maybe sent (for `medtower alerts outbox`)."""
    if not outbox_path(settings).exists():
        return []
    con = connect(settings)
    try:
        rows = con.execute(
            "select digest_id, kind, recipients, subject, status, attempts, created_at, sent_at, last_error, "
            "message_id, (select count(*) from digest_items di where di.digest_id = d.digest_id and shown) "
            "as alerts from digests d where status <> 'superseded' order by created_at desc, digest_id "
            "limit ?",
            [limit],
        ).fetchall()
        waiting = con.execute("select count(*) from items where status = 'waiting'").fetchone()[0]
    finally:
        con.close()
    out = [dict(r) for r in rows]
    for r in out:
        r["recipients"] = json.loads(r["recipients"])
    if waiting:
        out.insert(
            0,
            {
                "digest_id": None,
                "kind": "alerts",
                "recipients": [],
                "subject": f"{waiting} alert change(s) waiting for a recipient",
                "status": "no_recipients",
                "attempts": 0,
            },
        )
    return out


def attempts(settings: Settings) -> list[dict[str, Any]]:
    if not outbox_path(settings).exists():
        return []
    con = connect(settings)
    try:
        return [dict(r) for r in con.execute("select * from attempts order by rowid")]
    finally:
        con.close()
