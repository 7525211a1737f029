"""The three-way match PO / receipt / invoice (fct_three_way_match) on a hand-made plant, built by dbt
for real, and the supplier page's table read from it. A = 2026-06-30, site S1 (UTC), supplier SUP-A.

Agreed prices (approved suppliers): RM-1 2.50 EUR, RM-2 4.00 EUR. Tolerances: 2 % of received, 1 % of price.

PO-100/1 RM-1 100 ordered; received 60 (06-15) + 40 (06-18) = 100; INV-77/1 100 @ 2.50     -> matched
PO-100/2 RM-2  50 ordered; received 45 (06-19);               INV-77/2  50 @ 4.10
                           |50 - 45| = 5 > 2 % of 45 = 0.9 (checked before the price)     -> qty_mismatch
PO-100/3 RM-2  20 ordered; received 20 (06-19);               INV-77/3  20 @ 4.10
                           |4.10 - 4.00| = 0.10 > 1 % of 4.00 = 0.04                      -> price_mismatch
PO-200/1 RM-1  30 ordered; nothing received, no invoice                                  -> not_invoiced
PO-300/1 RM-1  10 ordered; nothing received; INV-78/1 names PO-300 but no line: RM-1's line
                           is PO-300/1, 10 @ 2.50                                         -> not_received
PO-400/1 RM-1  10 ordered, cancelled, no invoice                                          -> not listed
INV-79/1 for PO-100/1 is dated 07-02, after A                                             -> not counted
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dashboards import drilldown_data as dd
from dashboards.filters import Filters
from tests.conftest import build_plant

AS_OF = dt.date(2026, 6, 30)


def _po(po_id: str, line: int, material: str, qty: int, status: str = "open") -> dict[str, Any]:
    return {
        "po_id": po_id,
        "po_line": line,
        "supplier_id": "SUP-A",
        "material_id": material,
        "site_id": "S1",
        "qty_ordered": qty,
        "order_date": dt.date(2026, 6, 1),
        "requested_date": dt.date(2026, 6, 20),
        "status": status,
    }


def _receipt(movement_id: str, po_id: str, line: int, material: str, qty: int, day: int) -> dict[str, Any]:
    return {
        "movement_id": movement_id,
        "moved_at": dt.datetime(2026, 6, day, 10),
        "site_id": "S1",
        "material_id": material,
        "qty": qty,
        "movement_type": "receipt",
        "reference_type": "po",
        "reference_id": po_id,
        "reference_line": line,
    }


def _invoice(invoice: str, line: int, po_id: str, po_line: int | None, material: str, qty: int, price: str,
             day: dt.date = dt.date(2026, 6, 25)) -> dict[str, Any]:  # fmt: skip
    return {
        "invoice_id": invoice,
        "invoice_line": line,
        "supplier_id": "SUP-A",
        "po_id": po_id,
        "po_line": po_line,
        "material_id": material,
        "qty": qty,
        "unit_price": Decimal(price),
        "currency": "EUR",
        "invoice_date": day,
    }


MASTER: dict[str, list[dict[str, Any]]] = {
    "sites": [{"site_id": "S1", "name": "Galway", "timezone": "UTC"}],
    "materials": [
        {
            "material_id": m,
            "description": m,
            "material_type": "raw",
            "uom": "EA",
            "lot_controlled": False,
            "serial_controlled": False,
            "status": "active",
        }
        for m in ("RM-1", "RM-2")
    ],
    "suppliers": [{"supplier_id": "SUP-A", "name": "Acme Polymers", "approval_status": "approved"}],
    "approved_suppliers": [
        {
            "supplier_id": "SUP-A",
            "material_id": "RM-1",
            "approved": True,
            "unit_price": Decimal("2.50"),
            "currency": "EUR",
        },
        {
            "supplier_id": "SUP-A",
            "material_id": "RM-2",
            "approved": True,
            "unit_price": Decimal("4.00"),
            "currency": "EUR",
        },
    ],
    "purchase_orders": [
        _po("PO-100", 1, "RM-1", 100),
        _po("PO-100", 2, "RM-2", 50),
        _po("PO-100", 3, "RM-2", 20),
        _po("PO-200", 1, "RM-1", 30),
        _po("PO-300", 1, "RM-1", 10),
        _po("PO-400", 1, "RM-1", 10, status="cancelled"),
    ],
    "inventory_movements": [
        _receipt("M1", "PO-100", 1, "RM-1", 60, 15),
        _receipt("M2", "PO-100", 1, "RM-1", 40, 18),
        _receipt("M3", "PO-100", 2, "RM-2", 45, 19),
        _receipt("M4", "PO-100", 3, "RM-2", 20, 19),
    ],
}
INVOICES = [
    _invoice("INV-77", 1, "PO-100", 1, "RM-1", 100, "2.50"),
    _invoice("INV-77", 2, "PO-100", 2, "RM-2", 50, "4.10"),
    _invoice("INV-77", 3, "PO-100", 3, "RM-2", 20, "4.10"),
    _invoice("INV-78", 1, "PO-300", None, "RM-1", 10, "2.50"),
    _invoice("INV-79", 1, "PO-100", 1, "RM-1", 5, "2.50", day=dt.date(2026, 7, 2)),
]


@pytest.fixture(scope="module")
def match_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("three_way_match")
    db_path, proc = build_plant(
        root, {**MASTER, "supplier_invoices": INVOICES}, AS_OF, "+fct_three_way_match"
    )
    # the dbt unit test of the statuses and tolerances ran with the build, and passed
    assert "three_way_match_statuses_and_tolerances" in proc.stdout
    return db_path


def test_each_po_line_is_matched_against_receipts_and_invoices(match_warehouse: Path) -> None:
    with duckdb.connect(str(match_warehouse), read_only=True) as con:
        rows = con.execute(
            "select po_id, po_line, qty_ordered, agreed_unit_price, qty_received, qty_invoiced, "
            "invoiced_unit_price, invoice_ids, match_status from marts.fct_three_way_match "
            "order by po_id, po_line"
        ).fetchall()
    assert rows == [
        ("PO-100", 1, 100, Decimal("2.50"), 100, 100, Decimal("2.50"), "INV-77", "matched"),
        ("PO-100", 2, 50, Decimal("4.00"), 45, 50, Decimal("4.10"), "INV-77", "qty_mismatch"),
        ("PO-100", 3, 20, Decimal("4.00"), 20, 20, Decimal("4.10"), "INV-77", "price_mismatch"),
        ("PO-200", 1, 30, Decimal("2.50"), 0, 0, None, None, "not_invoiced"),
        ("PO-300", 1, 10, Decimal("2.50"), 0, 10, Decimal("2.50"), "INV-78", "not_received"),
    ]


def test_the_supplier_page_lists_mismatches_first(match_warehouse: Path) -> None:
    with duckdb.connect(str(match_warehouse), read_only=True) as con:
        df, total = dd.supplier_three_way_match(con, "SUP-A", Filters(as_of=AS_OF))
    assert total == 5
    assert list(zip(df["purchase_order"], df["line"], df["status"], strict=True)) == [
        ("PO-100", 2, "qty mismatch"),
        ("PO-100", 3, "price mismatch"),
        ("PO-300", 1, "not received"),
        ("PO-200", 1, "not invoiced"),
        ("PO-100", 1, "matched"),
    ]


def test_a_plant_without_invoices_builds_and_nothing_is_invoiced(tmp_path: Path) -> None:
    db_path, _ = build_plant(tmp_path, MASTER, AS_OF, "+fct_three_way_match")
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "select po_id, po_line, match_status from marts.fct_three_way_match order by po_id, po_line"
        ).fetchall()
    assert rows == [
        ("PO-100", 1, "not_invoiced"),
        ("PO-100", 2, "not_invoiced"),
        ("PO-100", 3, "not_invoiced"),
        ("PO-200", 1, "not_invoiced"),
        ("PO-300", 1, "not_invoiced"),
    ]
