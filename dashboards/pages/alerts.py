"""Alerts workbench: filter the alerts, own them, talk about them, acknowledge or resolve, act on the plan.

Reads the published warehouse read-only. Every person's action (assign, comment, acknowledge, resolve) goes
to the separate action store (``medtower.alert_actions``, SQLite in WAL mode): the page shows it at once and
the next alerts evaluation merges it into the warehouse. The web app never takes the warehouse write lock.
Resolving a quality alert and recording its hold scope are electronic signatures (medtower/signatures.py):
user name, password and meaning in the form; the action store refuses them unsigned whoever sends them.

The filters and the selected alert live in the URL (``?alert=KEY&rule=..&severity=..&state=..&owner=..&q=..``
beside the global filters), so a reload or a link from an email opens the same view. The global site filter
is the site filter of this page too.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import dash
import duckdb
import pandas as pd
from dash import ALL, MATCH, Input, Output, State, callback, clientside_callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboards import auth
from dashboards.components import (
    PLAIN_TABLE_ROWS,
    data_grid,
    empty_state,
    filter_notice,
    page_header,
    reader,
    section,
    settings,
)
from dashboards.data import shell
from dashboards.data.base import MartMissingError
from dashboards.filters import Filters
from dashboards.signing import sign_fields, signing_of
from medtower.alert_actions import (
    ROLES,
    decided_scope,
    needs_signature,
    owner_label,
    record_action,
    record_decision,
    record_scope,
)
from medtower.alert_queries import (
    STATE_CHOICES,
    UNASSIGNED,
    AlertFilter,
    filter_alerts,
    list_alerts,
    no_site_count,
    severity_counts,
)
from medtower.roles import site_allowed
from medtower.severity import SEVERITIES_DESC, SEVERITY_COLOURS, severity_rank
from medtower.signatures import Signing, manifest_line
from medtower.warehouse import WarehouseMissingError

dash.register_page(__name__, path="/alerts", name="Alerts", title="MedTower · Alerts", order=9)

_CELL = {"textAlign": "left", "verticalAlign": "top", "padding": "2px 8px"}
# The page's own URL parameters (the global ones, as_of/period/site, are the app's).
OWN_PARAMS = ("alert", "rule", "severity", "state", "owner", "q")
STATE_LABELS = {
    "active": "not resolved",
    "open": "open",
    "pending": "pending (in grace)",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
    "all": "all, resolved too",
}
# Drill-down pages by the plan columns that hold their ids.
ROUTES = {
    "material_id": "/material/",
    "substitute_material_id": "/material/",
    "parent_material_id": "/material/",
    "makes": "/material/",
    "wo_id": "/work-order/",
    "lot_id": "/lot/",
    "supplier_id": "/supplier/",
    "customer_id": "/customer/",
}


def _control(label: str, child: Any) -> html.Label:
    return html.Label(
        [label, child], style={"display": "inline-block", "marginRight": "1em", "minWidth": "11em"}
    )


def layout(
    alert: str | None = None,
    key: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    state: str | None = None,
    owner: str | None = None,
    q: str | None = None,
    **params: Any,
) -> html.Div:
    """``?alert=KEY`` (the digest's link) opens the page with that alert selected; the other parameters
    restore the filters."""
    state = state if state in STATE_CHOICES else "active"
    severity = severity if severity in SEVERITIES_DESC else None
    return html.Div(
        [
            page_header("Alerts", "What needs a person now, who has it, and the plan to deal with it"),
            dcc.Store(id="alerts-selected", data=alert or key),
            dcc.Store(id="alerts-version", data=None),
            dcc.Store(id="alerts-url-sync"),
            html.Div(
                [
                    _control(
                        "Rule",
                        dcc.Dropdown(id="alerts-f-rule", value=rule, placeholder="every rule", options=[]),
                    ),
                    _control(
                        "Severity",
                        dcc.Dropdown(
                            id="alerts-f-severity",
                            value=severity,
                            placeholder="every severity",
                            options=[{"label": s, "value": s} for s in SEVERITIES_DESC],
                        ),
                    ),
                    _control(
                        "State",
                        dcc.Dropdown(
                            id="alerts-f-state",
                            value=state,
                            clearable=False,
                            options=[{"label": STATE_LABELS[s], "value": s} for s in STATE_CHOICES],
                        ),
                    ),
                    _control(
                        "Owner",
                        dcc.Dropdown(id="alerts-f-owner", value=owner, placeholder="anyone", options=[]),
                    ),
                    _control(
                        "Search",
                        dcc.Input(
                            id="alerts-f-text",
                            value=q or "",
                            type="search",
                            debounce=True,
                            placeholder="title, id, comment…",
                        ),
                    ),
                    html.Span(
                        "Site: the site filter at the top applies here.",
                        className="section-note",
                    ),
                ],
                className="alerts-filters",
                style={"margin": "0.5em 0"},
            ),
            # Kept for the show-resolved shortcut (the State filter says the same in more words).
            dcc.Checklist(
                id="alerts-show-resolved",
                options=[{"label": " show resolved too", "value": "yes"}],
                value=[],
                style={"display": "none"},
            ),
            html.Div(
                [
                    "Planned actions (shortages beyond the lead time: order N by D) are listed, with CSV "
                    "export, on the ",
                    dcc.Link("Inventory page", href="/inventory", id="alerts-actions-link"),
                    ".",
                ],
                className="section-note",
            ),
            html.Div(id="alerts-list", children=empty_state("Loading…")),
            html.Div(
                [
                    html.Strong(id="alerts-selected-title", style={"marginRight": "1em"}),
                    html.Div(
                        [
                            "Signed in as ",
                            html.Strong(_me() or "nobody", id="alerts-actor"),
                            html.Span(
                                ": every change is recorded with your name and the time.",
                                className="section-note",
                            ),
                        ],
                        style={"margin": "0.5em 0"},
                    ),
                    html.Div(
                        [
                            html.Label(
                                [
                                    "Owner ",
                                    dcc.Input(
                                        id="alerts-owner",
                                        type="text",
                                        list="alerts-owner-choices",
                                        placeholder="a person or role:qa",
                                    ),
                                ]
                            ),
                            html.Datalist(
                                id="alerts-owner-choices",
                                children=[html.Option(value=r, label=owner_label(r)) for r in ROLES],
                            ),
                            html.Button(
                                "Assign", id="alerts-assign", n_clicks=0, style=_shown("alert.assign")
                            ),
                        ],
                        style={"margin": "0.5em 0"},
                    ),
                    dcc.Textarea(
                        id="alerts-comment",
                        placeholder="Comment (required to acknowledge or resolve: what you do about it, "
                        "or why it is done)",
                        style={"width": "100%", "height": "4em"},
                    ),
                    sign_fields("alerts-sign", "Resolving a quality alert is an electronic signature"),
                    html.Div(
                        [
                            html.Button(
                                "Comment", id="alerts-add-comment", n_clicks=0, style=_shown("alert.comment")
                            ),
                            html.Button(
                                "Acknowledge", id="alerts-ack", n_clicks=0, style=_shown("alert.acknowledge")
                            ),
                            html.Button(
                                "Resolve", id="alerts-resolve", n_clicks=0, style=_shown("alert.resolve")
                            ),
                            html.Span(id="alerts-action-result", style={"marginLeft": "1em"}),
                        ]
                    ),
                ],
                id="alerts-actions",
                style={"margin": "1em 0", "padding": "0.5em", "border": "1px solid #ddd"},
            ),
            html.Div(id="alerts-detail"),
        ]
    )


@callback(Output("alerts-sign", "style"), Input("alerts-selected", "data"))
def show_sign_fields(key: str | None) -> dict[str, str]:
    """The signature fields show for an alert whose resolution is signed."""
    return {"margin": "0.5em 0"} if key and needs_signature(key, "resolve") else {"display": "none"}


def _me() -> str | None:
    """The signed-in user's name: the only name an action is recorded under (never a typed one)."""
    user = auth.signed_in()
    return user.name if user else None


def _shown(action: str) -> dict[str, str]:
    """Buttons for actions the role may not take are not shown (the server refuses them anyway)."""
    return {} if auth.can(action) else {"display": "none"}


def _when(value: Any) -> str:
    """Timestamps to the minute, UTC (the store keeps seconds; people read minutes)."""
    if value is None or value == "":
        return ""
    text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value).replace("T", " ")
    return text[:16]


