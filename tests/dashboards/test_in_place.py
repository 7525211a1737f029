"""In-place page updates (dashboards/in_place.py): the Patch turns the held body into the new one, exactly.

The check applies the Patch's operations to the held body's JSON with its own small applier (Dash's renderer
does the same in the browser) and compares the result with the new body sent whole.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import dash_ag_grid as dag
from dash import Patch, dcc, html, no_update
from plotly.io.json import to_json_plotly

from dashboards.in_place import diff


def _body(rows: list[dict[str, Any]], note: str, extra_panel: bool = False, fig_y: int = 1) -> list[Any]:
    panels: list[Any] = [
        html.Section(
            [
                html.H3("Lots"),
                html.Span(note, className="section-note"),
                dag.AgGrid(id={"type": "grid", "name": "lots"}, rowData=rows, columnDefs=[{"field": "lot"}]),
            ]
        ),
        dcc.Graph(id={"type": "figure", "name": "f"}, figure={"data": [{"y": [fig_y]}], "layout": {}}),
    ]
    if extra_panel:
        panels.append(html.Section([html.H3("By site"), html.Table([html.Tr([html.Td("S1")])])]))
    return [html.Div(panels, className="grid-2"), html.P(["total ", html.Strong(str(len(rows)))])]


def _plain(tree: Any) -> Any:
    return json.loads(to_json_plotly(tree))


def _apply(held: Any, patch: Patch) -> Any:
    out = copy.deepcopy(held)
    for op in patch.to_plotly_json()["operations"]:
        assert op["operation"] == "Assign", op
        *parents, last = op["location"]
        node = out
        for key in parents:
            node = node[key]
        node[last] = op["params"]["value"]
    return out


def _locations(patch: Patch) -> list[list[Any]]:
    return [op["location"] for op in patch.to_plotly_json()["operations"]]


def test_a_filter_change_sends_only_the_changed_values() -> None:
    old = _body([{"lot": "L1"}, {"lot": "L2"}], "2 lots")
    new = _body([{"lot": "L2"}], "1 lot")
    sent, held = diff(old, None)
    assert sent == _plain(old)  # nothing held yet: the whole body

    patch, _ = diff(new, held)
    assert isinstance(patch, Patch)
    # The grid's rows, the note and the count change; the grid's columns, the figure and the titles do not.
    assert sorted(map(str, _locations(patch))) == sorted(
        map(
            str,
            [
                [0, "props", "children", 0, "props", "children", 1, "props", "children"],
                [0, "props", "children", 0, "props", "children", 2, "props", "rowData"],
                [1, "props", "children", 1, "props", "children"],
            ],
        )
    )
    assert _apply(_plain(old), patch) == _plain(new)


def test_the_same_body_again_sends_nothing() -> None:
    tree = _body([{"lot": "L1"}], "1 lot")
    _, held = diff(tree, None)
    again, held_again = diff(_body([{"lot": "L1"}], "1 lot"), held)
    assert again is no_update
    assert held_again == held


def test_a_changed_layout_is_sent_whole_where_it_changed() -> None:
    """A panel more (e.g. the by-site table of all sites): that list is assigned whole, the rest patched."""
    old = _body([{"lot": "L1"}], "1 lot", fig_y=1)
    new = _body([{"lot": "L1"}], "1 lot", extra_panel=True, fig_y=2)
    _, held = diff(old, None)
    patch, _ = diff(new, held)
    assert _locations(patch) == [[0, "props", "children"]]  # the panels' list, now three long
    assert _apply(_plain(old), patch) == _plain(new)

    other = [html.Div("No rows for these filters.", className="empty-state")]
    whole, _ = diff(other, held)
    assert whole == _plain(other)  # another kind of body altogether: sent whole


def test_a_grid_with_other_columns_or_paging_is_sent_whole() -> None:
    """Other columns or paging for the new rows: the body goes whole (relaid in place was slower)."""
    old = _body([{"lot": "L1"}], "1 lot")
    _, held = diff(old, None)
    new = _body([{"lot": "L2", "qty": 3}], "1 lot")
    new[0].children[0].children[2].columnDefs = [{"field": "lot"}, {"field": "qty"}]
    sent, _ = diff(new, held)
    assert sent == _plain(new)
    unpaged = _body([{"lot": "L1"}], "1 lot")
    unpaged[0].children[0].children[2].dashGridOptions = {"pagination": False}
    _, held = diff(unpaged, None)
    paged = _body([{"lot": "L2"}], "1 lot")
    paged[0].children[0].children[2].dashGridOptions = {"pagination": True}
    sent, _ = diff(paged, held)
    assert sent == _plain(paged)


def test_other_column_widths_alone_keep_the_grid_and_send_its_rows() -> None:
    """Another site's rows estimate other widths: the grid keeps the ones it has, only rowData is sent."""
    old = _body([{"lot": "L1"}], "1 lot")
    old[0].children[0].children[2].columnDefs = [{"field": "lot", "width": 90}]
    _, held = diff(old, None)
    new = _body([{"lot": "L2-with-a-much-longer-id"}], "1 lot")
    new[0].children[0].children[2].columnDefs = [{"field": "lot", "width": 240}]
    patch, held_after = diff(new, held)
    assert isinstance(patch, Patch)
    assert _locations(patch) == [[0, "props", "children", 0, "props", "children", 2, "props", "rowData"]]
    kept = _apply(_plain(old), patch)
    assert kept[0]["props"]["children"][0]["props"]["children"][2]["props"]["columnDefs"] == [
        {"field": "lot", "width": 90}
    ]
    assert kept[0]["props"]["children"][0]["props"]["children"][2]["props"]["rowData"] == [
        {"lot": "L2-with-a-much-longer-id"}
    ]
    # What the browser holds now is the old widths with the new rows: the same body again sends nothing.
    again, _ = diff(new, held_after)
    assert again is no_update
