"""Evaluate every rule on a warehouse connection, move alert state, send one digest per recipient.

Called by the pipeline on the staged copy (``evaluate_in_pipeline``) after dbt build and before
publish; ``medtower alerts run`` (``medtower.pipeline.run_alerts``) stages its own copy. Every rule
evaluation is logged in ``alerts.evaluations``; a rule whose query fails is recorded in
``alerts.rule_errors`` and raises its own ``rule_error`` alert; its existing alerts are left as they
were (a failure is never read as "condition gone").

Each alert change that matters to a person (opened, severity raised, reminder, resolved) is kept per
alert in ``alerts.notifications`` and as an item of the durable outbox (``alerts.outbox``, outside the
warehouse); the outbox sends each recipient one digest of them per evaluation, once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from alerts import outbox, store
from alerts.channels import Channel, SmtpChannel
from alerts.message import WITH_PLAN, DigestItem, compact_plan, item_facts, site_directory
from alerts.rules import RULES_DIR, Condition, Rule, load_rules, severity_rank
from alerts.state import ACTIVE, Instance, Observation, Transition, alert_key, apply_action, step
from medtower import alert_actions as action_store
from medtower import kpis as kpi_module
from medtower.rows import is_missing, jsonable
from medtower.settings import Settings
from medtower.warehouse import relation_exists

log = logging.getLogger(__name__)

# One alert's plan (a test's builder, or a plan kind of its own); the engine calls it per alert.
PlanBuilder = Callable[[duckdb.DuckDBPyConnection, Instance, dt.date], dict[str, Any] | None]
# The plans of many alerts of one rule at once (``alerts.plans.BATCH_PLAN_BUILDERS``): each lever's inputs
# in one set-based query for all of them. An alert whose plan failed on its own maps to its exception.
BatchPlanBuilder = Callable[
    [duckdb.DuckDBPyConnection, list[Instance], dt.date], Mapping[str, dict[str, Any] | Exception | None]
]
# Part of every plan fingerprint: raise it when a change to the plans should recompute every stored one.
PLAN_VERSION = 1
# Alerts of one rule planned together (one set-based batch), then stored before the next batch.
PLAN_BATCH = 100
# The audit trail's "source" of the engine's own opens, severity changes, re-opens and resolutions.
ENGINE_SOURCE = "alerts engine"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AsOfMismatchError(ValueError):
    """The marts were built for another as-of date than the one asked for."""


def recipients_for_roles(roles: tuple[str, ...] | list[str], settings: Settings) -> list[str]:
    by_role = {
        "planner": settings.planner_emails,
        "qa": settings.qa_emails,
        "management": settings.management_emails,
    }
    out: list[str] = []
    for role in roles:
        out += [a for a in by_role.get(role, []) if a not in out]
    return out


def recipients_for(rule: Rule, settings: Settings) -> list[str]:
    return recipients_for_roles(rule.recipients, settings)


def marts_as_of(con: duckdb.DuckDBPyConnection) -> dict[str, list[dt.date]]:
    """The as-of date(s) each mart with an ``as_of_date`` column was built for (empty marts left out)."""
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.columns where table_schema = 'marts' "
            "and column_name = 'as_of_date' order by table_name"
        ).fetchall()
    ]
    out: dict[str, list[dt.date]] = {}
    for table in tables:
        rows = con.execute(
            f'select distinct as_of_date from marts."{table}" where as_of_date is not null limit 3'
        ).fetchall()
        if rows:
            out[table] = sorted(r[0] for r in rows)
    return out


def check_as_of(con: duckdb.DuckDBPyConnection, as_of: dt.date | None) -> dt.date | None:
    """The as-of to evaluate for: the one asked, which must be the one the marts were built for.

    Evaluating D on marts built for another day would read that day's stock, orders and expiry windows
    (an expiring lot goes missing that way), so it is refused with the command that rebuilds for D.
    Without an as-of, the marts' own date is used; None when no mart carries one.
    """
    built = marts_as_of(con)
    dates = sorted({d for ds in built.values() for d in ds})
    if not dates:
        return as_of
    if len(dates) > 1:
        where = ", ".join(f"marts.{t}: {', '.join(map(str, ds))}" for t, ds in built.items())
        raise AsOfMismatchError(
            f"the marts were built for different as-of dates ({where}); rebuild them for one day with "
            f"`medtower run DROP_DIR --as-of {as_of or dates[-1]}`"
        )
    if as_of is not None and as_of != dates[0]:
        table = next(iter(built))
        raise AsOfMismatchError(
            f"the warehouse's marts were built for as-of {dates[0]} (marts.{table}.as_of_date), not {as_of}: "
            f"alerts for {as_of} would read another day's stock, orders and expiry windows. Rebuild for "
            f"{as_of} with `medtower run DROP_DIR --as-of {as_of}`, or run `medtower alerts run` without "
            f"--as-of to evaluate for {dates[0]}"
        )
    return dates[0]


def rule_error_rule(rule: Rule) -> Rule:
    """The synthetic rule under which a failing rule shows up as an alert of its own."""
    return Rule(
        id="rule_error",
        title=f"Alert rule failing: {rule.title}",
        kind="sql",
        source=rule.source,
        labels=("rule_id",),
        condition=Condition("failing", "==", True),
        severity="high",
        recipients=rule.recipients,
        reminder_hours=rule.reminder_hours or 24,
    )


# --- querying ---------------------------------------------------------------------------------


def query_rows(
    con: duckdb.DuckDBPyConnection, rule: Rule, as_of: dt.date, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Run the rule's query with ``$as_of``, ``$now`` and its own params; check the result's shape."""
    if rule.kind == "kpi":
        return kpi_rows(con, rule, as_of)
    params = {"as_of": as_of, "now": now or _utcnow(), **rule.params}
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", rule.query))
    missing = used - set(params)
    if missing:
        raise ValueError(f"rule {rule.id} uses parameters {sorted(missing)} its params do not define")
    cur = con.execute(rule.query, {k: v for k, v in params.items() if k in used})
    cols = [d[0] for d in cur.description]
    absent = [c for c in (*rule.labels, rule.condition.column) if c not in cols]
    if absent:
        raise ValueError(f"rule {rule.id}: query result lacks columns {absent} (has {cols})")
    return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()]