def who_and_when(a: dict[str, Any]) -> str:
    """The state with who and when, e.g. acknowledged by Dana at 2025-03-03 07:15 UTC."""
    if a["state"] == "acknowledged":
        return f"acknowledged by {a['acknowledged_by']} at {_when(a['acknowledged_at'])} UTC"
    if a["state"] == "resolved":
        return f"resolved by {a['resolved_by']} at {_when(a['resolved_at'])} UTC"
    return str(a["state"])


PICK_STYLE = {
    "background": "none",
    "border": "none",
    "padding": 0,
    "color": "#0b5cad",
    "textDecoration": "underline",
    "cursor": "pointer",
    "textAlign": "left",
    "font": "inherit",
}


def _row(a: dict[str, Any], selected: str | None) -> html.Tr:
    style = {"background": "#eef"} if a["alert_key"] == selected else {}
    return html.Tr(
        [
            html.Td(
                a["severity"], style={"color": SEVERITY_COLOURS.get(a["severity"]), "fontWeight": "bold"}
            ),
            html.Td(who_and_when(a) + (" (pending merge)" if a.get("pending_merge") else ""), style=_CELL),
            html.Td(
                # A button, not <a href="#">: a hash change makes the page router render the page afresh
                # and drop the selection.
                html.Button(
                    a["title"],
                    id={"type": "alerts-pick", "key": a["alert_key"]},
                    n_clicks=0,
                    className="alert-pick",
                    style=PICK_STYLE,
                ),
                style=_CELL,
            ),
            html.Td(a.get("site_id") or "", style=_CELL),
            html.Td(owner_label(a.get("owner")), style=_CELL, className="alert-owner"),
            html.Td(_when(a["opened_at"]), style={**_CELL, "whiteSpace": "nowrap"}),
        ],
        style=style,
        className="alert-row",
        **{"data-key": a["alert_key"]},
    )


