"""Build an alert email (subject, plain text, HTML) from an instance and its plan; no sending here."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from alerts.rules import Rule
from alerts.state import Instance, key_url

REASONS = {
    "opened": "New alert",
    "reopened": "Alert reopened (condition still holds)",
    "severity_raised": "Severity raised",
    "reminder": "Reminder: still open, not acknowledged",
}


@dataclass(frozen=True)
class OutgoingMessage:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    sender: str = ""


def subject_for(inst: Instance, rule: Rule, reason: str) -> str:
    """Severity, rule, material and site first: what a planner scans an inbox for."""
    facts = {**inst.details, **inst.labels}
    parts = [f"[MedTower {inst.severity.upper()}]", rule.title]
    if reason in ("reminder", "severity_raised", "reopened"):
        parts.insert(1, f"({reason.replace('_', ' ')})")
    bits = []
    if facts.get("material_id"):
        bits.append(f"material {facts['material_id']}")
    bits += [
        f"{k.removesuffix('_id')} {v}" for k, v in inst.labels.items() if k not in ("material_id", "site_id")
    ]
    if bits:
        parts.append("- " + ", ".join(bits))
    parts.append(f"at site {facts.get('site_id') or 'all sites'}")
    return " ".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _text_table(rows: list[dict[str, Any]], limit: int = 25, total: int | None = None) -> list[str]:
    if not rows:
        return ["  (none)"]
    cols = list(rows[0])
    out = ["  " + " | ".join(cols)]
    for r in rows[:limit]:
        out.append("  " + " | ".join(_cell(r.get(c)) for c in cols))
    total = max(total or 0, len(rows))
    if total > limit:
        out.append(f"  ... {total - limit:,} more in the app")
    return out


def _html_table(rows: list[dict[str, Any]], limit: int = 25, total: int | None = None) -> str:
    if not rows:
        return "<p><em>(none)</em></p>"
    cols = list(rows[0])
    head = "".join(
        f"<th style='text-align:left;border-bottom:1px solid #999'>{html.escape(c)}</th>" for c in cols
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows[:limit]
    )
    total = max(total or 0, len(rows))
    more = f"<p>... {total - limit:,} more in the app</p>" if total > limit else ""
    return f"<table cellpadding='4' style='border-collapse:collapse'><tr>{head}</tr>{body}</table>{more}"


def render_plan_text(plan: dict[str, Any] | None) -> list[str]:
    if not plan:
        return []
    out = ["", "EMERGENCY PLAN", "=============="]
    if plan.get("summary"):
        out.append(plan["summary"])
    for section in plan.get("sections", []):
        out += ["", section["title"], "-" * len(section["title"])]
        out += list(section.get("lines", []))
        if "rows" in section:
            out += _text_table(section["rows"], total=section.get("rows_total"))
    return out


def render_plan_html(plan: dict[str, Any] | None) -> str:
    if not plan:
        return ""
    parts = ["<h2>Emergency plan</h2>"]
    if plan.get("summary"):
        parts.append(f"<p>{html.escape(plan['summary'])}</p>")
    for section in plan.get("sections", []):
        parts.append(f"<h3>{html.escape(section['title'])}</h3>")
        for line in section.get("lines", []):
            parts.append(f"<p style='white-space:pre-wrap'>{html.escape(line)}</p>")
        if "rows" in section:
            parts.append(_html_table(section["rows"], total=section.get("rows_total")))
    return "\n".join(parts)


def build_message(
    inst: Instance,
    rule: Rule,
    reason: str,
    plan: dict[str, Any] | None,
    *,
    recipients: list[str],
    base_url: str,
    sender: str,
) -> OutgoingMessage:
    link = key_url(base_url, inst.key)
    facts = [(k, v) for k, v in inst.labels.items()] + [
        (k, v) for k, v in inst.details.items() if k not in inst.labels
    ]
    text = [
        f"{REASONS.get(reason, reason)}: {inst.title}",
        f"Severity: {inst.severity}",
        f"Rule: {rule.id} ({rule.title})",
        f"Alert key: {inst.key}",
        f"Opened at: {_cell(inst.opened_at)} UTC",
        "",
        *(f"{k}: {_cell(v)}" for k, v in facts),
        *render_plan_text(plan),
        "",
        f"Open in MedTower: {link}",
        "Acknowledge it there (or `medtower alerts ack KEY --by NAME`) to stop reminders.",
    ]
    fact_rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_cell(v))}</td></tr>"
        for k, v in facts
    )
    body_html = f"""<html><body style="font-family:sans-serif">
<p><strong>{html.escape(REASONS.get(reason, reason))}</strong>: {html.escape(inst.title)}</p>
<p>Severity: <strong>{html.escape(inst.severity)}</strong> &middot; rule {html.escape(rule.id)}
&middot; key <code>{html.escape(inst.key)}</code></p>
<table cellpadding="3">{fact_rows}</table>
{render_plan_html(plan)}
<p><a href="{html.escape(link)}">Open this alert in MedTower</a> to acknowledge or resolve it.</p>
</body></html>"""
    return OutgoingMessage(
        to=tuple(recipients),
        subject=subject_for(inst, rule, reason),
        text="\n".join(text),
        html=body_html,
        sender=sender,
    )
