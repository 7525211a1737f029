"""Lot genealogy: forward (where did this lot go?) and backward (what went into it?) traces.

Reads the marts only: ``dim_lots``, ``dim_materials``, ``fct_lot_genealogy_edges`` (component lot ->
produced lot), ``fct_lot_genealogy_edges_by_child``, ``fct_lot_shipments`` and ``dim_customers``;
``lot_suspects`` adds ``fct_inspections`` and ``fct_nonconformances``. The walk is a breadth-first search
with one set-based query per level; every lot is visited once, so a cycle in bad genealogy data ends the
walk instead of looping. Each level looks its lots up in the copy of the edges stored in that lot column's
order (parent for forward, child for backward), so DuckDB reads only the row groups that hold them.
"""

from __future__ import annotations

from typing import Any, Literal

import duckdb

from medtower.barcodes import BarcodeError, parse_scan
from medtower.rows import jsonable
from medtower.warehouse import relation_exists

Direction = Literal["forward", "backward"]

# Guard against runaway walks on corrupt data (real device genealogies are a handful of levels deep).
MAX_DEPTH = 50

# The genealogy edges stored in the order of the column each direction looks lots up by: parent, child.
EDGES = {"forward": "marts.fct_lot_genealogy_edges", "backward": "marts.fct_lot_genealogy_edges_by_child"}


class TraceError(ValueError):
    """The query cannot be traced; the message says what to fix."""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    # Convert only the columns that need it (decimals, dates, timestamps): a recall scope has many rows.
    convert = [
        i for i, d in enumerate(cur.description) if str(d[1]).upper().startswith(("DECIMAL", "DATE", "TIME"))
    ]
    out = []
    for fetched in cur.fetchall():
        row = list(fetched)
        for i in convert:
            row[i] = jsonable(row[i])
        out.append(dict(zip(names, row, strict=True)))
    return out


