"""A rule is data: one YAML file per rule in ``alerts/rules/``.

Each file says what to query (SQL on a mart, or a KPI from ``medtower.kpis``), which columns label an alert
instance, the value and the condition that makes a row fire, the severity (and what raises it), who gets
it, how long a condition must hold before it opens (grace) and how often an unacknowledged alert is
recalled (reminder). Thresholds can be overridden per site or material.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medtower.rows import is_missing
from medtower.severity import SEVERITIES, severity_rank

RULES_DIR = Path(__file__).resolve().parent / "rules"

OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
KINDS = ("sql", "kpi")
ROLES = ("planner", "qa", "management")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the file and the field to fix."""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    threshold: Any


@dataclass(frozen=True)
class SeverityStep:
    column: str
    op: str
    value: Any
    severity: str


@dataclass(frozen=True)
class Override:
    """Threshold (or severity) for rows whose labels match, e.g. ``{site_id: S2}``."""

    match: dict[str, Any]
    threshold: Any = None
    severity: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    kind: str
    source: str
    labels: tuple[str, ...]
    condition: Condition
    severity: str
    recipients: tuple[str, ...]
    query: str = ""
    kpis: tuple[str, ...] = ()
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    severity_steps: tuple[SeverityStep, ...] = ()
    overrides: tuple[Override, ...] = ()
    on_null: str = "error"  # error | ignore: what a NULL/NaN value in a row means
    grace_minutes: float = 0.0
    reminder_hours: float = 24.0
    plan: str | None = None
    summary: str = ""
    path: Path | None = None

    def threshold_for(self, row: dict[str, Any]) -> Any:
        threshold = self.condition.threshold
        for override in self.overrides:
            if override.threshold is not None and _matches(override.match, row):
                threshold = override.threshold
        return threshold

    def severity_for(self, row: dict[str, Any]) -> str:
        severity = self.severity
        for override in self.overrides:
            if override.severity and _matches(override.match, row):
                severity = override.severity
        for step in self.severity_steps:
            value = row.get(step.column)
            if (
                not is_missing(value)
                and OPS[step.op](value, step.value)
                and (severity_rank(step.severity) > severity_rank(severity))
            ):
                severity = step.severity
        return severity

    def fires(self, row: dict[str, Any]) -> bool:
        value = row.get(self.condition.column)
        threshold = self.threshold_for(row)
        if threshold is None:  # a pure boolean condition: the value itself
            return bool(value)
        return bool(OPS[self.condition.op](value, threshold))


def _matches(match: dict[str, Any], row: dict[str, Any]) -> bool:
    return all(str(row.get(k)) == str(v) for k, v in match.items())


def parse_rule(data: dict[str, Any], path: Path | None = None) -> Rule:
    where = str(path) if path else "rule"

    def need(key: str) -> Any:
        if key not in data or data[key] in (None, ""):
            raise RuleError(f"{where}: missing required field {key!r}")
        return data[key]

    kind = data.get("kind", "sql")
    if kind not in KINDS:
        raise RuleError(f"{where}: kind must be one of {KINDS}, not {kind!r}")
    cond = need("condition")
    op = cond.get("op", ">")
    if op not in OPS:
        raise RuleError(f"{where}: condition.op must be one of {sorted(OPS)}, not {op!r}")
    severity = need("severity")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity must be one of {SEVERITIES}, not {severity!r}")
    recipients = tuple(need("recipients"))
    bad = [r for r in recipients if r not in ROLES]
    if bad:
        raise RuleError(f"{where}: unknown recipient roles {bad}; use {ROLES}")
    steps = []
    for step in data.get("severity_steps") or []:
        if step.get("op") not in OPS or step.get("severity") not in SEVERITIES:
            raise RuleError(f"{where}: severity_steps entries need op in {sorted(OPS)} and a known severity")
        steps.append(SeverityStep(step["column"], step["op"], step["value"], step["severity"]))
    overrides = tuple(
        Override(dict(o.get("match") or {}), o.get("threshold"), o.get("severity"))
        for o in data.get("overrides") or []
    )
    if kind == "sql" and not data.get("query"):
        raise RuleError(f"{where}: a sql rule needs a query")
    if kind == "kpi" and not data.get("kpis"):
        raise RuleError(f"{where}: a kpi rule needs a list of kpis")
    on_null = data.get("on_null", "error")
    if on_null not in ("error", "ignore"):
        raise RuleError(f"{where}: on_null must be 'error' or 'ignore'")
    return Rule(
        id=str(need("id")),
        title=str(need("title")),
        kind=kind,
        source=str(need("source")),
        labels=tuple(need("labels")),
        condition=Condition(str(cond["column"]), op, cond.get("threshold")),
        severity=severity,
        recipients=recipients,
        query=str(data.get("query") or ""),
        kpis=tuple(data.get("kpis") or ()),
        description=str(data.get("description") or ""),
        params=dict(data.get("params") or {}),
        severity_steps=tuple(steps),
        overrides=overrides,
        on_null=on_null,
        grace_minutes=float(data.get("grace_minutes", 0) or 0),
        reminder_hours=float(data.get("reminder_hours", 24) or 0),
        plan=data.get("plan"),
        summary=str(data.get("summary") or ""),
        path=path,
    )


def load_rules(directory: Path = RULES_DIR) -> list[Rule]:
    rules = []
    for path in sorted(directory.glob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise RuleError(f"{path}: a rule file holds one mapping")
        rules.append(parse_rule(data, path))
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuleError(f"duplicate rule ids in {directory}: {dupes}")
    return rules