STATE_ORDER = {"open": 0, "pending": 1, "acknowledged": 2, "resolved": 3}


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What needs a person first: open before acknowledged, then by severity, newest first."""
    by_time = sorted(rows, key=lambda a: str(a["opened_at"] or ""), reverse=True)
    return sorted(by_time, key=lambda a: (STATE_ORDER.get(a["state"], 9), -severity_rank(a["severity"])))


def alert_table(rows: list[dict[str, Any]], selected: str | None, filtered: bool = False) -> Any:
    if not rows:
        if filtered:
            return empty_state("No alert matches these filters.", "Clear a filter above to see more.")
        return empty_state("No alerts.", "Alerts appear after `medtower run` or `medtower alerts run`.")
    head = html.Tr(
        [html.Th(c, style=_CELL) for c in ("severity", "state", "alert", "site", "owner", "opened (UTC)")]
    )
    return html.Table([head, *(_row(a, selected) for a in ordered(rows))], style={"width": "100%"})


# --- the view: filters in the URL -------------------------------------------------------------


NO_SITE = "\u2205 none of yours"  # a site no alert has: a user's view outside their sites lists nothing


def view_of(version: Any) -> tuple[AlertFilter, str]:
    """The list's filter and the global query string from the view store (an int is the unfiltered view)."""
    if not isinstance(version, dict):
        return AlertFilter(), ""
    state = version.get("state") or "active"
    site = version.get("site") or None
    user = auth.signed_in()
    if user is not None and not site_allowed(user.sites, site):
        # Per-site access, on the server (the view store comes from the browser): nothing outside the
        # user's sites; the view callback asks them to pick one of theirs.
        site = NO_SITE
    f = AlertFilter(
        rule=version.get("rule") or None,
        site=site,
        severity=version.get("severity") or None,
        state=state if state in STATE_CHOICES else "active",
        owner=version.get("owner") or None,
        text=(version.get("q") or "").strip() or None,
    )
    return f, str(version.get("qs") or "")


def alerts_href(f: AlertFilter, qs: str, selected: str | None = None, **change: Any) -> str:
    """The Alerts page URL for this view (global filters first), e.g. a severity count's link."""
    own = {
        "alert": selected,
        "rule": f.rule,
        "severity": f.severity,
        "state": None if f.state == "active" else f.state,
        "owner": f.owner,
        "q": f.text,
        **change,
    }
    extra = urlencode({k: v for k, v in own.items() if v})
    sep = "&" if qs else "?"
    return "/alerts" + qs + (sep + extra if extra else "")


def severity_links(rows: list[dict[str, Any]], f: AlertFilter, qs: str, selected: str | None) -> html.Div:
    """Counts per severity under the other filters, each a link to the list of that severity."""
    counts = severity_counts(rows, f)
    links: list[Any] = []
    for sev, n in counts.items():
        chosen = f.severity == sev
        links.append(
            dcc.Link(
                [html.Span(f"{n:,}", className="alert-count"), html.Span(f" {sev}")],
                href=alerts_href(f, qs, selected, severity=None if chosen else sev),
                id=f"alerts-count-{sev}",
                className="alert-count-link",
                style={
                    "color": SEVERITY_COLOURS.get(sev),
                    "marginRight": "1.2em",
                    "fontWeight": "bold",
                    "textDecoration": "underline" if chosen else "none",
                },
            )
        )
    missing = no_site_count(rows, f)
    note = (
        html.Span(
            f"{missing:,} alert(s) without a site (e.g. data freshness) are in the all-sites view only.",
            className="section-note",
        )
        if missing
        else None
    )
    return html.Div([*links, note], className="alert-counts", id="alerts-counts")


# --- the plan ---------------------------------------------------------------------------------


def _ids(plan: dict[str, Any], labels: dict[str, Any]) -> dict[str, str]:
    """Every id the plan's rows and the alert's labels name, with its drill-down route."""
    out: dict[str, str] = {}
    for col, route in ROUTES.items():
        if labels.get(col):
            out[str(labels[col])] = route
    for s in plan.get("sections", []):
        for r in s.get("rows") or []:
            for col, route in ROUTES.items():
                v = r.get(col)
                if isinstance(v, str) and v:
                    out.setdefault(v, route)
            if r.get("kind") == "work_order" and isinstance(r.get("demand"), str):
                out.setdefault(r["demand"], "/work-order/")
    return out


def linked_text(text: str, ids: dict[str, str], qs: str = "") -> list[Any]:
    """A plan line with every known id a link to its drill-down (the global filters kept)."""
    if not ids or not text:
        return [text]
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)) + r")(?![\w-])"
    )
    out: list[Any] = []
    last = 0
    for m in pattern.finditer(text):
        if m.start() > last:
            out.append(text[last : m.start()])
        ident = m.group(1)
        out.append(dcc.Link(ident, href=ids[ident] + ident + qs, className="drill-link"))
        last = m.end()
    out.append(text[last:])
    return out


# Plan columns the shared grid does not know: material ids under other names, quantities without "qty".
MATERIAL_COLUMNS = ("makes", "substitute_material_id", "parent_material_id")
QUANTITY_COLUMNS = ("short_in_netting",)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _section_grid(key_slug: str, s: dict[str, Any], uom: str) -> Any:
    rows = s.get("rows") or []
    if not rows:
        return None
    df = pd.DataFrame(rows)
    for col in df.columns:  # ISO timestamps as the rest of the app shows them: to the minute, no "T"
        if df[col].dtype == object:
            df[col] = df[col].map(
                lambda v: v[:16].replace("T", " ") if isinstance(v, str) and _ISO.match(v) else v
            )
    if "uom" not in df.columns:
        df["uom"] = uom
    grid = data_grid(
        f"alert-plan-{key_slug}-{s.get('id')}",
        df,
        hidden=("uom",),
        height=320,
        links=dict.fromkeys(MATERIAL_COLUMNS, "/material/"),
        quantities=QUANTITY_COLUMNS,
    )
    total = s.get("rows_total")
    if isinstance(total, int) and total > len(rows):
        return html.Div(
            [
                html.P(f"The plan kept the first {len(rows):,} of {total:,} rows.", className="section-note"),
                grid,
            ]
        )
    return grid