def _in(values: list[str] | set[str]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _looks_like_barcode(query: str) -> bool:
    text = query.strip()
    return text.startswith(("(", "]", "+", "*")) or "\x1d" in text or (text.isdigit() and len(text) >= 16)


def resolve_lot(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The lot id a query names: a lot id as-is, or a scanned GS1 / HIBC barcode with a lot number."""
    text = (query or "").strip()
    if not text:
        raise TraceError("empty query: give a lot id or a scanned barcode")
    if con.execute("select 1 from marts.dim_lots where lot_id = ?", [text]).fetchone():
        return text
    try:
        scan = parse_scan(query)
    except BarcodeError as exc:
        if _looks_like_barcode(text):
            raise TraceError(f"cannot read barcode {text!r}: {exc}") from exc
        raise TraceError(f"lot {text!r} not found in the warehouse") from exc
    if not scan.lot:
        raise TraceError(f"barcode {text!r} carries no lot number (GS1 AI 10 / HIBC lot): cannot trace it")
    if scan.gtin:
        candidates = con.execute(
            """select l.lot_id, l.lot_id = ? as by_lot_id
            from marts.dim_lots l
            join marts.dim_materials m on l.material_id = m.material_id
            where m.gtin = ? and (l.lot_id = ? or l.supplier_lot = ?)""",
            [scan.lot, scan.gtin, scan.lot, scan.lot],
        ).fetchall()
        what = f"GTIN {scan.gtin} lot {scan.lot}"
    else:
        candidates = con.execute(
            "select lot_id, lot_id = ? as by_lot_id from marts.dim_lots where lot_id = ? or supplier_lot = ?",
            [scan.lot, scan.lot, scan.lot],
        ).fetchall()
        what = f"lot {scan.lot}"
    if not candidates:
        raise TraceError(f"barcode {text!r} reads as {what}, which matches no lot in the warehouse")
    exact = sorted(lot for lot, by_lot_id in candidates if by_lot_id)
    chosen = exact or sorted(lot for lot, _ in candidates)
    if len(chosen) > 1:
        raise TraceError(
            f"barcode {text!r} ({what}) matches several lots: {', '.join(chosen)}; trace one by id"
        )
    return chosen[0]


def _walk(
    con: duckdb.DuckDBPyConnection, starts: list[str], direction: Direction
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Depth of every lot reached (the start lots at 0: the nearest start wins) and the edges followed."""
    near, far = (
        ("parent_lot_id", "child_lot_id") if direction == "forward" else ("child_lot_id", "parent_lot_id")
    )
    table = EDGES[direction]
    if direction == "backward" and not relation_exists(con, *table.split(".")):
        table = EDGES["forward"]  # a warehouse built before the by-child copy (or by hand) has only the edges
    depth: dict[str, int] = dict.fromkeys(starts, 0)
    edges: list[dict[str, Any]] = []
    frontier = sorted(depth)
    level = 0
    while frontier and level < MAX_DEPTH:
        level += 1
        found = _rows(
            con,
            f"""select parent_lot_id, child_lot_id, wo_id, component_material_id, qty, consumed_at
            from {table}
            where {near} in (select unnest(?))
            order by parent_lot_id, child_lot_id, wo_id""",
            [frontier],
        )
        edges.extend(found)
        nxt: list[str] = []
        for edge in found:
            lot = edge[far]
            if lot not in depth:
                depth[lot] = level
                nxt.append(lot)
        frontier = sorted(set(nxt))
    return depth, edges


def trace(con: duckdb.DuckDBPyConnection, query: str, direction: Direction = "forward") -> dict[str, Any]:
    """Trace a lot (by id or scanned barcode) forward to customers or backward to suppliers."""
    if direction not in ("forward", "backward"):
        raise TraceError(f"direction must be 'forward' or 'backward', not {direction!r}")
    start = resolve_lot(con, query)
    result = trace_lots(con, [start], direction)
    return {"lot_id": start, **result}


def trace_lots(con: duckdb.DuckDBPyConnection, starts: list[str], direction: Direction) -> dict[str, Any]:
    """One walk from several known lot ids at once (a recall scope, a quality hold).

    ``lots`` are the lots reached, not the starts; ``lot_details`` carry every lot with its ``depth``, the
    generations from the nearest start. Set-based: one query per generation however many starts.
    """
    if direction not in ("forward", "backward"):
        raise TraceError(f"direction must be 'forward' or 'backward', not {direction!r}")
    depth, edges = _walk(con, list(starts), direction)
    lots = sorted(lot for lot, d in depth.items() if d > 0)
    every_lot = sorted(depth)

    lot_details = _rows(
        con,
        """select l.lot_id, l.material_id, m.description as material_description, l.origin, l.supplier_id,
                   l.supplier_lot, l.status, l.expiry_date
            from marts.dim_lots l
            left join marts.dim_materials m on l.material_id = m.material_id
            where l.lot_id in (select unnest(?))""",
        [every_lot],
    )
    for row in lot_details:
        row["depth"] = depth[row["lot_id"]]
    lot_details.sort(key=lambda r: (r["depth"], r["lot_id"]))

    result: dict[str, Any] = {
        "direction": direction,
        "lots": lots,
        "work_orders": sorted({e["wo_id"] for e in edges}),
    }
    if direction == "forward":
        shipment_details = _rows(
            con,
            """select s.shipment_id, s.so_id, s.so_line, s.customer_id, c.name as customer_name,
                       s.material_id, s.lot_id, s.serial, s.qty, s.shipped_at, s.delivered_at
                from marts.fct_lot_shipments s
                left join marts.dim_customers c on s.customer_id = c.customer_id
                where s.lot_id in (select unnest(?))
                order by s.shipped_at, s.shipment_id, s.lot_id, s.serial""",
            [every_lot],
        )
        result["shipments"] = sorted({r["shipment_id"] for r in shipment_details})
        result["customers"] = sorted({r["customer_id"] for r in shipment_details})
    else:
        shipment_details = []
        result["suppliers"] = sorted(
            {r["supplier_id"] for r in lot_details if r["origin"] == "received" and r["supplier_id"]}
        )
    result["lot_details"] = lot_details
    result["edges"] = edges
    result["shipment_details"] = shipment_details
    return result


# A lot in one of these statuses is blocked by QA or a rule: it is suspect whatever its tests say.
SUSPECT_STATUSES = {"on_hold": "on hold", "quarantine": "quarantined", "rejected": "rejected"}


def lot_suspects(con: duckdb.DuckDBPyConnection, lot_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Why each lot of a trace matters to QA, and its NCRs.

    A lot is suspect when it is on hold, quarantined or rejected, has a failed inspection, or has an NCR open
    at the warehouse's as-of date. Every lot of ``lot_ids`` gets an entry: ``reasons`` (in words, empty for
    a lot that is not suspect) and ``ncrs`` (every NCR of the lot, open first: id, severity, status, open).
    """
    lots = sorted(set(lot_ids))
    out: dict[str, dict[str, Any]] = {lot: {"reasons": [], "ncrs": []} for lot in lots}
    if not lots:
        return out
    for lot, status in con.execute(
        "select lot_id, status from marts.dim_lots where lot_id in (select unnest(?)) order by lot_id", [lots]
    ).fetchall():
        if status in SUSPECT_STATUSES:
            out[lot]["reasons"].append(SUSPECT_STATUSES[status])
    for lot, inspection_id, kind in con.execute(
        """select lot_id, inspection_id, inspection_type from marts.fct_inspections
        where result = 'fail' and lot_id in (select unnest(?))
        order by lot_id, completed_at, inspection_id""",
        [lots],
    ).fetchall():
        out[lot]["reasons"].append(f"failed {kind} inspection {inspection_id}")
    for ncr in _rows(
        con,
        """select lot_id, ncr_id, severity, status, coalesce(is_open_at_as_of, false) as is_open
        from marts.fct_nonconformances
        where lot_id in (select unnest(?))
        order by lot_id, is_open desc, opened_at, ncr_id""",
        [lots],
    ):
        lot = ncr.pop("lot_id")
        out[lot]["ncrs"].append(ncr)
        if ncr["is_open"]:
            out[lot]["reasons"].append(f"open {ncr['severity']} NCR {ncr['ncr_id']}")
    return out
