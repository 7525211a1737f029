"""In-place page updates (dashboards/in_place.py): the props set on their components turn the held body
into the new one, exactly, and nothing is set that did not change.

The check sets each update on the held body's JSON with its own small applier (find the component by id, set
the prop: what Dash's renderer does with ``dash.set_props`` in the browser) and compares the result with the
new body sent whole.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html, no_update
from plotly.io.json import to_json_plotly

from dashboards.in_place import diff, name_nodes

GRID = {"type": "grid", "name": "lots"}


def _body(rows: list[dict[str, Any]], note: str, extra_panel: bool = False, fig_y: int = 1) -> list[Any]:
    panels: list[Any] = [
        html.Section(
            [
                html.H3("Lots"),
                html.Span(note, className="section-note"),
                dag.AgGrid(id=GRID, rowData=rows, columnDefs=[{"field": "lot"}]),
            ]
        ),
        dcc.Graph(id={"type": "figure", "name": "f"}, figure={"data": [{"y": [fig_y]}], "layout": {}}),
    ]
    if extra_panel:
        panels.append(html.Section([html.H3("By site"), html.Table([html.Tr([html.Td("S1")])])]))
    return [html.Div(panels, className="grid-2"), html.P(["total ", html.Strong(str(len(rows)))])]


def _plain(tree: Any) -> Any:
    return name_nodes(json.loads(to_json_plotly(tree)), "body")


def _apply(held: Any, updates: list[tuple[Any, str, Any]]) -> Any:
    """Set each (id, prop, value) on the one component of ``held`` with that id."""
    out = copy.deepcopy(held)

    def find(node: Any, ident: Any) -> list[dict[str, Any]]:
        if isinstance(node, list):
            return [c for n in node for c in find(n, ident)]
        if isinstance(node, dict) and "props" in node:
            here = [node] if node["props"].get("id") == ident else []
            return here + [c for v in node["props"].values() for c in find(v, ident)]
        return []

    for ident, prop, value in updates:
        found = find(out, ident)
        assert len(found) == 1, (ident, len(found))
        found[0]["props"][prop] = value
    return out


def _set(updates: list[tuple[Any, str, Any]]) -> list[tuple[str, str]]:
    return sorted((json.dumps(i, sort_keys=True), prop) for i, prop, _v in updates)


def test_a_filter_change_sets_only_the_changed_props_on_their_components() -> None:
    old = _body([{"lot": "L1"}, {"lot": "L2"}], "2 lots")
    new = _body([{"lot": "L2"}], "1 lot")
    sent, held, updates = diff(old, None)
    assert sent == _plain(old) and updates == []  # nothing held yet: the whole body

    body, _, updates = diff(new, held)
    assert body is no_update  # the body itself stays: its children are kept mounted
    # The grid's rows, the note and the count change; the grid's columns, the figure and the titles do not.
    # Components without an id get one from their path in the body.
    assert _set(updates) == _set(
        [
            ("body~0/0/1", "children", None),  # the note
            (GRID, "rowData", None),
            ("body~1/1", "children", None),  # the count in the Strong
        ]
    )
    assert _apply(_plain(old), updates) == _plain(new)


def _ids(plain: Any) -> list[Any]:
    out: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict) and "props" in node:
            out.append(node["props"]["id"])
            for v in node["props"].values():
                walk(v)

    walk(plain)
    return out


def test_nodes_get_ids_from_their_path_and_keep_their_own() -> None:
    plain = _plain(_body([{"lot": "L1"}], "1 lot"))
    ids = _ids(plain)
    assert GRID in ids and {"type": "figure", "name": "f"} in ids  # their own ids stay
    assert "body~0" in ids and "body~0/0/0" in ids  # the Div and the H3
    strings = [i for i in ids if isinstance(i, str)]
    assert len(strings) == len(set(strings)) == len(ids) - 2, "one id per node"
    other = _plain(_body([{"lot": "L9"}], "other"))
    assert other != plain and _ids(other) == ids  # other values, the same ids


def test_the_same_body_again_sends_nothing() -> None:
    tree = _body([{"lot": "L1"}], "1 lot")
    _, held, _ = diff(tree, None)
    again, held_again, updates = diff(_body([{"lot": "L1"}], "1 lot"), held)
    assert again is no_update and updates == []
    assert held_again == held


def test_a_changed_layout_is_set_whole_where_it_changed() -> None:
    """A panel more (e.g. the by-site table of all sites): the list holding it is set whole, and what
    changed inside it (the figure) is not set again on its own."""
    old = _body([{"lot": "L1"}], "1 lot", fig_y=1)
    new = _body([{"lot": "L1"}], "1 lot", extra_panel=True, fig_y=2)
    _, held, _ = diff(old, None)
    body, _, updates = diff(new, held)
    assert body is no_update
    assert _set(updates) == [('"body~0"', "children")]  # the panels' Div, now three panels
    assert _apply(_plain(old), updates) == _plain(new)

    other = [html.Div("No rows for these filters.", className="empty-state")]
    whole, _, updates = diff(other, held)
    assert whole == name_nodes(json.loads(to_json_plotly(other)), "body") and updates == []  # sent whole

    longer = [*_body([{"lot": "L1"}], "1 lot"), html.P("one more")]
    whole, _, updates = diff(longer, held)
    assert whole == _plain(longer) and updates == []  # the body's own list changed: the body whole


def test_a_grid_with_other_columns_is_built_anew_and_the_rest_kept() -> None:
    """Other columns for the new rows: the grid's parent gets its children whole (a new grid, built faster
    than one relaid), the figure and the other panels stay."""
    old = _body([{"lot": "L1"}], "1 lot")
    _, held, _ = diff(old, None)
    new = _body([{"lot": "L2", "qty": 3}], "1 lot")
    new[0].children[0].children[2].columnDefs = [{"field": "lot"}, {"field": "qty"}]
    body, _, updates = diff(new, held)
    assert body is no_update
    assert _set(updates) == [('"body~0/0"', "children")]  # the Section holding the grid
    assert _apply(_plain(old), updates) == _plain(new)


def test_paging_turned_on_is_set_on_the_grid() -> None:
    """More rows turn paging on (components.data_grid): the grid takes its options and rows in place."""
    unpaged = _body([{"lot": "L1"}], "1 lot")
    unpaged[0].children[0].children[2].dashGridOptions = {"pagination": False}
    _, held, _ = diff(unpaged, None)
    paged = _body([{"lot": "L2"}], "1 lot")
    paged[0].children[0].children[2].dashGridOptions = {"pagination": True}
    body, _, updates = diff(paged, held)
    assert body is no_update
    assert _set(updates) == _set([(GRID, "dashGridOptions", None), (GRID, "rowData", None)])
    assert _apply(_plain(unpaged), updates) == _plain(paged)


def test_other_column_widths_alone_keep_the_grid_and_send_its_rows() -> None:
    """Another site's rows estimate other widths: the grid keeps the ones it has, only rowData is sent."""
    old = _body([{"lot": "L1"}], "1 lot")
    old[0].children[0].children[2].columnDefs = [{"field": "lot", "width": 90}]
    _, held, _ = diff(old, None)
    new = _body([{"lot": "L2-with-a-much-longer-id"}], "1 lot")
    new[0].children[0].children[2].columnDefs = [{"field": "lot", "width": 240}]
    body, held_after, updates = diff(new, held)
    assert body is no_update
    assert _set(updates) == _set([(GRID, "rowData", None)])
    kept = _apply(_plain(old), updates)
    assert kept[0]["props"]["children"][0]["props"]["children"][2]["props"]["columnDefs"] == [
        {"field": "lot", "width": 90}
    ]
    assert kept[0]["props"]["children"][0]["props"]["children"][2]["props"]["rowData"] == [
        {"lot": "L2-with-a-much-longer-id"}
    ]
    # What the browser holds now is the old widths with the new rows: the same body again sends nothing.
    again, _, updates = diff(new, held_after)
    assert again is no_update and updates == []


