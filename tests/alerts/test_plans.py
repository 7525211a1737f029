"""The shortage plan's re-forecast and re-sequencing on a hand-made marts schema, checked by hand.

Material M at site S, as-of 2025-03-03, 100 EA available now. Three open work orders (need date, qty):
WO-1 (03-10, 60), WO-2 (03-12, 80), WO-3 (03-15, 30): cumulative 60, 140, 170; no PO due by those dates,
so the balances are 40, -40, -70 and WO-2, WO-3 are short (peak shortage 70).

Open PO lines of M at S and the delay history each supplier has (delay = actual - planned lead time):

- PO-A, SUP-A, 50 EA due 03-20. SUP-A's stats row for (SUP-A, M): median 4, p90 8.8. SUP-A also has a row
  for another material (median 20, p90 30) that must not be joined in (it would duplicate PO-A).
  Expected: 03-20 + 4 = 03-24; 03-20 + ceil(8.8) = 03-29.
- PO-B, SUP-B, 40 EA due 03-18. No history of SUP-B on M; its received PO lines of other materials have
  delays 1, 3 (material M2) and 9 (M3). Over all its lines: median 3, p90 = 3 + 0.8 * (9 - 3) = 7.8.
  (Averaging the per-material medians would give 5.5: wrong.) Expected: 03-21; 03-18 + 8 = 03-26.
- PO-C, SUP-C, 100 EA due 04-01, no history at all: expected on the due date, 04-01 both.

Recovery: short work orders need 170 in all, 100 on hand, so 70 must arrive.
Median: PO-B 03-21 (40), PO-A 03-24 (90 >= 70) -> 03-24. p90: PO-B 03-26 (40), PO-A 03-29 (90) -> 03-29.
Re-sequence with 100 now: WO-1 runs (40 left), WO-2 (80) waits, WO-3 (30) runs (10 left).
WO-2 needs 80 - 10 = 70 more: 03-21 brings 40 (50), 03-24 brings 50 (100 >= 80) -> runs from 03-24.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from alerts.plans import percentile, shortage_plan
from alerts.state import Instance

AS_OF = dt.date(2025, 3, 3)
D = dt.date.fromisoformat


def _marts(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging")
    con.execute(
        """create table marts.fct_shortages (material_id varchar, site_id varchar, wo_id varchar,
        need_date date, qty_outstanding double, cumulative_requirement double, available_on_hand double,
        po_qty_due_by_need_date double, projected_balance double, shortage_qty double, is_short boolean,
        as_of_date date, planned_start timestamp)"""
    )
    for wo, need, qty, cum in (
        ("WO-1", "2025-03-10", 60, 60),
        ("WO-2", "2025-03-12", 80, 140),
        ("WO-3", "2025-03-15", 30, 170),
    ):
        bal = 100 - cum
        con.execute(
            "insert into marts.fct_shortages values ('M', 'S', ?, ?, ?, ?, 100, 0, ?, ?, ?, ?, ?)",
            [wo, D(need), qty, cum, bal, max(0, -bal), bal < 0, AS_OF, dt.datetime.fromisoformat(need)],
        )
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
    con.execute("create table marts.fct_work_orders (wo_id varchar, material_id varchar, so_id varchar)")
    con.execute("insert into marts.fct_work_orders values ('WO-2', 'FG', 'SO-1'), ('WO-3', 'FG', null)")
    con.execute("create table marts.fct_sales_order_lines (so_id varchar, customer_id varchar)")
    con.execute("insert into marts.fct_sales_order_lines values ('SO-1', 'CUS-1')")
    con.execute(
        "create table marts.dim_suppliers (supplier_id varchar, name varchar, contact_email varchar);"
        "insert into marts.dim_suppliers values ('SUP-A', 'Alpha', 'a@x.test'), "
        "('SUP-B', 'Beta', 'b@x.test'), ('SUP-C', 'Gamma', null), ('SUP-D', 'Delta', 'd@x.test')"
    )
    con.execute(
        "create table marts.fct_asn_lines (asn_id varchar, po_id varchar, po_line integer, "
        "expected_delivery date); insert into marts.fct_asn_lines values ('ASN-1', 'PO-A', 1, '2025-03-22')"
    )
    con.execute(
        "create table marts.dim_approved_suppliers (supplier_id varchar, material_id varchar, "
        "supplier_name varchar, contact_email varchar, approved boolean, is_orderable boolean, "
        "planned_lead_time_days integer); insert into marts.dim_approved_suppliers values "
        "('SUP-A', 'M', 'Alpha', 'a@x.test', true, true, 30), "
        "('SUP-D', 'M', 'Delta', 'd@x.test', true, true, 14), "
        "('SUP-E', 'M', 'Epsilon', null, false, false, 5), "
        # approved for M but the supplier is disqualified: not one to order from
        "('SUP-F', 'M', 'Phi', 'f@x.test', true, false, 3)"
    )
    con.execute(
        "create table marts.dim_materials (material_id varchar, description varchar);"
        "insert into marts.dim_materials values ('M2', 'Substitute of M')"
    )
    con.execute(
        """create table marts.fct_substitute_availability (material_id varchar,
        substitute_material_id varchar, site_id varchar, priority integer, change_id varchar,
        change_status varchar, valid_from date,
        valid_to date, available_qty decimal(28, 6), substitute_qty_outstanding decimal(28, 6),
        available_after_other_demand decimal(28, 6), earliest_expiry_date date)"""
    )
    con.execute(
        "insert into marts.fct_substitute_availability values "
        "('M', 'M2', 'S', 1, 'CC-1', 'approved', null, null, 120, 20, 100, null), "
        "('M', 'M3', 'S', 2, 'CC-2', 'approved', null, '2025-03-11', 500, 0, 500, null), "
        # starts after A (03-03) but before the 03-12 need date: usable then
        "('M', 'M4', 'S', 3, 'CC-3', 'approved', '2025-03-10', null, 40, 0, 40, null), "
        # starts after the need date: not yet
        "('M', 'M5', 'S', 4, 'CC-4', 'approved', '2025-03-13', null, 40, 0, 40, null)"
    )
    con.execute(
        "create table marts.fct_inventory_by_lot (lot_id varchar, material_id varchar, site_id varchar, "
        "is_available boolean, expiry_date date); insert into marts.fct_inventory_by_lot values "
        "('L-2', 'M2', 'S', true, '2026-01-01'), ('L-3', 'M2', 'S', false, '2026-01-01')"
    )
    return con


def _instance() -> Instance:
    labels = {"material_id": "M", "site_id": "S"}
    details = {"need_date": "2025-03-12", "shortage_qty": 70.0, "uom": "EA", "material_description": "Part M"}
    return Instance(
        "material_shortage:material_id=M,site_id=S",
        "material_shortage",
        labels,
        "open",
        "high",
        "M",
        details=details,
    )


def test_percentile_is_linear_interpolation() -> None:
    assert percentile([9, 1, 3], 0.5) == 3
    assert percentile([1, 3, 9], 0.9) == pytest.approx(7.8)
    assert percentile([5], 0.9) == 5
    assert percentile([], 0.5) is None


def test_reforecast_uses_each_suppliers_history_and_gives_the_recovery_date(tmp_path: Path) -> None:
    plan = shortage_plan(_marts(tmp_path / "w.duckdb"), _instance(), AS_OF)
    assert "errors" not in plan, plan.get("errors")
    rows = {r["po_id"]: r for r in plan["data"]["reforecast"]}
    assert len(plan["data"]["reforecast"]) == 3  # no duplicate line from SUP-A's other material
    assert (rows["PO-A"]["expected_p50"], rows["PO-A"]["expected_p90"]) == ("2025-03-24", "2025-03-29")
    assert (rows["PO-B"]["expected_p50"], rows["PO-B"]["expected_p90"]) == ("2025-03-21", "2025-03-26")
    assert (rows["PO-C"]["expected_p50"], rows["PO-C"]["expected_p90"]) == ("2025-04-01", "2025-04-01")
    # Which history each line used is said in the plan.
    assert rows["PO-A"]["history"] == "SUP-A on M, 3 receipts"
    assert rows["PO-B"]["history"].startswith("SUP-B on all materials, 3 receipts")
    assert rows["PO-C"]["history"].startswith("no receipt history for SUP-C")
    assert plan["data"]["recovery"] == {"expected_p50": "2025-03-24", "expected_p90": "2025-03-29"}
    text = "\n".join(next(s for s in plan["sections"] if s["id"] == "reforecast")["lines"])
    assert "median 2025-03-24, 90th percentile 2025-03-29" in text


def test_resequence_runs_what_fits_now_and_dates_the_rest(tmp_path: Path) -> None:
    plan = shortage_plan(_marts(tmp_path / "w.duckdb"), _instance(), AS_OF)
    rows = {r["wo_id"]: r for r in plan["data"]["resequence"]}
    assert [(w, rows[w]["decision"], rows[w]["run_order"]) for w in ("WO-1", "WO-2", "WO-3")] == [
        ("WO-1", "run now", 1),
        ("WO-2", "waits", None),
        ("WO-3", "run now", 2),
    ]
    assert rows["WO-2"]["can_run_from"] == "2025-03-24"


def test_hit_substitutes_and_suppliers(tmp_path: Path) -> None:
    plan = shortage_plan(_marts(tmp_path / "w.duckdb"), _instance(), AS_OF)
    hit = plan["data"]["hit"]
    assert [r["wo_id"] for r in hit] == ["WO-2", "WO-3"]
    assert "SO-1 (CUS-1)" in "\n".join(plan["sections"][0]["lines"])
    subs = {r["substitute_material_id"]: r for r in plan["data"]["substitutes"]}
    # M2: 100 free after its own demand, covers the 70 short; lot L-2 only (L-3 is not available).
    assert subs["M2"]["valid_on_need_date"] and subs["M2"]["available_lots"] == "L-2"
    # M3's approval ends 03-11, before the 03-12 need date: not offered.
    assert not subs["M3"]["valid_on_need_date"]
    # M4 starts 03-10 (after A, before the need date): offered; M5 starts 03-13, after it: not.
    assert subs["M4"]["valid_on_need_date"] and not subs["M5"]["valid_on_need_date"]
    sub_text = "\n".join(next(s for s in plan["sections"] if s["id"] == "substitutes")["lines"])
    assert "Use M2" in sub_text and "covers the shortage" in sub_text and "Use M3" not in sub_text
    assert "Use M4" in sub_text and "covers part" in sub_text and "in force from 2025-03-10." in sub_text
    assert "M5: approval starts 2025-03-13, after the need date 2025-03-12" in sub_text
    sup_text = "\n".join(next(s for s in plan["sections"] if s["id"] == "suppliers")["lines"])
    assert "Expedite request to Alpha <a@x.test>" in sup_text
    assert "PO PO-A line 1: 50 EA open, due 2025-03-20, ASN ASN-1 expected 2025-03-22" in sup_text
    assert "Expedite request to Gamma <no contact on record>" in sup_text
    approved = {a["supplier_id"]: a for a in plan["data"]["approved_suppliers"]}
    assert set(approved) == {"SUP-A", "SUP-D"}  # SUP-E is not approved, SUP-F is disqualified
    assert approved["SUP-D"]["earliest_if_ordered_today"] == "2025-03-17"  # 03-03 + 14 days
    assert approved["SUP-D"]["open_po_lines"] == 0 and approved["SUP-A"]["open_po_lines"] == 1


def test_a_missing_mart_fails_one_section_not_the_plan(tmp_path: Path) -> None:
    con = _marts(tmp_path / "w.duckdb")
    con.execute("drop table marts.fct_substitute_availability")
    plan = shortage_plan(con, _instance(), AS_OF)
    assert [e["section"] for e in plan["errors"]] == ["substitutes"]
    assert plan["data"]["recovery"]["expected_p50"] == "2025-03-24"


def test_quality_plan_for_an_ncr_without_a_lot_says_what_to_do(tmp_path: Path) -> None:
    from alerts.plans import quality_plan

    labels = {"material_id": "M", "site_id": "S", "lot_id": "NCR NCR-000007"}
    inst = Instance("quality_exception:x", "quality_exception", labels, "open", "critical", "t")
    plan = quality_plan(duckdb.connect(str(tmp_path / "empty.duckdb")), inst, AS_OF)
    assert plan["sections"] == [] and "NCR NCR-000007 names no lot" in plan["summary"]


def test_a_long_section_keeps_its_total_and_says_where_the_rest_is() -> None:
    from alerts.plans import common as plans
    from alerts.message import render_plan_text

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