def kpi_rows(con: duckdb.DuckDBPyConnection, rule: Rule, as_of: dt.date) -> list[dict[str, Any]]:
    """One row per KPI and site: value, catalog target and whether it misses the target.

    ``misses_target`` is below target for a higher-is-better KPI and above it otherwise; ``gap`` is signed
    so that negative is always the bad side (value - target, or target - value).
    """
    catalog = kpi_module.KPIS
    unknown = [k for k in rule.kpis if k not in catalog]
    if unknown:
        raise ValueError(
            f"rule {rule.id}: {unknown} not in the KPI catalog (medtower.kpis); known: {sorted(catalog)}"
        )
    no_target = [k for k in rule.kpis if catalog[k].target is None]
    if no_target:
        raise ValueError(f"rule {rule.id}: KPI catalog has no target for {no_target}")
    period = int(rule.params.get("period_days", 30))
    sites = [r[0] for r in con.execute("select site_id from marts.dim_sites order by site_id").fetchall()]
    rows = []
    for site in sites:
        result = kpi_module.compute_kpis(con, as_of=as_of, period_days=period, site=site)
        for kpi_id in rule.kpis:
            kpi = catalog[kpi_id]
            value = jsonable(result["kpis"].get(kpi_id))
            target = float(kpi.target)  # type: ignore[arg-type]
            gap = None
            if not is_missing(value):
                gap = round(float(value) - target if kpi.higher_is_better else target - float(value), 4)
            rows.append(
                {
                    "kpi_id": kpi_id,
                    "kpi": kpi.label,
                    "site_id": site,
                    "value": value,
                    "target": target,
                    "higher_is_better": kpi.higher_is_better,
                    "period_days": period,
                    "period_end": as_of.isoformat(),
                    "misses_target": None if gap is None else gap < 0,
                    "gap": gap,
                }
            )
    return rows


def kpi_targets() -> dict[str, float]:
    """Targets from the KPI catalog of ``medtower.kpis`` (KPIs without a target are left out)."""
    return {k.id: float(k.target) for k in kpi_module.CATALOG if k.target is not None}