def test_a_list_inside_children_keeps_its_place_in_the_ids() -> None:
    """Dash takes nested lists as children: their items are named below their parent, never as the body's."""
    plain = _plain([html.Div([html.Span("a"), [html.Span("b"), html.Span("c")]]), html.Span("top")])
    ids = _ids(plain)
    assert ids == ["body~0", "body~0/0", "body~0/1/0", "body~0/1/1", "body~1"]


def _short_table(rows: list[dict[str, Any]]) -> list[Any]:
    from dashboards.components import plain_table

    columns = [{"field": "status", "headerName": "Status"}, {"field": "qty", "headerName": "Qty"}]
    return [html.H3("Stock"), plain_table("stock", columns, rows)]


def test_a_short_plain_table_is_one_value_set_whole() -> None:
    """One cell changed (released 15 -> 12): the table is set whole, once, not cell by cell; its rows' store
    too. The body is [H3, grid-block]; the block is [toolbar, table wrap, rows store, download]."""
    old = _short_table([{"status": "released", "qty": 15}, {"status": "quarantine", "qty": 10}])
    new = _short_table([{"status": "released", "qty": 12}, {"status": "quarantine", "qty": 10}])
    _, held, _ = diff(old, None)
    body, _, updates = diff(new, held)
    assert body is no_update
    store = {"type": "table-rows", "name": "stock"}
    assert _set(updates) == _set([("body~1/1", "children", None), (store, "data", None)])
    assert _apply(_plain(old), updates) == _plain(new)
    # Nothing inside the table is named: no cell is ever set on its own.
    block = _plain(old)[1]["props"]["children"]
    (wrap,) = [n for n in block if n["props"].get("className") == "plain-table-wrap"]
    assert wrap["props"]["id"] == "body~1/1"
    assert "'id'" not in str(wrap["props"]["children"]), "no id inside the table"
    # The same rows again: nothing sent.
    same = _short_table([{"status": "released", "qty": 15}, {"status": "quarantine", "qty": 10}])
    again, _, none = diff(same, held)
    assert again is no_update and none == []
