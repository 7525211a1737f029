"""What every emergency plan shares: rows from the marts, number and date formatting, sections that
fail on their own."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any

import duckdb

from medtower.rows import fetch_rows, jsonable

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


# --- set-based inputs: one query per lever for every alert being planned ------------------------------

KEY_PREFIX = "_k_"


def keys_source(**columns: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """An inline table of the alerts' keys (``name=(sql type, values)``, zipped row by row) and its params.

    Joined by the set-based queries of the plans, so each lever is one query whatever the number of alerts.
    """
    sql = ", ".join(f"unnest(?::{kind}[]) as {name}" for name, (kind, _) in columns.items())
    return f"(select {sql})", [values for _, values in columns.values()]


def keyed_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """A set-based query's rows grouped by its ``_k_*`` columns (taken off each row), in query order."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    keys = [i for i, n in enumerate(names) if n.startswith(KEY_PREFIX)]
    cols = [(i, n) for i, n in enumerate(names) if not n.startswith(KEY_PREFIX)]
    # ``fetch_rows``'s conversion, for the columns whose values it changes (a batch has many rows).
    convert = {i for i, d in enumerate(cur.description) if str(d[1]).upper() not in _AS_IS}
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for fetched in cur.fetchall():
        values = [jsonable(v) if i in convert else v for i, v in enumerate(fetched)]
        key = tuple(values[i] for i in keys)
        out.setdefault(key, []).append({n: values[i] for i, n in cols})
    return out


# DuckDB types whose Python values ``jsonable`` returns as they are (None stays None).
_AS_IS = {
    "VARCHAR",
    "BOOLEAN",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
}


class Loaded:
    """A lever's set-based rows, or the error its query raised (the sections it feeds then say so)."""

    def __init__(self, load: Callable[[], Any], default: Any) -> None:
        self.error: Exception | None = None
        try:
            self.value = load()
        except Exception as exc:
            log.warning("plan input failed: %s", exc)
            self.error, self.value = exc, default

    def get(self, key: Any, default: Any = None) -> Any:
        if self.error is not None:
            return default
        return self.value.get(key, default)
