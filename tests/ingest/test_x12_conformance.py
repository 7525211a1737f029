"""The X12 conformance corpus (../shared/conformance/x12, 12 files): each file read by the product, compared
with its expected reading in SOURCES.md, well-formed or not and why, and what its business content is.

Every verdict below is the corpus' one (12 of 12 agree); ingest/README.md, "EDI X12", lists the one tolerance
that gets there (an ISA value padded past its width is read, as stupidedi does).
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.sources import load_sources
from ingest.sources.runner import pull_source
from ingest.sources.x12 import read_x12
from medtower.settings import Settings
from tests.conftest import REPO

CORPUS = REPO.parent / "shared" / "conformance" / "x12"

# file -> the fault texts SOURCES.md's "why" implies (empty: well-formed)
VERDICTS: dict[str, list[str]] = {
    "stupidedi_004010_PO850_pass_1.edi": [],
    "stupidedi_003010_PO850_fail_1.edi": [
        "the ISA is not fixed width: ISA02 is 1 characters (10 required), ISA04 is 1 characters",
        "transaction set 850 0001: SE01 says 28 segments, ST to SE has 27",
    ],
    "stupidedi_003050_PO850_fail_1.edi": ["a line break inside the ISA", "the ISA is not fixed width"],
    "stupidedi_004010_PR855_pass_1.edi": [],
    "stupidedi_004010_PR855_fail_2.edi": [
        "a line break inside the ISA (in ISA10)",
        "the ISA is not fixed width",
    ],
    "stupidedi_004010_SH856_fail_2.edi": [
        "segment 13 (N1): a line break inside the segment (the segment terminator is '$')",
        "transaction set 856 0000001: SE01 says 25 segments, ST to SE has 22",
    ],
    "stupidedi_002001_SH856_fail_1.edi": ["the ISA is not fixed width"],
    "stupidedi_004010_IN810_pass_1.edi": [],
    "nodex12_850.edi": [],
    "nodex12_850_3.edi": [],
    "nodex12_855.edi": [],
    "nodex12_856.edi": [],
}


def _records(name: str) -> list[dict[str, Any]]:
    reading = read_x12((CORPUS / name).read_bytes())
    return [{k: v for k, v in r.items() if k != "_raw"} for _, _, recs in reading.records for r in recs]


def test_the_corpus_is_where_the_tests_expect_it() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.edi")) == sorted(VERDICTS)


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_each_file_is_read_as_sources_md_says(name: str) -> None:
    reading = read_x12((CORPUS / name).read_bytes())
    expected = VERDICTS[name]
    if not expected:
        assert reading.faults == [], reading.faults
        return
    assert len(reading.faults) == len(expected), reading.faults
    for fault, why in zip(reading.faults, expected, strict=True):
        assert why in fault


def _pick(records: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in records]


def test_850s() -> None:
    (line,) = _records("stupidedi_004010_PO850_pass_1.edi")
    assert (line["po_id"], line["order_date"], line["qty_ordered"], line["uom"], line["unit_price"]) == (
        "PO12345",
        "2026-07-09",
        "1",
        "EA",
        "10.00",
    )
    assert line["product_ids"] == "VN:VENDORSKU"

    lines = _records("nodex12_850.edi")
    assert {(r["po_id"], r["order_date"], r["requested_date"]) for r in lines} == {
        ("08292233294", "2010-11-27", "2010-12-14")
    }
    # PO1 pairs: CB buyer catalog, PR RO (as sent), VN vendor item
    assert _pick(lines, "po_line", "qty_ordered", "unit_price", "product_ids") == [
        (1, "120", "9.25", "CB:065322-117;PR:RO;VN:AB3542"),
        (2, "220", "13.79", "CB:066850-116;PR:RO;VN:RD5322"),
        (3, "126", "10.99", "CB:060733-110;PR:RO;VN:XY5266"),
        (4, "76", "4.35", "CB:065308-116;PR:RO;VN:VX2332"),
        (5, "72", "7.5", "CB:065374-118;PR:RO;VN:RV0524"),
        (6, "696", "9.55", "CB:067504-118;PR:RO;VN:DX1875"),
    ]
    # AMT*1 13045.94 is the sum of qty x price (SOURCES.md)
    assert sum(Decimal(r["qty_ordered"]) * Decimal(r["unit_price"]) for r in lines) == Decimal("13045.94")

    (line,) = _records("nodex12_850_3.edi")  # newline terminators
    assert _pick([line], "po_id", "order_date", "qty_ordered", "uom", "unit_price") == [
        ("----------", "2016-04-26", "1", "KI", "225")
    ]
    assert line["product_ids"].startswith("VN:UNKNOWN;") and "SK:000000000001010700" in line["product_ids"]


def test_855s() -> None:
    (line,) = _records("stupidedi_004010_PR855_pass_1.edi")
    assert (line["po_id"], line["po_line"], line["acknowledged_at"], line["ack_type"]) == (
        "1D711419",
        1,
        "2017-04-25T00:00:00",
        "AT",
    )
    lines = _records("nodex12_855.edi")
    assert _pick(lines, "po_id", "po_line", "ack_status", "status") == [
        ("POTEST1112", 1, "IA", None),
        ("POTEST1112", 2, "IR", "cancelled"),
        ("POTEST1112", 3, "IR", "cancelled"),
        ("POTEST1112", 4, "IA", None),
    ]
    assert {r["ack_type"] for r in lines} == {"AD"}


def test_856s() -> None:
    lines = _records("nodex12_856.edi")
    assert _pick(lines, "asn_id", "po_id", "qty_shipped", "product_ids", "supplier_lot", "expiry_date") == [
        ("829716", "99999817", "24", "VP:87787D;UP:999999310145", None, None),
        ("829716", "99999817", "6", "VP:99887D;UP:999999311746", None, None),
    ]
    assert {r["shipped_at"][:10] for r in lines} == {"2011-12-06"}

    # refused for its ISA alone: the rest reads cleanly, two 856s with nested HL levels; REF*LS is no lot
    lines = _records("stupidedi_002001_SH856_fail_1.edi")
    assert _pick(lines, "asn_id", "material_id", "po_id", "qty_shipped", "supplier_lot") == [
        ("35100", "7389141G01", "RG61372", "1000", None),
        ("35100", "6500012G00", "SH89457", "176", None),
        ("35100", "7340912G00", "SG88287", "100", None),
        ("35100", "7450013G00", "SH75457", "156", None),
        ("02", "3104982G00", "SH34227", "234", None),
        ("02", "8930212G01", "SG87362", "25", None),
    ]


def test_810() -> None:
    lines = _records("stupidedi_004010_IN810_pass_1.edi")  # '|' element separator
    assert _pick(
        lines, "invoice_id", "invoice_date", "po_id", "qty", "unit_price", "uom", "invoice_total"
    ) == [
        ("00237058", "2021-11-18", "0691-0014403", "4", "70", None, "285.66"),
        ("00237058", "2021-11-18", "0691-0014403", "1", "5.66", None, "285.66"),
    ]
    assert [r["product_ids"] for r in lines] == ["EN:9781501331978;GC:01", "EN:9780316154680;GC:02"]


def test_the_corpus_pulled_as_one_folder(tmp_path: Path) -> None:
    """Through the connector: the five broken files refused whole, each answered with a TA1 (envelope) or a
    997 (the segment count of SH856_fail_2); the seven others answered with a 997 accepting them."""
    inbound = tmp_path / "inbound"
    shutil.copytree(CORPUS, inbound, ignore=shutil.ignore_patterns("*.md"))
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  corpus:\n    kind: x12\n    path: inbound\n"
        "    entities: {purchase_orders: {}, asn: {}, supplier_invoices: {}}\n",
        encoding="utf-8",
    )
    (source,) = load_sources(path)
    con = duckdb.connect()
    result = pull_source(con, source, Settings(data_dir=tmp_path / "data"))
    assert result["outcome"] == "succeeded", result["error"]
    refused = sorted(f["file"].removeprefix("x12:") for f in result["failed_files"])
    assert refused == sorted(n for n, why in VERDICTS.items() if why)
    acks = {p.name.split(".")[0]: p.name.split(".")[-2] for p in (inbound / "997").iterdir()}
    assert acks == {
        **{n.removesuffix(".edi"): "997" for n, why in VERDICTS.items() if not why},
        "stupidedi_003010_PO850_fail_1": "ta1",
        "stupidedi_003050_PO850_fail_1": "ta1",
        "stupidedi_004010_PR855_fail_2": "ta1",
        "stupidedi_002001_SH856_fail_1": "ta1",
        "stupidedi_004010_SH856_fail_2": "997",
    }
    ta1 = next((inbound / "997").glob("stupidedi_002001_SH856_fail_1.*")).read_text()
    # TA1*control*date*time*R*011: ISA02 (authorization information) is invalid
    assert "TA1*000000001*070101*1130*R*011!" in ta1