def plan_view(
    plan: dict[str, Any] | None,
    key: str | None = None,
    uom: str = "",
    qs: str = "",
    labels: Any = None,
    thread: list[dict[str, Any]] | None = None,
) -> Any:
    """Summary, the compact lines, then one section per lever: lines with linked ids, rows in a paged grid,
    the drafted expedite requests in copyable blocks, the recovery date called out."""
    if not plan:
        return html.P("No emergency plan for this rule.")
    ids = _ids(plan, labels or {})
    blocks: list[Any] = [html.P(linked_text(plan.get("summary", ""), ids, qs), className="plan-summary")]
    compact = plan.get("compact") or []
    if compact:
        blocks.append(html.Ul([html.Li(linked_text(c, ids, qs)) for c in compact], className="plan-compact"))
    if key is not None:
        blocks.append(scope_switch(key, plan, qs, thread))  # None unless a quality plan with scopes
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key or "plan")
    expedite = 0
    for s in plan.get("sections", []):
        blocks.append(html.H4(s["title"], id=f"plan-{s.get('id')}"))
        if s.get("id") == "resequence":
            recovery = (plan.get("data") or {}).get("recovery_date")
            blocks.append(
                html.P(
                    html.Strong(
                        f"Recovery date: {recovery}"
                        if recovery
                        else "Not recovered by open supply: order now"
                    ),
                    className="plan-recovery",
                )
            )
        for line in s.get("lines", []):
            if line.startswith("Expedite request to"):
                expedite += 1
                block_id = f"alerts-expedite-{expedite}"
                blocks.append(
                    html.Div(
                        [
                            dcc.Clipboard(
                                target_id=block_id,
                                title="Copy the request",
                                id=f"alerts-copy-{expedite}",
                                className="copy-button",
                                style={"display": "inline-block", "fontSize": 18, "cursor": "pointer"},
                            ),
                            html.Span(" copy the request", className="section-note"),
                            html.Pre(
                                line,
                                id=block_id,
                                className="expedite-request",
                                style={"whiteSpace": "pre-wrap", "background": "#f6f6f6", "padding": "6px"},
                            ),
                        ],
                        className="expedite-block",
                    )
                )
            else:
                blocks.append(html.P(linked_text(line, ids, qs), style={"whiteSpace": "pre-wrap"}))
        rows = s.get("rows") or []
        if rows and key is not None:
            # The table loads when opened: six grids at once cost the browser seconds on a big plan.
            n = s.get("rows_total") if isinstance(s.get("rows_total"), int) else len(rows)
            ident = {"key": key, "section": str(s.get("id"))}
            blocks.append(
                html.Div(
                    [
                        html.Button(
                            f"Show the table: {n:,} row{'' if n == 1 else 's'} "
                            + (
                                "(sortable, paged, CSV export)"
                                if len(rows) > PLAIN_TABLE_ROWS
                                else "(CSV export)"
                            ),
                            id={"type": "alerts-rows", **ident},
                            n_clicks=0,
                            className="btn-small plan-rows-button",
                        ),
                        html.Div(id={"type": "alerts-rows-body", **ident}),
                    ],
                    className="plan-rows",
                )
            )
        elif rows:
            grid = _section_grid(slug, s, uom)
            if grid is not None:
                blocks.append(grid)
    return html.Div(blocks)


SCOPE_LISTS = (
    ("lots_to_hold", "Lots to hold"),
    ("work_orders", "Work orders"),
    ("shipments", "Shipments"),
    ("customers", "Customers"),
)


