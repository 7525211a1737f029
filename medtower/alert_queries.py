"""Read-side of alerts for the web app and the CLI: the published warehouse plus pending actions.

The app must show an acknowledgement the moment it is made, before the next evaluation merges it into
``alerts.alert_instances``: actions not yet applied are laid over the stored state here.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from medtower.alert_actions import STATE_ACTIONS, activity, owner_label, read_actions
from medtower.settings import Settings
from medtower.severity import SEVERITIES_DESC, severity_rank
from medtower.warehouse import relation_exists


def _has_alerts_schema(con: duckdb.DuckDBPyConnection) -> bool:
    return relation_exists(con, "alerts", "alert_instances")


def has_alerts(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an alerts evaluation has written to this warehouse (an empty list then means none open)."""
    return _has_alerts_schema(con)


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
    actions = read_actions(settings)
    pending = [a for a in actions if a["action_id"] not in applied and a["action"] in STATE_ACTIONS]
    by_key = {r["alert_key"]: r for r in rows}
    for a in pending:
        r = by_key.get(a["alert_key"])
        if r is None or r["state"] == "resolved":
            continue
        if a["action"] == "ack" and r["state"] in ("open", "pending"):
            r.update(state="acknowledged", acknowledged_by=a["actor"], acknowledged_at=a["at"])
        elif a["action"] == "resolve":
            r.update(state="resolved", resolved_by=a["actor"], resolved_at=a["at"])
        else:
            continue
        r["pending_merge"] = True
    people = activity(actions)
    for r in rows:
        for k in ("labels", "details", "plan"):
            r[k] = json.loads(r[k]) if isinstance(r[k], str) else r[k]
        mine = people.get(r["alert_key"], {})
        r["owner"] = mine.get("owner")
        r["owner_by"], r["owner_at"] = mine.get("owner_by"), mine.get("owner_at")
        r["thread"] = mine.get("thread", [])
        r["site_id"] = (r["labels"] or {}).get("site_id")
    if not include_resolved:
        rows = [r for r in rows if r["state"] != "resolved"]
    # Stable sorts: newest first (the SQL order), then most severe first.
    return sorted(rows, key=lambda r: -severity_rank(r["severity"]))


ACTIVE_STATES = ("pending", "open", "acknowledged")
STATE_CHOICES = ("active", "open", "pending", "acknowledged", "resolved", "all")
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class AlertFilter:
    """What the Alerts page (and the Overview's counts that link to it) narrow the list to.

    ``state`` is one of STATE_CHOICES: ``active`` (default) is every alert not resolved; ``site`` is the
    global site filter (an alert without a site label is in the all-sites view only); ``owner`` is an
    owner as stored, or ``unassigned``; ``text`` matches title, key, labels and comments, case-insensitive.
    """

    rule: str | None = None
    site: str | None = None
    severity: str | None = None
    state: str = "active"
    owner: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATE_CHOICES:
            raise ValueError(f"unknown alert state filter {self.state!r}; use one of {STATE_CHOICES}")

    def without_severity(self) -> AlertFilter:
        return replace(self, severity=None)

    def matches(self, a: dict[str, Any]) -> bool:
        if self.rule and a["rule_id"] != self.rule:
            return False
        if self.site and (a["labels"] or {}).get("site_id") != self.site:
            return False
        if self.severity and a["severity"] != self.severity:
            return False
        if self.state == "active" and a["state"] not in ACTIVE_STATES:
            return False
        if self.state not in ("active", "all") and a["state"] != self.state:
            return False
        if self.owner == UNASSIGNED and a.get("owner"):
            return False
        if self.owner and self.owner != UNASSIGNED and a.get("owner") != self.owner:
            return False
        if self.text:
            words = self.text.lower().split()
            hay = " ".join(
                [
                    str(a.get("title") or ""),
                    a["alert_key"],
                    owner_label(a.get("owner")),
                    *(str(v) for v in (a["labels"] or {}).values()),
                    *(str(c.get("note") or "") for c in a.get("thread") or []),
                ]
            ).lower()
            if not all(w in hay for w in words):
                return False
        return True


def filter_alerts(rows: list[dict[str, Any]], f: AlertFilter) -> list[dict[str, Any]]:
    """The rows (as ``list_alerts(..., include_resolved=True)`` gives them) the filter keeps, in order."""
    return [a for a in rows if f.matches(a)]


def severity_counts(rows: list[dict[str, Any]], f: AlertFilter) -> dict[str, int]:
    """Per severity, most severe first, how many alerts the filter keeps if its severity is set to that one.

    Counted with every other filter applied, so each count is the length of the list its link opens.
    """
    base = filter_alerts(rows, f.without_severity())
    counts = {s: 0 for s in SEVERITIES_DESC}
    for a in base:
        counts[a["severity"]] = counts.get(a["severity"], 0) + 1
    return counts


def no_site_count(rows: list[dict[str, Any]], f: AlertFilter) -> int:
    """Alerts kept but for the site: those without a site label are in the all-sites view only."""
    if not f.site:
        return 0
    return sum(
        1 for a in filter_alerts(rows, replace(f, site=None)) if not (a["labels"] or {}).get("site_id")
    )


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
