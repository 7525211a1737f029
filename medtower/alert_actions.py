"""Acknowledge/resolve requests from people, kept outside the warehouse.

The web app never takes the warehouse write lock, so it writes a person's action to a small SQLite file
(``$MEDTOWER_DATA_DIR/alert-actions.sqlite``, WAL mode). The app reads it back to show the new state at
once; the next alerts evaluation merges every action not yet applied into ``alerts.alert_instances``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from medtower.settings import Settings

ACTIONS = ("ack", "resolve")


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
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}; use one of {ACTIONS}")
    if not actor or not actor.strip():
        raise ValueError("say who you are: an acknowledgement or resolution needs a name (--by NAME)")
    if not key:
        raise ValueError("an alert key is required")
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
    finally:
        con.close()
    return row


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