def scope_choices(plan: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A quality plan's hold scopes, proposed first then wider; none for other plans."""
    if not plan or not isinstance(plan.get("scope"), dict):
        return []
    return [plan["scope"], *(plan.get("wider_scopes") or [])]


def _scope_label(scope: dict[str, Any]) -> str:
    n = {k: len(scope.get(k) or []) for k, _ in SCOPE_LISTS}
    return (
        f"{scope.get('label') or scope.get('id')}: {n['lots_to_hold']} lots, {n['work_orders']} work orders, "
        f"{n['shipments']} shipments, {n['customers']} customers"
    )


def trace_href(lots: list[Any], qs: str = "") -> str:
    """The traceability page tracing ``lots`` forward (to shipments and customers), keeping the filters."""
    own = urlencode({"q": ",".join(map(str, lots)), "direction": "forward"})
    return f"/traceability{qs}&{own}" if qs else f"/traceability?{own}"


def scope_view(scope: dict[str, Any] | None, qs: str = "") -> Any:
    """One hold scope with its basis and complete lists (the plan's sections show the proposed one)."""
    if not scope:
        return html.P("Pick a scope.")
    blocks: list[Any] = [html.P(scope.get("basis", ""), className="scope-basis")]
    lots = scope.get("lots_to_hold") or []
    if lots:
        blocks.append(
            dcc.Link(
                "Trace and export this scope",
                href=trace_href(lots, qs),
                className="scope-trace-link",
                title="Open these lots on the traceability page: graph, lists, CSV and XLSX export",
            )
        )
    for key, title in SCOPE_LISTS:
        ids = scope.get(key) or []
        blocks.append(
            html.P(
                [html.Strong(f"{title} ({len(ids)}): "), ", ".join(map(str, ids)) or "none"],
                className=f"scope-list scope-{key}",
            )
        )
    return html.Div(blocks)


def decision_text(c: dict[str, Any]) -> str:
    """A recorded scope decision in words: the scope, its counts, who, when, why."""
    d = c.get("details") or {}
    kind = "the proposed scope" if d.get("decision") == "proposed" else "widened to"
    return (
        f"{kind} {d.get('label') or d.get('scope_id')} ({d.get('lots_to_hold', 0)} lots, "
        f"{d.get('work_orders', 0)} work orders, {d.get('customers', 0)} customers)"
    )


def scope_switch(
    key: str, plan: dict[str, Any] | None, qs: str = "", thread: list[dict[str, Any]] | None = None
) -> Any:
    """Proposed or wider hold scope: QA widens here and records the decision, signed. The view starts on
    the decided scope (the proposed one until someone decides)."""
    scopes = scope_choices(plan)
    if not scopes:
        return None
    decided = decided_scope(thread or [])
    ids = [s["id"] for s in scopes]
    chosen = (decided or {}).get("details", {}).get("scope_id")
    chosen = chosen if chosen in ids else ids[0]
    if decided:
        sig = decided.get("signature")
        status: Any = html.P(
            [
                html.Strong("Decided: "),
                f"{decision_text(decided)} by {decided['actor']} at {_when(decided['at'])} UTC: "
                f"{decided.get('note') or ''}",
                html.Br(),
                html.Span(manifest_line(sig) if sig else "not signed", className="signature-line"),
            ],
            id="alerts-scope-decided",
        )
    else:
        status = html.P("No scope decision recorded yet.", id="alerts-scope-decided")
    return html.Div(
        [
            html.H4("Hold scope"),
            status,
            dcc.RadioItems(
                id={"type": "alerts-scope", "key": key},
                # Only a role that may widen a scope gets the wider ones (the callback refuses them too).
                options=[
                    {
                        "label": " " + _scope_label(s),
                        "value": s["id"],
                        "disabled": i > 0 and not auth.can("quality.widen_scope"),
                    }
                    for i, s in enumerate(scopes)
                ],
                value=chosen,
                labelStyle={"display": "block"},
            ),
            # Each scope with the filters' query string, for its link to the traceability page.
            dcc.Store(id={"type": "alerts-scope-data", "key": key}, data=[{**s, "qs": qs} for s in scopes]),
            html.Div(scope_view(scopes[ids.index(chosen)], qs), id={"type": "alerts-scope-view", "key": key}),
            html.Div(
                [
                    dcc.Textarea(
                        id="alerts-scope-reason",
                        placeholder="Why this scope (required): the evidence, what is held or released",
                        style={"width": "100%", "height": "3em"},
                    ),
                    sign_fields("alerts-scope-sign", "A hold scope decision is signed", shown=True),
                    html.Button("Record this scope", id="alerts-scope-record", n_clicks=0),
                    html.Span(id="alerts-scope-result", style={"marginLeft": "1em"}),
                ],
                style=_shown("quality.hold_scope"),
                className="scope-record",
            ),
        ],
        className="alerts-scope",
    )


@callback(
    Output({"type": "alerts-scope-view", "key": MATCH}, "children"),
    Input({"type": "alerts-scope", "key": MATCH}, "value"),
    State({"type": "alerts-scope-data", "key": MATCH}, "data"),
)
def show_scope(chosen: str | None, scopes: list[dict[str, Any]] | None) -> Any:
    scope = next((s for s in scopes or [] if s.get("id") == chosen), None)
    proposed = (scopes or [{}])[0].get("id")
    if scope is not None and chosen != proposed and not auth.can("quality.widen_scope"):
        return html.P("Your role may not widen a hold scope: QA does.", className="scope-refused")
    return scope_view(scope, str((scope or {}).get("qs") or ""))


@callback(
    Output({"type": "alerts-rows-body", "key": MATCH, "section": MATCH}, "children"),
    Output({"type": "alerts-rows", "key": MATCH, "section": MATCH}, "style"),
    Input({"type": "alerts-rows", "key": MATCH, "section": MATCH}, "n_clicks"),
    prevent_initial_call=True,
)
def show_rows(clicks: int | None) -> Any:
    """A plan section's rows in a paged grid, read from the stored plan when the person asks for them."""
    if not clicks or not isinstance(ctx.triggered_id, dict):
        raise PreventUpdate
    key, section_id = ctx.triggered_id["key"], ctx.triggered_id["section"]
    with reader().connect() as con:
        a = next(
            (r for r in list_alerts(con, settings(), include_resolved=True) if r["alert_key"] == key), None
        )
    plan = (a or {}).get("plan") or {}
    s = next((x for x in plan.get("sections", []) if str(x.get("id")) == section_id), None)
    if a is None or s is None:
        return empty_state("This plan is no longer stored.", "Reload the page for the current plan."), None
    uom = str((a.get("details") or {}).get("uom") or "")
    return _section_grid(re.sub(r"[^A-Za-z0-9]+", "-", key), s, uom), {"display": "none"}


ACTION_WORDS = {
    "ack": "acknowledged",
    "resolve": "resolved",
    "assign": "assigned to",
    "comment": "commented",
    "scope": "decided the hold scope:",
}


def thread_view(a: dict[str, Any]) -> Any:
    """Who did what when, oldest first: comments, assignments, acknowledgements and resolutions."""
    items = []
    for c in a.get("thread") or []:
        words = ACTION_WORDS.get(c["action"], c["action"])
        note = owner_label(c["note"]) if c["action"] == "assign" else c.get("note")
        if c["action"] == "scope":
            words = f"{words} {decision_text(c)}"
        sig = c.get("signature")
        items.append(
            html.Li(
                [
                    html.Span(f"{_when(c['at'])} UTC · ", className="thread-when"),
                    html.Strong(c["actor"]),
                    f" {words}" + (": " if c["action"] != "assign" and note else " ") + (note or ""),
                    html.Div(manifest_line(sig), className="signature-line") if sig else None,
                ],
                className=f"thread-item thread-{c['action']}",
            )
        )
    if not items:
        return html.P("No comments yet.", id="alerts-thread")
    return html.Ul(items, id="alerts-thread")


def fact(name: str, value: Any, uom: str = "") -> str:
    """A fact as a person reads it: thousands separated, quantities in their unit, days as days."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        if "qty" in name.split("_") and uom:
            return f"{text} {uom}"
        if name.endswith("_days") or name.startswith("days_"):
            return f"{text} d"
        return text
    return str(value)


def detail_view(a: dict[str, Any] | None, qs: str = "") -> Any:
    if a is None:
        return html.P("Pick an alert to see its details and plan.")
    facts = {**a["labels"], **(a.get("details") or {})}
    history = [f"opened {_when(a['opened_at'])} UTC"]
    if a.get("acknowledged_by"):
        history.append(f"acknowledged by {a['acknowledged_by']} at {_when(a['acknowledged_at'])} UTC")
    if a.get("resolved_by"):
        history.append(f"resolved by {a['resolved_by']} at {_when(a['resolved_at'])} UTC")
    owner = owner_label(a.get("owner"))
    if a.get("owner"):
        owner += f" (assigned by {a['owner_by']} at {_when(a['owner_at'])} UTC)"
    uom = str((a.get("details") or {}).get("uom") or "")
    return section(
        a["title"],
        html.P(
            f"Key {a['alert_key']} · {a['severity']} · {a['state']} · notified {a['notify_count']} time(s)"
        ),
        html.P(" · ".join(history), id="alerts-detail-history"),
        html.P([html.Strong("Owner: "), owner], id="alerts-detail-owner"),
        html.Table(
            [html.Tr([html.Th(k.replace("_", " ")), html.Td(fact(k, v, uom))]) for k, v in facts.items()]
        ),
        html.H3("Comments and actions"),
        thread_view(a),
        html.H3("Emergency plan") if a.get("plan") else None,
        plan_view(a.get("plan"), a["alert_key"], uom, qs, a["labels"], a.get("thread")),
        wide=True,
    )


@callback(
    Output("alerts-list", "children"),
    Output("alerts-detail", "children"),
    Output("alerts-selected-title", "children"),
    Input("alerts-selected", "data"),
    Input("alerts-version", "data"),
    Input("alerts-show-resolved", "value"),
)
def render(selected: str | None, version: Any, show_resolved: list[str] | None) -> Any:
    """The list under the view's filters (with its severity counts) and the selected alert in full.

    The selected alert shows even when the filters hide it: a link from an email opens it whatever its
    state.
    """
    if version is None:
        raise PreventUpdate  # the view callback fills it in with the filters first
    f, qs = view_of(version)
    if show_resolved and f.state == "active":
        f = AlertFilter(f.rule, f.site, f.severity, "all", f.owner, f.text)
    try:
        with reader().connect() as con:
            rows = list_alerts(con, settings(), include_resolved=True)
    except WarehouseMissingError as exc:
        notice = empty_state("No warehouse yet: run `medtower run DIR` to load a drop folder.", str(exc))
        return notice, None, ""
    chosen = next((a for a in rows if a["alert_key"] == selected), None)
    label = f"{chosen['title']}:" if chosen else "Pick an alert, then:"
    problem = version.get("problem") if isinstance(version, dict) else None
    if problem:  # an unknown site: say so rather than show an empty list as if all were well
        return filter_notice(problem), _detail_or_unknown(selected, chosen, qs), label
    shown = filter_alerts(rows, f)
    filtered = f != AlertFilter()
    listing = html.Div(
        [
            severity_links(rows, f, qs, selected),
            html.Div(
                f"{len(shown):,} of {len(rows):,} alerts", className="section-note", id="alerts-shown-count"
            ),
            html.Div(
                alert_table(shown, selected, filtered), style={"maxHeight": "45vh", "overflowY": "auto"}
            ),
        ]
    )
    return listing, _detail_or_unknown(selected, chosen, qs), label


def _detail_or_unknown(selected: str | None, chosen: dict[str, Any] | None, qs: str) -> Any:
    """The chosen alert; a key from a link that this warehouse does not hold says so."""
    if selected and chosen is None:
        return html.P(
            f"No alert {selected!r} in this warehouse: the link may come from another installation, or the "
            "alert was removed with its rule. Pick one from the list above.",
            id="alerts-unknown-key",
        )
    return detail_view(chosen, qs)


@callback(
    Output("alerts-version", "data"),
    Output("alerts-actions-link", "href"),
    Input("alerts-f-rule", "value"),
    Input("alerts-f-severity", "value"),
    Input("alerts-f-state", "value"),
    Input("alerts-f-owner", "value"),
    Input("alerts-f-text", "value"),
    Input("filters", "data"),
    State("alerts-version", "data"),
)
def view(
    rule: str | None,
    severity: str | None,
    state: str | None,
    owner: str | None,
    text: str | None,
    filters: dict[str, Any] | None,
    current: Any,
) -> tuple[dict[str, Any], str]:
    """The filters (the page's and the global site) as one view; a change counter so actions re-render."""
    if not filters:
        raise PreventUpdate
    g = Filters.from_store(filters)
    n = int(current.get("n", 0)) if isinstance(current, dict) else 0
    problem = None
    user = auth.signed_in()
    if user is not None and not site_allowed(user.sites, g.site):
        problem = f"You see the alerts of {', '.join(user.sites)} only: pick one of them in the Site filter."
    elif g.site:
        try:
            with reader().connect() as con:
                known = [str(x) for x in shell.sites(con)["site_id"]]
        except (WarehouseMissingError, MartMissingError, duckdb.Error):
            known = []  # no site list to check against: the list below shows what there is
        if known and g.site not in known:
            problem = (
                f"Unknown site {g.site!r} in the link; known sites: {', '.join(known)}. Pick a site in the "
                "Site filter, or clear it for all sites."
            )
    return {
        "problem": problem,
        "rule": rule,
        "severity": severity,
        "state": state or "active",
        "owner": owner,
        "q": text,
        "site": g.site,
        "qs": g.query_string(),
        "n": n,
    }, "/inventory" + g.query_string()


@callback(
    Output("alerts-f-rule", "options"),
    Output("alerts-f-owner", "options"),
    Output("alerts-owner-choices", "children"),
    Input("alerts-version", "data"),
)
def filter_options(_version: Any) -> tuple[list[dict[str, str]], list[dict[str, str]], list[Any]]:
    """Rules with alerts and owners in use (with the roles) to choose from."""
    try:
        with reader().connect() as con:
            rows = list_alerts(con, settings(), include_resolved=True)
    except WarehouseMissingError:
        rows = []
    rules = sorted({a["rule_id"] for a in rows})
    owners = sorted({a["owner"] for a in rows if a.get("owner")} | set(ROLES))
    return (
        [{"label": r.replace("_", " "), "value": r} for r in rules],
        [{"label": "unassigned", "value": UNASSIGNED}]
        + [{"label": owner_label(o), "value": o} for o in owners],
        [html.Option(value=o, label=owner_label(o)) for o in owners],
    )


# The URL follows the view without a page reload (replaceState: the router does not re-render the page).
clientside_callback(
    """
    function(version, selected) {
        if (!version || typeof version !== "object") { return window.dash_clientside.no_update; }
        var own = ["alert", "rule", "severity", "state", "owner", "q", "key"];
        var params = new URLSearchParams(window.location.search);
        own.forEach(function (k) { params.delete(k); });
        var values = {alert: selected, rule: version.rule, severity: version.severity,
                      state: version.state === "active" ? null : version.state,
                      owner: version.owner, q: version.q};
        Object.keys(values).forEach(function (k) { if (values[k]) { params.set(k, values[k]); } });
        var search = params.toString();
        var url = window.location.pathname + (search ? "?" + search : "");
        if (url !== window.location.pathname + window.location.search) {
            window.history.replaceState(window.history.state, "", url);
        }
        return search;
    }
    """,
    Output("alerts-url-sync", "data"),
    Input("alerts-version", "data"),
    Input("alerts-selected", "data"),
)


# Picking an alert in the list, in the browser: the detail's callback is then the only round trip.
clientside_callback(
    """
    function(clicks) {
        var dc = window.dash_clientside;
        var hit = ((dc.callback_context || {}).triggered || [])[0];
        if (!hit || !hit.value || !(clicks || []).some(Boolean)) { return dc.no_update; }
        var id = hit.prop_id.slice(0, hit.prop_id.lastIndexOf("."));
        try { return String(JSON.parse(id).key); } catch (e) { return dc.no_update; }
    }
    """,
    Output("alerts-selected", "data"),
    Input({"type": "alerts-pick", "key": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


BUTTONS = {
    "alerts-ack": "ack",
    "alerts-resolve": "resolve",
    "alerts-assign": "assign",
    "alerts-add-comment": "comment",
}


PERMISSIONS = {
    "ack": "alert.acknowledge",
    "resolve": "alert.resolve",
    "assign": "alert.assign",
    "comment": "alert.comment",
}


def perform(
    s: Any,
    key: str | None,
    action: str,
    actor: str | None,
    owner: str | None,
    comment: str | None,
    signing: Signing | None = None,
) -> tuple[bool, str]:
    """Record one person's action; (done, what to tell them). Refusals say what is missing."""
    if not key:
        return False, "Pick an alert first."
    if not actor or not actor.strip():
        return False, "Sign in first: an action is recorded under the signed-in user's name."
    try:
        if action in ("ack", "resolve"):
            # Signed only where the alert needs it; alert_actions refuses an unsigned one anyway.
            row = record_decision(
                s, key, action, actor, comment, signing if needs_signature(key, action) else None
            )
        elif action == "assign":
            row = record_action(s, key, "assign", actor, owner)
        else:
            row = record_action(s, key, "comment", actor, comment)
    except ValueError as exc:
        return False, str(exc)[:1].upper() + str(exc)[1:] + "."
    done = {
        "ack": "Acknowledged",
        "resolve": "Resolved",
        "assign": f"Assigned to {owner_label(row['note'])}",
        "comment": "Comment added",
    }[action]
    signed = f" {manifest_line(json.loads(row['signature']))}." if row.get("signature") else ""
    return True, f"{done} by {row['actor']} at {_when(row['at'])} UTC.{signed}"


@callback(
    Output("alerts-action-result", "children"),
    Output("alerts-version", "data", allow_duplicate=True),
    Output("alerts-comment", "value"),
    Output("alerts-sign-password", "value"),
    Input("alerts-ack", "n_clicks"),
    Input("alerts-resolve", "n_clicks"),
    Input("alerts-assign", "n_clicks"),
    Input("alerts-add-comment", "n_clicks"),
    State("alerts-selected", "data"),
    State("alerts-owner", "value"),
    State("alerts-comment", "value"),
    State("alerts-version", "data"),
    State("alerts-sign-user", "value"),
    State("alerts-sign-password", "value"),
    State("alerts-sign-meaning", "value"),
    prevent_initial_call=True,
)
def act(
    _ack: int,
    _resolve: int,
    _assign: int,
    _comment: int,
    key: str | None,
    owner: str | None,
    comment: str | None,
    version: Any,
    sign_user: str | None,
    sign_password: str | None,
    meaning: str | None,
) -> tuple[str, Any, Any, str]:
    """One button's action; the password field is emptied after every try (it is never kept)."""
    action = BUTTONS.get(str(ctx.triggered_id))
    if action is None:
        raise PreventUpdate
    if not auth.can(PERMISSIONS[action]):  # the guard refused it already; this is the second lock
        return "Your role may not do that.", dash.no_update, dash.no_update, ""
    signing = signing_of(sign_user, sign_password, meaning)
    ok, message = perform(settings(), key, action, _me(), owner, comment, signing)
    if not ok:
        return message, dash.no_update, dash.no_update, ""
    bumped = {**version, "n": int(version.get("n", 0)) + 1} if isinstance(version, dict) else {"n": 1}
    keep_comment = dash.no_update if action == "assign" else ""
    return message, bumped, keep_comment, ""


@callback(
    Output("alerts-scope-result", "children"),
    Output("alerts-version", "data", allow_duplicate=True),
    Output("alerts-scope-sign-password", "value"),
    Input("alerts-scope-record", "n_clicks"),
    State("alerts-selected", "data"),
    State({"type": "alerts-scope", "key": ALL}, "value"),
    State("alerts-scope-reason", "value"),
    State("alerts-scope-sign-user", "value"),
    State("alerts-scope-sign-password", "value"),
    State("alerts-scope-sign-meaning", "value"),
    State("alerts-version", "data"),
    prevent_initial_call=True,
)
def record_scope_decision(
    clicks: int | None,
    key: str | None,
    chosen: list[str | None] | None,
    reason: str | None,
    sign_user: str | None,
    sign_password: str | None,
    meaning: str | None,
    version: Any,
) -> tuple[str, Any, str]:
    """Record the scope the switch shows as the decision, signed. The scope's lists are read from the
    stored plan here, never taken from the browser."""
    if not clicks:
        raise PreventUpdate
    if not auth.can("quality.hold_scope"):  # the guard refused it already; this is the second lock
        return "Your role may not record a hold scope.", dash.no_update, ""
    actor = _me()
    picked = next((c for c in chosen or [] if c), None)
    if not key or not actor or not picked:
        return "Pick an alert and a scope first.", dash.no_update, ""
    with reader().connect() as con:
        a = next(
            (r for r in list_alerts(con, settings(), include_resolved=True) if r["alert_key"] == key), None
        )
    scopes = scope_choices((a or {}).get("plan"))
    scope = next((s for s in scopes if s.get("id") == picked), None)
    if scope is None:
        return "This alert's plan has no such scope: reload the page.", dash.no_update, ""
    proposed = scope is scopes[0]
    if not proposed and not auth.can("quality.widen_scope"):
        return "Your role may not widen a hold scope: QA does.", dash.no_update, ""
    try:
        row = record_scope(
            settings(), key, actor, scope, proposed, reason, signing_of(sign_user, sign_password, meaning)
        )
    except ValueError as exc:
        return str(exc)[:1].upper() + str(exc)[1:] + ".", dash.no_update, ""
    bumped = {**version, "n": int(version.get("n", 0)) + 1} if isinstance(version, dict) else {"n": 1}
    sig = json.loads(row["signature"])
    return f"Scope {scope['id']} recorded. {manifest_line(sig)}.", bumped, ""
