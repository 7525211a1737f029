"""Reading the component tree a Dash callback returns (its JSON), for callback-level page tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tree_text(node: Any, sep: str = " ") -> str:
    """Every string in the tree, in order, joined with ``sep``."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return sep.join(tree_text(n, sep) for n in node)
    if isinstance(node, dict):
        props = node.get("props", node)
        return tree_text(props.get("children"), sep) if isinstance(props, dict) else ""
    return ""


def find_nodes(node: Any, match: str | Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The components of a type (``"Store"``) or for which ``match(node)`` holds, depth first."""
    pred = (lambda n: n.get("type") == match) if isinstance(match, str) else match
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for n in node:
            found += find_nodes(n, pred)
    elif isinstance(node, dict):
        if pred(node):
            found.append(node)
        found += find_nodes(node.get("props", {}).get("children"), pred)
    return found
