"""Alert state in the warehouse's own schema ``alerts`` (dbt never touches it, so it survives rebuilds).

Tables: ``alert_instances`` (one row per key, current state), ``alert_events`` (every state change),
``evaluations`` (one row per rule per evaluation, ok or error), ``rule_errors`` (failing rules, for the
data-health page), ``notifications`` (one row per alert change that a person is told about, with where
its delivery stands, copied from the outbox), and ``applied_actions`` (which web-app
acknowledgements/resolutions were merged).

What was actually sent is recorded by the durable outbox (``alerts.outbox``, a SQLite file outside the
warehouse), because this schema lives in a staged copy that a failed or killed run discards.
``delivery_attempts`` is kept for warehouses built before that and is no longer written.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from alerts.state import Instance

DDL = [
    "create schema if not exists alerts",
    """create table if not exists alerts.alert_instances (
        alert_key varchar primary key, rule_id varchar not null, labels json, state varchar not null,
        severity varchar, title varchar, value varchar, details json, plan json,
        first_seen_at timestamp, opened_at timestamp, last_seen_at timestamp, last_evaluated_at timestamp,
        acknowledged_at timestamp, acknowledged_by varchar, resolved_at timestamp, resolved_by varchar,
        last_notified_at timestamp, notify_count integer, episode integer, plan_fingerprint varchar)""",
    """create table if not exists alerts.alert_events (
        run_id varchar, event_at timestamp, alert_key varchar, rule_id varchar, event varchar,
        from_state varchar, to_state varchar, severity varchar, actor varchar, detail varchar)""",
    """create table if not exists alerts.evaluations (
        run_id varchar, rule_id varchar, evaluated_at timestamp, as_of date, status varchar,
        rows_returned integer, firing integer, null_rows integer, opened integer, resolved integer,
        notifications integer, duration_ms double, error varchar, plans_computed integer,
        plans_kept integer)""",
    """create table if not exists alerts.rule_errors (
        run_id varchar, rule_id varchar, failed_at timestamp, error varchar)""",
    """create table if not exists alerts.notifications (
        notification_id varchar primary key, alert_key varchar, rule_id varchar, reason varchar,
        severity varchar, channel varchar, recipients json, subject varchar, body_text varchar,
        body_html varchar, created_at timestamp, created_run_id varchar, status varchar,
        attempts integer, last_attempt_at timestamp, last_error varchar, sent_at timestamp)""",
    """create table if not exists alerts.delivery_attempts (
        notification_id varchar, attempt integer, attempted_at timestamp, run_id varchar, outcome varchar,
        error varchar)""",
    """create table if not exists alerts.applied_actions (
        action_id varchar primary key, alert_key varchar, action varchar, actor varchar, acted_at timestamp,
        applied_at timestamp, outcome varchar)""",
]

# Columns added after a table was first shipped: a warehouse built by an older MedTower gets them here
# (``create table if not exists`` leaves its table as it was).
ADDED_COLUMNS = [
    # What the stored plan was computed from (``alerts.engine.plan_fingerprint``): an alert whose inputs
    # are unchanged keeps its plan instead of computing it again.
    ("alert_instances", "plan_fingerprint", "varchar"),
    # Plans computed and kept by each rule's evaluation.
    ("evaluations", "plans_computed", "integer"),
    ("evaluations", "plans_kept", "integer"),
]


class _Kept:
    """``save_instance(..., plan=KEPT)``: the stored plan and its fingerprint stay as they are."""

    def __repr__(self) -> str:
        return "KEPT"


KEPT = _Kept()

_COLS = (
    "alert_key, rule_id, labels, state, severity, title, value, details, first_seen_at, opened_at, "
    "last_seen_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, last_notified_at, "
    "notify_count, episode"
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)
    for table, column, kind in ADDED_COLUMNS:
        con.execute(f"alter table alerts.{table} add column if not exists {column} {kind}")


def _json(text: Any) -> Any:
    if text is None:
        return {}
    return json.loads(text) if isinstance(text, str) else text


def load_instances(con: duckdb.DuckDBPyConnection, rule_id: str | None = None) -> dict[str, Instance]:
    sql = f"select {_COLS} from alerts.alert_instances"
    rows = con.execute(
        sql + (" where rule_id = ?" if rule_id else ""), [rule_id] if rule_id else []
    ).fetchall()
    out = {}
    for r in rows:
        out[r[0]] = Instance(
            key=r[0],
            rule_id=r[1],
            labels=_json(r[2]),
            state=r[3],
            severity=r[4],
            title=r[5],
            value=r[6],
            details=_json(r[7]),
            first_seen_at=r[8],
            opened_at=r[9],
            last_seen_at=r[10],
            acknowledged_at=r[11],
            acknowledged_by=r[12],
            resolved_at=r[13],
            resolved_by=r[14],
            last_notified_at=r[15],
            notify_count=r[16] or 0,
            episode=r[17] or 0,
        )
    return out


def save_instance(
    con: duckdb.DuckDBPyConnection,
    inst: Instance,
    now: dt.datetime,
    plan: dict[str, Any] | _Kept | None = None,
    fingerprint: str | None = None,
) -> None:
    """Store an alert's state with its plan and the plan's fingerprint, or (``plan=KEPT``) with the plan
    and fingerprint it has (not read back and written again: a recall scope's plan is large)."""
    if plan is KEPT:
        if update_instances(con, [inst], now):
            return
        plan = None
    values = _values(inst)
    con.execute("delete from alerts.alert_instances where alert_key = ?", [inst.key])
    con.execute(
        f"insert into alerts.alert_instances ({_COLS}, plan, last_evaluated_at, plan_fingerprint) "
        f"values ({', '.join('?' * (len(values) + 3))})",
        [*values, None if plan is None else json.dumps(plan, default=str), now, fingerprint],
    )


# The SQL type of each state column, for the set-based update.
_TYPES = {
    "first_seen_at": "timestamp",
    "opened_at": "timestamp",
    "last_seen_at": "timestamp",
    "acknowledged_at": "timestamp",
    "resolved_at": "timestamp",
    "last_notified_at": "timestamp",
    "notify_count": "integer",
    "episode": "integer",
}


def update_instances(con: duckdb.DuckDBPyConnection, insts: list[Instance], now: dt.datetime) -> int:
    """The state of many stored alerts in one statement, their plans and fingerprints left as they are;
    how many were stored (an alert not stored yet is not added)."""
    if not insts:
        return 0
    names = [c.strip() for c in _COLS.split(",")]
    columns = list(zip(*(_values(i) for i in insts), strict=True))
    source = ", ".join(f"unnest(?::{_TYPES.get(name, 'varchar')}[]) as {name}" for name in names)
    sets = ", ".join(f"{name} = v.{name}" for name in names[1:])
    updated = con.execute(
        f"update alerts.alert_instances as a set {sets}, last_evaluated_at = ? "
        f"from (select {source}) as v where a.alert_key = v.alert_key",
        [now, *(list(c) for c in columns)],
    ).fetchone()
    return int(updated[0]) if updated else 0


def _values(inst: Instance) -> list[Any]:
    return [
        inst.key,
        inst.rule_id,
        json.dumps(inst.labels, default=str),
        inst.state,
        inst.severity,
        inst.title,
        None if inst.value is None else str(inst.value),
        json.dumps(inst.details, default=str),
        inst.first_seen_at,
        inst.opened_at,
        inst.last_seen_at,
        inst.acknowledged_at,
        inst.acknowledged_by,
        inst.resolved_at,
        inst.resolved_by,
        inst.last_notified_at,
        inst.notify_count,
        inst.episode,
    ]


def plan_fingerprints(con: duckdb.DuckDBPyConnection, rule_id: str) -> dict[str, str | None]:
    """Per alert of a rule, the fingerprint of its stored plan (None: no plan that can be kept)."""
    return dict(
        con.execute(
            "select alert_key, plan_fingerprint from alerts.alert_instances where rule_id = ?", [rule_id]
        ).fetchall()
    )


def keep_plan(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, Any] | None:
    row = con.execute("select plan from alerts.alert_instances where alert_key = ?", [key]).fetchone()
    return _json(row[0]) if row and row[0] else None


def log_event(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    at: dt.datetime,
    inst: Instance,
    event: str,
    from_state: str | None,
    to_state: str | None,
    actor: str | None = None,
    detail: str | None = None,
) -> None:
    con.execute(
        "insert into alerts.alert_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, at, inst.key, inst.rule_id, event, from_state, to_state, inst.severity, actor, detail],
    )


def log_evaluation(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    cols = [
        "run_id",
        "rule_id",
        "evaluated_at",
        "as_of",
        "status",
        "rows_returned",
        "firing",
        "null_rows",
        "opened",
        "resolved",
        "notifications",
        "duration_ms",
        "error",
        "plans_computed",
        "plans_kept",
    ]
    con.execute(
        f"insert into alerts.evaluations ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
        [row.get(c) for c in cols],
    )
    if row.get("status") == "error":
        con.execute(
            "insert into alerts.rule_errors values (?, ?, ?, ?)",
            [row["run_id"], row["rule_id"], row["evaluated_at"], row.get("error")],
        )
