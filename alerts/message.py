"""Build the emails (subject, plain text, HTML): the per-evaluation digest and the full plan renderers.

No sending here. An evaluation sends each recipient one digest: what opened, rose in severity, was
reminded or resolved, most severe first, each with its one-line summary, a link to the alert and, for an
alert that opened or rose, its plan in compact form. The full plan stays on the Alerts page.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.rules import severity_rank
from medtower.kpis import KPIS, format_value
from medtower.rows import number_text

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


# --- formatting: what a person reads -------------------------------------------------------------


def fmt_qty(value: Any, uom: str | None = None) -> str:
    """34565.0 -> ``34,565``; 2.5 -> ``2.5``; with the unit when there is one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown quantity"
    text = number_text(value)
    return f"{text} {uom}" if uom else text


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def fmt_date(value: Any, *, year: bool = True) -> str:
    """A calendar date as ``2 Dec 2026`` (``2 Dec`` without the year); the text itself when not a date."""
    day = _as_date(value)
    if day is None:
        return str(value)
    return f"{day.day} {day:%b}" + (f" {day.year}" if year else "")


def fmt_time(value: Any, timezone: str | None = None) -> str:
    """A UTC timestamp as ``30 Nov 2026 14:05 GMT`` in the site's time zone (UTC without one)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        zone: dt.tzinfo = ZoneInfo(timezone) if timezone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = stamp.astimezone(zone)
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"


def site_directory(con: Any) -> dict[str, dict[str, str]]:
    """Site id -> name and time zone from marts.dim_sites; empty where the mart is missing."""
    try:
        rows = con.execute("select site_id, name, timezone from marts.dim_sites").fetchall()
    except Exception:  # a hand-built or partial warehouse: the digest shows site ids instead
        return {}
    return {str(s): {"name": str(n or s), "timezone": str(tz or "")} for s, n, tz in rows}


def item_facts(
    labels: dict[str, Any], details: dict[str, Any], sites: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """What the digest formats an alert from: its labels and details, and its site's name and zone."""
    site = sites.get(str(labels.get("site_id") or details.get("site_id") or ""), {})
    return {"labels": dict(labels), "details": dict(details), "site": dict(site)}


def _kpi_unit(kpi_id: str) -> str | None:
    kpi = KPIS.get(kpi_id)
    return getattr(kpi, "unit", None) if kpi is not None else None


