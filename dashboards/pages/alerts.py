"""Alerts: open, acknowledged and recently resolved alerts with their emergency plans; ack/resolve.

Reads the published warehouse read-only. Acknowledge/resolve go to the separate action store
(``medtower.alert_actions``, SQLite in WAL mode): the page shows them at once and the next alerts evaluation
merges them into the warehouse. The web app never takes the warehouse write lock.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, MATCH, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboards.components import empty_state, guarded, page_header, reader, section, settings
from medtower.alert_actions import record_action
from medtower.alert_queries import list_alerts
from medtower.severity import severity_rank

dash.register_page(__name__, path="/alerts", name="Alerts", title="MedTower · Alerts", order=5)

_CELL = {"textAlign": "left", "verticalAlign": "top", "padding": "2px 8px"}
SEVERITY_COLOURS = {
    "critical": "#b00020",
    "high": "#d35400",
    "medium": "#b7950b",
    "low": "#2e86c1",
    "info": "#7f8c8d",
}


def layout(alert: str | None = None, key: str | None = None, **params: Any) -> html.Div:
    """``?alert=KEY`` (the digest's link; ``?key=`` as before) opens the page with that alert selected."""
    return html.Div(
        [
            page_header("Alerts", "What needs a person now, and the plan to deal with it"),
            dcc.Store(id="alerts-selected", data=alert or key),
            dcc.Store(id="alerts-version", data=0),
            dcc.Checklist(
                id="alerts-show-resolved", options=[{"label": " show resolved", "value": "yes"}], value=[]
            ),
            html.Div(
                id="alerts-list",
                children=empty_state("Loading…"),
                style={"maxHeight": "45vh", "overflowY": "auto"},
            ),
            html.Div(
                [
                    html.Strong(id="alerts-selected-title", style={"marginRight": "1em"}),
                    dcc.Input(id="alerts-actor", placeholder="your name", type="text", debounce=False),
                    html.Button("Acknowledge", id="alerts-ack", n_clicks=0),
                    html.Button("Resolve", id="alerts-resolve", n_clicks=0),
                    html.Span(id="alerts-action-result", style={"marginLeft": "1em"}),
                ],
                id="alerts-actions",
                style={"margin": "1em 0"},
            ),
            html.Div(id="alerts-detail"),
        ]
    )


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
    return a["state"]


def _row(a: dict[str, Any], selected: str | None) -> html.Tr:
    style = {"background": "#eef"} if a["alert_key"] == selected else {}
    return html.Tr(
        [
            html.Td(
                a["severity"], style={"color": SEVERITY_COLOURS.get(a["severity"]), "fontWeight": "bold"}
            ),
            html.Td(who_and_when(a) + (" (pending merge)" if a.get("pending_merge") else ""), style=_CELL),
            html.Td(
                html.A(a["title"], id={"type": "alerts-pick", "key": a["alert_key"]}, href="#", n_clicks=0),
                style=_CELL,
            ),
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


def alert_table(rows: list[dict[str, Any]], selected: str | None) -> Any:
    if not rows:
        return empty_state("No alerts.", "Alerts appear after `medtower run` or `medtower alerts run`.")
    head = html.Tr([html.Th(c, style=_CELL) for c in ("severity", "state", "alert", "opened (UTC)")])
    return html.Table([head, *(_row(a, selected) for a in ordered(rows))], style={"width": "100%"})


def plan_view(plan: dict[str, Any] | None, key: str | None = None) -> Any:
    if not plan:
        return html.P("No emergency plan for this rule.")
    blocks: list[Any] = [html.P(plan.get("summary", ""))]
    if key is not None:
        blocks.append(scope_switch(key, plan))  # None unless a quality plan with scopes
    for s in plan.get("sections", []):
        blocks.append(html.H4(s["title"]))
        blocks += [html.P(line, style={"whiteSpace": "pre-wrap"}) for line in s.get("lines", [])]
        rows = s.get("rows") or []
        if rows:
            cols = list(rows[0])
            blocks.append(
                html.Table(
                    [html.Tr([html.Th(c) for c in cols])]
                    + [
                        html.Tr([html.Td("" if r.get(c) is None else str(r.get(c))) for c in cols])
                        for r in rows[:50]
                    ]
                )
            )
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


def scope_view(scope: dict[str, Any] | None) -> Any:
    """One hold scope with its basis and complete lists (the plan's sections show the proposed one)."""
    if not scope:
        return html.P("Pick a scope.")
    blocks: list[Any] = [html.P(scope.get("basis", ""), className="scope-basis")]
    for key, title in SCOPE_LISTS:
        ids = scope.get(key) or []
        blocks.append(
            html.P(
                [html.Strong(f"{title} ({len(ids)}): "), ", ".join(map(str, ids)) or "none"],
                className=f"scope-list scope-{key}",
            )
        )
    return html.Div(blocks)


def scope_switch(key: str, plan: dict[str, Any] | None) -> Any:
    """Proposed or wider hold scope: QA widens here; the view starts on the proposed one."""
    scopes = scope_choices(plan)
    if not scopes:
        return None
    return html.Div(
        [
            html.H4("Hold scope"),
            dcc.RadioItems(
                id={"type": "alerts-scope", "key": key},
                options=[{"label": " " + _scope_label(s), "value": s["id"]} for s in scopes],
                value=scopes[0]["id"],
                labelStyle={"display": "block"},
            ),
            dcc.Store(id={"type": "alerts-scope-data", "key": key}, data=scopes),
            html.Div(scope_view(scopes[0]), id={"type": "alerts-scope-view", "key": key}),
        ],
        className="alerts-scope",
    )


@callback(
    Output({"type": "alerts-scope-view", "key": MATCH}, "children"),
    Input({"type": "alerts-scope", "key": MATCH}, "value"),
    State({"type": "alerts-scope-data", "key": MATCH}, "data"),
)
def show_scope(chosen: str | None, scopes: list[dict[str, Any]] | None) -> Any:
    return scope_view(next((s for s in scopes or [] if s.get("id") == chosen), None))


def detail_view(a: dict[str, Any] | None) -> Any:
    if a is None:
        return html.P("Pick an alert to see its details and plan.")
    facts = {**a["labels"], **(a.get("details") or {})}
    history = [f"opened {_when(a['opened_at'])} UTC"]
    if a.get("acknowledged_by"):
        history.append(f"acknowledged by {a['acknowledged_by']} at {_when(a['acknowledged_at'])} UTC")
    if a.get("resolved_by"):
        history.append(f"resolved by {a['resolved_by']} at {_when(a['resolved_at'])} UTC")
    return section(
        a["title"],
        html.P(
            f"Key {a['alert_key']} · {a['severity']} · {a['state']} · notified {a['notify_count']} time(s)"
        ),
        html.P(" · ".join(history), id="alerts-detail-history"),
        html.Table([html.Tr([html.Th(k), html.Td(str(v))]) for k, v in facts.items()]),
        html.H3("Emergency plan") if a.get("plan") else None,
        plan_view(a.get("plan"), a["alert_key"]),
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
@guarded
def render(selected: str | None, _version: int, show_resolved: list[str]) -> Any:
    with reader().connect() as con:
        rows = list_alerts(con, settings(), include_resolved=bool(show_resolved))
    chosen = next((a for a in rows if a["alert_key"] == selected), None)
    label = f"{chosen['title']}:" if chosen else "Pick an alert, then:"
    return alert_table(rows, selected), detail_view(chosen), label


@callback(
    Output("alerts-selected", "data"),
    Input({"type": "alerts-pick", "key": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def pick(clicks: list[int]) -> str:
    if not ctx.triggered_id or not any(clicks):
        raise PreventUpdate
    return ctx.triggered_id["key"]


@callback(
    Output("alerts-action-result", "children"),
    Output("alerts-version", "data"),
    Input("alerts-ack", "n_clicks"),
    Input("alerts-resolve", "n_clicks"),
    State("alerts-selected", "data"),
    State("alerts-actor", "value"),
    State("alerts-version", "data"),
    prevent_initial_call=True,
)
def act(_ack: int, _resolve: int, key: str | None, actor: str | None, version: int) -> tuple[str, int]:
    action = "ack" if ctx.triggered_id == "alerts-ack" else "resolve"
    if not key:
        return "Pick an alert first.", version
    try:
        row = record_action(settings(), key, action, actor or "")
    except ValueError as exc:
        return str(exc), version
    return (
        f"{'Acknowledged' if action == 'ack' else 'Resolved'} by {row['actor']} at {row['at']} UTC.",
        version + 1,
    )
