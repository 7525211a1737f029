"""What people do to alerts (acknowledge, resolve, assign, comment), kept outside the warehouse.

The web app never takes the warehouse write lock, so it writes a person's action to a small SQLite file
(``$MEDTOWER_DATA_DIR/alert-actions.sqlite``, WAL mode). The app reads it back to show the new state at
once; the next alerts evaluation merges every action not yet applied into ``alerts.alert_instances``
(ack/resolve change the state; assign/comment are logged as events). The file survives warehouse rebuilds,
so owners and comment threads do too.

For ``assign`` the ``note`` is the new owner (a person, or a role such as ``role:qa``); for the others it
is the person's comment. ``scope`` records a quality alert's hold scope decision (``details``: the scope
id, proposed or wider, and its counts; ``note``: why).

Electronic signatures (medtower/signatures.py): resolving an alert of a rule in ``SIGNED_RESOLVE`` and
every scope decision must be signed, and this module refuses them unsigned, whoever calls it (the page,
the CLI, a hand-made request). The signature is taken over the action's row (``signed_content``); the row
keeps the signature's id and its manifestation (printed name, meaning, time) to show in the thread.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medtower.settings import Settings

if TYPE_CHECKING:  # the signatures module loads the users store (argon2) only when something is signed
    from medtower.signatures import Signing

STATE_ACTIONS = ("ack", "resolve")
ACTIONS = (*STATE_ACTIONS, "assign", "comment", "scope")
# Rules whose alerts are resolved by an electronic signature: a quality exception's resolution is a
# quality decision (release or disposition of the lots), so it carries a signer's name and meaning.
SIGNED_RESOLVE = frozenset({"quality_exception"})
# A hold scope's lists, counted in the decision (alerts/plans/quality.py builds them).
SCOPE_COUNTS = ("lots_to_hold", "work_orders", "shipments", "customers")
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
            actor text not null, at text not null, note text, details text, signature text)"""
    )
    # A store made before signatures lacks the last two columns: add them (old rows keep NULL).
    columns = {r[1] for r in con.execute("pragma table_info(actions)").fetchall()}
    for column in ("details", "signature"):
        if column not in columns:
            try:
                con.execute(f"alter table actions add column {column} text")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise
    return con


def rule_of(key: str) -> str:
    return key.partition(":")[0]


def needs_signature(key: str, action: str) -> bool:
    """Whether this action on this alert must be signed."""
    return action == "scope" or (action == "resolve" and rule_of(key) in SIGNED_RESOLVE)


def signed_content(row: dict[str, Any]) -> dict[str, Any]:
    """The part of an action's row a signature is taken over: everything but the signature itself."""
    return {k: row.get(k) for k in ("action_id", "alert_key", "action", "actor", "at", "note", "details")}


def record_action(
    settings: Settings,
    key: str,
    action: str,
    actor: str,
    note: str | None = None,
    at: dt.datetime | None = None,
    *,
    details: dict[str, Any] | None = None,
    signing: Signing | None = None,
    permission: str | None = None,
) -> dict[str, Any]:
    """Record one action with who and when; a comment or an assignment without text is refused.

    ``signing``: the signer's credentials, required where ``needs_signature``; ``permission``: the
    roles action the signer must hold (checked against the signer's role in the users store).
    """
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
    if action == "scope" and not note:
        raise ValueError("say why this hold scope is right (the reason is kept with the decision)")
    if note and len(note) > MAX_NOTE:
        raise ValueError(f"the text is {len(note):,} characters long; keep it under {MAX_NOTE:,}")
    if needs_signature(key, action) and signing is None:
        what = "a hold scope decision" if action == "scope" else "resolving a quality alert"
        raise ValueError(
            f"{what} needs your electronic signature: your user name, your password and what the "
            "signature means (reviewed, approved or responsible)"
        )
    if signing is not None and signing.user.strip().lower() != actor.strip().lower():
        raise ValueError(f"sign with your own user name: the action is recorded under {actor.strip()}")
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row: dict[str, Any] = {
        "action_id": uuid.uuid4().hex,
        "alert_key": key,
        "action": action,
        "actor": actor.strip(),
        "at": at.isoformat(timespec="seconds"),
        "note": note,
        "details": json.dumps(details, sort_keys=True, default=str) if details else None,
        "signature": None,
    }
    if signing is not None:
        from medtower import audit, signatures

        sig = signatures.sign(
            settings,
            signing.user,
            signing.password,
            signing.meaning,
            "alert_action",
            row["action_id"],
            signed_content(row),
            site=audit.site_from_alert_key(key),
            action=permission,
        )
        row["signature"] = json.dumps(sig.manifest(), sort_keys=True)
    con = _connect(store_path(settings))
    try:
        with con:
            con.execute(
                "insert into actions values (:action_id, :alert_key, :action, :actor, :at, :note, :details,"
                " :signature)",
                row,
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
    signed = {"signature_id": json.loads(row["signature"])["signature_id"]} if row.get("signature") else {}
    if action == "scope":
        scopes = [json.loads(d or "{}").get("scope_id") for a, d in _details(con, row) if a == "scope"]
        old = {"scope": scopes[-1] if scopes else None}
        new = {"scope": json.loads(row["details"]).get("scope_id"), **json.loads(row["details"])}
    elif action == "assign":
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
        {**new, "action_id": row["action_id"], "at": row["at"], **signed},
        reason=note if action in (*STATE_ACTIONS, "scope") else None,
        site=audit.site_from_alert_key(row["alert_key"]),
    )


