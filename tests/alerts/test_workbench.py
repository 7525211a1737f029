"""The Alerts workbench through Dash's own HTTP endpoint (no browser): filters and counts, owner, comments,
acknowledge with a required comment, what survives a rebuild, the plan's links and the Overview's counts.

A hand-built plant: three shortages the shipped material_shortage rule turns into three alerts, evaluated on
2025-03-03 (severity critical when the need is at most 7 days out, else high):

    M-100 at S1, need 2025-03-06 (3 days)  -> critical
    M-200 at S1, need 2025-03-23 (20 days) -> high
    M-300 at S2, need 2025-03-23 (20 days) -> high

So for site S1 the counts are critical 1, high 1; for all sites critical 1, high 2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from alerts.engine import evaluate
from alerts.rules import load_rules
from medtower import alert_actions as actions
from medtower.alert_queries import AlertFilter, filter_alerts, list_alerts
from medtower.settings import Settings
from tests.dash_tree import find_nodes, tree_text
from tests.served_app import plain_tables
from tests.signin import add_user, signed_in_client

AS_OF = dt.date(2025, 3, 3)
NOW = dt.datetime(2025, 3, 3, 6, 0)
K100 = "material_shortage:material_id=M-100,site_id=S1"
K200 = "material_shortage:material_id=M-200,site_id=S1"
K300 = "material_shortage:material_id=M-300,site_id=S2"
EXPEDITE = (
    "Expedite request to Acme Screws <orders@acme.example>:\nSubject: Expedite M-100 for S1\n"
    "We are short of M-100 at S1 from 2025-03-06 (30 EA within the next 21 days).\n"
    "  - PO PO-9 line 1: 40 EA open, due 2025-03-20"
)
PLAN = {
    "kind": "shortage",
    "summary": "M-100 at S1: 30 EA short from 2025-03-06.",
    "compact": ["Short 30 EA from 2025-03-06 (lead time 21 d).", "Recovery: 2025-03-21."],
    "sections": [
        {
            "id": "hit",
            "title": "What is hit",
            "lines": ["Work orders short (1): WO-7."],
            "rows": [{"need_date": "2025-03-06", "shortage_qty": 30.0, "wo_id": "WO-7", "makes": "FG-1"}],
            "rows_total": 1,
        },
        {
            "id": "suppliers",
            "title": "Suppliers to contact",
            "lines": [EXPEDITE],
            "rows": [{"po_id": "PO-9", "supplier_id": "SUP-1", "qty_open": 40}],
            "rows_total": 1,
        },
        {"id": "resequence", "title": "Re-sequenced work orders", "lines": ["Recovery: from 2025-03-21."]},
    ],
    "data": {"recovery_date": "2025-03-21"},
}


def build(settings: Settings, path: Path | None = None, run_id: str = "r1") -> None:
    """The three shortages above, evaluated by the shipped rule (M-100 gets PLAN, the others none).

    On an existing file the marts are built again (as `medtower run` does on a staged copy of the
    published warehouse, whose alerts schema carries over)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path or settings.warehouse_path))
    con.execute("drop schema if exists marts cascade")
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_sites (site_id varchar, name varchar, timezone varchar);"
        "insert into marts.dim_sites values ('S1', 'Site one', 'Europe/Dublin'), "
        "('S2', 'Site two', 'Asia/Shanghai')"
    )
    con.execute("create table marts.dim_materials (material_id varchar, description varchar, uom varchar)")
    con.execute(
        "insert into marts.dim_materials values ('M-100', 'screw', 'EA'), ('M-200', 'nut', 'EA'), "
        "('M-300', 'gel', 'KG')"
    )
    con.execute(
        """create table marts.fct_shortages (shortage_id varchar, material_id varchar, site_id varchar,
        wo_id varchar, need_date date, shortage_qty double, kind varchar, lead_time_days integer,
        replenishment varchar)"""
    )
    con.execute(
        "insert into marts.fct_shortages values "
        "('a', 'M-100', 'S1', 'WO-7', '2025-03-06', 30, 'exception', 21, 'buy'),"
        "('b', 'M-200', 'S1', 'WO-8', '2025-03-23', 5, 'exception', 30, 'buy'),"
        "('c', 'M-300', 'S2', 'WO-9', '2025-03-23', 2.5, 'exception', 30, 'buy')"
    )
    con.execute(
        """create table marts.fct_shortage_pegging (shortage_id varchar, hit_type varchar, so_id varchar,
        so_line integer, customer_id varchar)"""
    )
    rules = [r for r in load_rules() if r.id == "material_shortage"]
    evaluate(
        con,
        settings,
        run_id=run_id,
        as_of=AS_OF,
        now=NOW + dt.timedelta(hours=2 if run_id != "r1" else 0),
        rules=rules,
        plan_builders={"shortage": lambda c, i, a: PLAN if i.key == K100 else None},
    )
    con.close()