def describe(item: DigestItem, short_year: int | None = None) -> tuple[str, str]:
    """(headline, detail): what, where and when in words, units and local dates; the title otherwise.

    Formatted from the alert's labels and details (``item.extra``) for the shipped rules; a rule this
    does not know, or an item without details (an older outbox), reads as the rule's own summary.
    Dates in ``short_year`` are written without the year (for the subject).
    """

    def fmt_day(value: Any) -> str:
        day = _as_date(value)
        return fmt_date(value, year=day is None or day.year != short_year)

    facts = item.extra or {}
    f = {**(facts.get("details") or {}), **(facts.get("labels") or {})}
    site_info = facts.get("site") or {}
    site = site_info.get("name") or f.get("site_id") or "no site"
    zone = site_info.get("timezone") or None
    try:
        if item.rule_id == "material_shortage" and {"material_id", "shortage_qty", "need_date"} <= set(f):
            head = (
                f"{f['material_id']} short {fmt_qty(f['shortage_qty'], f.get('uom'))} at {site} "
                f"from {fmt_day(f['need_date'])}"
            )
            bits = [str(f["material_description"])] if f.get("material_description") else []
            if f.get("lead_time_days") is not None:
                bits.append(f"inside its {f['lead_time_days']}-day lead time")
            hit = []
            if f.get("work_orders_short") is not None:
                hit.append(f"{int(f['work_orders_short']):,} work order(s)")
            if f.get("customer_orders_hit") is not None:
                hit.append(f"{int(f['customer_orders_hit']):,} customer order line(s)")
            if hit:
                bits.append(" and ".join(hit) + " short")
            return head, "; ".join(bits)
        if item.rule_id == "quality_exception" and {"lot_id", "material_id"} <= set(f):
            when = f" since {fmt_day(f['first_event_date'])}" if f.get("first_event_date") else ""
            reasons = str(f.get("reasons") or "")
            kinds = [k for k in ("failed incoming inspection", "open critical NCR") if k in reasons]
            what = " and ".join(kinds) or "quality exception"
            head = f"Lot {f['lot_id']} of {f['material_id']} at {site}: {what}{when}"
            bits = [str(f[k]) for k in ("material_description", "reasons") if f.get(k)]
            if f.get("supplier_id"):
                bits.append(f"supplier {f['supplier_id']}")
            return head, "; ".join(bits)
        if item.rule_id == "expiring_lots" and {"lot_id", "material_id", "expiry_date"} <= set(f):
            head = f"Lot {f['lot_id']} of {f['material_id']} at {site} expires {fmt_day(f['expiry_date'])}"
            bits = [str(f["material_description"])] if f.get("material_description") else []
            if f.get("days_to_expiry") is not None:
                bits.append(f"in {f['days_to_expiry']} days")
            if f.get("on_hand_qty") is not None:
                bits.append(f"{fmt_qty(f['on_hand_qty'], f.get('uom'))} on hand")
            return head, "; ".join(bits)
        if item.rule_id == "supplier_late" and "supplier_id" in f:
            who = f.get("supplier_name") or f["supplier_id"]
            head = f"{who} late at {site}"
            if f.get("late_lines") is not None:
                head += f": {int(f['late_lines']):,} PO line(s), worst {f.get('days_late')} days"
            bits = []
            if f.get("oldest_due_date"):
                bits.append(f"oldest due {fmt_day(f['oldest_due_date'])}")
            if f.get("materials"):
                bits.append(f"materials {f['materials']}")
            return head, "; ".join(bits)
        if item.rule_id == "kpi_below_target" and {"kpi_id", "value", "target"} <= set(f):
            unit = _kpi_unit(str(f["kpi_id"]))
            label = f.get("kpi") or f["kpi_id"]
            head = (
                f"{label} at {site} is {format_value(f['value'], unit)} "
                f"against target {format_value(f['target'], unit)}"
            )
            detail = ""
            if f.get("period_days") and f.get("period_end"):
                detail = f"over the {f['period_days']} days to {fmt_day(f['period_end'])}"
            return head, detail
        if item.rule_id == "data_freshness" and "entity" in f:
            if f.get("never_delivered") or not f.get("last_loaded_at"):
                return f"{f['entity']} never delivered by a successful ingest", ""
            hours = f.get("hours_since_load")
            ago = f" ({float(hours):,.0f} h ago)" if hours is not None else ""
            return f"{f['entity']} not loaded since {fmt_time(f['last_loaded_at'], zone)}{ago}", ""
    except (TypeError, ValueError, KeyError):
        pass
    return item.title, ""


SUBJECT_HEADLINE_CHARS = 120


def subject_headline(item: DigestItem, as_of: dt.date | str) -> str:
    """The headline on one line, at most 120 characters, the date short (``from 2 Dec``) in the digest's year.

    A header may not hold a line break (a failing rule's title carries its SQL error over several lines).
    """
    day = _as_date(as_of)
    head = " ".join(describe(item, short_year=day.year if day else None)[0].split())
    if len(head) > SUBJECT_HEADLINE_CHARS:
        head = head[: SUBJECT_HEADLINE_CHARS - 1].rstrip() + "…"
    return head


_SUBJECT_TAG = {
    "opened": "",
    "reopened": " reopened",
    "severity_raised": " raised",
    "reminder": " reminder",
}


def digest_subject(items: list[DigestItem], as_of: dt.date | str) -> str:
    """E.g. ``CRITICAL: CMP-30009 short 34,565 EA at Galway from 2 Dec, and 3 more (1 high, 2 medium)``.

    The most severe change leads (severity, what, where, when); the others are counted by severity,
    resolved ones apart. A digest of resolved alerts only leads with ``Resolved:``.
    """
    ordered = order_items(items)
    if not ordered:
        return f"MedTower: no alert changes at {as_of}"
    lead, others = ordered[0], ordered[1:]
    if lead.reason == "resolved":
        head = f"Resolved: {subject_headline(lead, as_of)}"
    else:
        head = f"{lead.severity.upper()}{_SUBJECT_TAG.get(lead.reason, '')}: {subject_headline(lead, as_of)}"
    if not others:
        return head
    severities = Counter(i.severity for i in others if i.reason != "resolved")
    counts = [f"{severities[s]} {s}" for s in sorted(severities, key=severity_rank, reverse=True)]
    resolved = sum(1 for i in others if i.reason == "resolved")
    if resolved:
        counts.append(f"{resolved} resolved")
    return f"{head}, and {len(others)} more ({', '.join(counts)})"


