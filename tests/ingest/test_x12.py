"""The X12 connector end to end: interchanges written here, pulled through pull_source into a warehouse that
holds our purchase orders (loaded from a drop folder), every expected value worked out by hand below.

Stored (drop folder): site S1; materials RM-1, RM-2 (EA); supplier SUP-A (ISA id ACMESUP, sources.yaml
partners); PO-100 line 1 RM-1 100 EA requested 2026-11-20, line 2 RM-2 50 EA requested 2026-11-25, both open.

acme_0001.edi (one interchange, two groups):
  855 for PO-100, ack date 2026-11-02: line 1 accepted (IA) for delivery 2026-11-18 (ACK04 067); line 2
      rejected (IR)                  -> PO-100/1 confirmed 2026-11-18, PO-100/2 cancelled, both acknowledged
                                        2026-11-02 00:00, nothing else of the PO changes
  856 SHIP-9 shipped 2026-11-15 09:30, order HL PRF PO-100, two item HLs for PO line 1 (LIN PL 1):
      60 EA lot LOT-A1 (LIN LT) expiring 2028-01-31 (DTM 036); 40 EA lot LOT-A2 (REF LT), no expiry
acme_0002.edi ('|' elements, newline terminators): 810 INV-77 of 2026-11-20 for PO-100 in EUR,
      line 1 100 EA @ 2.50 (IT101 1), line 2 50 EA @ 4.10 (IT101 2); TDS 45500 = 455.00 = 250.00 + 205.00
acme_0003.edi: an 856 whose SE01 says 8 while ST..SE holds 9 segments -> refused whole, 997 AK5 R 4, AK9 R
po_850.edi (our PO as sent, OURCO -> ACMESUP): line 1 100 RM-1 (as stored), line 2 60 RM-2 (we hold 50),
      line 3 (we hold none)          -> 2 quarantined, the stored PO untouched
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.load import ingest_folder
from ingest.sources import SourceConfigError, load_sources
from ingest.sources.runner import pull_source
from ingest.sources.x12 import X12Connector, read_x12
from medtower.settings import Settings

DROP = {
    "sites.csv": "site_id,name,country,timezone\nS1,Galway,IE,UTC\n",
    "materials.csv": "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
    "RM-1,Resin,raw,EA,true,false,active\nRM-2,Film,raw,EA,true,false,active\n",
    "suppliers.csv": "supplier_id,name,approval_status\nSUP-A,Acme Polymers,approved\n",
    "purchase_orders.csv": "po_id,po_line,supplier_id,material_id,site_id,qty_ordered,order_date,"
    "requested_date,status\n"
    "PO-100,1,SUP-A,RM-1,S1,100,2026-11-01,2026-11-20,open\n"
    "PO-100,2,SUP-A,RM-2,S1,50,2026-11-01,2026-11-25,open\n",
}

SOURCES = """
sources:
  acme-edi:
    kind: x12
    every_minutes: 15
    path: inbound
    partners: {ACMESUP: SUP-A}
    entities:
      purchase_orders: {}
      asn: {}
      supplier_invoices: {}
