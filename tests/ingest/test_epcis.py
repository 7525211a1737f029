"""The epcis kind: a hand-written EPCIS 2.0 document pulled through pull_source into a real warehouse.

Master data (a site in Shanghai, two materials with GTINs, a supplier, a customer) is ingested from a drop
folder first; the expected rows are worked out by hand from the document below (times: UTC + 8 h).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from ingest.load import ingest_folder
from ingest.sources import load_sources
from ingest.sources.runner import pull_source
from medtower.settings import Settings


def gtin14(body: str) -> str:
    """A GTIN-14 from its 13 leading digits: GS1 mod-10, weights 3 and 1 from the right (by hand)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


# sgtin 9521234.012345.x -> indicator 0, company prefix 9521234, item 12345; 9521234.054321 likewise
GTIN_RM = gtin14("0952123412345")
GTIN_FG = gtin14("0952123454321")

MASTER = {
    "sites.csv": "site_id,name,country,timezone\nSH,Shanghai plant,CN,Asia/Shanghai\n",
    "materials.csv": (
        "material_id,description,material_type,uom,gtin,lot_controlled,serial_controlled,status\n"
        f"RM-1,Polymer resin,raw,KG,{GTIN_RM},true,false,active\n"
        f"FG-1,Catheter,finished_good,EA,{GTIN_FG},true,true,active\n"
    ),
    "suppliers.csv": "supplier_id,name,approval_status\nSUP1,Acme Polymers,approved\n",
    "customers.csv": "customer_id,name\nC1,City Hospital\n",
}

# the contract entities an epcis source loads here (scans: no packing in these documents)
ENTITIES = "{lots: {}, work_orders: {}, inventory_movements: {}, lot_consumption: {}, shipments: {}}"
SOURCES = f"""
sources:
  epcis-in:
    kind: epcis
    path: inbox
    sites: {{"urn:epc:id:sgln:9521234.00001.0": SH}}
    materials: {{"{GTIN_RM}": RM-1, "{GTIN_FG}": FG-1}}
    suppliers: {{"urn:epc:id:pgln:9529999.00001": SUP1}}
    customers: {{"urn:epc:id:pgln:9528888.00001": C1}}
    max_bytes: 100000
    entities: {ENTITIES}
"""

SITE = {"id": "urn:epc:id:sgln:9521234.00001.0"}


def _event(kind: str, eid: str, at: str, **fields: object) -> dict:
    return {"type": kind, "eventID": eid, "eventTime": at, "eventTimeZoneOffset": "+08:00", **fields}