def _details(con: sqlite3.Connection, row: dict[str, Any]) -> list[tuple[str, str | None]]:
    return con.execute(
        "select action, details from actions where alert_key = ? and action_id != ? order by at, rowid",
        (row["alert_key"], row["action_id"]),
    ).fetchall()


def record_decision(
    settings: Settings,
    key: str,
    action: str,
    actor: str,
    comment: str | None,
    signing: Signing | None = None,
) -> dict[str, Any]:
    """Acknowledge or resolve: the comment is required (why, and what happens next); resolving a quality
    alert is signed as well."""
    if action not in STATE_ACTIONS:
        raise ValueError(f"{action!r} is not a decision; use one of {STATE_ACTIONS}")
    if not comment or not comment.strip():
        verb = "acknowledge" if action == "ack" else "resolve"
        raise ValueError(f"write a comment to {verb}: what you are doing about it, or why it is done")
    permission = "alert.resolve" if action == "resolve" else "alert.acknowledge"
    return record_action(settings, key, action, actor, comment, signing=signing, permission=permission)


def record_scope(
    settings: Settings,
    key: str,
    actor: str,
    scope: dict[str, Any],
    proposed: bool,
    reason: str | None,
    signing: Signing | None,
) -> dict[str, Any]:
    """A quality alert's hold scope decision, signed: confirm the proposed scope, or widen to a wider one
    (which needs ``quality.widen_scope``). ``scope``: the plan's scope as the warehouse stores it."""
    if not scope or not scope.get("id"):
        raise ValueError("pick a hold scope of this alert's plan")
    details = {
        "scope_id": str(scope["id"]),
        "label": scope.get("label") or str(scope["id"]),
        "decision": "proposed" if proposed else "wider",
        **{k: len(scope.get(k) or []) for k in SCOPE_COUNTS},
    }
    permission = "quality.hold_scope" if proposed else "quality.widen_scope"
    return record_action(
        settings, key, "scope", actor, reason, details=details, signing=signing, permission=permission
    )


def decided_scope(thread: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest scope decision of an alert's thread (its details and signature), or None."""
    decided = [c for c in thread if c.get("action") == "scope" and c.get("details")]
    return decided[-1] if decided else None


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


def signed_records(settings: Settings) -> Iterator[Any]:
    """Every action that is signed or must be, for ``signatures.verify``."""
    from medtower.signatures import Signed

    for r in read_actions(settings):
        manifest = json.loads(r["signature"]) if r.get("signature") else None
        if manifest is None and not needs_signature(r["alert_key"], r["action"]):
            continue
        yield Signed(
            "alert_action",
            r["action_id"],
            signed_content(r),
            (manifest or {}).get("signature_id"),
            manifest,
            required=needs_signature(r["alert_key"], r["action"]),
        )


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
        entry["thread"].append(
            {
                "action": a["action"],
                "actor": a["actor"],
                "at": a["at"],
                "note": a["note"],
                "details": json.loads(a["details"]) if a.get("details") else None,
                "signature": json.loads(a["signature"]) if a.get("signature") else None,
            }
        )
    return out
