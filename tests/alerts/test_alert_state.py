"""The alert state machine on plain data: no warehouse, no SMTP."""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.rules import RuleError, load_rules, parse_rule
from alerts.state import Observation, alert_key, apply_action, step

T0 = dt.datetime(2025, 3, 3, 8, 0)


def _rule(**extra):
    data = {
        "id": "r",
        "title": "Test rule",
        "source": "marts.x",
        "query": "select 1",
        "labels": ["material_id"],
        "condition": {"column": "qty", "op": ">", "threshold": 0},
        "severity": "high",
        "recipients": ["planner"],
        "reminder_hours": 24,
        **extra,
    }
    return parse_rule(data)


def _seen(severity: str = "high", value: float = 5.0) -> Observation:
    labels = {"material_id": "M1"}
    return Observation(alert_key("r", labels), "r", labels, severity, value, "M1 short")


def test_open_ack_resolve_with_who_and_when() -> None:
    rule = _rule()
    t = step(rule, None, _seen(), T0)
    assert t is not None and t.notify == "opened"
    assert (t.instance.state, t.instance.opened_at, t.instance.key) == ("open", T0, "r:material_id=M1")

    again = step(rule, t.instance, _seen(), T0 + dt.timedelta(hours=1))
    assert again is not None and again.notify is None and again.instance.state == "open"

    acked = apply_action(again.instance, "ack", "alice", T0 + dt.timedelta(hours=2))
    assert acked is not None
    assert (acked.instance.state, acked.instance.acknowledged_by) == ("acknowledged", "alice")
    assert acked.instance.acknowledged_at == T0 + dt.timedelta(hours=2)

    # Acknowledged: no reminder even long after the interval.
    quiet = step(rule, acked.instance, _seen(), T0 + dt.timedelta(hours=80))
    assert quiet is not None and quiet.notify is None and quiet.instance.state == "acknowledged"

    gone = step(rule, quiet.instance, None, T0 + dt.timedelta(hours=81))
    assert gone is not None and gone.notify is None
    assert (gone.instance.state, gone.instance.resolved_by) == ("resolved", "system")
    assert gone.instance.resolved_at == T0 + dt.timedelta(hours=81)
    # Still gone: nothing to record.
    assert step(rule, gone.instance, None, T0 + dt.timedelta(hours=82)) is None


def test_severity_rise_renotifies_and_lowering_does_not() -> None:
    rule = _rule()
    opened = step(rule, None, _seen("high"), T0).instance
    acked = apply_action(opened, "ack", "bob", T0).instance
    raised = step(rule, acked, _seen("critical"), T0 + dt.timedelta(minutes=5))
    assert raised is not None and raised.notify == "severity_raised"
    assert (raised.instance.state, raised.instance.severity) == ("open", "critical")
    lowered = step(rule, raised.instance, _seen("medium"), T0 + dt.timedelta(minutes=10))
    assert lowered is not None and lowered.notify is None and lowered.instance.severity == "medium"


def test_reminder_after_interval_only() -> None:
    rule = _rule(reminder_hours=24)
    inst = step(rule, None, _seen(), T0).instance
    before = step(rule, inst, _seen(), T0 + dt.timedelta(hours=23, minutes=59))
    assert before is not None and before.notify is None
    due = step(rule, before.instance, _seen(), T0 + dt.timedelta(hours=24))
    assert due is not None and due.notify == "reminder"
    assert due.instance.last_notified_at == T0 + dt.timedelta(hours=24)
    assert due.instance.notify_count == 2
    next_day = step(rule, due.instance, _seen(), T0 + dt.timedelta(hours=30))
    assert next_day is not None and next_day.notify is None


def test_grace_period_holds_back_until_condition_persists() -> None:
    rule = _rule(grace_minutes=30)
    first = step(rule, None, _seen(), T0)
    assert first is not None and first.notify is None and first.instance.state == "pending"
    still = step(rule, first.instance, _seen(), T0 + dt.timedelta(minutes=29))
    assert still is not None and still.notify is None and still.instance.state == "pending"
    opened = step(rule, still.instance, _seen(), T0 + dt.timedelta(minutes=30))
    assert opened is not None and opened.notify == "opened" and opened.instance.opened_at is not None
    # A blip that clears inside the grace period never notifies.
    blip = step(rule, None, _seen(), T0)
    cleared = step(rule, blip.instance, None, T0 + dt.timedelta(minutes=5))
    assert cleared is not None and cleared.notify is None and cleared.instance.state == "resolved"


def test_manual_resolve_while_condition_holds_reopens_once() -> None:
    rule = _rule()
    inst = step(rule, None, _seen(), T0).instance
    resolved = apply_action(inst, "resolve", "carol", T0 + dt.timedelta(hours=1)).instance
    assert (resolved.state, resolved.resolved_by) == ("resolved", "carol")
    back = step(rule, resolved, _seen(), T0 + dt.timedelta(hours=2))
    assert back is not None and back.notify == "reopened" and back.instance.episode == 2
    again = step(rule, back.instance, _seen(), T0 + dt.timedelta(hours=3))
    assert again is not None and again.notify is None


def test_thresholds_override_per_site_and_material() -> None:
    rule = _rule(
        labels=["material_id", "site_id"],
        condition={"column": "days", "op": "<=", "threshold": 90},
        overrides=[
            {"match": {"site_id": "S2"}, "threshold": 30},
            {"match": {"material_id": "M9"}, "threshold": 10},
        ],
        severity_steps=[{"column": "days", "op": "<=", "value": 5, "severity": "critical"}],
    )
    assert rule.fires({"material_id": "M1", "site_id": "S1", "days": 60})
    assert not rule.fires({"material_id": "M1", "site_id": "S2", "days": 60})
    assert rule.fires({"material_id": "M1", "site_id": "S2", "days": 30})
    assert not rule.fires({"material_id": "M9", "site_id": "S1", "days": 11})
    assert rule.severity_for({"days": 5}) == "critical"
    assert rule.severity_for({"days": 6}) == "high"


def test_bad_rule_files_say_what_to_fix() -> None:
    with pytest.raises(RuleError, match="severity"):
        _rule(severity="urgent")
    with pytest.raises(RuleError, match="recipient"):
        _rule(recipients=["ceo"])
    with pytest.raises(RuleError, match=r"condition\.op"):
        _rule(condition={"column": "qty", "op": "~", "threshold": 1})


def test_shipped_rules_load() -> None:
    ids = {r.id for r in load_rules()}
    assert {
        "material_shortage",
        "expiring_lots",
        "kpi_below_target",
        "data_freshness",
        "dbt_tests_failing",
    } <= ids


def test_freshness_overrides_name_feed_entities() -> None:
    """An override whose entity is misspelt would silently never apply: check against the contract."""
    import yaml

    from alerts.rules import RULES_DIR

    contract = yaml.safe_load((RULES_DIR.parents[1] / "ingest" / "source_contract.yaml").read_text())
    entities = set(contract["entities"])
    (rule,) = [r for r in load_rules() if r.id == "data_freshness"]
    assert rule.overrides
    for override in rule.overrides:
        assert set(override.match) == {"entity"}
        assert override.match["entity"] in entities, f"{override.match['entity']} is not a feed entity"
