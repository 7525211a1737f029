"""Connector throughput: records pulled through ``ingest.sources.runner.pull_source`` per second.

    .venv/bin/python tests/benchmarks/bench_connectors.py [--sql-rows 100000] [--rest-records 20000]

Each benchmark builds its source (a SQLite ERP file, an HTTP server on 127.0.0.1), reads it with the
connector alone (no warehouse), then pulls it into a fresh DuckDB warehouse twice (cold, then the
second pull that re-reads only the boundary) and prints rows/s.
Every pull is bounded by ``pull_source(max_seconds=...)``. Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ingest.load import ingest_folder
from ingest.sources import SourceConfig, connector, load_sources
from ingest.sources.runner import pull_source
from medtower.settings import Settings
from tests.ingest.test_rest_source import Api, Endpoint
from tests.ingest.test_sql_source import PO_LINES, _seed_parents

MAX_SECONDS = 600.0


class _Nothing:
    """A pull state with nothing delivered yet: the connector alone reads everything."""

    def watermark(self, entity: str) -> str | None:
        return None

    def seen(self, item: str, digest: str) -> bool:
        return False


def _pull_twice(folder: Path, source: SourceConfig, settings: Settings, n: int, what: str) -> dict[str, Any]:
    con = duckdb.connect(str(folder / "wh.duckdb"))
    if (folder / "parents").is_dir():
        ingest_folder(con, folder / "parents", settings)
    out: dict[str, Any] = {"what": what, "rows": n}
    began = time.perf_counter()
    read = sum(len(b.records) for b in connector(source).pull(_Nothing()))
    seconds = time.perf_counter() - began
    out["connector_only"] = {"seconds": round(seconds, 2), "rows": read}
    print(
        f"{what}: the connector alone reads {read:,} rows in {seconds:.2f} s ({read / seconds:,.0f} rows/s)"
    )
    for run in ("first", "second"):
        began = time.perf_counter()
        result = pull_source(con, source, settings, max_seconds=MAX_SECONDS)
        seconds = time.perf_counter() - began
        if result["outcome"] != "succeeded":
            raise SystemExit(f"{what}: {run} pull failed: {result['error']}")
        out[run] = {"seconds": round(seconds, 2), "rows_loaded": result["rows_loaded"]}
        rate = n / seconds if run == "first" else result["rows_read"] / seconds
        print(
            f"{what}: {run} pull {seconds:.2f} s, {result['rows_read']:,} read, "
            f"{result['rows_loaded']:,} loaded ({rate:,.0f} rows/s)"
        )
    con.close()
    return out


def bench_sql(n: int = 100_000) -> dict[str, Any]:
    """n purchase order lines from a SQLite ERP file, in pages of 5,000 (a table, so generated SQL)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = sa.create_engine(f"sqlite:///{folder / 'erp.sqlite'}")
        with engine.begin() as conn:
            conn.execute(sa.text(PO_LINES))
            conn.exec_driver_sql(
                f"""WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < {n - 1})
                INSERT INTO po_lines SELECT 'PO-' || (n / 10), n % 10 + 1, 'SUP-1',
                    CASE n % 2 WHEN 0 THEN 'RM-1' ELSE 'CMP-2' END, 'GAL', 10 + n % 90, '2026-10-01',
                    '2026-12-01', 'open',
                    printf('2026-11-01 08:%02d:%02d.000000', n / 3600 % 60, n / 60 % 60), 0 FROM i"""
            )
        engine.dispose()
        (folder / "sources.yaml").write_text(
            """
sources:
  erp:
    kind: sql
    connection: {url_env: ERP_URL}
    entities:
      purchase_orders:
        table: po_lines
        columns: {po_id: po_no, po_line: line_no, supplier_id: supplier, material_id: item_code,
                  site_id: site, qty_ordered: qty, requested_date: required_by, updated_at: modified}
        cursor: modified
        deleted_flag: is_deleted
""",
            encoding="utf-8",
        )
        (source,) = load_sources(
            folder / "sources.yaml", env={"ERP_URL": f"sqlite:///{folder / 'erp.sqlite'}"}
        )
        _seed_parents(folder / "parents")
        return _pull_twice(folder, source, Settings(data_dir=folder / "data"), n, "sql (SQLite)")


