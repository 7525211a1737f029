"""Read-side of alerts for the web app and the CLI: the published warehouse plus pending actions.

The app must show an acknowledgement the moment it is made, before the next evaluation merges it into
``alerts.alert_instances``: actions not yet applied are laid over the stored state here.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import duckdb

from medtower.alert_actions import read_actions
from medtower.settings import Settings
from medtower.severity import severity_rank


def _has_alerts_schema(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'alerts' "
        "and table_name = 'alert_instances'"
    ).fetchone()
    return bool(row and row[0])


def list_alerts(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, include_resolved: bool = False
) -> list[dict[str, Any]]:
    """Alert instances, most severe first and newest first within a severity, with web-app actions not yet
    merged applied on top (the Alerts page orders them its own way)."""
    if not _has_alerts_schema(con):
        return []
    cur = con.execute(
        "select alert_key, rule_id, state, severity, title, labels, details, plan, opened_at, last_seen_at, "
        "acknowledged_at, acknowledged_by, resolved_at, resolved_by, last_notified_at, notify_count "
        "from alerts.alert_instances order by coalesce(opened_at, first_seen_at) desc"
    )
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    applied = {r[0] for r in con.execute("select action_id from alerts.applied_actions").fetchall()}
    pending = [a for a in read_actions(settings) if a["action_id"] not in applied]
    by_key = {r["alert_key"]: r for r in rows}
    for a in pending:
        r = by_key.get(a["alert_key"])
        if r is None or r["state"] == "resolved":
            continue
        if a["action"] == "ack" and r["state"] in ("open", "pending"):
            r.update(state="acknowledged", acknowledged_by=a["actor"], acknowledged_at=a["at"])
        elif a["action"] == "resolve":
            r.update(state="resolved", resolved_by=a["actor"], resolved_at=a["at"])
        r["pending_merge"] = True
    for r in rows:
        for k in ("labels", "details", "plan"):
            r[k] = json.loads(r[k]) if isinstance(r[k], str) else r[k]
    if not include_resolved:
        rows = [r for r in rows if r["state"] != "resolved"]
    # Stable sorts: newest first (the SQL order), then most severe first.
    return sorted(rows, key=lambda r: -severity_rank(r["severity"]))


def alert_exists(con: duckdb.DuckDBPyConnection, key: str) -> tuple[bool, str]:
    """Whether the published warehouse knows this alert key, and a "did you mean" hint when it does not."""
    if not _has_alerts_schema(con):
        return False, " (no alert has been evaluated yet: run `medtower alerts run`)"
    keys = [r[0] for r in con.execute("select alert_key from alerts.alert_instances").fetchall()]
    if key in keys:
        return True, ""
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    return False, (f" (did you mean {', '.join(repr(k) for k in close)}?)" if close else "")


def rule_health(con: duckdb.DuckDBPyConnection, limit: int = 200) -> list[dict[str, Any]]:
    """Every rule of the latest evaluation run, failing rules first, for the data-health page.

    A failing rule (query error, result without the rule's columns, NULL values where the rule forbids
    them) shows as ``status = 'error'`` with its message: never as a quiet pass.
    """
    if not _has_alerts_schema(con):
        return []
    cur = con.execute(
        """select rule_id, status, error, evaluated_at, as_of, rows_returned, firing, null_rows,
                  opened, resolved, notifications, round(duration_ms) as duration_ms, run_id
           from alerts.evaluations
           where run_id = (
               select run_id from alerts.evaluations order by evaluated_at desc, rowid desc limit 1
           )
           qualify row_number() over (partition by rule_id order by evaluated_at desc, rowid desc) = 1
           order by status = 'error' desc, rule_id limit ?""",
        [limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def rule_health_summary(rows: list[dict[str, Any]]) -> str:
    """One line over ``rule_health`` rows: which rules fail, so a broken rule is never read as all clear."""
    if not rows:
        return "no alert evaluation recorded yet (alerts run after every `medtower run`)"
    failing = [r["rule_id"] for r in rows if r["status"] == "error"]
    if failing:
        return (
            f"{len(failing)} of {len(rows)} rules FAILING: {', '.join(failing)}; "
            "their alerts are not evaluated until fixed"
        )
    return f"all {len(rows)} rules evaluated without error"