@pytest.fixture
def app_client(tmp_path: Path) -> Any:
    from dashboards.app import create_app

    settings = Settings(data_dir=tmp_path / "data", planner_emails=[])
    build(settings)
    add_user(settings.data_dir, "dana.planner", "planner")
    add_user(settings.data_dir, "quinn.qa", "qa")
    app = create_app(settings)
    client = signed_in_client(app, "dana.planner")
    assert client.get("/alerts").status_code == 200  # registers the pages' callbacks
    return app, client, settings


_CLIENTS: dict[tuple[int, str], Any] = {}


def _client_of(app: Any, name: str) -> Any:
    """The test client signed in as ``name``: an action is recorded under the signed-in user's name."""
    key = (id(app), name)
    if key not in _CLIENTS:
        _CLIENTS[key] = signed_in_client(app, name)
    return _CLIENTS[key]


def _id_text(ident: Any) -> str:
    """A component id as Dash names it in changedPropIds (a dict id is its JSON)."""
    return ident if isinstance(ident, str) else json.dumps(ident, separators=(",", ":"))


def _call(app: Any, client: Any, fragment: str, inputs: list, state: list, outputs: Any, changed: int = 0):
    output = next(k for k in app.callback_map if fragment in k)
    body = {
        "output": output,
        "outputs": outputs,
        "inputs": inputs,
        "state": state,
        "changedPropIds": [f"{_id_text(inputs[changed]['id'])}.{inputs[changed]['property']}"],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["response"]


def _view(app, client, site=None, **own) -> dict[str, Any]:
    vals = {"rule": None, "severity": None, "state": "active", "owner": None, "text": None, **own}
    inputs = [{"id": f"alerts-f-{k}", "property": "value", "value": v} for k, v in vals.items()]
    inputs.append({"id": "filters", "property": "data", "value": {"as_of": "2025-03-03", "site": site}})
    out = _call(
        app,
        client,
        "alerts-version.data",
        inputs,
        [{"id": "alerts-version", "property": "data", "value": None}],
        [{"id": "alerts-version", "property": "data"}, {"id": "alerts-actions-link", "property": "href"}],
    )
    assert out["alerts-actions-link"]["href"].startswith("/inventory?as_of=2025-03-03")
    return out["alerts-version"]["data"]


def _render(app, client, selected, version) -> dict[str, Any]:
    return _call(
        app,
        client,
        "alerts-detail.children",
        [
            {"id": "alerts-selected", "property": "data", "value": selected},
            {"id": "alerts-version", "property": "data", "value": version},
            {"id": "alerts-show-resolved", "property": "value", "value": []},
        ],
        [],
        [
            {"id": "alerts-list", "property": "children"},
            {"id": "alerts-detail", "property": "children"},
            {"id": "alerts-selected-title", "property": "children"},
        ],
    )


def _listed(out: dict[str, Any]) -> list[str]:
    rows = find_nodes(
        out["alerts-list"]["children"], lambda n: n.get("props", {}).get("className") == "alert-row"
    )
    return [r["props"]["data-key"] for r in rows]


def _counts(out: dict[str, Any]) -> dict[str, tuple[str, str]]:
    links = find_nodes(
        out["alerts-list"]["children"],
        lambda n: str(n.get("props", {}).get("id", "")).startswith("alerts-count-"),
    )
    return {
        link["props"]["id"].removeprefix("alerts-count-"): (
            tree_text(link["props"]["children"]).split()[0],
            link["props"]["href"],
        )
        for link in links
    }


def test_site_severity_and_text_filters_with_counts_that_link(app_client) -> None:
    app, client, _ = app_client
    s1 = _render(app, client, None, _view(app, client, site="S1"))
    assert sorted(_listed(s1)) == sorted([K100, K200])  # M-300 is at S2
    counts = _counts(s1)
    assert {s: n for s, (n, _) in counts.items()} == {
        "critical": "1",
        "high": "1",
        "medium": "0",
        "low": "0",
        "info": "0",
    }
    # Each count opens the list of its severity with the global filters kept.
    assert counts["critical"][1] == "/alerts?as_of=2025-03-03&period=30&site=S1&severity=critical"

    high = _render(app, client, None, _view(app, client, severity="high"))
    assert sorted(_listed(high)) == sorted([K200, K300])
    # Counts ignore the severity filter itself: all sites hold 1 critical and 2 high.
    assert {s: n for s, (n, _) in _counts(high).items() if n != "0"} == {"critical": "1", "high": "2"}
    # Clicking the chosen severity again clears it.
    assert "severity" not in _counts(high)["high"][1]

    assert _listed(_render(app, client, None, _view(app, client, text="m-300"))) == [K300]
    assert _listed(_render(app, client, None, _view(app, client, rule="expiring_lots"))) == []
    assert _listed(_render(app, client, None, _view(app, client, owner="unassigned"))) != []


def test_a_filtered_out_alert_opened_by_its_link_still_shows(app_client) -> None:
    app, client, _ = app_client
    out = _render(app, client, K300, _view(app, client, site="S1"))
    assert K300 not in _listed(out)
    assert "M-300" in tree_text(out["alerts-detail"]["children"])


def _act(app, client, button: str, key: str | None, actor: str, owner=None, comment=None, sign=(None,) * 3):
    """One action button's callback; ``sign``: the signature fields (user name, password, meaning)."""
    names = ["alerts-ack", "alerts-resolve", "alerts-assign", "alerts-add-comment"]
    return _call(
        app,
        _client_of(app, actor),
        "alerts-action-result.children",
        [{"id": n, "property": "n_clicks", "value": 1 if n == button else 0} for n in names],
        [
            {"id": "alerts-selected", "property": "data", "value": key},
            {"id": "alerts-owner", "property": "value", "value": owner},
            {"id": "alerts-comment", "property": "value", "value": comment},
            {"id": "alerts-version", "property": "data", "value": {"n": 4, "state": "active"}},
            *(
                {"id": f"alerts-sign-{field}", "property": "value", "value": value}
                for field, value in zip(("user", "password", "meaning"), sign, strict=True)
            ),
        ],
        [
            {"id": "alerts-action-result", "property": "children"},
            {"id": "alerts-version", "property": "data"},
            {"id": "alerts-comment", "property": "value"},
            {"id": "alerts-sign-password", "property": "value"},
        ],
        changed=names.index(button),
    )


def test_assign_comment_and_acknowledge_with_a_required_comment(app_client, tmp_path) -> None:
    app, client, settings = app_client
    # Refusals record nothing and say what is missing.
    out = _act(app, client, "alerts-ack", K100, "dana.planner", comment="  ")
    assert "Write a comment to acknowledge" in out["alerts-action-result"]["children"]
    # Nobody signed in: the server refuses the callback itself (tests/dashboards/test_access.py has more).
    anonymous = app.server.test_client()
    resp = anonymous.post("/_dash-update-component", json={"outputs": {"id": "alerts-action-result"}})
    assert resp.status_code == 401
    out = _act(app, client, "alerts-assign", K100, "dana.planner", owner="")
    assert "Say whom to assign" in out["alerts-action-result"]["children"]
    assert actions.read_actions(settings) == []

    out = _act(app, client, "alerts-assign", K100, "dana.planner", owner="role:qa")
    assert out["alerts-action-result"]["children"].startswith("Assigned to QA (role) by dana.planner at ")
    assert out["alerts-version"]["data"]["n"] == 5  # the page re-renders
    _act(app, client, "alerts-assign", K100, "quinn.qa", owner="quinn.qa")
    out = _act(app, client, "alerts-add-comment", K100, "quinn.qa", comment="Asked Acme for a date.")
    assert out["alerts-comment"]["value"] == ""  # the box empties after the comment is kept
    out = _act(app, client, "alerts-ack", K100, "quinn.qa", comment="Expedite sent to Acme.")
    assert out["alerts-action-result"]["children"].startswith("Acknowledged by quinn.qa at ")

    recorded = [(a["action"], a["actor"], a["note"]) for a in actions.read_actions(settings)]
    assert recorded == [
        ("assign", "dana.planner", "role:qa"),
        ("assign", "quinn.qa", "quinn.qa"),
        ("comment", "quinn.qa", "Asked Acme for a date."),
        ("ack", "quinn.qa", "Expedite sent to Acme."),
    ]

    # Shown at once, before any evaluation: owner in the row, state with who, the thread in order.
    out = _render(app, client, K100, _view(app, client, owner="quinn.qa"))
    assert _listed(out) == [K100]
    row_text = tree_text(
        find_nodes(out["alerts-list"]["children"], lambda n: n.get("props", {}).get("data-key") == K100)
    )
    assert "acknowledged by quinn.qa" in row_text and "(pending merge)" in row_text and "quinn.qa" in row_text
    (thread,) = find_nodes(
        out["alerts-detail"]["children"], lambda n: n.get("props", {}).get("id") == "alerts-thread"
    )
    lines = [" ".join(tree_text(li).split()) for li in thread["props"]["children"]]
    assert [line.split(" · ", 1)[1] for line in lines] == [
        "dana.planner assigned to QA (role)",
        "quinn.qa assigned to quinn.qa",
        "quinn.qa commented: Asked Acme for a date.",
        "quinn.qa acknowledged: Expedite sent to Acme.",
    ]
    # Unassigned no longer lists it; a search finds it by its comment.
    assert K100 not in _listed(_render(app, client, None, _view(app, client, owner="unassigned")))
    assert _listed(_render(app, client, None, _view(app, client, text="acme date"))) == [K100]

    # The next evaluation merges: the ack changes the state, assign and comment are events with who.
    rules = [r for r in load_rules() if r.id == "material_shortage"]
    later = NOW + dt.timedelta(hours=1)
    # As the pipeline does: evaluate a staged copy, then publish it over the file the app reads.
    staged = settings.data_dir / "staged.duckdb"
    shutil.copyfile(settings.warehouse_path, staged)
    with duckdb.connect(str(staged)) as con:
        evaluate(con, settings, run_id="r2", as_of=AS_OF, now=later, rules=rules, plan_builders={})
        state = con.execute(
            "select state, acknowledged_by from alerts.alert_instances where alert_key = ?", [K100]
        ).fetchone()
        events = con.execute(
            "select event, actor, detail from alerts.alert_events where alert_key = ? and actor <> 'system' "
            "and event in ('assigned', 'commented', 'acknowledged') order by event_at, rowid",
            [K100],
        ).fetchall()
        outcomes = con.execute("select action, outcome from alerts.applied_actions order by rowid").fetchall()
    os.replace(staged, settings.warehouse_path)
    assert state == ("acknowledged", "quinn.qa")
    assert events == [
        ("assigned", "dana.planner", "role:qa"),
        ("assigned", "quinn.qa", "quinn.qa"),
        ("commented", "quinn.qa", "Asked Acme for a date."),
        ("acknowledged", "quinn.qa", "Expedite sent to Acme."),
    ]
    assert outcomes == [
        ("assign", "recorded"),
        ("assign", "recorded"),
        ("comment", "recorded"),
        ("ack", "applied"),
    ]

    # A rebuild (marts built again on a staged copy, published) keeps owner, thread and acknowledgement.
    shutil.copyfile(settings.warehouse_path, staged)
    build(settings, staged, run_id="r3")
    os.replace(staged, settings.warehouse_path)
    with app.server.app_context(), app.server.config["MEDTOWER_READER"].connect() as con:
        (a,) = [r for r in list_alerts(con, settings) if r["alert_key"] == K100]
    assert (a["state"], a["acknowledged_by"], a["owner"], len(a["thread"])) == (
        "acknowledged",
        "quinn.qa",
        "quinn.qa",
        4,
    )


def test_the_plan_links_its_ids_pages_its_rows_and_offers_the_expedite_text(app_client) -> None:
    app, client, _ = app_client
    out = _render(app, client, K100, _view(app, client, site="S1"))
    detail = out["alerts-detail"]["children"]
    links = {
        (tree_text(n["props"]["children"]), n["props"]["href"])
        for n in find_nodes(detail, lambda n: n.get("type") == "Link")
    }
    qs = "?as_of=2025-03-03&period=30&site=S1"
    assert ("WO-7", "/work-order/WO-7" + qs) in links
    assert ("M-100", "/material/M-100" + qs) in links
    (pre,) = find_nodes(detail, lambda n: n.get("props", {}).get("className") == "expedite-request")
    assert pre["props"]["children"] == EXPEDITE  # the whole drafted request, unchanged
    (clip,) = find_nodes(detail, lambda n: n.get("type") == "Clipboard")
    assert clip["props"]["target_id"] == pre["props"]["id"]
    assert "Recovery date: 2025-03-21" in tree_text(detail)
    # Each section with rows offers its table; it loads when asked for (six grids at once are slow).
    assert find_nodes(detail, lambda n: n.get("type") == "AgGrid") == []
    buttons = find_nodes(
        detail,
        lambda n: (
            isinstance(n.get("props", {}).get("id"), dict) and n["props"]["id"]["type"] == "alerts-rows"
        ),
    )
    assert [(b["props"]["id"]["section"], tree_text(b["props"]["children"])) for b in buttons] == [
        ("hit", "Show the table: 1 row (CSV export)"),
        ("suppliers", "Show the table: 1 row (CSV export)"),
    ]
    ident = buttons[0]["props"]["id"]
    shown = _call(
        app,
        client,
        "alerts-rows-body",
        [{"id": ident, "property": "n_clicks", "value": 1}],
        [],
        [
            {"id": {**ident, "type": "alerts-rows-body"}, "property": "children"},
            {"id": ident, "property": "style"},
        ],
    )
    body = next(v for k, v in shown.items())
    # One row: a plain table. Quantities carry the plan's unit (EA, from the alert); wo_id and what the work
    # order makes are drill links (the page adds the filters when one is followed).
    (name,) = [n for n in plain_tables(body["children"]) if n.endswith("-hit")]
    table = plain_tables(body["children"])[name]
    assert table["rows"][0]["uom"] == "EA" and "uom" not in dict(table["columns"])
    (row,) = find_nodes(body["children"], lambda n: n.get("type") == "Tr" and "Td" in str(n))
    cells = [c["props"]["children"] for c in row["props"]["children"]]
    assert cells[:2] == ["2025-03-06", "30 EA"]
    assert [(a["props"]["children"], a["props"]["href"]) for a in cells[2:]] == [
        ("WO-7", "/work-order/WO-7"),
        ("FG-1", "/material/FG-1"),
    ]


def test_filters_compose_on_plain_rows() -> None:
    """AlertFilter on rows written by hand (no warehouse): each field narrows; active hides resolved."""
    rows = [
        {
            "alert_key": "a",
            "rule_id": "r1",
            "severity": "high",
            "state": "open",
            "title": "Alpha",
            "labels": {"site_id": "S1"},
            "owner": None,
            "thread": [],
        },
        {
            "alert_key": "b",
            "rule_id": "r2",
            "severity": "low",
            "state": "resolved",
            "title": "Beta",
            "labels": {"site_id": "S2"},
            "owner": "Ann",
            "thread": [{"note": "Done and dusted"}],
        },
        {
            "alert_key": "c",
            "rule_id": "r1",
            "severity": "high",
            "state": "acknowledged",
            "title": "Gamma",
            "labels": {},
            "owner": "role:qa",
            "thread": [],
        },
    ]
    keys = lambda f: [r["alert_key"] for r in filter_alerts(rows, f)]  # noqa: E731
    assert keys(AlertFilter()) == ["a", "c"]
    assert keys(AlertFilter(state="all")) == ["a", "b", "c"]
    assert keys(AlertFilter(state="resolved", text="dusted")) == ["b"]
    assert keys(AlertFilter(site="S1")) == ["a"]  # c has no site: all sites only
    assert keys(AlertFilter(rule="r1", owner="unassigned")) == ["a"]
    assert keys(AlertFilter(owner="role:qa")) == ["c"]
    assert keys(AlertFilter(text="qa")) == ["c"]  # the owner's label 'QA (role)'
    with pytest.raises(ValueError, match="unknown alert state filter 'closed'"):
        AlertFilter(state="closed")


def test_overview_counts_use_the_vocabulary_honour_the_site_and_link(app_client) -> None:
    app, _client, _settings = app_client
    from dashboards.filters import Filters

    # The page module as Dash's pages loader registered it (importing it again would register it twice).
    overview = next(m for name, m in sys.modules.items() if name.endswith("pages.overview"))
    with app.server.app_context():
        reader = app.server.config["MEDTOWER_READER"]
        with reader.connect() as con:
            panel = overview.alert_panel(con, Filters(as_of=AS_OF, site="S1")).to_plotly_json()
    panel = json.loads(json.dumps(panel, default=lambda o: o.to_plotly_json()))
    links = find_nodes(panel, lambda n: n.get("type") == "Link")
    got = {
        tree_text(link["props"]["children"]).split()[1]: (
            tree_text(link["props"]["children"]).split()[0],
            link["props"]["href"],
        )
        for link in links
    }
    assert list(got) == ["critical", "high", "medium", "low", "info"]
    assert got["critical"] == ("1", "/alerts?as_of=2025-03-03&period=30&site=S1&severity=critical")
    assert got["high"][0] == "1"  # M-200 only: M-300 is at S2
    assert "major" not in tree_text(panel) and "minor" not in tree_text(panel)


def test_an_unknown_site_says_so_instead_of_an_empty_list(app_client) -> None:
    app, client, _ = app_client
    out = _render(app, client, None, _view(app, client, site="S9"))
    assert "Unknown site 'S9'" in tree_text(out["alerts-list"]["children"])
    assert "known sites: S1, S2" in tree_text(out["alerts-list"]["children"])


def test_facts_read_in_units(app_client) -> None:
    """The alert's details as a person reads them: M-100 is 30 EA short, lead time 21 days."""
    app, client, _ = app_client
    out = _render(app, client, K100, _view(app, client))
    cells = {
        tree_text(tr["props"]["children"][0]): tree_text(tr["props"]["children"][1])
        for tr in find_nodes(out["alerts-detail"]["children"], lambda n: n.get("type") == "Tr")
        if isinstance(tr["props"].get("children"), list) and len(tr["props"]["children"]) == 2
    }
    assert cells["shortage qty"] == "30 EA"
    assert cells["lead time days"] == "21 d"
    assert cells["days to need"] == "3 d"


def test_a_link_to_an_alert_this_warehouse_does_not_hold_says_so(app_client) -> None:
    app, client, _ = app_client
    out = _render(app, client, "material_shortage:material_id=M-999,site_id=S1", _view(app, client))
    text = tree_text(out["alerts-detail"]["children"])
    assert "No alert 'material_shortage:material_id=M-999,site_id=S1' in this warehouse" in text
    assert len(_listed(out)) == 3  # the list is still there to pick from


def test_a_hold_scope_links_to_the_trace_of_its_lots(app_client) -> None:
    """QA opens the scope's lots on the traceability page (forward, where the exports are), filters kept."""
    page = next(m for name, m in sys.modules.items() if name.endswith("pages.alerts"))  # as Dash loaded it
    scope_view = page.scope_view

    scope = {"id": "s", "basis": "shared lot", "lots_to_hold": ["LOT-A1", "LOT F1"], "work_orders": []}
    view = scope_view(scope, "?as_of=2025-03-03&period=30")
    (link,) = [c for c in view.children if getattr(c, "href", None)]
    assert link.children == "Trace and export this scope"
    assert link.href == "/traceability?as_of=2025-03-03&period=30&q=LOT-A1%2CLOT+F1&direction=forward"
    bare = scope_view(scope)
    assert [c.href for c in bare.children if getattr(c, "href", None)] == [
        "/traceability?q=LOT-A1%2CLOT+F1&direction=forward"
    ]
    assert not [c for c in scope_view({**scope, "lots_to_hold": []}).children if getattr(c, "href", None)]


def test_a_user_granted_one_site_sees_only_its_alerts_even_from_a_forged_view(app_client) -> None:
    app, _client, settings = app_client
    add_user(settings.data_dir, "sam", "planner", sites=["S1"])
    sam = _client_of(app, "sam")
    own = _view(app, sam, site="S1")
    assert set(_listed(_render(app, sam, None, own))) == {K100, K200}  # the two S1 alerts, not M-300 at S2
    # "All sites" is not theirs: the page asks for one of theirs and lists nothing.
    every = _view(app, sam)
    assert "You see the alerts of S1 only" in json.dumps(_render(app, sam, None, every)["alerts-list"])
    # A view made by hand with no site, past the notice: still nothing outside S1.
    forged = {**every, "problem": None, "site": None}
    assert _listed(_render(app, sam, None, forged)) == []
    # Another site: refused by the server before any callback runs.
    body = {
        "output": next(k for k in app.callback_map if "alerts-detail.children" in k),
        "outputs": [{"id": "alerts-list", "property": "children"}],
        "inputs": [{"id": "alerts-version", "property": "data", "value": {**own, "site": "S2"}}],
        "changedPropIds": [],
    }
    assert sam.post("/_dash-update-component", json=body).status_code == 403
