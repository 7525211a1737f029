"""Page bodies that update in place: a filter change sets only the props that changed on their components.

Why: a page body used to be re-sent and rebuilt whole on every filter change - every AG Grid and Plotly
figure unmounted and built again (1-2 s of the browser's time on a page of grids at scale 10). The pages
still build their body as one tree (plain functions, tested without a browser); ``body_callback`` compares
that tree with the one the browser holds and, when the layout is the same (same components, same ids, same
props - only values differ), leaves the body as it is and sets just the changed values on their own
components with ``dash.set_props``: a grid's ``rowData``, a figure's ``figure``, a note's text. Every
component of a body gets an id for that (``name_nodes``: from its path where it has none of its own).

Not a ``dash.Patch`` of the body: Dash's renderer (4.x) remounts every child of a component whose
``children`` prop changes, so patching the body's children, however little, rebuilt every grid and figure
on the page (measured: no grid or figure node survived a period change on Quality). A prop set on a grid or
a figure updates it where it is; a grid takes its new rows whole (matching them by ``getRowId`` measured
slower, components.py).

What the browser holds is not sent back: the callback keeps a fingerprint of it in a store next to the
body (a short hash per node and per value, by path), so a request carries tens of kB, not the body.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update, set_props
from dash.dependencies import DashDependency
from plotly.io.json import to_json_plotly

from dashboards.components import PLAIN_TABLE_WRAP, empty_state, page_header


def _is_component(node: Any) -> bool:
    return isinstance(node, dict) and "type" in node and "namespace" in node and "props" in node


def _holds_components(value: Any) -> bool:
    if _is_component(value):
        return True
    return isinstance(value, list) and any(_holds_components(v) for v in value)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


# A grid whose columns change is built anew (its parent's children are set whole): measured before as ~2x
# faster than relaid in place (Lots & release, Suppliers at scale 10). Paging and height options change with
# the row count (components.data_grid) and are set on the grid, which applies them in place.
RELAYOUT_PROPS = frozenset({"columnDefs"})
# Components kept as one value: nothing inside them is named, fingerprinted or set on its own, and their
# children are set whole when anything in them changed. A short plain table (components.plain_table) is one
# Dash component per cell: naming, hashing and setting each cell cost a filter change on a drill-down 20-40
# ms of server time and 15-25 ms of render (Material, Work order, Lot at scale 10, docs/benchmarks.md).
WHOLE_CLASSES = frozenset({PLAIN_TABLE_WRAP})


def _whole(node: Any) -> bool:
    return _is_component(node) and node["props"].get("className") in WHOLE_CLASSES


# Column widths are estimated from the rows of the first view (components.data_grid); another site's rows
# estimate other widths. A grid keeps the widths it was built with (the person may have resized them too):
# they are left out of the grid's fingerprint, so new rows alone set rowData, not new columns.
KEPT_COLUMN_KEYS = frozenset({"width"})


def _columns_shape(value: Any) -> Any:
    """A grid's columnDefs without what a grid keeps across updates (the widths)."""
    if not isinstance(value, list):
        return value
    return [
        {k: v for k, v in c.items() if k not in KEPT_COLUMN_KEYS} if isinstance(c, dict) else c for c in value
    ]


