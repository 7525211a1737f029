"""Build the emails (subject, plain text, HTML): the per-evaluation digest and the full plan renderers.

No sending here. An evaluation sends each recipient one digest: what opened, rose in severity, was
reminded or resolved, most severe first, each with its one-line summary, a link to the alert and, for an
alert that opened or rose, its plan in compact form. The full plan stays on the Alerts page.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from alerts.rules import severity_rank

# What happened to an alert in one evaluation, in the order a digest lists them for one severity.
REASONS = {
    "opened": "opened",
    "reopened": "reopened (condition still holds)",
    "severity_raised": "severity raised",
    "reminder": "reminder: still open, not acknowledged",
    "resolved": "resolved",
}
REASON_ORDER = tuple(REASONS)
# Subject counts: a reopened alert is an opened one for the reader.
_COUNTED_AS = {
    "opened": "opened",
    "reopened": "opened",
    "severity_raised": "raised",
    "reminder": "reminded",
    "resolved": "resolved",
}
WITH_PLAN = ("opened", "reopened", "severity_raised")


@dataclass(frozen=True)
class OutgoingMessage:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    sender: str = ""
    # Stable per digest (a retry of the same digest carries the same id) and the time it was composed.
    message_id: str = ""
    date: dt.datetime | None = None


@dataclass(frozen=True)
class DigestItem:
    """One alert's change in one evaluation, as the digest lists it (and the outbox records it)."""

    item_key: str
    alert_key: str
    rule_id: str
    reason: str
    severity: str
    title: str
    roles: tuple[str, ...]
    plan_lines: tuple[str, ...] = ()
    detail: str = ""
    created_at: dt.datetime | None = None
    run_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def alert_link(base_url: str, key: str) -> str:
    """The Alerts page with this alert selected."""
    return f"{base_url.rstrip('/')}/alerts?alert={quote(key, safe='')}"


def compact_plan(plan: dict[str, Any] | None) -> tuple[str, ...]:
    """The plan as a few lines a planner can act on away from a screen.

    The plan builder's own ``compact`` lines (one per lever) when it gives them; otherwise the plan
    summary and the first line of each section (a section of rows only says how many rows it has).
    """
    if not plan:
        return ()
    if plan.get("compact"):
        return tuple(str(line) for line in plan["compact"])
    out = []
    if plan.get("error"):
        out.append(f"The plan could not be computed: {plan['error']}")
    if plan.get("summary") and not plan.get("error"):
        out.append(str(plan["summary"]))
    for section in plan.get("sections", []):
        lines = section.get("lines") or []
        if lines:
            out.append(f"{section['title']}: {lines[0]}")
        elif "rows" in section:
            total = max(section.get("rows_total") or 0, len(section["rows"]))
            out.append(f"{section['title']}: {total:,} row(s), listed on the Alerts page")
    return tuple(out)


def order_items(items: list[DigestItem]) -> list[DigestItem]:
    """Most severe first; for one severity opened, reopened, raised, reminded; resolved ones last."""

    def sort_key(item: DigestItem) -> tuple[int, int, int, str]:
        resolved = item.reason == "resolved"
        reason = REASON_ORDER.index(item.reason) if item.reason in REASON_ORDER else len(REASON_ORDER)
        return (resolved, -severity_rank(item.severity), reason, item.alert_key)

    return sorted(items, key=sort_key)


def digest_subject(items: list[DigestItem], as_of: dt.date | str) -> str:
    """E.g. ``MedTower: 1 critical, 2 high (3 opened, 1 resolved) at 2026-12-01``.

    The severity counts are of the alerts that still need someone (not the resolved ones).
    """
    severities = Counter(i.severity for i in items if i.reason != "resolved")
    by_rank = sorted(severities, key=severity_rank, reverse=True)
    reasons = Counter(_COUNTED_AS.get(i.reason, i.reason) for i in items)
    reason_text = ", ".join(
        f"{reasons[r]} {r}" for r in ("opened", "raised", "reminded", "resolved") if reasons.get(r)
    )
    head = ", ".join(f"{severities[s]} {s}" for s in by_rank)
    if head:
        return f"MedTower: {head} ({reason_text}) at {as_of}"
    return f"MedTower: {reason_text} at {as_of}"


def build_digest(
    items: list[DigestItem],
    *,
    recipient: str,
    as_of: dt.date | str,
    base_url: str,
    sender: str,
) -> OutgoingMessage:
    """One email for one recipient over every alert change queued for them."""
    ordered = order_items(items)
    text = [f"MedTower alerts for {as_of}: {len(ordered)} change(s), most severe first.", ""]
    parts = [
        "<html><body style='font-family:sans-serif'>",
        f"<p>MedTower alerts for {html.escape(str(as_of))}: {len(ordered)} change(s), most severe first.</p>",
    ]
    resolved_header_done = False
    parts.append("<ol>")
    for item in ordered:
        if item.reason == "resolved" and not resolved_header_done:
            resolved_header_done = True
            text += ["Resolved (the condition no longer holds):", ""]
            parts.append("</ol><h3>Resolved (the condition no longer holds)</h3><ol>")
        link = alert_link(base_url, item.alert_key)
        what = REASONS.get(item.reason, item.reason) + (f" ({item.detail})" if item.detail else "")
        text.append(f"[{item.severity.upper()}] {what}: {item.title}")
        text.append(f"  {link}")
        lines = item.plan_lines if item.reason in WITH_PLAN else ()
        text += [f"  - {line}" for line in lines]
        text.append("")
        plan_html = (
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>" if lines else ""
        )
        parts.append(
            f"<li><strong>{html.escape(item.severity.upper())}</strong> {html.escape(what)}: "
            f'<a href="{html.escape(link)}">{html.escape(item.title)}</a>{plan_html}</li>'
        )
    parts.append("</ol>")
    text += [
        "The full plan of each alert is on the Alerts page.",
        "Acknowledge an alert there (or `medtower alerts ack KEY --by NAME`) to stop its reminders.",
    ]
    parts.append(
        "<p>The full plan of each alert is on the Alerts page. Acknowledge an alert there "
        "to stop its reminders.</p></body></html>"
    )
    return OutgoingMessage(
        to=(recipient,),
        subject=digest_subject(ordered, as_of),
        text="\n".join(text),
        html="\n".join(parts),
        sender=sender,
    )


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
