"""The notifications outbox: every message is written first, then delivered, attempts recorded.

A message stays ``pending`` until a channel accepts it. A failed attempt is retried a bounded number of
times within one evaluation (with a short backoff); whatever is still pending is retried by the next
evaluation. Nothing is dropped: a message without recipients is kept as ``no_recipients``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

import duckdb

from alerts.channels import Channel, DeliveryError
from alerts.message import OutgoingMessage

log = logging.getLogger(__name__)


def enqueue(
    con: duckdb.DuckDBPyConnection,
    *,
    key: str,
    rule_id: str,
    reason: str,
    severity: str,
    message: OutgoingMessage,
    channel: str,
    run_id: str,
    now: dt.datetime,
) -> str:
    notification_id = uuid.uuid4().hex
    status = "pending" if message.to else "no_recipients"
    if not message.to:
        log.warning(
            "alert %s has no recipients: set MEDTOWER_PLANNER_EMAILS / _QA_EMAILS / "
            "_MANAGEMENT_EMAILS; the notification is kept in alerts.notifications",
            key,
        )
    con.execute(
        "insert into alerts.notifications values "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, null, null, null)",
        [
            notification_id,
            key,
            rule_id,
            reason,
            severity,
            channel,
            json.dumps(list(message.to)),
            message.subject,
            message.text,
            message.html,
            now,
            run_id,
            status,
        ],
    )
    return notification_id


def pending(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = con.execute(
        "select notification_id, alert_key, recipients, subject, body_text, body_html, attempts "
        "from alerts.notifications where status = 'pending' order by created_at, notification_id"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    *,
    run_id: str,
    sender: str,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    clock: Any = None,
) -> dict[str, int]:
    """Try every pending message; return counts of sent and still pending."""
    now_fn = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    sent = failed = 0
    channel_down = False
    for note in pending(con):
        if channel_down:
            failed += 1
            continue
        message = OutgoingMessage(
            to=tuple(json.loads(note["recipients"])),
            subject=note["subject"],
            text=note["body_text"],
            html=note["body_html"],
            sender=sender,
        )
        attempts = note["attempts"] or 0
        delivered = False
        last_error = None
        for attempt in range(1, max(1, retries) + 1):
            attempts += 1
            at = now_fn()
            try:
                channel.send(message)
            except DeliveryError as exc:
                last_error = str(exc)
                log.warning(
                    "delivery of %s (alert %s) failed, attempt %d/%d: %s",
                    note["notification_id"],
                    note["alert_key"],
                    attempt,
                    retries,
                    exc,
                )
                con.execute(
                    "insert into alerts.delivery_attempts values (?, ?, ?, ?, 'failed', ?)",
                    [note["notification_id"], attempts, at, run_id, last_error],
                )
                if attempt < retries:
                    time.sleep(backoff_seconds * attempt)
                continue
            con.execute(
                "insert into alerts.delivery_attempts values (?, ?, ?, ?, 'sent', null)",
                [note["notification_id"], attempts, at, run_id],
            )
            con.execute(
                "update alerts.notifications set status = 'sent', attempts = ?, last_attempt_at = ?, "
                "sent_at = ?, last_error = null where notification_id = ?",
                [attempts, at, at, note["notification_id"]],
            )
            log.info(
                "sent notification %s for alert %s to %s",
                note["notification_id"],
                note["alert_key"],
                ", ".join(message.to),
            )
            delivered = True
            sent += 1
            break
        if not delivered:
            failed += 1
            con.execute(
                "update alerts.notifications set attempts = ?, last_attempt_at = ?, last_error = ? "
                "where notification_id = ?",
                [attempts, now_fn(), last_error, note["notification_id"]],
            )
            # The channel is down: leave the rest pending for the next evaluation instead of
            # spending the whole bounded retry budget on every message.
            channel_down = True
    return {"sent": sent, "pending": failed}
