"""Audit trail: who did what, when, from what to what and why, with the hash chain's verification.

Reads the trail (``medtower.audit``, an SQLite file outside the warehouse), not the marts. Filters by user,
object, action and UTC day; ``/audit?user=...&object=...&since=...&until=...`` opens with them set, so an
alert or a lot can link to its history.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import dash
import pandas as pd
from dash import Input, dcc, html

from dashboards.components import data_grid, guarded, page_header, section, settings
from dashboards.in_place import body_callback, page_body
from medtower import audit

dash.register_page(__name__, path="/audit", name="Audit trail", title="MedTower · Audit trail", order=11)

# The trail's fields as the page shows them: the record id, zone name and previous hash stay in the export.
COLUMNS = [f for f in audit.FIELDS if f not in ("record_id", "site_tz", "prev_hash")]
LIMIT = 2000


def _day(text: str | None) -> str | None:
    try:
        return dt.date.fromisoformat(text[:10]).isoformat() if text else None
    except ValueError:
        return None


def _control(label: str, child: Any) -> html.Label:
    return html.Label(
        [label, child], style={"display": "inline-block", "marginRight": "1em", "minWidth": "11em"}
    )


def layout(
    user: str | None = None,
    object: str | None = None,  # the URL parameter's name
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    **_: Any,
) -> html.Div:
    return html.Div(
        [
            page_header(
                "Audit trail", "Who did what, when, from what to what, and why: every record chained"
            ),
            html.Div(
                [
                    _control(
                        "User",
                        dcc.Input(
                            id="audit-user",
                            value=user or "",
                            type="search",
                            debounce=True,
                            placeholder="anyone",
                        ),
                    ),
                    _control(
                        "Object",
                        dcc.Input(
                            id="audit-object",
                            value=object or "",
                            type="search",
                            debounce=True,
                            placeholder="alert key, lot, run…",
                        ),
                    ),
                    _control(
                        "Action",
                        dcc.Input(
                            id="audit-action",
                            value=action or "",
                            type="search",
                            debounce=True,
                            placeholder="ack, resolve, export…",
                        ),
                    ),
                    _control(
                        "Days (UTC)",
                        dcc.DatePickerRange(
                            id="audit-days",
                            start_date=_day(since),
                            end_date=_day(until),
                            display_format="YYYY-MM-DD",
                            clearable=True,
                            start_date_placeholder_text="from",
                            end_date_placeholder_text="to",
                        ),
                    ),
                ],
                className="audit-filters",
                style={"margin": "0.5em 0"},
            ),
            *page_body("audit-body"),
        ]
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (
        json.dumps(value, sort_keys=True, ensure_ascii=False)
        if isinstance(value, dict | list)
        else str(value)
    )


def trail_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Newest first, old and new values as JSON text, the hash shortened (the export has it whole)."""
    out = [
        {**{c: _text(r.get(c)) for c in COLUMNS}, "seq": r.get("seq"), "hash": str(r.get("hash") or "")[:12]}
        for r in reversed(rows)
    ]
    return pd.DataFrame(out, columns=COLUMNS)


def body(
    s: Any,
    user: str | None,
    obj: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
) -> list[Any]:
    """The verification result, then the filtered records (plain function: tested without a browser)."""
    check = audit.verify(s)
    rows = audit.read(
        s, actor=user or None, object_id=obj or None, action=action or None, since=since, until=until
    )
    shown = rows[-LIMIT:]
    note = f"{len(rows):,} of {check.records:,} records" + (
        f", newest {LIMIT:,} shown" if len(rows) > LIMIT else ""
    )
    verdict = html.Div(
        className="notice audit-verification" if not check.ok else "section-note audit-verification",
        id="audit-verification",
        children=[
            html.Strong("Chain intact. " if check.ok else "Chain broken. "),
            check.summary(),
            html.Ul([html.Li(p.message) for p in check.problems]) if check.problems else "",
            html.Div(["Head: ", html.Code(check.head)], className="audit-head"),
        ],
    )
    return [
        verdict,
        section(
            "Records",
            data_grid(
                "audit-trail",
                trail_frame(shown),
                height=560,
                empty_text="No audit records for these filters.",
            ),
            note=f"{note}; `medtower audit export --format html` for an inspector",
            wide=True,
        ),
    ]


@body_callback(
    "audit-body",
    Input("audit-user", "value"),
    Input("audit-object", "value"),
    Input("audit-action", "value"),
    Input("audit-days", "start_date"),
    Input("audit-days", "end_date"),
)
@guarded
def render(
    user: str | None, obj: str | None, action: str | None, since: str | None, until: str | None
) -> Any:
    return body(settings(), user, obj, action, _day(since), _day(until))