def bench_rest(n: int = 20_000, page: int = 500) -> dict[str, Any]:
    """n CAPA records over HTTP from a server on 127.0.0.1, cursor-paged by ``page``, bearer auth."""
    records = [
        {
            "capa_id": f"CAPA-{i}",
            "opened_at": "2026-10-01T09:00:00",
            "due_date": "2026-12-31",
            "status": "open",
            "updated_at": f"2026-11-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
        }
        for i in range(n)
    ]
    api = Api()
    api.endpoints["/api/capas"] = Endpoint(records, "cursor", page=page)
    api.authorization = "Bearer bench"
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "sources.yaml").write_text(
                f"""
sources:
  qms:
    kind: rest
    connection: {{base_url: "{api.url}", auth: bearer, token_env: QMS_TOKEN, timeout: 30}}
    entities:
      capas:
        endpoint: /api/capas
        records: data.items
        paging: cursor
        next_cursor: paging.next
        since_param: updated_since
        cursor: updated_at
""",
                encoding="utf-8",
            )
            (source,) = load_sources(folder / "sources.yaml", env={"QMS_TOKEN": "bench"})
            out = _pull_twice(folder, source, Settings(data_dir=folder / "data"), n, "rest (HTTP)")
            out["requests"] = len(api.requests)
            return out
    finally:
        api.shutdown()
        api.server_close()
        thread.join(timeout=5)


def bench_epcis(n: int = 10_000, per_document: int = 1_000) -> dict[str, Any]:
    """n EPCIS 2.0 events in documents of ``per_document``: receipts, transformations and shipments."""
    gtin = "09521234123453"  # sgtin / lgtin 9521234.012345
    site = {"id": "urn:epc:id:sgln:9521234.00001.0"}

    def event(i: int) -> dict[str, Any]:
        at = f"2026-11-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        lot = f"urn:epc:class:lgtin:9521234.012345.L{i // 3}"
        common = {"eventID": f"urn:uuid:bench-{i}", "eventTime": at, "eventTimeZoneOffset": "+00:00"}
        if i % 3 == 0:
            return {
                "type": "ObjectEvent",
                **common,
                "action": "OBSERVE",
                "bizStep": "receiving",
                "bizLocation": site,
                "quantityList": [{"epcClass": lot, "quantity": 100, "uom": "KGM"}],
            }
        if i % 3 == 1:
            return {
                "type": "TransformationEvent",
                **common,
                "bizStep": "commissioning",
                "readPoint": site,
                "inputQuantityList": [{"epcClass": lot, "quantity": 10}],
                "outputQuantityList": [{"epcClass": lot + "-P", "quantity": 5}],
            }
        return {
            "type": "ObjectEvent",
            **common,
            "action": "OBSERVE",
            "bizStep": "shipping",
            "readPoint": site,
            "quantityList": [{"epcClass": lot + "-P", "quantity": 5}],
            "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:9528888.00001"}],
            "bizTransactionList": [
                {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:9528888000010:SO-{i}"}
            ],
        }

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "inbox").mkdir()
        for start in range(0, n, per_document):
            doc = {
                "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": "2026-11-02T00:00:00Z",
                "epcisBody": {"eventList": [event(i) for i in range(start, min(n, start + per_document))]},
            }
            (folder / "inbox" / f"doc-{start:08d}.jsonld").write_text(json.dumps(doc), encoding="utf-8")
        parents = folder / "parents"
        parents.mkdir()
        (parents / "sites.csv").write_text("site_id,name,timezone\nSH,Shanghai,Asia/Shanghai\n")
        (parents / "materials.csv").write_text(
            "material_id,description,material_type,uom,gtin,lot_controlled,serial_controlled,status\n"
            f"RM-1,Resin,raw,KG,{gtin},true,false,active\n"
        )
        (parents / "customers.csv").write_text("customer_id,name\nC1,City Hospital\n")
        (folder / "sources.yaml").write_text(
            f"""
sources:
  epcis-in:
    kind: epcis
    path: inbox
    sites: {{"urn:epc:id:sgln:9521234.00001.0": SH}}
    materials: {{"{gtin}": RM-1}}
    customers: {{"urn:epc:id:pgln:9528888.00001": C1}}
    entities:
      {{lots: {{}}, work_orders: {{}}, inventory_movements: {{}}, lot_consumption: {{}}, shipments: {{}}}}
""",
            encoding="utf-8",
        )
        (source,) = load_sources(folder / "sources.yaml")
        return _pull_twice(folder, source, Settings(data_dir=folder / "data"), n, "epcis (events)")


