"""What people do to alerts (acknowledge, resolve, assign, comment), kept outside the warehouse.

The web app never takes the warehouse write lock, so it writes a person's action to a small SQLite file
(``$MEDTOWER_DATA_DIR/alert-actions.sqlite``, WAL mode). The app reads it back to show the new state at
once; the next alerts evaluation merges every action not yet applied into ``alerts.alert_instances``
(ack/resolve change the state; assign/comment are logged as events). The file survives warehouse rebuilds,
so owners and comment threads do too.

For ``assign`` the ``note`` is the new owner (a person, or a role such as ``role:qa``); for the others it
is the person's comment.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from medtower.settings import Settings

STATE_ACTIONS = ("ack", "resolve")
ACTIONS = (*STATE_ACTIONS, "assign", "comment")
# Roles an alert can be assigned to (the rules' recipient roles) before a named person takes it.
ROLES = ("role:planner", "role:qa", "role:management")
MAX_NOTE = 4000


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "alert-actions.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=10)
    con.execute("pragma journal_mode=wal")
    con.execute(
        """create table if not exists actions (
            action_id text primary key, alert_key text not null, action text not null,
            actor text not null, at text not null, note text)"""
    )
    return con


def record_action(
    settings: Settings,
    key: str,
    action: str,
    actor: str,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record one action with who and when; a comment or an assignment without text is refused."""
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}; use one of {ACTIONS}")
    if not actor or not actor.strip():
        raise ValueError("say who you are: an acknowledgement or resolution needs a name (--by NAME)")
    if not key:
        raise ValueError("an alert key is required")
    note = note.strip() if note else None
    if action == "comment" and not note:
        raise ValueError("a comment needs some text")
    if action == "assign" and not note:
        raise ValueError("say whom to assign the alert to (a person's name or a role)")
    if note and len(note) > MAX_NOTE:
        raise ValueError(f"the text is {len(note):,} characters long; keep it under {MAX_NOTE:,}")
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = {
        "action_id": uuid.uuid4().hex,
        "alert_key": key,
        "action": action,
        "actor": actor.strip(),
        "at": at.isoformat(timespec="seconds"),
        "note": note,
    }
    con = _connect(store_path(settings))
    try:
        with con:
            con.execute(
                "insert into actions values (:action_id, :alert_key, :action, :actor, :at, :note)", row
            )
            # In the same transaction: an action whose audit record cannot be written is not kept.
            _audit(settings, con, row)
    finally:
        con.close()
    return row


STATE_OF = {"ack": "acknowledged", "resolve": "resolved"}


def _audit(settings: Settings, con: sqlite3.Connection, row: dict[str, Any]) -> None:
    """The action in the audit trail with the value before it: the state or owner a person last set
    (None: none set, the state is the evaluation's), or nothing for a comment (a create)."""
    from medtower import audit

    earlier = con.execute(
        "select action, note from actions where alert_key = ? and action_id != ? order by at, rowid",
        (row["alert_key"], row["action_id"]),
    ).fetchall()
    action, note = row["action"], row["note"]
    if action == "assign":
        owners = [n for a, n in earlier if a == "assign"]
        old, new = {"owner": owners[-1] if owners else None}, {"owner": note}
    elif action in STATE_ACTIONS:
        states = [STATE_OF[a] for a, _ in earlier if a in STATE_OF]
        old, new = {"state": states[-1] if states else None}, {"state": STATE_OF[action], "comment": note}
    else:
        old, new = None, {"comment": note}
    audit.record(
        settings,
        row["actor"],
        action,
        "alert",
        row["alert_key"],
        old,
        {**new, "action_id": row["action_id"], "at": row["at"]},
        reason=note if action in STATE_ACTIONS else None,
        site=audit.site_from_alert_key(row["alert_key"]),
    )


def record_decision(
    settings: Settings, key: str, action: str, actor: str, comment: str | None
) -> dict[str, Any]:
    """Acknowledge or resolve from the web app: the comment is required (why, and what happens next)."""
    if action not in STATE_ACTIONS:
        raise ValueError(f"{action!r} is not a decision; use one of {STATE_ACTIONS}")
    if not comment or not comment.strip():
        verb = "acknowledge" if action == "ack" else "resolve"
        raise ValueError(f"write a comment to {verb}: what you are doing about it, or why it is done")
    return record_action(settings, key, action, actor, comment)


def read_actions(settings: Settings) -> list[dict[str, Any]]:
    """All recorded actions, oldest first (empty when nobody acted yet)."""
    path = store_path(settings)
    if not path.exists():
        return []
    con = _connect(path)
    try:
        con.row_factory = sqlite3.Row
        rows = con.execute("select * from actions order by at, rowid").fetchall()
    finally:
        con.close()
    return [dict(r) for r in rows]


def latest_by_key(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for a in actions:
        out[a["alert_key"]] = a
    return out


def owner_label(owner: str | None) -> str:
    """How an owner reads: 'QA (role)' for a role, the name for a person, 'unassigned' for none."""
    if not owner:
        return "unassigned"
    if owner.startswith("role:"):
        return f"{owner[5:].capitalize() if owner[5:] != 'qa' else 'QA'} (role)"
    return owner


def activity(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per alert key: its current owner (the latest assignment) and its thread, oldest first.

    The thread holds every action with who, when and text, so acknowledgements and resolutions read
    beside the comments they came with.
    """
    out: dict[str, dict[str, Any]] = {}
    for a in actions:
        entry = out.setdefault(
            a["alert_key"], {"owner": None, "owner_by": None, "owner_at": None, "thread": []}
        )
        if a["action"] == "assign":
            entry.update(owner=a["note"], owner_by=a["actor"], owner_at=a["at"])
        entry["thread"].append({"action": a["action"], "actor": a["actor"], "at": a["at"], "note": a["note"]})
    return out
