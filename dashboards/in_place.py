"""Page bodies that update in place: a filter change sends only the grids' rows and the figures that changed.

Why: a page body used to be re-sent and rebuilt whole on every filter change - every AG Grid and Plotly
figure unmounted and built again (1-2 s of the browser's time on a page of grids at scale 10). The pages
still build their body as one tree (plain functions, tested without a browser); ``body_callback`` compares
that tree with the one the browser holds and, when the layout is the same (same components, same ids, same
props - only values differ), answers with a ``dash.Patch`` that assigns just the changed values: a grid's
``rowData``, a figure's ``figure``, a note's text. The browser keeps its components mounted and updates
them (a grid takes its new rows whole: matching them by ``getRowId`` measured slower, components.py).

What the browser holds is not sent back: the callback keeps a fingerprint of it in a store next to the
body (a short hash per node and per value, by path), so a request carries tens of kB, not the body.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from dash import Output, Patch, State, callback, dcc, html, no_update
from dash.dependencies import DashDependency
from plotly.io.json import to_json_plotly


def _is_component(node: Any) -> bool:
    return isinstance(node, dict) and "type" in node and "namespace" in node and "props" in node


def _holds_components(value: Any) -> bool:
    if _is_component(value):
        return True
    return isinstance(value, list) and any(_holds_components(v) for v in value)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


# A grid whose columns or options change (other columns, paging on or off) lays itself out again in place
# slower than it builds anew (a site change on Lots & release, Suppliers: ~2x at scale 10): then the body is
# sent whole, as before; a change of rows, figures and texts alone is patched.
RELAYOUT_PROPS = frozenset({"columnDefs", "dashGridOptions"})
# Column widths are estimated from the rows of the first view (components.data_grid); another site's rows
# estimate other widths. A grid keeps the widths it was built with (the person may have resized them too):
# they are left out of the grid's fingerprint, so new rows alone are a patch of rowData, not a new body.
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
        if _is_component(node):
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


def diff(tree: Any, held: dict[str, Any] | None) -> tuple[Any, dict[str, str]]:
    """What to send for ``tree`` given what the browser holds: the whole tree, a Patch or nothing.

    Walks the new body against the fingerprint of the held one: where a node's make-up is the same, only
    its changed values are assigned; where it differs (another component, a list of another length), that
    node is assigned whole. ``tree`` is the body as Dash components; returns (output, new fingerprint).
    """
    plain = json.loads(to_json_plotly(tree))
    new = fingerprint(plain)
    old = held if isinstance(held, dict) else {}
    if old.get("@") != new.get("@") or "" in new:
        return plain, new  # nothing held, another kind of body, or a body that is one value
    patch = Patch()
    changed = 0
    relaid = False

    def assign(path: tuple[str | int, ...], value: Any) -> None:
        nonlocal changed, relaid
        changed += 1
        relaid = relaid or path[-1] in RELAYOUT_PROPS
        node: Any = patch
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value

    def walk(node: Any, path: tuple[str | int, ...], key: str) -> None:
        if old.get("@" + key) != new["@" + key]:
            assign(path, node)
        elif _is_component(node):
            for k, v in node["props"].items():
                if _holds_components(v):
                    walk(v, (*path, "props", k), f"{key}/{k}")
                elif old.get(f"{key}/{k}") != new[f"{key}/{k}"]:
                    assign((*path, "props", k), v)
        else:
            for i, item in enumerate(node):
                if _holds_components(item):
                    walk(item, (*path, i), f"{key}/{i}")
                elif old.get(f"{key}/{i}") != new[f"{key}/{i}"]:
                    assign((*path, i), item)

    walk(plain, (), "")
    if relaid:
        return plain, new
    return (patch if changed else no_update), new


def fingerprint_id(body_id: str) -> str:
    return f"{body_id}-held"


def page_body(body_id: str, placeholder: Any) -> list[Any]:
    """The body's container and the store of what it holds (its fingerprint), for a page's layout."""
    return [html.Div(id=body_id, children=placeholder), dcc.Store(id=fingerprint_id(body_id))]


Render = Callable[..., Any]


def body_callback(body_id: str, *inputs: DashDependency) -> Callable[[Render], Render]:
    """Register ``render(*inputs)`` as the callback of ``body_id``, answering with in-place updates.

    Returns ``render`` unchanged, so tests call it as before and get the whole tree.
    """

    def register(render: Render) -> Render:
        @functools.wraps(render)
        def update(*args: Any) -> tuple[Any, dict[str, str]]:
            values, held = args[: len(inputs)], (args[len(inputs)] if len(args) > len(inputs) else None)
            return diff(render(*values), held)

        callback(
            Output(body_id, "children"),
            Output(fingerprint_id(body_id), "data"),
            *inputs,
            State(fingerprint_id(body_id), "data"),
        )(update)
        return render

    return register
