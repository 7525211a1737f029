"""What every emergency plan shares: rows from the marts, number and date formatting, sections that
fail on their own."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any

import duckdb

from medtower.rows import fetch_rows

log = logging.getLogger(__name__)

SUSPECT_LOOKBACK_DAYS = 90
# Detail rows kept with an alert per plan section (a recall scope can reach thousands of lots and shipments;
# the id lists in plan["data"] stay complete, and the Traceability page has every row).
MAX_SECTION_ROWS = 300
# Ids spelled out in a plan's sentence before "and N more".
MAX_IDS_IN_TEXT = 40


def id_list(ids: list[str], limit: int = MAX_IDS_IN_TEXT, empty: str = "none") -> str:
    """``a, b, c`` or ``a, b, ... and 12 more`` for a sentence of a plan."""
    if not ids:
        return empty
    if len(ids) <= limit:
        return ", ".join(ids)
    return ", ".join(ids[:limit]) + f" and {len(ids) - limit:,} more"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return fetch_rows(con, sql, params)


def _in(values: list[Any]) -> str:
    return "(" + (", ".join("?" * len(values)) or "null") + ")"


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    f = float(v)
    return f"{f:,.0f}" if f == int(f) else f"{f:,.2f}"


def _date(v: Any) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (SQL ``percentile_cont``); None for no values."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    pos = p * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _section(
    plan: dict[str, Any], sid: str, title: str, build: Callable[[], tuple[list[str], list[dict]]]
) -> None:
    try:
        lines, rows = build()
    except Exception as exc:
        log.warning("plan section %s failed: %s", sid, exc)
        lines, rows = [f"Could not be computed: {type(exc).__name__}: {exc}"], []
        plan.setdefault("errors", []).append({"section": sid, "error": str(exc)})
    total = len(rows)
    if total > MAX_SECTION_ROWS:
        rows = rows[:MAX_SECTION_ROWS]
        lines = [
            *lines,
            f"The first {MAX_SECTION_ROWS:,} of {total:,} rows are listed; the Traceability page and "
            "`medtower trace` give every one.",
        ]
    plan["sections"].append({"id": sid, "title": title, "lines": lines, "rows": rows, "rows_total": total})
    plan["data"][sid] = rows