# --- one evaluation ---------------------------------------------------------------------------


def observe(rule: Rule, rows: list[dict[str, Any]]) -> tuple[dict[str, Observation], list[dict[str, Any]]]:
    """Firing observations by key, and the rows whose value is NULL/NaN (never silently dropped)."""
    seen: dict[str, Observation] = {}
    null_rows = []
    for row in rows:
        labels = {k: row.get(k) for k in rule.labels}
        if is_missing(row.get(rule.condition.column)):
            null_rows.append(row)
            continue
        if not rule.fires(row):
            continue
        key = alert_key(rule.id, labels)
        severity = rule.severity_for(row)
        title = _title(rule, row)
        details = {k: v for k, v in row.items() if k not in labels}
        details["threshold"] = rule.threshold_for(row)
        obs = Observation(key, rule.id, labels, severity, row.get(rule.condition.column), title, details)
        if key not in seen or severity_rank(severity) > severity_rank(seen[key].severity):
            seen[key] = obs
    return seen, null_rows


def _title(rule: Rule, row: dict[str, Any]) -> str:
    if not rule.summary:
        return rule.title
    try:
        return rule.summary.format_map({k: ("n/a" if v is None else v) for k, v in row.items()})
    except (KeyError, ValueError, IndexError):
        return rule.title


