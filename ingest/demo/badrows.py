"""Deliberately bad rows, one kind each, appended after the good rows so nothing good refers to them.

Each is recorded with its file and 1-based line (header = line 1) so ingest tests can check that
exactly these rows are quarantined, with the right reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.demo.ids import fmt
from ingest.demo.world import World
from ingest.demo.writer import append_rows, contract


def _row(entity: str, values: dict[str, str]) -> list[str]:
    cols = list(contract()[entity])
    row = [values.get(c, "") for c in cols]
    if entity == "materials":
        row.append("IE01")
    return row


def append_bad_rows(out_dir: Path, rows: dict[str, int], world: World) -> list[dict]:
    """Append the bad rows to the written files; return their manifest records.

    ``rows`` holds the good-row count of each file as written.
    """
    d = world.as_of.isoformat()
    lots = world.table("lots")
    first = lots.iloc[0]
    real_lot, real_material = fmt("lot_id", first["lot_id"]), str(first["material_id"])
    bad = [
        (
            "materials",
            "gtin",
            "GTIN check digit is wrong",
            {
                "material_id": "FG-19999",
                "description": "Skin stapler 25W (pilot)",
                "material_type": "finished_good",
                "uom": "EA",
                "revision": "A",
                "gtin": "05391234099994",
                "device_class": "IIa",
                "lot_controlled": "true",
                "serial_controlled": "false",
                "status": "active",
            },
        ),
        (
            "purchase_orders",
            "requested_date",
            "invalid date 2026-02-30",
            {
                "po_id": "PO-BAD-0001",
                "po_line": "1",
                "supplier_id": "SUP-005",
                "material_id": "CMP-30010",
                "site_id": "SITE-SZX",
                "qty_ordered": "20000",
                "order_date": d,
                "requested_date": "2026-02-30",
                "status": "open",
            },
        ),
        (
            "inspections",
            "result",
            "enum value 'passed' not in [pending, pass, fail]",
            {
                "inspection_id": "INS-BAD-0001",
                "lot_id": real_lot,
                "material_id": real_material,
                "inspection_type": "incoming",
                "started_at": f"{d}T08:00:00",
                "result": "passed",
            },
        ),
        (
            "customers",
            "name",
            "missing required value",
            {"customer_id": "CUS-BAD-1", "customer_type": "hospital", "country": "IE"},
        ),
        (
            "inventory_movements",
            "lot_id",
            "dangling reference: lot LOT-DOES-NOT-EXIST",
            {
                "movement_id": "MV-BAD-000001",
                "moved_at": f"{d}T10:15:00",
                "site_id": "SITE-GAL",
                "material_id": "CMP-30004",
                "lot_id": "LOT-DOES-NOT-EXIST",
                "qty": "-50",
                "movement_type": "issue",
                "reference_type": "none",
            },
        ),
        (
            "sales_orders",
            "qty",
            "non-numeric quantity 'twelve'",
            {
                "so_id": "SO-BAD-0001",
                "so_line": "1",
                "customer_id": "CUS-0001",
                "material_id": "FG-10001",
                "site_id": "SITE-GAL",
                "qty": "twelve",
                "order_date": d,
                "requested_date": d,
                "status": "open",
            },
        ),
        (
            "scans",
            "payload",
            "GS1 GTIN check digit is wrong",
            {
                "scan_id": "SC-BAD-0001",
                "scanned_at": f"{d}T11:00:00",
                "site_id": "SITE-GAL",
                "device_id": "SCN-GAL-9",
                "location": "SHIPPING",
                "event": "ship",
                "payload": "(01)05391234100007(17)281231(10)LOT-0000001",
            },
        ),
        (
            "lots",
            "status",
            "enum value 'in_stock' not in the lot status list",
            {
                "lot_id": "LOT-BAD-0001",
                "material_id": "CMP-30004",
                "site_id": "SITE-GAL",
                "origin": "received",
                "status": "in_stock",
                "status_changed_at": f"{d}T09:00:00",
            },
        ),
    ]
    out: list[dict[str, Any]] = []
    for entity, column, why, values in bad:
        path = out_dir / f"{entity}.csv"
        append_rows(path, [_row(entity, values)])
        already = sum(1 for b in out if b["entity"] == entity)
        line = rows[entity] + already + 2  # header is line 1, good rows follow
        out.append({"entity": entity, "file": path.name, "line": line, "column": column, "why": why})
    return out
