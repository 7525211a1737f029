"""The alert state machine, on plain data (no database, no SMTP).

An instance is keyed by rule + labels. States: ``pending`` (condition seen, inside its grace period),
``open``, ``acknowledged``, ``resolved``. A notification is due only on a change that matters to a
person: the alert opens, its severity rises, or an open (unacknowledged) alert has gone unanswered for
the rule's reminder interval. Evaluating an unchanged condition again sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

from alerts.rules import Rule, severity_rank

ACTIVE = ("pending", "open", "acknowledged")


def alert_key(rule_id: str, labels: dict[str, Any]) -> str:
    """Stable key: ``rule_id:label=value,...`` with labels in the rule's order."""
    return rule_id + ":" + ",".join(f"{k}={labels[k]}" for k in labels)


@dataclass(frozen=True)
class Observation:
    """One firing row of a rule at one evaluation."""

    key: str
    rule_id: str
    labels: dict[str, Any]
    severity: str
    value: Any
    title: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    key: str
    rule_id: str
    labels: dict[str, Any]
    state: str
    severity: str
    title: str
    value: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    first_seen_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    last_seen_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    last_notified_at: dt.datetime | None = None
    notify_count: int = 0
    episode: int = 0


@dataclass(frozen=True)
class Transition:
    instance: Instance
    events: list[tuple[str, str | None, str, str | None]]  # (event, from_state, to_state, detail)
    notify: str | None = None  # opened | severity_raised | reminder | reopened


def step(
    rule: Rule, current: Instance | None, seen: Observation | None, now: dt.datetime
) -> Transition | None:
    """Advance one instance by one evaluation; None when there is nothing to record."""
    if seen is None:
        if current is None or current.state not in ACTIVE:
            return None
        resolved = replace(current, state="resolved", resolved_at=now, resolved_by="system")
        return Transition(resolved, [("resolved", current.state, "resolved", "condition no longer holds")])

    if current is None or current.state == "resolved":
        # A new episode (or a manually resolved alert whose condition still holds: it reopens).
        reopened = current is not None
        episode = (current.episode + 1) if current else 1
        base = Instance(
            key=seen.key,
            rule_id=seen.rule_id,
            labels=seen.labels,
            state="pending",
            severity=seen.severity,
            title=seen.title,
            value=seen.value,
            details=seen.details,
            first_seen_at=now,
            last_seen_at=now,
            episode=episode,
            notify_count=current.notify_count if current else 0,
        )
        events: list[tuple[str, str | None, str, str | None]] = [
            ("seen", current.state if current else None, "pending", None)
        ]
        if rule.grace_minutes <= 0:
            opened = replace(
                base, state="open", opened_at=now, last_notified_at=now, notify_count=base.notify_count + 1
            )
            events.append(("opened", "pending", "open", None))
            return Transition(opened, events, "reopened" if reopened else "opened")
        return Transition(base, events)

    updated = replace(current, last_seen_at=now, value=seen.value, details=seen.details, title=seen.title)
    if current.state == "pending":
        assert current.first_seen_at is not None
        if now - current.first_seen_at >= dt.timedelta(minutes=rule.grace_minutes):
            opened = replace(
                updated,
                state="open",
                severity=seen.severity,
                opened_at=now,
                last_notified_at=now,
                notify_count=current.notify_count + 1,
            )
            return Transition(opened, [("opened", "pending", "open", "grace period over")], "opened")
        return Transition(replace(updated, severity=seen.severity), [])

    if severity_rank(seen.severity) > severity_rank(current.severity):
        raised = replace(
            updated,
            state="open",
            severity=seen.severity,
            last_notified_at=now,
            notify_count=current.notify_count + 1,
        )
        detail = f"{current.severity} -> {seen.severity}"
        return Transition(raised, [("severity_raised", current.state, "open", detail)], "severity_raised")
    if severity_rank(seen.severity) < severity_rank(current.severity):
        lowered = replace(updated, severity=seen.severity)
        return Transition(
            lowered,
            [("severity_lowered", current.state, current.state, f"{current.severity} -> {seen.severity}")],
        )

    if (
        current.state == "open"
        and rule.reminder_hours > 0
        and current.last_notified_at is not None
        and now - current.last_notified_at >= dt.timedelta(hours=rule.reminder_hours)
    ):
        reminded = replace(updated, last_notified_at=now, notify_count=current.notify_count + 1)
        return Transition(reminded, [("reminder", "open", "open", None)], "reminder")
    return Transition(updated, [])


def apply_action(current: Instance, action: str, actor: str, at: dt.datetime) -> Transition | None:
    """A person's acknowledge or resolve, from the web app or the CLI."""
    if action == "ack":
        if current.state not in ("open", "pending"):
            return None
        acked = replace(current, state="acknowledged", acknowledged_at=at, acknowledged_by=actor)
        return Transition(acked, [("acknowledged", current.state, "acknowledged", actor)])
    if action == "resolve":
        if current.state == "resolved":
            return None
        resolved = replace(current, state="resolved", resolved_at=at, resolved_by=actor)
        return Transition(resolved, [("resolved", current.state, "resolved", f"by {actor}")])
    raise ValueError(f"unknown alert action {action!r}; use 'ack' or 'resolve'")


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=False)