DOCUMENT = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2026-11-03T00:00:00Z",
    "epcisBody": {
        "eventList": [
            _event(
                "ObjectEvent",
                "urn:uuid:e1",
                "2026-11-02T01:00:00Z",
                action="OBSERVE",
                bizStep="receiving",
                disposition="in_progress",
                bizLocation=SITE,
                quantityList=[
                    {"epcClass": "urn:epc:class:lgtin:9521234.012345.R-100", "quantity": 50, "uom": "KGM"}
                ],
                sourceList=[{"type": "owning_party", "source": "urn:epc:id:pgln:9529999.00001"}],
                bizTransactionList=[
                    {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:9529999000018:PO-7"}
                ],
            ),
            _event(
                "TransformationEvent",
                "urn:uuid:e2",
                "2026-11-02T06:30:00+08:00",
                bizStep="urn:epcglobal:cbv:bizstep:commissioning",
                readPoint=SITE,
                inputQuantityList=[
                    {"epcClass": "urn:epc:class:lgtin:9521234.012345.R-100", "quantity": 20, "uom": "KGM"}
                ],
                outputEPCList=[f"urn:epc:id:sgtin:9521234.054321.{n}" for n in (1, 2, 3)],
                ilmd={"cbvmda:lotNumber": "F-200", "cbvmda:itemExpirationDate": "2028-06-30"},
            ),
            _event(
                "ObjectEvent",
                "urn:uuid:e3",
                "2026-11-02T08:00:00Z",
                action="ADD",
                bizStep="commissioning",
                disposition="active",
                readPoint=SITE,
                epcList=["urn:epc:id:sgtin:9521234.054321.4"],
                ilmd={"cbvmda:lotNumber": "F-201", "cbvmda:itemExpirationDate": "2028-07-31"},
            ),
            _event(
                "ObjectEvent",
                "urn:uuid:e4",
                "2026-11-03T02:00:00Z",
                action="OBSERVE",
                bizStep="shipping",
                readPoint=SITE,
                epcList=["urn:epc:id:sgtin:9521234.054321.1", "urn:epc:id:sgtin:9521234.054321.2"],
                destinationList=[{"type": "owning_party", "destination": "urn:epc:id:pgln:9528888.00001"}],
                bizTransactionList=[
                    {"type": "po", "bizTransaction": "https://hospital.example/po/SO-9"},
                    {"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:9521234000017:DESADV-1"},
                ],
            ),
            _event(
                "ObjectEvent",
                "urn:uuid:e5",
                "2026-11-03T03:00:00Z",
                action="OBSERVE",
                bizStep="sensor_reporting",
                readPoint=SITE,
                epcList=["urn:epc:id:sgtin:9521234.054321.3"],
                sensorElementList=[{"sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}]}],
            ),
        ]
    },
}


def load_master(
    con: duckdb.DuckDBPyConnection, folder: Path, settings: Settings, files: dict[str, str]
) -> None:
    """The master data the documents point at, ingested from a drop folder (the real loader)."""
    folder.mkdir()
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    loaded = ingest_folder(con, folder, settings)
    assert loaded["outcome"] == "succeeded" and loaded["rejected_total"] == 0, loaded


@pytest.fixture
def plant(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Settings, Path]:
    settings = Settings(data_dir=tmp_path / "data")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    load_master(con, tmp_path / "master", settings, MASTER)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    return con, settings, tmp_path


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return [tuple(str(v) if v is not None else None for v in r) for r in con.execute(sql).fetchall()]


def test_a_document_becomes_lots_receipts_genealogy_and_shipments(plant) -> None:
    con, settings, base = plant
    (base / "inbox" / "doc-1.jsonld").write_text(json.dumps(DOCUMENT), encoding="utf-8")
    (source,) = load_sources(base / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]

    # E1 received R-100 from SUP1 (in_progress: quarantine); E2 made F-200 (expiry from ilmd); E3 commissioned
    # F-201. Times are Shanghai wall time: 01:00Z -> 09:00, 06:30+08 -> 06:30, 08:00Z -> 16:00.
    assert _rows(
        con,
        "SELECT lot_id, material_id, site_id, origin, supplier_id, supplier_lot, expiry_date, status, "
        "status_changed_at FROM raw.lots ORDER BY lot_id",
    ) == [
        ("F-200", "FG-1", "SH", "produced", None, None, "2028-06-30", "released", "2026-11-02 06:30:00"),
        ("F-201", "FG-1", "SH", "produced", None, None, "2028-07-31", "released", "2026-11-02 16:00:00"),
        ("R-100", "RM-1", "SH", "received", "SUP1", "R-100", None, "quarantine", "2026-11-02 09:00:00"),
    ]
    assert _rows(
        con,
        "SELECT movement_id, moved_at, site_id, material_id, lot_id, qty, movement_type, reference_type, "
        "reference_id FROM raw.inventory_movements",
    ) == [
        ("urn:uuid:e1#1", "2026-11-02 09:00:00", "SH", "RM-1", "R-100", "50.000000", "receipt", "po", "PO-7")
    ]
    # E2: one work order making F-200 (3 serials), consuming 20 of R-100
    assert _rows(
        con, "SELECT wo_id, material_id, site_id, qty_planned, status, output_lot_id FROM raw.work_orders"
    ) == [("urn:uuid:e2", "FG-1", "SH", "3.000000", "completed", "F-200")]
    assert _rows(
        con,
        "SELECT wo_id, component_lot_id, component_material_id, qty, consumed_at FROM raw.lot_consumption",
    ) == [("urn:uuid:e2", "R-100", "RM-1", "20.000000", "2026-11-02 06:30:00")]
    # E4: serials 1 and 2 of lot F-200 (their lot from E2's ilmd) to C1 on desadv DESADV-1, order SO-9
    assert _rows(
        con,
        "SELECT shipment_id, so_id, so_line, customer_id, material_id, lot_id, serial, qty, shipped_at "
        "FROM raw.shipments ORDER BY serial",
    ) == [
        ("DESADV-1", "SO-9", "1", "C1", "FG-1", "F-200", "1", "1.000000", "2026-11-03 10:00:00"),
        ("DESADV-1", "SO-9", "1", "C1", "FG-1", "F-200", "2", "1.000000", "2026-11-03 10:00:00"),
    ]
    assert result["rows_rejected"] == 0
    # E5 carries sensor data only: said in the result, not loaded
    (note,) = result["notes"]
    assert note["item"] == "doc-1.jsonld" and "urn:uuid:e5" in note["note"] and "sensor data" in note["note"]

    again = pull_source(con, source, settings)
    assert again["outcome"] == "succeeded" and again["batches"] == 0 and again["rows_loaded"] == 0


def test_a_document_that_is_not_epcis_is_refused_whole_and_kept(plant) -> None:
    con, settings, base = plant
    bad = json.loads(json.dumps(DOCUMENT))
    bad["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = "fifty"
    (base / "inbox" / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    (base / "inbox" / "notjson.jsonld").write_text("{not json", encoding="utf-8")
    (source,) = load_sources(base / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    failed = {f["file"]: f["error"] for f in result["failed_files"]}
    assert set(failed) == {"epcis:bad.json", "epcis:notjson.jsonld"}
    assert (
        "epcisBody.eventList[0].quantityList[0].quantity: should be a JSON number (got 'fifty')"
        in (failed["epcis:bad.json"])
    )
    assert "not JSON" in failed["epcis:notjson.jsonld"]
    assert _rows(con, "SELECT count(*) FROM raw.lots") == [("0",)]
    raws = dict(con.execute("SELECT file, raw FROM meta.rejects").fetchall())
    assert json.loads(json.loads(raws["epcis:bad.json"])["document"]) == bad  # kept as received
    assert json.loads(raws["epcis:notjson.jsonld"]) == {"document": "{not json"}


def test_links_subfolders_and_oversized_files_are_not_read(plant, tmp_path: Path) -> None:
    con, settings, base = plant
    outside = tmp_path / "outside.jsonld"
    outside.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    os.symlink(outside, base / "inbox" / "link.jsonld")
    (base / "inbox" / "sub").mkdir()
    (base / "inbox" / "sub" / "doc.jsonld").write_text(json.dumps(DOCUMENT), encoding="utf-8")
    (base / "inbox" / "huge.jsonld").write_text(" " * 100_001, encoding="utf-8")  # max_bytes: 100000
    (source,) = load_sources(base / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert [n["item"] for n in result["notes"]] == ["link.jsonld"]
    assert [f["file"] for f in result["failed_files"]] == ["epcis:huge.jsonld"]
    assert "larger than 100,000 bytes" in result["failed_files"][0]["error"]
    assert _rows(con, "SELECT count(*) FROM raw.lots") == [("0",)]


PACKING = {
    **{k: v for k, v in DOCUMENT.items() if k != "epcisBody"},
    "epcisBody": {
        "eventList": [
            _event(
                "AggregationEvent",
                "urn:uuid:p1",
                "2026-11-02T04:00:00Z",
                action="ADD",
                bizStep="packing",
                readPoint=SITE,
                parentID="urn:epc:id:sscc:9521234.0000000001",
                childEPCs=["urn:epc:id:sgtin:9521234.054321.1", "urn:epc:id:sgtin:9521234.054321.2"],
            )
        ]
    },
}


def test_packing_becomes_pack_scans_or_a_note_when_the_source_lists_no_scans(plant) -> None:
    con, settings, base = plant
    (base / "inbox" / "pack.jsonld").write_text(json.dumps(PACKING), encoding="utf-8")
    (source,) = load_sources(base / "sources.yaml")  # lists no scans
    result = pull_source(con, source, settings)
    assert [n["note"] for n in result["notes"]] == [
        "2 scans rows not loaded: the source lists no scans entity"
    ]
    (base / "sources.yaml").write_text(
        SOURCES.replace("shipments: {}}", "shipments: {}, scans: {}}"), encoding="utf-8"
    )
    (base / "inbox" / "pack.jsonld").write_text(json.dumps(PACKING, indent=1), encoding="utf-8")  # new digest
    (source,) = load_sources(base / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded" and result["rows_rejected"] == 0, result
    # each child scanned into the pallet at 04:00Z = 12:00 in Shanghai
    assert _rows(
        con, "SELECT scan_id, scanned_at, site_id, event, location, payload FROM raw.scans ORDER BY 1"
    ) == [
        (
            "urn:uuid:p1#1",
            "2026-11-02 12:00:00",
            "SH",
            "pack",
            "urn:epc:id:sscc:9521234.0000000001",
            f"(01){GTIN_FG}(21)1",
        ),
        (
            "urn:uuid:p1#2",
            "2026-11-02 12:00:00",
            "SH",
            "pack",
            "urn:epc:id:sscc:9521234.0000000001",
            f"(01){GTIN_FG}(21)2",
        ),
    ]