"""


def isa(sender: str, receiver: str, control: str, es: str = "*", cs: str = ">") -> str:
    """A fixed-width ISA (106 characters with its terminator), ids padded to 15."""
    fields = ["00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15)]
    fields += ["261120", "0800", "U", "00401", control, "0", "P", cs]
    return "ISA" + "".join(es + f for f in fields)


def transaction(
    set_id: str, control: str, body: list[str], es: str = "*", count: int | None = None
) -> list[str]:
    """ST, the body, SE with the segment count (ST and SE included) or ``count`` to break it."""
    n = count if count is not None else len(body) + 2
    return [f"ST{es}{set_id}{es}{control}", *body, f"SE{es}{n}{es}{control}"]


def interchange(
    sender: str, receiver: str, control: str, groups: list[tuple[str, str, list[list[str]]]], es: str = "*"
) -> list[str]:
    segs = [isa(sender, receiver, control, es)]
    for func, gctrl, sets in groups:
        segs.append(es.join(["GS", func, sender, receiver, "20261120", "0800", gctrl, "X", "004010"]))
        for s in sets:
            segs += s
        segs.append(f"GE{es}{len(sets)}{es}{gctrl}")
    segs.append(f"IEA{es}{len(groups)}{es}{control}")
    return segs


def x12(segments: list[str], term: str = "~\n") -> str:
    # the ISA carries its terminator as its last character: the first character of ``term``
    return segments[0] + term + "".join(s + term for s in segments[1:])


ACK_855 = transaction(
    "855",
    "0001",
    [
        "BAK*00*AC*PO-100*20261101****ACK-1*20261102",
        "PO1*1*100*EA*2.50**BP*RM-1",
        "ACK*IA*100*EA*067*20261118",
        "PO1*2*50*EA*4.00**BP*RM-2",
        "ACK*IR*0*EA",
    ],
)
ASN_856 = transaction(
    "856",
    "0002",
    [
        "BSN*00*SHIP-9*20261115*0930",
        "HL*1**S",
        "DTM*011*20261115*0930",
        "HL*2*1*O",
        "PRF*PO-100",
        "HL*3*2*I",
        "LIN*1*BP*RM-1*LT*LOT-A1*PL*1",
        "SN1*1*60*EA",
        "DTM*036*20280131",
        "HL*4*2*I",
        "LIN*2*BP*RM-1*PL*1",
        "SN1*2*40*EA",
        "REF*LT*LOT-A2",
        "CTT*4",
    ],
)
INVOICE_810 = transaction(
    "810",
    "0003",
    [
        "BIG|20261120|INV-77|20261101|PO-100",
        "CUR|SE|EUR",
        "IT1|1|100|EA|2.50||BP|RM-1",
        "IT1|2|50|EA|4.10||BP|RM-2",
        "TDS|45500",
        "CTT|2",
    ],
    es="|",
)
# ST, BSN, HL, HL, PRF, HL, LIN, SN1, SE = 9 segments; SE01 says 8
BROKEN_856 = transaction(
    "856",
    "0004",
    [
        "BSN*00*SHIP-10*20261116*1000",
        "HL*1**S",
        "HL*2*1*O",
        "PRF*PO-100",
        "HL*3*2*I",
        "LIN*1*BP*RM-2*PL*2",
        "SN1*1*5*EA",
    ],
    count=8,
)
OUR_850 = transaction(
    "850",
    "0005",
    [
        "BEG*00*SA*PO-100**20261101",
        "PO1*1*100*EA*2.50**BP*RM-1",
        "DTM*002*20261120",
        "PO1*2*60*EA*4.00**BP*RM-2",
        "DTM*002*20261125",
        "PO1*3*10*EA*4.00**BP*RM-2",
        "DTM*002*20261130",
        "CTT*3",
    ],
)


def write_inbound(folder: Path) -> None:
    folder.mkdir(parents=True)
    files = {
        "acme_0001.edi": x12(
            interchange("ACMESUP", "OURCO", "000000101", [("PR", "101", [ACK_855]), ("SH", "102", [ASN_856])])
        ),
        "acme_0002.edi": x12(
            interchange("ACMESUP", "OURCO", "000000102", [("IN", "103", [INVOICE_810])], es="|"), term="\n"
        ),
        "acme_0003.edi": x12(interchange("ACMESUP", "OURCO", "000000103", [("SH", "104", [BROKEN_856])])),
        "po_850.edi": x12(interchange("OURCO", "ACMESUP", "000000900", [("PO", "900", [OUR_850])])),
    }
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Settings, Path]:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name, body in DROP.items():
        (drop / name).write_text(body, encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    assert ingest_folder(con, drop, settings)["rejected_total"] == 0
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    write_inbound(tmp_path / "inbound")
    return con, settings, tmp_path


def _segments(ack: str) -> list[list[str]]:
    """An acknowledgment read the way its partner would: delimiters from the ISA."""
    es, term = ack[3], ack[105]
    return [s.split(es) for s in ack.split(term) if s.strip()]


def test_pull_lands_each_transaction_set_where_it_belongs(warehouse) -> None:
    con, settings, root = warehouse
    (source,) = load_sources(root / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]

    assert con.execute(
        "SELECT po_id, po_line, qty_ordered, requested_date::VARCHAR, confirmed_date::VARCHAR, "
        "acknowledged_at::VARCHAR, status FROM raw.purchase_orders ORDER BY po_line"
    ).fetchall() == [
        ("PO-100", 1, 100, "2026-11-20", "2026-11-18", "2026-11-02 00:00:00", "open"),
        ("PO-100", 2, 50, "2026-11-25", None, "2026-11-02 00:00:00", "cancelled"),
    ]
    assert con.execute(
        "SELECT asn_id, asn_line, supplier_id, po_id, po_line, material_id, qty_shipped, supplier_lot, "
        "expiry_date::VARCHAR, shipped_at::VARCHAR FROM raw.asn ORDER BY asn_line"
    ).fetchall() == [
        ("SHIP-9", 1, "SUP-A", "PO-100", 1, "RM-1", 60, "LOT-A1", "2028-01-31", "2026-11-15 09:30:00"),
        ("SHIP-9", 2, "SUP-A", "PO-100", 1, "RM-1", 40, "LOT-A2", None, "2026-11-15 09:30:00"),
    ]
    assert con.execute(
        "SELECT invoice_id, invoice_line, supplier_id, po_id, po_line, material_id, qty, unit_price, "
        "currency, invoice_date::VARCHAR, invoice_total FROM raw.supplier_invoices ORDER BY invoice_line"
    ).fetchall() == [
        ("INV-77", 1, "SUP-A", "PO-100", 1, "RM-1", 100, Decimal("2.50"), "EUR", "2026-11-20", 455),
        ("INV-77", 2, "SUP-A", "PO-100", 2, "RM-2", 50, Decimal("4.10"), "EUR", "2026-11-20", 455),
    ]

    # our own PO is reconciled, never written: line 2 differs, line 3 is not ours
    rejects = con.execute(
        "SELECT \"column\", reason FROM meta.rejects WHERE file = 'x12:po_850.edi' ORDER BY reason"
    ).fetchall()
    assert rejects == [
        (
            "qty_ordered",
            "differs from the stored purchase_orders row: the source says 60.000000, we hold 50.000000",
        ),
        (
            None,
            "no stored purchase_orders row with this key (po_id, po_line): the source knows a record we "
            "do not",
        ),
    ]
    raw = con.execute(
        "SELECT raw FROM meta.rejects WHERE file = 'x12:po_850.edi' AND \"column\" IS NULL"
    ).fetchone()
    assert raw == ("PO1*3*10*EA*4.00**BP*RM-2~DTM*002*20261130~",)

    # the broken interchange: refused whole with its reason and kept as received; none of its ASN loaded
    assert result["failed_files"] == [
        {
            "entity": "asn",
            "file": "x12:acme_0003.edi",
            "error": "acme_0003.edi is refused whole: interchange 1: transaction set 856 0004: SE01 says 8 "
            "segments, ST to SE has 9",
        }
    ]
    (kept,) = con.execute("SELECT raw FROM meta.rejects WHERE file = 'x12:acme_0003.edi'").fetchone()
    assert kept == (root / "inbound" / "acme_0003.edi").read_text()
    assert con.execute("SELECT count(*) FROM raw.asn WHERE asn_id = 'SHIP-10'").fetchone() == (0,)


def test_every_interchange_is_answered_and_the_broken_one_rejected(warehouse) -> None:
    con, settings, root = warehouse
    (source,) = load_sources(root / "sources.yaml")
    pull_source(con, source, settings)
    acks = {p.name.split(".")[0]: p.read_text() for p in (root / "inbound" / "997").iterdir()}
    assert sorted(acks) == ["acme_0001", "acme_0002", "acme_0003", "po_850"]

    broken = _segments(acks["acme_0003"])
    by_id = {s[0]: s for s in broken}
    # sent back to the partner, with its control number
    assert (by_id["ISA"][6].strip(), by_id["ISA"][8].strip(), by_id["ISA"][13]) == (
        "OURCO",
        "ACMESUP",
        "000000103",
    )
    assert by_id["AK1"] == ["AK1", "SH", "104"]
    assert by_id["AK2"] == ["AK2", "856", "0004"]
    assert by_id["AK5"] == ["AK5", "R", "4"]  # 4: number of included segments does not match actual count
    assert by_id["AK9"] == ["AK9", "R", "1", "1", "0"]  # rejected: 1 set included, 1 received, 0 accepted
    assert by_id["SE"][1] == "6"  # ST AK1 AK2 AK5 AK9 SE

    good = _segments(acks["acme_0001"])
    assert [s for s in good if s[0] in ("AK1", "AK9")] == [
        ["AK1", "PR", "101"],
        ["AK9", "A", "1", "1", "1"],
        ["AK1", "SH", "102"],
        ["AK9", "A", "1", "1", "1"],
    ]
    newline = acks["acme_0002"]  # answered with the partner's own delimiters: '|' and a newline
    assert newline[3] == "|" and newline[105] == "\n"
    assert [s for s in _segments(newline) if s[0] == "AK9"] == [["AK9", "A", "1", "1", "1"]]


def test_a_second_pull_loads_nothing_and_writes_no_new_acknowledgment(warehouse) -> None:
    con, settings, root = warehouse
    (source,) = load_sources(root / "sources.yaml")
    first = pull_source(con, source, settings)
    assert first["rows_loaded"] == 2 + 2 + 2  # PO lines patched, ASN lines, invoice lines
    acks = sorted(p.name for p in (root / "inbound" / "997").iterdir())
    n_rejects = con.execute("SELECT count(*) FROM meta.rejects").fetchone()
    second = pull_source(con, source, settings)
    assert second["outcome"] == "succeeded"
    assert second["rows_loaded"] == 0
    # the loaded files are skipped; the refused one is read again and refused again, its reject only re-seen
    assert [e["file"] for e in second["entities"]] == ["x12:acme_0003.edi"]
    assert con.execute("SELECT count(*) FROM meta.rejects").fetchone() == n_rejects
    assert sorted(p.name for p in (root / "inbound" / "997").iterdir()) == acks


def test_a_changed_file_is_read_again(warehouse) -> None:
    con, settings, root = warehouse
    (source,) = load_sources(root / "sources.yaml")
    pull_source(con, source, settings)
    fixed = x12(
        interchange(
            "ACMESUP", "OURCO", "000000103", [("SH", "104", [transaction("856", "0004", BROKEN_856[1:-1])])]
        )
    )
    (root / "inbound" / "acme_0003.edi").write_text(fixed, encoding="utf-8")
    result = pull_source(con, source, settings)
    assert result["failed_files"] == []
    assert con.execute(
        "SELECT asn_id, po_line, qty_shipped FROM raw.asn WHERE asn_id = 'SHIP-10'"
    ).fetchall() == [("SHIP-10", 2, 5)]


def test_links_nul_bytes_and_long_segments_are_refused_with_their_reason(tmp_path: Path, warehouse) -> None:
    con, settings, root = warehouse
    inbound = root / "inbound"
    outside = tmp_path / "outside.edi"
    outside.write_text((inbound / "acme_0002.edi").read_text(), encoding="utf-8")
    os.symlink(outside, inbound / "link.edi")
    (inbound / "nul.edi").write_bytes(b"ISA*00\x00rest")
    long = x12(
        interchange(
            "ACMESUP",
            "OURCO",
            "000000104",
            [("SH", "105", [transaction("856", "1", ["N9*ZZ*" + "x" * 5000])])],
        )
    )
    (inbound / "long.edi").write_text(long, encoding="utf-8")
    (inbound / "sub").mkdir()  # a subfolder is not read
    (inbound / "sub" / "deep.edi").write_text("not read", encoding="utf-8")
    (source,) = load_sources(root / "sources.yaml")
    result = pull_source(con, source, settings)
    errors = {f["file"]: f["error"] for f in result["failed_files"]}
    assert errors["x12:link.edi"] == (
        "link.edi is refused whole: is a symbolic link: only regular files inside the inbound folder are read"
    )
    assert (
        errors["x12:nul.edi"]
        == "nul.edi is refused whole: contains a NUL byte (first at byte 6): not X12 text"
    )
    assert errors["x12:long.edi"] == (
        "long.edi is refused whole: interchange 1: segment 4 is 5,006 characters, over the cap of 4,096"
    )
    assert "x12:deep.edi" not in errors and "x12:sub" not in errors
    # the file behind the link was not read: nothing was loaded under its name
    assert not any(e["file"] == "x12:link.edi" and e["rows_loaded"] for e in result["entities"])


def test_read_x12_takes_delimiters_from_the_isa() -> None:
    body = x12(
        interchange("ACMESUP", "OURCO", "000000102", [("IN", "103", [INVOICE_810])], es="|"), term="\n"
    )
    reading = read_x12(body.encode(), {"partners": {"ACMESUP": "SUP-A"}})
    assert reading.faults == []
    ic = reading.interchanges[0]
    assert (ic.element, ic.component, ic.terminator) == ("|", ">", "\n")
    ((entity, mode, records),) = reading.records
    assert (entity, mode, [r["unit_price"] for r in records]) == (
        "supplier_invoices",
        "merge",
        ["2.50", "4.10"],
    )


def test_an_x12_source_must_configure_its_entities(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  edi:\n    kind: x12\n    path: in\n    entities: {asn: {}}\n", encoding="utf-8"
    )
    (source,) = load_sources(path)
    with pytest.raises(
        SourceConfigError, match=r"source edi: .* add purchase_orders, supplier_invoices under"
    ):
        X12Connector(source)
