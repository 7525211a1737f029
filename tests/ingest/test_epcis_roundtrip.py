"""`medtower trace --epcis` out, the epcis connector in: the document reads back to the same genealogy.

A small plant in hand-written marts (R1 -> S1 by WO1, S1 and R2 -> F1 by WO2, F1 shipped to C1 twice); its
trace is written as EPCIS 2.0 (medtower.epcis_export), checked by the same EPCIS 2.0 reader the capture uses,
then pulled through pull_source into an empty warehouse with only master data. The genealogy edges rebuilt
from raw.lot_consumption and raw.work_orders (as fct_lot_genealogy_edges builds them) must be the trace's.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.sources import load_sources
from ingest.sources.runner import pull_source
from medtower.epcis import parse_document
from medtower.epcis_export import trace_document, write_document
from medtower.settings import Settings
from medtower.trace import trace
from tests.ingest.test_epcis import ENTITIES, gtin14, load_master

GTIN_RM = gtin14("0952123412345")
GTIN_FG = gtin14("0952123454321")

MARTS = [
    "create table marts.dim_sites as select 'SH' as site_id, 'Asia/Shanghai' as timezone",
    f"""create table marts.dim_materials as select * from (values
        ('RM-1', 'Resin', '{GTIN_RM}', 'KG'), ('CMP-2', 'Valve', null, 'EA'),
        ('SUB-1', 'Tube set', null, 'EA'), ('FG-1', 'Catheter', '{GTIN_FG}', 'EA'))
        t(material_id, description, gtin, uom)""",
    """create table marts.dim_lots as select lot_id, material_id, 'SH' as site_id, origin, supplier_id,
        supplier_lot, status, cast(expiry as date) as expiry_date, cast(made as date) as manufacture_date,
        cast(changed as timestamp) as status_changed_at from (values
        ('R1', 'RM-1', 'received', 'SUP1', 'S-77', 'released', null, null, '2026-09-01 10:00:00'),
        ('R2', 'CMP-2', 'received', 'SUP2', null, 'on_hold', null, null, '2026-09-02 11:00:00'),
        ('S1', 'SUB-1', 'produced', null, null, 'released', '2028-01-31', '2026-10-01',
         '2026-10-01 17:00:00'),
        ('F1', 'FG-1', 'produced', null, null, 'released', '2028-06-30', '2026-10-02', '2026-10-02 18:00:00'))
        t(lot_id, material_id, origin, supplier_id, supplier_lot, status, expiry, made, changed)""",
    """create table marts.fct_lot_genealogy_edges as select parent_lot_id, child_lot_id, wo_id,
        component_material_id, cast(qty as decimal(18, 6)) as qty, cast(ts as timestamp) as consumed_at
        from (values ('R1', 'S1', 'WO1', 'RM-1', 2.5, '2026-10-01 08:00:00'),
                     ('S1', 'F1', 'WO2', 'SUB-1', 10, '2026-10-02 09:00:00'),
                     ('R2', 'F1', 'WO2', 'CMP-2', 4, '2026-10-02 09:30:00'))
        t(parent_lot_id, child_lot_id, wo_id, component_material_id, qty, ts)""",
    """create table marts.fct_work_orders as select wo_id, 'SH' as site_id, material_id, output_lot_id,
        cast(qty as decimal(18, 6)) as qty_planned, cast(qty as decimal(18, 6)) as qty_completed,
        cast(done as timestamp) as actual_end from (values
        ('WO1', 'SUB-1', 'S1', 10, '2026-10-01 17:00:00'), ('WO2', 'FG-1', 'F1', 7, '2026-10-02 18:00:00'))
        t(wo_id, material_id, output_lot_id, qty, done)""",
    """create table marts.fct_inventory_movements as select 'M1' as movement_id, 'R1' as lot_id,
        'SH' as site_id, cast(100 as decimal(18, 6)) as qty, timestamp '2026-09-01 10:00:00' as moved_at,
        'receipt' as movement_type, 'PO-1' as reference_id""",
    """create table marts.fct_lot_shipments as select shipment_id, 'SO-5' as so_id, line as so_line,
        'C1' as customer_id, 'FG-1' as material_id, 'F1' as lot_id, serial,
        cast(qty as decimal(18, 6)) as qty,
        cast(ts as timestamp) as shipped_at, cast(null as timestamp) as delivered_at from (values
        ('SH1', 1, '1', 1, '2026-10-03 09:00:00'), ('SH1', 1, '2', 1, '2026-10-03 09:00:00'),
        ('SH2', 2, null, 5, '2026-10-04 10:00:00'))
        t(shipment_id, line, serial, qty, ts)""",
    "create table marts.dim_customers as select 'C1' as customer_id, 'City Hospital' as name",
]

MASTER = {
    "sites.csv": "site_id,name,country,timezone\nSH,Shanghai plant,CN,Asia/Shanghai\n",
    "materials.csv": (
        "material_id,description,material_type,uom,gtin,lot_controlled,serial_controlled,status\n"
        f"RM-1,Resin,raw,KG,{GTIN_RM},true,false,active\n"
        "CMP-2,Valve,component,EA,,true,false,active\n"
        "SUB-1,Tube set,subassembly,EA,,true,false,active\n"
        f"FG-1,Catheter,finished_good,EA,{GTIN_FG},true,true,active\n"
    ),
    "suppliers.csv": "supplier_id,name,approval_status\nSUP1,Acme,approved\nSUP2,Borealis,approved\n",
    "customers.csv": "customer_id,name\nC1,City Hospital\n",
}

SOURCES = f"""
sources:
  regulator-copy:
    kind: epcis
    path: inbox
    materials: {{"{GTIN_RM}": RM-1, "{GTIN_FG}": FG-1}}
    entities: {ENTITIES}