def fingerprint(tree: Any) -> dict[str, str]:
    """Short hashes of a body (as JSON): one per value (a prop that holds no components, a text) and one per
    node for its own make-up (a component's type, id and prop names; a list's length and kinds of items).

    Keys are the paths ("2/children/1/rowData"), so two bodies can be compared node by node.
    """
    out: dict[str, str] = {}

    def walk(node: Any, key: str) -> None:
        if _whole(node):
            props = node["props"]
            out["@" + key] = _digest([node["namespace"], node["type"], props.get("id"), sorted(props)])
            for k in sorted(props):
                out[f"{key}/{k}"] = _digest(props[k])
        elif _is_component(node):
            props = node["props"]
            marks = [f"{k}{'*' if _holds_components(props[k]) else ''}" for k in sorted(props)]
            out["@" + key] = _digest([node["namespace"], node["type"], props.get("id"), marks])
            for k in sorted(props):
                if _holds_components(props[k]):
                    walk(props[k], f"{key}/{k}")
                else:
                    out[f"{key}/{k}"] = _digest(_columns_shape(props[k]) if k == "columnDefs" else props[k])
        elif isinstance(node, list) and _holds_components(node):
            out["@" + key] = _digest([len(node), ["*" if _holds_components(x) else "." for x in node]])
            for i, item in enumerate(node):
                walk(item, f"{key}/{i}")
        else:
            out[key] = _digest(node)

    walk(tree, "")
    return out


def name_nodes(plain: Any, body_id: str) -> Any:
    """Give every component of a body (as JSON) that has no id one from its place: ``<body_id>~2/1/0``.

    A changed value is set on its own component by id (``dash.set_props``), so every component that may
    change needs one; its place makes it the same in each answer while the body's make-up stays the same.
    The place is short (each step a child's index; ``c`` for a single child, ``<prop>:<index>`` for another
    prop): a KPI review body has ~400 table cells. No ``.``: Dash reads ``a.b`` as component a, prop b.
    """

    def walk(node: Any, key: str) -> None:
        if _is_component(node):
            props = node["props"]
            if props.get("id") is None:
                props["id"] = f"{body_id}~{key}"
            if _whole(node):
                return  # set whole: nothing inside is set on its own
            for k, v in props.items():
                if not _holds_components(v):
                    continue  # a grid's rows, a figure: nothing to name inside
                if isinstance(v, list):
                    for i, item in enumerate(v):
                        walk(item, f"{key}/{i}" if k == "children" else f"{key}/{k}:{i}")
                else:
                    walk(v, f"{key}/c" if k == "children" else f"{key}/{k}")
        elif isinstance(node, list):  # the body's list, or a list inside a list of children
            for i, item in enumerate(node):
                walk(item, f"{key}/{i}" if key else str(i))

    walk(plain, "")
    return plain


Path = tuple[str | int, ...]
# (component id, prop, the prop's new value), for dash.set_props
Updates = list[tuple[Any, str, Any]]


def _at(tree: Any, path: Path) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _owner(path: Path) -> tuple[Path, str] | None:
    """The component a changed path belongs to and its prop: ``(2, props, children, 1, props, rowData)`` is
    prop ``rowData`` of the component at ``(2, props, children, 1)``; None for the body's own children."""
    for k in range(len(path) - 2, -1, -1):
        if path[k] == "props":
            return path[:k], str(path[k + 1])
    return None


