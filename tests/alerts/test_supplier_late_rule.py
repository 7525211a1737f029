"""The supplier-late rule on hand-made marts: a late ASN is an alert only where it makes the material short.

As-of A = 2026-06-30. PO lines (all open):
    PO-A/1  SUP-A  M1  due 06-25, no receipt     -> past due 5 days: medium
    PO-B/1  SUP-B  M1  due 07-05, 80 open, ASN expected 07-15 (10 days after the due date). M1's projected
            balance has a demand on 07-10 leaving 50: without the 80 of PO-B until 07-15 it would be
            50 - 80 = -30: the delay makes M1 short -> 10 days: high
    PO-C/1  SUP-C  M2  due 07-05, 80 open, ASN 07-15; M2's balance on 07-10 is 500: 500 - 80 >= 0, no alert
    PO-D/1  SUP-D  M3  due 07-05, 80 open, ASN 07-08; M3's only demand is on 07-20, after the ASN lands,
            so the delay hurts nothing: no alert
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from alerts.engine import query_rows
from alerts.rules import RULES_DIR, load_rules

AS_OF = dt.date(2026, 6, 30)


def _marts(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        """create table marts.fct_purchase_order_lines (po_id varchar, po_line integer, supplier_id varchar,
        material_id varchar, site_id varchar, due_date date, qty_open double, is_open_at_as_of boolean,
        is_past_due_at_as_of boolean)"""
    )
    con.execute(
        """insert into marts.fct_purchase_order_lines values
        ('PO-A', 1, 'SUP-A', 'M1', 'S', '2026-06-25', 10, true, true),
        ('PO-B', 1, 'SUP-B', 'M1', 'S', '2026-07-05', 80, true, false),
        ('PO-C', 1, 'SUP-C', 'M2', 'S', '2026-07-05', 80, true, false),
        ('PO-D', 1, 'SUP-D', 'M3', 'S', '2026-07-05', 80, true, false)"""
    )
    con.execute(
        """create table marts.fct_asn_lines (asn_id varchar, po_id varchar, po_line integer,
        expected_delivery date)"""
    )
    con.execute(
        """insert into marts.fct_asn_lines values ('ASN-B', 'PO-B', 1, '2026-07-15'),
        ('ASN-C', 'PO-C', 1, '2026-07-15'), ('ASN-D', 'PO-D', 1, '2026-07-08')"""
    )
    con.execute(
        """create table marts.fct_projected_balance (material_id varchar, site_id varchar, direction varchar,
        netting_date date, projected_balance double)"""
    )
    con.execute(
        """insert into marts.fct_projected_balance values ('M1', 'S', 'demand', '2026-07-10', 50),
        ('M2', 'S', 'demand', '2026-07-10', 500), ('M3', 'S', 'demand', '2026-07-20', 0)"""
    )
    con.execute("create table marts.dim_suppliers (supplier_id varchar, name varchar)")
    return con


def test_late_asn_alerts_only_where_it_makes_the_material_short(tmp_path: Path) -> None:
    rule = next(r for r in load_rules(RULES_DIR) if r.id == "supplier_late")
    rows = query_rows(_marts(tmp_path / "w.duckdb"), rule, AS_OF)
    fired = {r["supplier_id"]: (r["days_late"], rule.severity_for(r)) for r in rows if rule.fires(r)}
    assert fired == {"SUP-A": (5, "medium"), "SUP-B": (10, "high")}
