"""The shortage plan's re-forecast of open PO lines on a hand-made marts schema, checked by hand.

Material M at site S, as-of 2025-03-03. Open PO lines of M at S and the delay history each supplier has
(delay = actual - planned lead time):

- PO-A, SUP-A, 50 EA due 03-20. SUP-A's stats row for (SUP-A, M): median 4, p90 8.8. SUP-A also has a row
  for another material (median 20, p90 30) that must not be joined in (it would duplicate PO-A).
  Expected: 03-20 + 4 = 03-24; 03-20 + ceil(8.8) = 03-29.
- PO-B, SUP-B, 40 EA due 03-18. No history of SUP-B on M; its received PO lines of other materials have
  delays 1, 3 (material M2) and 9 (M3). Over all its lines: median 3, p90 = 3 + 0.8 * (9 - 3) = 7.8.
  (Averaging the per-material medians would give 5.5: wrong.) Expected: 03-21; 03-18 + 8 = 03-26.
- PO-C, SUP-C, 100 EA due 04-01, no history at all: expected on the due date, 04-01 both.
- PO-D, SUP-C, 10 EA due 02-20, past due: expected from today (03-03), not in the past.

The plan as a whole (levers, allocation, recovery) is checked on a dbt-built plant in test_shortage_plan.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from alerts.plans import percentile
from alerts.plans.shortage import expected_supply
from alerts.state import Instance

AS_OF = dt.date(2025, 3, 3)
D = dt.date.fromisoformat


def _marts(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging")
    con.execute(
        """create table marts.fct_purchase_order_lines (po_id varchar, po_line integer,
        supplier_id varchar, material_id varchar, site_id varchar, qty_open decimal(28, 6), due_date date,
        is_open_at_as_of boolean, is_past_due_at_as_of boolean, is_cancelled boolean, first_receipt_date date,
        lead_time_delta_days bigint)"""
    )
    po = "insert into marts.fct_purchase_order_lines values (?, 1, ?, ?, 'S', ?, ?, ?, false, false, ?, ?)"
    for row in (
        ("PO-A", "SUP-A", "M", 50, D("2025-03-20"), True, None, None),
        ("PO-B", "SUP-B", "M", 40, D("2025-03-18"), True, None, None),
        ("PO-C", "SUP-C", "M", 100, D("2025-04-01"), True, None, None),
        ("PO-D", "SUP-C", "M", 10, D("2025-02-20"), True, None, None),
        # Received history (closed lines): SUP-B on other materials; SUP-A lines summarised by the stats mart.
        ("PO-H1", "SUP-B", "M2", 0, D("2025-01-10"), False, D("2025-01-11"), 1),
        ("PO-H2", "SUP-B", "M2", 0, D("2025-01-20"), False, D("2025-01-23"), 3),
        ("PO-H3", "SUP-B", "M3", 0, D("2025-02-01"), False, D("2025-02-10"), 9),
        ("PO-H4", "SUP-A", "M", 0, D("2025-02-01"), False, D("2025-02-05"), 4),
    ):
        con.execute(po, list(row))
    con.execute(
        """create table marts.fct_supplier_lead_time_stats (supplier_id varchar, material_id varchar,
        n_receipts integer, n_receipts_with_plan integer, median_delay_days double, p90_delay_days double)"""
    )
    con.execute(
        "insert into marts.fct_supplier_lead_time_stats values ('SUP-A', 'M', 3, 3, 4, 8.8), "
        "('SUP-A', 'M9', 5, 5, 20, 30), ('SUP-B', 'M2', 2, 2, 2, 2.8), ('SUP-B', 'M3', 1, 1, 9, 9)"
    )
    con.execute(
        "create table marts.dim_suppliers (supplier_id varchar, name varchar, contact_email varchar);"
        "insert into marts.dim_suppliers values ('SUP-A', 'Alpha', 'a@x.test'), "
        "('SUP-B', 'Beta', 'b@x.test'), ('SUP-C', 'Gamma', null), ('SUP-D', 'Delta', 'd@x.test')"
    )
    con.execute(
        "create table marts.fct_asn_lines (asn_id varchar, po_id varchar, po_line integer, "
        "expected_delivery date); insert into marts.fct_asn_lines values ('ASN-1', 'PO-A', 1, '2025-03-22')"
    )
    return con


def test_percentile_is_linear_interpolation() -> None:
    assert percentile([9, 1, 3], 0.5) == 3
    assert percentile([1, 3, 9], 0.9) == pytest.approx(7.8)
    assert percentile([5], 0.9) == 5
    assert percentile([], 0.5) is None


def test_reforecast_uses_each_suppliers_history(tmp_path: Path) -> None:
    rows, delays = expected_supply(_marts(tmp_path / "w.duckdb"), "M", "S", AS_OF)
    by_po = {r["po_id"]: r for r in rows}
    assert len(rows) == 4  # no duplicate line from SUP-A's other material
    assert (by_po["PO-A"]["expected_p50"], by_po["PO-A"]["expected_p90"]) == ("2025-03-24", "2025-03-29")
    assert (by_po["PO-B"]["expected_p50"], by_po["PO-B"]["expected_p90"]) == ("2025-03-21", "2025-03-26")
    assert (by_po["PO-C"]["expected_p50"], by_po["PO-C"]["expected_p90"]) == ("2025-04-01", "2025-04-01")
    assert (by_po["PO-D"]["expected_p50"], by_po["PO-D"]["expected_p90"]) == ("2025-03-03", "2025-03-03")
    # Which history each line used is said in the plan.
    assert by_po["PO-A"]["history"] == "SUP-A on M, 3 receipts"
    assert by_po["PO-B"]["history"].startswith("SUP-B on all materials, 3 receipts")
    assert by_po["PO-C"]["history"].startswith("no receipt history for SUP-C")
    assert by_po["PO-A"]["asn_id"] == "ASN-1" and str(by_po["PO-A"]["asn_expected"]) == "2025-03-22"
    assert set(delays) == {"SUP-A", "SUP-B", "SUP-C"}


def test_quality_plan_for_an_ncr_without_a_lot_says_what_to_do(tmp_path: Path) -> None:
    from alerts.plans import quality_plan

    labels = {"material_id": "M", "site_id": "S", "lot_id": "NCR NCR-000007"}
    inst = Instance("quality_exception:x", "quality_exception", labels, "open", "critical", "t")
    plan = quality_plan(duckdb.connect(str(tmp_path / "empty.duckdb")), inst, AS_OF)
    assert plan["sections"] == [] and "NCR NCR-000007 names no lot" in plan["summary"]


def test_a_long_section_keeps_its_total_and_says_where_the_rest_is() -> None:
    from alerts.message import render_plan_text
    from alerts.plans import common as plans

    plan: dict = {"sections": [], "data": {}}
    rows = [{"lot_id": f"L{i:04d}"} for i in range(1000)]
    plans._section(plan, "hold", "Lots to hold", lambda: (["1000 lots."], rows))
    section = plan["sections"][0]
    assert len(section["rows"]) == 300 and section["rows_total"] == 1000
    assert section["rows"][-1] == {"lot_id": "L0299"}  # the first rows, in order
    assert "The first 300 of 1,000 rows are listed" in section["lines"][-1]
    text = "\n".join(render_plan_text(plan))
    assert "... 975 more in the app" in text  # 25 rows in the email, of 1,000
    assert (
        plans.id_list([f"L{i}" for i in range(45)]) == ", ".join(f"L{i}" for i in range(40)) + " and 5 more"
    )
    assert plans.id_list([]) == "none" and plans.id_list(["A", "B"]) == "A, B"