def diff(
    tree: Any, held: dict[str, Any] | None, body_id: str = "body"
) -> tuple[Any, dict[str, str], Updates]:
    """What to send for ``tree`` given what the browser holds: the whole body, or the changed props.

    Walks the new body against the fingerprint of the held one. Where a node's make-up is the same, each
    changed value is a prop set on its own component (``updates``: (id, prop, value)); where it differs
    (another component, a list of another length, a grid with other columns), the prop of the parent
    holding that node is set whole. A change in the body's own list of children, or a body with
    nothing held, is the whole body. Returns (the body's children or no_update, new fingerprint, updates).

    Props on their components, not a ``dash.Patch`` of the body: see the module's docstring.
    """
    plain = name_nodes(json.loads(to_json_plotly(tree)), body_id)
    new = fingerprint(plain)
    old = held if isinstance(held, dict) else {}
    if old.get("@") != new.get("@") or "" in new:
        return plain, new, []  # nothing held, another kind of body, or a body that is one value
    changed: list[Path] = []

    def walk(node: Any, path: Path, key: str) -> None:
        if old.get("@" + key) != new["@" + key]:
            changed.append(path)
        elif _whole(node):
            changed.extend(
                (*path, "props", k) for k in node["props"] if old.get(f"{key}/{k}") != new[f"{key}/{k}"]
            )
        elif _is_component(node):
            for k, v in node["props"].items():
                if _holds_components(v):
                    walk(v, (*path, "props", k), f"{key}/{k}")
                elif old.get(f"{key}/{k}") != new[f"{key}/{k}"]:
                    # A grid with other columns is built anew: faster than relaid (RELAYOUT_PROPS).
                    changed.append(path if k in RELAYOUT_PROPS else (*path, "props", k))
        else:
            for i, item in enumerate(node):
                if _holds_components(item):
                    walk(item, (*path, i), f"{key}/{i}")
                elif old.get(f"{key}/{i}") != new[f"{key}/{i}"]:
                    changed.append((*path, i))

    walk(plain, (), "")
    if not changed:
        return no_update, new, []
    owned: set[tuple[Path, str]] = set()
    for path in changed:
        owner = _owner(path)
        if owner is None:
            return plain, new, []
        owned.add(owner)
    # A prop set whole carries what changed inside it: nothing below it is set on its own.
    whole = [(*where, "props", prop) for where, prop in owned]
    updates: Updates = []
    for where, prop in sorted(owned, key=lambda o: (len(o[0]), str(o))):
        if any(len(w) <= len(where) and where[: len(w)] == w for w in whole):
            continue
        component = _at(plain, where)
        updates.append((component["props"]["id"], prop, component["props"][prop]))
    return no_update, new, updates


def fingerprint_id(body_id: str) -> str:
    return f"{body_id}-held"


def page_body(body_id: str) -> list[Any]:
    """The body's container (a placeholder until its callback answers) and the store of what it holds (its
    fingerprint), for a page's layout."""
    return [html.Div(id=body_id, children=empty_state("Loading…")), dcc.Store(id=fingerprint_id(body_id))]


Render = Callable[..., Any]


def body_callback(body_id: str, *inputs: DashDependency) -> Callable[[Render], Render]:
    """Register ``render(*inputs)`` as the callback of ``body_id``, answering with in-place updates.

    Returns ``render`` unchanged, so tests call it as before and get the whole tree.
    """

    def register(render: Render) -> Render:
        @functools.wraps(render)
        def update(*args: Any) -> tuple[Any, dict[str, str]]:
            values, held = args[: len(inputs)], (args[len(inputs)] if len(args) > len(inputs) else None)
            body, fingerprint_now, updates = diff(render(*values), held, body_id)
            for component_id, prop, value in updates:
                set_props(component_id, {prop: value})
            return body, fingerprint_now

        callback(
            Output(body_id, "children"),
            Output(fingerprint_id(body_id), "data"),
            *inputs,
            State(fingerprint_id(body_id), "data"),
        )(update)
        return render

    return register


def register_page(
    module: str, *, path: str, name: str, order: int, heading: str, subtitle: str, body_id: str
) -> Callable[[Render], Render]:
    """Register ``module`` as a page of the navigation whose layout is its header and one body, and the
    decorated ``render(filters)`` as that body's callback on the global filters; returns ``render`` unchanged.

    For the pages that are a header and a body answering the filters (Inventory, Quality, ...); pages with
    controls of their own (Audit trail, KPI review) and the drill-downs (``drilldown.register_page``) build
    their layouts themselves. Named like ``dash.register_page`` on purpose: Dash imports only the files of the
    pages folder whose text contains "register_page".
    """

    def layout(**params: Any) -> html.Div:
        return html.Div([page_header(heading, subtitle), *page_body(body_id)])

    def register(render: Render) -> Render:
        dash.register_page(
            module, path=path, name=name, title=f"MedTower · {name}", order=order, layout=layout
        )
        return body_callback(body_id, Input("filters", "data"))(render)

    return register
