"""medtower demo --ports: the same company through the ERP database, EDI, EPCIS and the scanner log.

The same demo (seed, scale, as_of) is written twice, as CSV files only and with ports; the first is ingested
from its drop folder, the second from its drop folder plus every source of its sources.yaml. Every raw table
must then hold the same rows (contract columns; the bookkeeping ones differ), so the ports lose and invent
nothing. supplier_invoices only the ports demo has: its lines and two mismatches are worked out here from
the CSV files of the first demo.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from ingest.contract import load_contract
from ingest.demo import generate
from ingest.load import ingest_folder
from ingest.sources import load_sources
from ingest.sources.runner import pull_source
from medtower.settings import Settings

AS_OF = dt.date(2026, 6, 15)
SCALE = 0.1
PORT_ENTITIES = ("purchase_orders", "asn", "supplier_invoices", "lot_consumption", "scans")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    plain = tmp_path_factory.mktemp("demo_plain")
    ported = tmp_path_factory.mktemp("demo_ports")
    generate(plain, seed=7, scale=SCALE, as_of=AS_OF)
    manifest = generate(ported, seed=7, scale=SCALE, as_of=AS_OF, ports=True)
    con_a, con_b = duckdb.connect(), duckdb.connect()
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    assert ingest_folder(con_a, plain, settings)["outcome"] == "succeeded"
    assert ingest_folder(con_b, ported, settings)["outcome"] == "succeeded"
    sources = load_sources(ported / "_ports" / "sources.yaml", env={})
    first = {s.name: pull_source(con_b, s, settings) for s in sources}
    counts = {
        e: con_b.execute(f"select count(*) from raw.{e}").fetchone()[0] for e in load_contract().entities
    }
    counts["rejects"] = con_b.execute("select count(*) from meta.rejects").fetchone()[0]
    second = {s.name: pull_source(con_b, s, settings) for s in sources}
    return {
        "plain": plain,
        "ported": ported,
        "manifest": manifest,
        "a": con_a,
        "b": con_b,
        "first": first,
        "second": second,
        "counts": counts,
    }


def test_the_ports_replace_their_csv_files(demos: dict[str, Any]) -> None:
    ported: Path = demos["ported"]
    for entity in ("purchase_orders", "scans"):
        assert not (ported / f"{entity}.csv").exists(), entity
    # what an 856 cannot carry, and the history before EDI, stay in CSV
    assert len(_rows(ported / "asn.csv")) < len(_rows(demos["plain"] / "asn.csv"))
    # and the consumption at local times EPCIS cannot give an offset (daylight saving): CSV quarantines them
    left = _rows(ported / "lot_consumption.csv")
    assert len(left) < len(_rows(demos["plain"] / "lot_consumption.csv")) / 100
    refused = {
        (json.loads(raw)["wo_id"], json.loads(raw)["component_lot_id"])
        for (raw,) in demos["a"]
        .execute("select raw from meta.rejects where entity = 'lot_consumption'")
        .fetchall()
    }
    assert {(r["wo_id"], r["component_lot_id"]) for r in left} <= refused
    assert {s: r["outcome"] for s, r in demos["first"].items()} == dict.fromkeys(
        ["erp", "edi", "epcis", "scanner"], "succeeded"
    )
    for name, result in demos["first"].items():
        assert result["rows_loaded"] > 0, name


def _contract_rows(con: duckdb.DuckDBPyConnection, entity: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"select {cols} from raw.{entity} order by all").fetchall()


def test_every_raw_table_holds_the_same_rows(demos: dict[str, Any]) -> None:
    contract = load_contract()
    for name, entity in contract.entities.items():
        if name == "supplier_invoices":
            continue
        a = _contract_rows(demos["a"], name, entity.column_names)
        b = _contract_rows(demos["b"], name, entity.column_names)
        assert a, name
        assert len(a) == len(b), name
        assert a == b, name
    # and the port entities really came through their ports
    by_file = dict(
        demos["b"]
        .execute("select split_part(_source_file, ':', 1), count(*) from raw.scans group by 1")
        .fetchall()
    )
    assert by_file == {"scanner": len(_rows(demos["plain"] / "scans.csv")) - 1}


def _invoices_expected(plain: Path) -> dict[tuple[str, int], tuple[str, Decimal, Decimal]]:
    """(po_id, po_line) -> (supplier, qty received, agreed price) of every received PO line with receipts."""
    received: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for m in _rows(plain / "inventory_movements.csv"):
        if m["movement_type"] == "receipt" and m["reference_type"] == "po":
            received[(m["reference_id"], int(m["reference_line"]))] += Decimal(m["qty"])
    price = {
        (a["supplier_id"], a["material_id"]): Decimal(a["unit_price"])
        for a in _rows(plain / "approved_suppliers.csv")
    }
    out = {}
    for r in _rows(plain / "purchase_orders.csv"):
        key = (r["po_id"], int(r["po_line"]))
        if r["status"] == "received" and received.get(key):
            out[key] = (r["supplier_id"], received[key], price[(r["supplier_id"], r["material_id"])])
    return out


def test_supplier_invoices_bill_what_was_received_but_two_lines(demos: dict[str, Any]) -> None:
    expected = _invoices_expected(demos["plain"])
    got = (
        demos["b"]
        .execute(
            "select po_id, po_line, supplier_id, qty, unit_price, invoice_id, invoice_line, invoice_date,"
            " invoice_total from raw.supplier_invoices"
        )
        .fetchall()
    )
    assert len(got) == len(expected) > 10
    assert {(r[0], r[1]) for r in got} == set(expected)
    off = set()
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for po_id, po_line, supplier, qty, price, invoice_id, line, day, _total in got:
        want_supplier, want_qty, want_price = expected[(po_id, po_line)]
        assert supplier == want_supplier
        assert day <= AS_OF
        totals[invoice_id] += qty * price
        if qty != want_qty:
            assert abs(qty - want_qty) > Decimal("0.02") * want_qty  # outside the three-way match's tolerance
            off.add(("qty", invoice_id, line))
        if price != want_price:
            assert abs(price - want_price) > Decimal("0.01") * want_price
            off.add(("price", invoice_id, line))
    planted = demos["manifest"]["ports"]["edi"]["invoice_mismatches"]
    assert off == {(m["kind"], m["invoice_id"], m["invoice_line"]) for m in planted}
    assert {m["kind"] for m in planted} == {"qty", "price"}
    for *_, invoice_id, _line, _day, total in got:
        assert total == totals[invoice_id].quantize(Decimal("0.01")), invoice_id
    # the two mismatches came by EDI 810, as did every invoice since the EDI window opened
    since = dt.date.fromisoformat(demos["manifest"]["ports"]["edi"]["since"])
    edi = (
        demos["b"]
        .execute(
            "select invoice_id, invoice_line, invoice_date from raw.supplier_invoices"
            " where _source_file like 'x12:%'"
        )
        .fetchall()
    )
    assert {(i, n) for i, n, _ in edi} >= {(m["invoice_id"], m["invoice_line"]) for m in planted}
    assert {(i, n) for i, n, _ in edi} == {(r[5], r[6]) for r in got if r[7] >= since}


def test_the_malformed_interchange_is_quarantined_whole_and_its_997_rejects_it(demos: dict[str, Any]) -> None:
    name = demos["manifest"]["ports"]["edi"]["malformed"]["file"]
    edi_dir: Path = demos["ported"] / "_ports" / "edi"
    body = (edi_dir / name).read_text()
    asn_id = body.split("BSN*00*")[1].split("*")[0]
    con = demos["b"]
    assert con.execute("select count(*) from raw.asn where asn_id = ?", [asn_id]).fetchone()[0] == 0
    rejects = con.execute(
        "select entity, reason from meta.rejects where file = ?", [f"x12:{name}"]
    ).fetchall()
    assert len(rejects) == 1
    assert rejects[0][0] == "asn" and "refused whole" in rejects[0][1] and "SE01" in rejects[0][1]
    outcomes = dict(
        con.execute("select item, outcome from meta.source_items where source = 'edi'").fetchall()
    )
    assert outcomes.pop(name) == "rejected"
    assert set(outcomes.values()) == {"loaded"}
    acks = {p.name.split(".")[0] + ".edi": p.read_text() for p in (edi_dir / "997").iterdir()}
    assert set(acks) == set(outcomes) | {name}
    assert "AK5*R*4~" in acks[name] and "AK9*R*1*1*0~" in acks[name]
    for other, ack in acks.items():
        if other != name:
            assert "AK5*R" not in ack and "AK9*A" in ack, other


def test_every_bad_row_is_quarantined_where_the_manifest_says(demos: dict[str, Any]) -> None:
    con = demos["b"]
    rejects = set(con.execute('select entity, file, line, "column" from meta.rejects').fetchall())
    bad = demos["manifest"]["bad_rows"]
    assert {b.get("port") for b in bad} >= {"erp", "scanner", None}
    for b in bad:
        matches = {r for r in rejects if r[:3] == (b["entity"], b["file"], b["line"])}
        assert matches, b


def test_a_second_pull_of_every_source_loads_nothing(demos: dict[str, Any]) -> None:
    for name, result in demos["second"].items():
        assert result["outcome"] == "succeeded", name
        assert (result["rows_loaded"], result["rows_rejected"], result["rows_removed"]) == (0, 0, 0), name
    con = demos["b"]
    for entity, n in demos["counts"].items():
        table = "meta.rejects" if entity == "rejects" else f"raw.{entity}"
        assert con.execute(f"select count(*) from {table}").fetchone()[0] == n, entity


def test_sources_yaml_uses_paths_relative_to_itself(demos: dict[str, Any]) -> None:
    path = demos["ported"] / "_ports" / "sources.yaml"
    doc = yaml.safe_load(path.read_text())["sources"]
    for name, spec in doc.items():
        if "path" in spec:
            assert not Path(spec["path"]).is_absolute(), name
            assert (path.parent / spec["path"]).is_dir(), name
    # no secret: the SQLite URL has no password, so no environment variable is needed (env={} above)
    # relative to sources.yaml (ingest/sources/sql.py), so the folder can move
    assert doc["erp"]["connection"]["url"] == "sqlite:///erp.sqlite"
    assert (path.parent / "erp.sqlite").is_file()
    ports = json.loads((demos["ported"] / "_demo_manifest.json").read_text())["ports"]
    assert ports["sources"] == "_ports/sources.yaml"
    assert set(ports) == {"sources", "erp", "edi", "epcis", "scanner"}


def test_medtower_demo_ports_writes_the_ports_and_says_where_to_point_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medtower.cli import main

    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "feed"
    assert main(["demo", "--out", str(out), "--scale", "0.02", "--as-of", "2026-12-01", "--ports"]) == 0
    printed = capsys.readouterr().out
    assert f"MEDTOWER_SOURCES={out / '_ports' / 'sources.yaml'}" in printed
    assert not (out / "purchase_orders.csv").exists() and (out / "_ports" / "erp.sqlite").is_file()
    assert main(["demo", "--out", str(tmp_path / "plain"), "--scale", "0.02", "--as-of", "2026-12-01"]) == 0
    assert "MEDTOWER_SOURCES" not in capsys.readouterr().out
    assert (tmp_path / "plain" / "purchase_orders.csv").exists() and not (
        tmp_path / "plain" / "_ports"
    ).exists()