"""


@pytest.fixture
def marts() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    for sql in MARTS:
        con.execute(sql)
    return con


def _read_back(tmp_path: Path, document: dict) -> duckdb.DuckDBPyConnection:
    settings = Settings(data_dir=tmp_path / "data")
    con = duckdb.connect(str(tmp_path / "copy.duckdb"))
    load_master(con, tmp_path / "master", settings, MASTER)
    (tmp_path / "inbox").mkdir()
    write_document(tmp_path / "inbox" / "trace.jsonld", document)
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (source,) = load_sources(tmp_path / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["rows_rejected"] == 0, con.execute("select reason from meta.rejects").fetchall()
    return con


def _edges(con: duckdb.DuckDBPyConnection) -> set[tuple]:
    rows = con.execute(
        """select c.component_lot_id, w.output_lot_id, c.wo_id, c.component_material_id, c.qty
        from raw.lot_consumption c join raw.work_orders w on c.wo_id = w.wo_id
        where w.output_lot_id is not null"""
    ).fetchall()
    return {(p, c, w, m, Decimal(q)) for p, c, w, m, q in rows}


E_R1_S1 = ("R1", "S1", "WO1", "RM-1", Decimal("2.5"))
E_S1_F1 = ("S1", "F1", "WO2", "SUB-1", Decimal(10))
E_R2_F1 = ("R2", "F1", "WO2", "CMP-2", Decimal(4))
LOT_R1 = ("R1", "RM-1", "received", "SUP1", None)
LOT_R2 = ("R2", "CMP-2", "received", "SUP2", None)
LOT_S1 = ("S1", "SUB-1", "produced", None, "2028-01-31")
LOT_F1 = ("F1", "FG-1", "produced", None, "2028-06-30")
RECEIPT_R1 = ("R1", Decimal(100), "2026-09-01 10:00:00", "PO-1")  # Shanghai wall time kept, and the po
SHIPPED = [
    ("SH1", "SO-5", 1, "C1", "F1", "1", Decimal(1), "2026-10-03 09:00:00"),
    ("SH1", "SO-5", 1, "C1", "F1", "2", Decimal(1), "2026-10-03 09:00:00"),
    ("SH2", "SO-5", 2, "C1", "F1", None, Decimal(5), "2026-10-04 10:00:00"),
]
# (start lot, direction): the edges the trace follows, the lots, receipts and shipments read back
CASES = {
    ("R1", "forward"): ({E_R1_S1, E_S1_F1}, {LOT_R1, LOT_S1, LOT_F1}, [RECEIPT_R1], SHIPPED),
    # S1 is made by WO1, which a forward trace does not reach: a commissioning ObjectEvent says where it is
    ("S1", "forward"): ({E_S1_F1}, {LOT_S1, LOT_F1}, [], SHIPPED),
    ("F1", "backward"): ({E_R1_S1, E_S1_F1, E_R2_F1}, {LOT_R1, LOT_R2, LOT_S1, LOT_F1}, [RECEIPT_R1], []),
}


@pytest.mark.parametrize(("lot", "direction"), list(CASES))
def test_a_trace_written_as_epcis_reads_back_to_the_same_genealogy(
    marts, tmp_path: Path, lot: str, direction: str
) -> None:
    edges, lots, receipts, shipments = CASES[(lot, direction)]
    result = trace(marts, lot, direction)  # type: ignore[arg-type]
    traced = {
        (
            e["parent_lot_id"],
            e["child_lot_id"],
            e["wo_id"],
            e["component_material_id"],
            Decimal(str(e["qty"])),
        )
        for e in result["edges"]
    }
    assert traced == edges
    document = trace_document(marts, result, now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    parse_document(json.dumps(document, default=str))  # a valid EPCIS 2.0 document
    copy = _read_back(tmp_path, document)
    assert _edges(copy) == traced
    q = "select lot_id, material_id, origin, supplier_id, cast(expiry_date as varchar) from raw.lots"
    assert set(copy.execute(q).fetchall()) == lots
    q = "select lot_id, qty, cast(moved_at as varchar), reference_id from raw.inventory_movements"
    assert copy.execute(q).fetchall() == receipts
    q = (
        "select shipment_id, so_id, so_line, customer_id, lot_id, serial, qty, cast(shipped_at as varchar) "
        "from raw.shipments order by 1, 6"
    )
    assert copy.execute(q).fetchall() == shipments


def test_medtower_trace_epcis_writes_the_document(marts, tmp_path: Path) -> None:
    """The CLI path end to end on a published warehouse of the hand-written marts."""
    data = tmp_path / "data"
    data.mkdir()
    db = data / "warehouse-1.duckdb"
    file = duckdb.connect(str(db))
    file.execute("create schema marts")
    for sql in MARTS:
        file.execute(sql)
    for extra in ("fct_inspections", "fct_nonconformances"):
        file.execute(f"create table marts.{extra} (lot_id varchar)")
    file.close()
    (data / "warehouse.duckdb").symlink_to(db.name)
    out = tmp_path / "F1.jsonld"
    exe = str(Path(sys.executable).with_name("medtower"))
    run = subprocess.run(
        [exe, "trace", "F1", "--direction", "backward", "--epcis", str(out)],
        env={"MEDTOWER_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"4 EPCIS events written to {out}" in run.stdout  # receipts of R1, R2 and WO1, WO2
    document = parse_document(out.read_bytes())
    kinds = sorted(e["type"] for e in document["epcisBody"]["eventList"])
    assert kinds == ["ObjectEvent", "ObjectEvent", "TransformationEvent", "TransformationEvent"]