def build_digest(
    items: list[DigestItem],
    *,
    recipient: str,
    as_of: dt.date | str,
    base_url: str,
    sender: str,
) -> OutgoingMessage:
    """One email for one recipient over every alert change queued for them.

    Each alert is a line ``[SEVERITY] what happened: headline``, a line of detail, its link and, for an
    alert that opened or rose, the plan's compact lines. The HTML part says the same.
    """
    ordered = order_items(items)
    day = fmt_date(as_of)
    intro = f"MedTower alerts for {day}: {len(ordered)} change(s), most severe first."
    text = [intro, ""]
    parts = [
        "<html><body style='font-family:sans-serif;max-width:60em'>",
        f"<p>{html.escape(intro)}</p>",
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
        head, detail = describe(item)
        text.append(f"[{item.severity.upper()}] {what}: {head}")
        if detail:
            text.append(f"  {detail}")
        text.append(f"  Open it: {link}")
        lines = item.plan_lines if item.reason in WITH_PLAN else ()
        text += [f"  - {line}" for line in lines]
        text.append("")
        plan_html = (
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>" if lines else ""
        )
        colour = _SEVERITY_COLOUR.get(item.severity, "#444")
        detail_html = f"<br><span style='color:#555'>{html.escape(detail)}</span>" if detail else ""
        parts.append(
            f"<li><strong style='color:{colour}'>{html.escape(item.severity.upper())}</strong> "
            f"{html.escape(what)}: "
            f'<a href="{html.escape(link)}">{html.escape(head)}</a>{detail_html}{plan_html}</li>'
        )
    parts.append("</ol>")
    text += [
        "The full plan of each alert is on the Alerts page (follow its link).",
        "Acknowledge an alert there (or `medtower alerts ack KEY --by NAME --comment TEXT`) to stop its "
        "reminders.",
    ]
    parts.append(
        "<p>The full plan of each alert is on the Alerts page (follow its link). Acknowledge an alert "
        "there to stop its reminders.</p></body></html>"
    )
    return OutgoingMessage(
        to=(recipient,),
        subject=digest_subject(ordered, as_of),
        text="\n".join(text),
        html="\n".join(parts),
        sender=sender,
    )


_SEVERITY_COLOUR = {"critical": "#b00020", "high": "#c75000", "medium": "#8a6d00", "low": "#2f6f2f"}


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _columns(rows: list[dict[str, Any]], limit: int) -> list[str]:
    """The columns with at least one value in the rows shown (an all-empty column says nothing)."""
    return [c for c in rows[0] if any(_cell(r.get(c)) for r in rows[:limit])]


def _header(column: str) -> str:
    return column.replace("_", " ").capitalize()


def _text_table(rows: list[dict[str, Any]], limit: int = 25, total: int | None = None) -> list[str]:
    if not rows:
        return ["  (none)"]
    cols = _columns(rows, limit)
    out = ["  " + " | ".join(_header(c) for c in cols)]
    for r in rows[:limit]:
        out.append("  " + " | ".join(_cell(r.get(c)) for c in cols))
    total = max(total or 0, len(rows))
    if total > limit:
        out.append(f"  ... {total - limit:,} more in the app")
    return out


def _html_table(rows: list[dict[str, Any]], limit: int = 25, total: int | None = None) -> str:
    if not rows:
        return "<p><em>(none)</em></p>"
    cols = _columns(rows, limit)
    head = "".join(
        f"<th style='text-align:left;border-bottom:1px solid #999'>{html.escape(_header(c))}</th>"
        for c in cols
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