class Evaluator:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: Settings,
        *,
        run_id: str,
        as_of: dt.date,
        now: dt.datetime,
        channel: Channel | None,
        plan_builders: dict[str, PlanBuilder] | None = None,
    ) -> None:
        self.con, self.settings, self.run_id, self.as_of, self.now = con, settings, run_id, as_of, now
        self.data_version = marts_version(con)
        self.channel = channel
        self.plan_builders: dict[str, BatchPlanBuilder] = (
            {kind: _per_alert(builder) for kind, builder in plan_builders.items()}
            if plan_builders is not None
            else _default_plan_builders()
        )
        self.notifications = 0
        self.items: list[DigestItem] = []
        # The engine's own state changes, for the audit trail once they are committed (``flush_trail``).
        self.trail: list[tuple[str, Instance, Any, dict[str, Any], str | None]] = []
        self.sites = site_directory(con)  # the digest names sites and reads their time zones

    def record(
        self,
        rule: Rule,
        t: Transition,
        plan: dict[str, Any] | None,
        actor: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Store a transition with its new plan, or (``plan`` None) with the plan it has."""
        if plan is None:
            store.save_instance(self.con, t.instance, self.now, store.KEPT)
        else:
            store.save_instance(self.con, t.instance, self.now, plan, fingerprint)
        for event, from_state, to_state, detail in t.events:
            store.log_event(
                self.con, self.run_id, self.now, t.instance, event, from_state, to_state, actor, detail
            )
        if actor is None:
            self.trail_transition(t)
        inst = t.instance
        if t.notify:
            detail = next((e[3] or "" for e in t.events if e[0] == "severity_raised"), "")
            lines: tuple[str, ...] = ()
            if t.notify in WITH_PLAN:
                lines = compact_plan(plan if plan is not None else store.keep_plan(self.con, inst.key))
            self.queue(rule, inst, t.notify, f"{inst.notify_count}|{inst.severity}", lines, detail)
        resolved = next((e for e in t.events if e[0] == "resolved"), None)
        if resolved and inst.notify_count > 0 and resolved[1] in ("open", "acknowledged"):
            self.queue(rule, inst, "resolved", "resolved", (), resolved[3] or "")

    def trail_transition(self, t: Transition) -> None:
        """Keep the audit record of an engine transition: open, re-open, severity change, resolution.

        "seen" (pending in its grace period) and reminders change no state a person acts on: not recorded.
        """
        inst = t.instance
        names = [e[0] for e in t.events]
        old: dict[str, Any] | None
        for event, from_state, to_state, detail in t.events:
            if event == "opened":
                # A new alert is a create (no old value); a re-open names the state it left.
                before = t.events[0][1] if names[0] == "seen" else from_state
                action = "reopen" if t.notify == "reopened" else "open"
                old = {"state": before} if before else None
            elif event in ("severity_raised", "severity_lowered"):
                action = "severity_raise" if event == "severity_raised" else "severity_lower"
                prior = (detail or "").split(" -> ")[0] or None
                old = {"state": from_state, "severity": prior}
            elif event == "resolved":
                action, old = "resolve", {"state": from_state, "severity": inst.severity}
            else:
                continue
            new = {
                "state": to_state,
                "severity": inst.severity,
                "episode": inst.episode,
                "title": inst.title,
                "value": inst.value,
                "run_id": self.run_id,
            }
            self.trail.append((action, inst, old, new, detail))

    def flush_trail(self) -> int:
        """Write the kept records to the audit trail as the system (source "alerts engine").

        Called before the state they describe is committed (a rule's transaction). A trail that cannot be
        written raises: the rule's state changes are rolled back, the evaluation fails and its staged
        warehouse is not published, so no engine state change is kept without its record (as
        medtower/alert_actions.py keeps no action without its record). The run id in each record ties it
        to its pipeline run: a run that fails after its records were written publishes none of it.
        """
        from medtower import audit

        kept, self.trail = self.trail, []
        for action, inst, old, new, detail in kept:
            audit.record(
                self.settings,
                audit.SYSTEM,
                action,
                "alert",
                inst.key,
                old,
                new,
                reason=detail,
                site=audit.site_from_alert_key(inst.key),
                source=ENGINE_SOURCE,
            )
        return len(kept)

    def queue(
        self,
        rule: Rule,
        inst: Instance,
        reason: str,
        suffix: str,
        plan_lines: tuple[str, ...],
        detail: str,
    ) -> None:
        """One alert change for the digest: kept per alert in the warehouse, and as an outbox item.

        The item key comes from the alert's own history (key, episode, notification count), so a run
        that is killed and re-run computes the same key and the outbox does not send it twice.
        """
        item = DigestItem(
            item_key=f"{inst.key}|e{inst.episode}|{reason}|{suffix}",
            alert_key=inst.key,
            rule_id=rule.id,
            reason=reason,
            severity=inst.severity,
            title=inst.title,
            roles=tuple(rule.recipients),
            plan_lines=plan_lines,
            detail=detail,
            created_at=self.now,
            run_id=self.run_id,
            extra=item_facts(inst.labels, inst.details, self.sites),
        )
        self.items.append(item)
        self.con.execute(
            "insert or replace into alerts.notifications values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 'queued', 0, null, null, null)",
            [
                item.item_key,
                inst.key,
                rule.id,
                reason,
                inst.severity,
                self.channel.name if self.channel else "email",
                json.dumps(recipients_for(rule, self.settings)),
                inst.title,
                "\n".join(plan_lines),
                self.now,
                self.run_id,
            ],
        )
        self.notifications += 1

    def plans_for(self, rule: Rule, insts: list[Instance]) -> dict[str, dict[str, Any] | None]:
        """The plans of the alerts given, computed together (one set-based batch per rule)."""
        if not rule.plan or not insts:
            return {}
        builder = self.plan_builders.get(rule.plan)
        if builder is None:
            missing = {"kind": rule.plan, "error": f"no plan builder named {rule.plan!r}", "sections": []}
            return {i.key: dict(missing) for i in insts}
        built: Mapping[str, dict[str, Any] | Exception | None]
        # The plans read the marts on a cursor of their own, outside the rule's transaction: a plan query
        # that fails (a mart without a column, say) would otherwise abort the transaction that stores the
        # alerts, and the whole evaluation with it, instead of leaving one plan with its error.
        cur = self.con.cursor()
        try:
            built = builder(cur, insts, self.as_of)
        except Exception as exc:
            log.exception("plans %s of %d alerts of %s failed", rule.plan, len(insts), rule.id)
            built = dict.fromkeys((i.key for i in insts), exc)
        finally:
            cur.close()
        out: dict[str, dict[str, Any] | None] = {}
        for inst in insts:
            plan = built.get(inst.key)
            if isinstance(plan, Exception):  # logged by the builder
                plan = _error_plan(rule.plan, plan)
            out[inst.key] = plan
        return out

    def merge_actions(self, actions: list[dict[str, Any]], rules: dict[str, Rule]) -> int:
        applied = {r[0] for r in self.con.execute("select action_id from alerts.applied_actions").fetchall()}
        merged = 0
        for a in actions:
            if a["action_id"] in applied:
                continue
            current = store.load_instances(self.con).get(a["alert_key"])
            at = dt.datetime.fromisoformat(a["at"])
            if a["action"] not in action_store.STATE_ACTIONS:
                # Assign, comment and a hold scope decision change no state: an event with who, when and
                # the text (the action store stays the record the page reads, so they survive rebuilds).
                if current is not None:
                    event = {"assign": "assigned", "scope": "scope decided"}.get(a["action"], "commented")
                    store.log_event(
                        self.con,
                        self.run_id,
                        at,
                        current,
                        event,
                        current.state,
                        current.state,
                        a["actor"],
                        a.get("note"),
                    )
                self.con.execute(
                    "insert into alerts.applied_actions values (?, ?, ?, ?, ?, ?, ?)",
                    [
                        a["action_id"],
                        a["alert_key"],
                        a["action"],
                        a["actor"],
                        at,
                        self.now,
                        "recorded" if current is not None else "unknown_key",
                    ],
                )
                continue
            t = apply_action(current, a["action"], a["actor"], at) if current else None
            outcome = "applied" if t else ("unknown_key" if current is None else "no_change")
            if t:
                rule = rules.get(current.rule_id) if current else None
                store.save_instance(self.con, t.instance, self.now, store.KEPT)
                for event, from_state, to_state, detail in t.events:
                    # The person's comment (required on the page) is the detail worth keeping.
                    store.log_event(
                        self.con,
                        self.run_id,
                        at,
                        t.instance,
                        event,
                        from_state,
                        to_state,
                        a["actor"],
                        a.get("note") or detail,
                    )
                merged += 1
                log.info(
                    "merged %s of %s by %s (%s)",
                    a["action"],
                    a["alert_key"],
                    a["actor"],
                    rule.id if rule else "rule gone",
                )
            self.con.execute(
                "insert into alerts.applied_actions values (?, ?, ?, ?, ?, ?, ?)",
                [a["action_id"], a["alert_key"], a["action"], a["actor"], at, self.now, outcome],
            )
        return merged

    def evaluate_rule(self, rule: Rule) -> dict[str, Any]:
        began = time.monotonic()
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "rule_id": rule.id,
            "evaluated_at": self.now,
            "as_of": self.as_of,
            "status": "ok",
            "rows_returned": 0,
            "firing": 0,
            "null_rows": 0,
            "opened": 0,
            "resolved": 0,
            "notifications": 0,
            "plans_computed": 0,
            "plans_kept": 0,
        }
        before = self.notifications
        error: str | None = None
        try:
            rows = query_rows(self.con, rule, self.as_of, self.now)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            rows = None
        if rows is not None:
            seen, null_rows = observe(rule, rows)
            row.update(rows_returned=len(rows), firing=len(seen), null_rows=len(null_rows))
            protected = {alert_key(rule.id, {k: r.get(k) for k in rule.labels}) for r in null_rows}
            if null_rows and rule.on_null == "error":
                error = (
                    f"{len(null_rows)} row(s) with NULL/NaN {rule.condition.column!r}, e.g. labels "
                    f"{ {k: null_rows[0].get(k) for k in rule.labels} }"
                )
            current = store.load_instances(self.con, rule.id)
            transitions: list[Transition] = []
            for key in sorted(set(current) | set(seen)):
                if key in protected and key not in seen:
                    continue  # unknown value: neither firing nor resolved
                t = step(rule, current.get(key), seen.get(key), self.now)
                if t is not None:
                    transitions.append(t)
            # Plans only where needed: a new or reopened alert, or one whose inputs changed since its plan
            # was stored; a resolved alert gets none (it keeps the one it had).
            fingerprints: dict[str, str] = {}
            if rule.plan:
                stored = store.plan_fingerprints(self.con, rule.id)
                for t in transitions:
                    if t.instance.key not in seen:
                        continue
                    fp = plan_fingerprint(rule, seen[t.instance.key], self.as_of, self.data_version)
                    if stored.get(t.instance.key) == fp and not any(e[0] == "seen" for e in t.events):
                        row["plans_kept"] += 1
                    else:
                        fingerprints[t.instance.key] = fp
            # In batches of PLAN_BATCH alerts, recorded before the next batch is computed: a recall scope's
            # plan is large, and memory stays bounded however many alerts open at once.
            need = [t.instance for t in transitions if t.instance.key in fingerprints]
            batches = (need[i : i + PLAN_BATCH] for i in range(0, len(need), PLAN_BATCH))
            plans: dict[str, dict[str, Any] | None] = {}
            # One transaction per rule (the evaluation runs on a staged copy: a failure discards it all);
            # alerts seen again with nothing to log and no plan to compute are stored in one statement.
            self.con.begin()
            try:
                quiet = [
                    t
                    for t in transitions
                    if not t.events and not t.notify and t.instance.key not in fingerprints
                ]
                store.update_instances(self.con, [t.instance for t in quiet], self.now)
                quiet_ids = {id(t) for t in quiet}
                for t in transitions:
                    if id(t) in quiet_ids:
                        continue
                    key = t.instance.key
                    if key in fingerprints and key not in plans:
                        plans = self.plans_for(rule, next(batches))
                        row["plans_computed"] += len(plans)
                    plan = plans.get(key) if key in fingerprints else None
                    # A plan that failed, whole or a section, is not kept: the next evaluation tries again.
                    failed = plan is not None and bool(plan.get("error") or plan.get("errors"))
                    self.record(rule, t, plan, fingerprint=None if failed else fingerprints.get(key))
                    names = [e[0] for e in t.events]
                    row["opened"] += "opened" in names
                    row["resolved"] += "resolved" in names
                # In the rule's transaction: a trail that cannot be written rolls its state back.
                self.flush_trail()
                self.con.commit()
            except BaseException:
                self.con.rollback()
                self.trail.clear()  # rolled back: nothing of it happened
                raise
        self._rule_error_state(rule, error)
        if error:
            row["status"] = "error"
            row["error"] = error
            log.error("alert rule %s failed: %s", rule.id, error)
        row["duration_ms"] = (time.monotonic() - began) * 1000
        row["notifications"] = self.notifications - before
        store.log_evaluation(self.con, row)
        log.info(
            "rule %s: %s, %d rows, %d firing, %d opened, %d resolved, %d notifications, "
            "%d plans computed, %d kept",
            rule.id,
            row["status"],
            row["rows_returned"],
            row["firing"],
            row["opened"],
            row["resolved"],
            row["notifications"],
            row["plans_computed"],
            row["plans_kept"],
        )
        return row

    def retire_removed_rules(self, rule_ids: set[str]) -> int:
        """Resolve the active alerts of rules no longer shipped (and their rule_error alerts).

        A removed rule is not a failing one: nothing evaluates its condition any more, so its alerts would
        otherwise stay open for ever. Logged as ``resolved`` with the reason.
        """
        retired = 0
        for inst in store.load_instances(self.con).values():
            owner = inst.labels.get("rule_id") if inst.rule_id == "rule_error" else inst.rule_id
            if inst.state not in ACTIVE or owner in rule_ids:
                continue
            done = replace(inst, state="resolved", resolved_at=self.now, resolved_by="system")
            store.save_instance(self.con, done, self.now, store.KEPT)
            store.log_event(
                self.con,
                self.run_id,
                self.now,
                done,
                "resolved",
                inst.state,
                "resolved",
                None,
                f"rule {owner} is no longer in the rules folder",
            )
            reason = f"rule {owner} is no longer in the rules folder"
            self.trail_transition(Transition(done, [("resolved", inst.state, "resolved", reason)]))
            log.warning("alert %s resolved: rule %s removed", inst.key, owner)
            retired += 1
        self.flush_trail()
        return retired

    def _rule_error_state(self, rule: Rule, error: str | None) -> None:
        meta = rule_error_rule(rule)
        key = alert_key(meta.id, {"rule_id": rule.id})
        current = store.load_instances(self.con, meta.id).get(key)
        seen = None
        if error:
            seen = Observation(
                key,
                meta.id,
                {"rule_id": rule.id},
                meta.severity,
                True,
                f"Alert rule {rule.id} failed: {error}",
                {"error": error, "source": rule.source},
            )
        t = step(meta, current, seen, self.now)
        if t is not None:
            self.record(meta, t, None)
            self.flush_trail()


def _default_plan_builders() -> dict[str, BatchPlanBuilder]:
    try:
        from alerts.plans import BATCH_PLAN_BUILDERS
    except ImportError:
        return {}
    return dict(BATCH_PLAN_BUILDERS)


def _error_plan(kind: str, exc: Exception) -> dict[str, Any]:
    """The plan of an alert whose plan failed as a whole (the alert itself stands)."""
    return {
        "kind": kind,
        "error": f"{type(exc).__name__}: {exc}",
        "sections": [],
        "summary": f"The emergency plan could not be computed: {exc}",
    }


def _per_alert(builder: PlanBuilder) -> BatchPlanBuilder:
    """A one-alert builder as a batch one: called per alert, a failure kept to that alert."""

    def batch(
        con: duckdb.DuckDBPyConnection, insts: list[Instance], as_of: dt.date
    ) -> dict[str, dict[str, Any] | Exception | None]:
        out: dict[str, dict[str, Any] | Exception | None] = {}
        for inst in insts:
            try:
                out[inst.key] = builder(con, inst, as_of)
            except Exception as exc:
                log.exception("plan for %s failed", inst.key)
                out[inst.key] = exc
        return out

    return batch


def marts_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The dbt build the marts come from (the latest in ``meta.dbt_results``); None where none is on record.

    A plan reads more than its rule's row (a suspect lot's shipments, the open POs of a short material), so a
    new build, whatever it changed, plans every alert again: a stored plan is never older than the marts.
    """
    if not relation_exists(con, "meta", "dbt_results"):
        return None
    row = con.execute(
        "select run_id from meta.dbt_results order by recorded_at desc, run_id desc limit 1"
    ).fetchone()
    return str(row[0]) if row else None


def plan_fingerprint(rule: Rule, obs: Observation, as_of: dt.date, data_version: str | None = None) -> str:
    """What a plan is computed from: the alert's row (labels, value, the other columns), the as-of and the
    build of the marts (``marts_version``).

    Equal fingerprints mean the rule saw the same row for the same day on the same marts, so the stored plan
    stands: an evaluation with no build between (``medtower alerts run``, an acknowledgement merged) plans
    nothing again, and one after a build plans every alert again.
    """
    payload = {
        "version": PLAN_VERSION,
        "plan": rule.plan,
        "labels": obs.labels,
        "value": obs.value,
        "details": obs.details,
        "as_of": as_of.isoformat(),
        "marts": data_version,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: str,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    rules: list[Rule] | None = None,
    channel: Channel | None = None,
    plan_builders: dict[str, PlanBuilder] | None = None,
    deliver: bool = True,
) -> dict[str, Any]:
    """One evaluation of every rule on an open, writable warehouse connection.

    ``as_of`` must be the day the marts were built for (``check_as_of``); without it, that day is used.
    """
    now = now or _utcnow()
    as_of = check_as_of(con, as_of) or now.date()
    rules = rules if rules is not None else load_rules(rules_dir(settings))
    channel = channel if channel is not None else SmtpChannel(settings)
    store.ensure_schema(con)
    ev = Evaluator(
        con, settings, run_id=run_id, as_of=as_of, now=now, channel=channel, plan_builders=plan_builders
    )
    merged = ev.merge_actions(action_store.read_actions(settings), {r.id: r for r in rules})
    results = [ev.evaluate_rule(rule) for rule in rules]
    retired = ev.retire_removed_rules({r.id for r in rules})
    outbox.add_items(settings, [*legacy_items(con, {r.id: r for r in rules}), *ev.items])
    delivery = {"sent": 0, "pending": 0, "maybe_sent": 0, "digests": 0, "waiting_for_recipients": 0}
    if deliver:
        delivery.update(
            outbox.compose_digests(
                settings,
                recipients_for_roles=lambda roles: recipients_for_roles(roles, settings),
                as_of=as_of,
                run_id=run_id,
                now=now,
            )
        )
        delivery.update(
            outbox.deliver_pending(
                settings,
                channel,
                run_id=run_id,
                retries=settings.alert_smtp_retries,
                backoff_seconds=settings.alert_smtp_backoff_seconds,
            )
        )
    sync_notifications(con, settings)
    active = con.execute(
        f"select count(*) from alerts.alert_instances where state in {ACTIVE} and rule_id <> 'rule_error'"
    ).fetchone()
    errors = [r["rule_id"] for r in results if r["status"] == "error"]
    summary = (
        f"{len(rules)} rules, {len(errors)} failing{' (' + ', '.join(errors) + ')' if errors else ''}, "
        f"{active[0] if active else 0} active alerts, {ev.notifications} alert changes, "
        f"{delivery['sent']} digest(s) sent, {delivery['pending']} pending delivery"
        + (f", {delivery['maybe_sent']} MAYBE SENT (not resent)" if delivery["maybe_sent"] else "")
        + (
            f", {delivery['waiting_for_recipients']} waiting for a recipient"
            if delivery["waiting_for_recipients"]
            else ""
        )
    )
    log.info("alerts evaluation %s: %s", run_id, summary)
    return {
        "summary": summary,
        "as_of": as_of.isoformat(),
        "rules": results,
        "failing_rules": errors,
        "actions_merged": merged,
        "retired": retired,
        "notifications_queued": ev.notifications,
        **delivery,
    }


def legacy_items(con: duckdb.DuckDBPyConnection, rules: dict[str, Rule]) -> list[DigestItem]:
    """Per-alert emails the warehouse outbox of before the digest never sent, as digest items.

    Only those of alerts still active; the rows are marked ``superseded`` (in this staged copy, so a
    failed run repeats this, and the outbox's item keys keep it once).
    """
    rows = con.execute(
        "select n.notification_id, n.alert_key, n.rule_id, n.reason, i.severity, i.title, i.episode, "
        "n.created_at, n.created_run_id from alerts.notifications n join alerts.alert_instances i "
        f"using (alert_key) where n.status in ('pending', 'no_recipients') and i.state in {ACTIVE} "
        "and n.notification_id not like '%|%'"
    ).fetchall()
    items = []
    for nid, key, rule_id, reason, severity, title, episode, created, run_id in rows:
        rule = rules.get(rule_id)
        if rule is None:
            continue
        items.append(
            DigestItem(
                item_key=f"{key}|e{episode}|{reason}|legacy-{nid}",
                alert_key=key,
                rule_id=rule_id,
                reason=reason,
                severity=severity,
                title=title,
                roles=tuple(rule.recipients),
                created_at=created,
                run_id=run_id or "",
            )
        )
    if rows:
        con.execute(
            "update alerts.notifications set status = 'superseded' "
            "where status in ('pending', 'no_recipients') and notification_id not like '%|%'"
        )
    return items


def sync_notifications(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Copy the outbox's delivery state onto the per-alert records the warehouse keeps."""
    open_rows = [
        r[0]
        for r in con.execute(
            "select notification_id from alerts.notifications "
            "where status not in ('sent', 'maybe_sent', 'superseded')"
        ).fetchall()
    ]
    status = outbox.item_status(settings, open_rows)
    names = {"waiting": "no_recipients"}
    rows = [(names.get(s, s), n, key) for key, (s, n) in status.items()]
    if rows:
        con.executemany(
            "update alerts.notifications set status = ?, attempts = ? where notification_id = ?", rows
        )


def rules_dir(settings: Settings) -> Path:
    return settings.alert_rules_dir or RULES_DIR


def evaluate_in_pipeline(
    settings: Settings, db_path: Path, run_id: str, *, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The pipeline's alerts step, on the staged copy after dbt build and before publish."""
    con = duckdb.connect(str(db_path))
    try:
        return evaluate(con, settings, run_id=run_id, as_of=as_of)
    finally:
        con.close()