def bench_x12(n: int = 200, lines: int = 10) -> dict[str, Any]:
    """n EDI X12 interchanges (one file each): an 856 of ``lines`` item HLs, an 810 of ``lines`` lines."""
    from tests.ingest.test_x12 import interchange, transaction, x12

    n = min(n, 100_000)  # bounded: one file per interchange
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inbound = folder / "inbound"
        inbound.mkdir()
        for k in range(n):
            asn = [f"BSN*00*SHIP-{k}*20261115*0930", "HL*1**S", "DTM*011*20261115*0930"]
            asn += ["HL*2*1*O", "PRF*PO-1"]
            invoice = [f"BIG*20261120*INV-{k}*20261101*PO-1", "CUR*SE*EUR"]
            for i in range(lines):
                m = f"RM-{i}"
                asn += [f"HL*{i + 3}*2*I", f"LIN*{i + 1}*BP*{m}*LT*L{k}-{i}*PL*{i + 1}", f"SN1*1*{10 + i}*EA"]
                asn.append("DTM*036*20280131")
                invoice.append(f"IT1*{i + 1}*{10 + i}*EA*2.50**BP*{m}")
            groups = [("SH", str(2 * k + 1), [transaction("856", "0001", asn)])]
            groups.append(("IN", str(2 * k + 2), [transaction("810", "0002", invoice)]))
            body = x12(interchange("ACMESUP", "OURCO", f"{k + 1:09d}", groups))
            (inbound / f"acme_{k:06d}.edi").write_text(body, encoding="utf-8")
        parents = folder / "parents"
        parents.mkdir()
        (parents / "sites.csv").write_text("site_id,name,timezone\nS1,Galway,UTC\n")
        (parents / "suppliers.csv").write_text("supplier_id,name,approval_status\nSUP-A,Acme,approved\n")
        (parents / "materials.csv").write_text(
            "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
            + "".join(f"RM-{i},Resin {i},raw,EA,true,false,active\n" for i in range(lines))
        )
        (folder / "sources.yaml").write_text(
            """
sources:
  acme-edi:
    kind: x12
    path: inbound
    partners: {ACMESUP: SUP-A}
    entities: {purchase_orders: {}, asn: {}, supplier_invoices: {}}
""",
            encoding="utf-8",
        )
        (source,) = load_sources(folder / "sources.yaml")
        return _pull_twice(folder, source, Settings(data_dir=folder / "data"), n * 2 * lines, "x12 (EDI)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sql-rows", type=int, default=100_000)
    parser.add_argument("--rest-records", type=int, default=20_000)
    parser.add_argument("--epcis-events", type=int, default=10_000)
    parser.add_argument("--x12-interchanges", type=int, default=200)
    args = parser.parse_args()
    bench_sql(args.sql_rows)
    bench_rest(args.rest_records)
    bench_epcis(args.epcis_events)
    bench_x12(args.x12_interchanges)


if __name__ == "__main__":
    main()
