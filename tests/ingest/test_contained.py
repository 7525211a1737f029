"""Contained ingest: what a fault probe throws at the drop folder is quarantined with its reason.

One small drop folder per test, written here; the expected reasons and counts are worked out by hand
from the lines the test writes (line 1 is the header).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from ingest.contract import ContractError, load_contract
from ingest.load import ingest_folder, list_rejects
from medtower.settings import Settings

SITES = "site_id,name,country,timezone\nBER,Berlin Plant,DE,Europe/Berlin\n"
SUPPLIERS = "supplier_id,name,approval_status\nSUP-1,Acme,approved\n"
MATERIALS = (
    "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
    "RM-1,Resin,raw,KG,true,false,active\n"
)
PO_HEADER = (
    "po_id,po_line,supplier_id,material_id,site_id,qty_ordered,order_date,requested_date,status,"
    "acknowledged_at\n"
)


def _drop(tmp_path: Path, po_lines: list[str] | bytes) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "sites.csv").write_text(SITES)
    (drop / "suppliers.csv").write_text(SUPPLIERS)
    (drop / "materials.csv").write_text(MATERIALS)
    body = po_lines if isinstance(po_lines, bytes) else "".join(po_lines).encode()
    (drop / "purchase_orders.csv").write_bytes(PO_HEADER.encode() + body)
    return drop


def _po(line: str, acknowledged: str = "") -> str:
    return f"{line},SUP-1,RM-1,BER,100,2026-01-05,2026-02-01,open,{acknowledged}\n"


def _rejects(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str, str]]:
    """line -> (column, reason) of the first reason of each refused line (by column, reason)."""
    rows = con.execute(
        "SELECT line, \"column\", reason FROM meta.rejects WHERE entity = 'purchase_orders' "
        "ORDER BY line, reason DESC"
    ).fetchall()
    out: dict[int, tuple[str, str]] = {}
    for line, column, reason in rows:
        out.setdefault(line, (column, reason))
    return out


def _stats(result: dict) -> dict:
    (po,) = [e for e in result["entities"] if e["entity"] == "purchase_orders"]
    return po


def test_negative_quantity_nul_byte_long_field_and_offsets(tmp_path: Path) -> None:
    lines = [
        _po("PO-1,1"),  # line 2: good
        "PO-1,2,SUP-1,RM-1,BER,-5,2026-01-05,2026-02-01,open,\n",  # line 3: a negative quantity
        _po("PO-1,3").replace("open", "op\x00en"),  # line 4: a NUL byte
        _po("PO-1,4", "2026-01-05T10:00:00+15:00"),  # line 5: offset beyond +14:00
        _po("PO-1,5", "2026-01-05T10:00:00-12:00"),  # line 6: good, -12:00 exists
        _po("PO-1,6").replace("RM-1", "R" * 70_000),  # line 7: longer than the 65,536 cap
    ]
    con = duckdb.connect()
    result = ingest_folder(con, _drop(tmp_path, lines), Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    rejects = _rejects(con)
    assert rejects[3] == ("qty_ordered", "'-5' is below 0, the smallest value the contract allows")
    assert rejects[4] == ("status", "status holds a NUL byte (binary data?)")
    assert rejects[5][0] == "acknowledged_at" and "UTC offset outside -14:00..+14:00" in rejects[5][1]
    # the long id also dangles; the length is said too
    assert rejects[7] == ("material_id", "material_id is 70000 characters long; the contract allows 65,536")
    loaded = con.execute("SELECT po_line FROM raw.purchase_orders ORDER BY 1").fetchall()
    assert loaded == [(1,), (5,)]
    po = _stats(result)
    # every row is accounted for: in = loaded + unchanged + superseded + rejected
    assert po["rows_read"] == 6
    assert po["rows_loaded"] + po["rows_unchanged"] + po["rows_superseded"] + po["rows_rejected"] == 6


def test_local_times_that_do_not_exist_or_happen_twice_are_quarantined(tmp_path: Path) -> None:
    # Berlin: clocks go 02:00 -> 03:00 on 2026-03-29 and 03:00 -> 02:00 on 2026-10-25.
    lines = [
        _po("PO-2,1", "2026-03-29T02:30:00"),  # line 2: skipped by the clocks
        _po("PO-2,2", "2026-10-25T02:30:00"),  # line 3: happens twice
        _po("PO-2,3", "2026-10-25T02:30:00+01:00"),  # line 4: with its offset it is one instant
        _po("PO-2,4", "2026-03-29T03:30:00"),  # line 5: exists
    ]
    con = duckdb.connect()
    result = ingest_folder(con, _drop(tmp_path, lines), Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    rejects = _rejects(con)
    assert set(rejects) == {2, 3}
    assert rejects[2][1] == (
        "2026-03-29T02:30:00 does not exist in Europe/Berlin: the clocks skip it (daylight saving starts); "
        "send it with its UTC offset"
    )
    assert "happens twice in Europe/Berlin (daylight saving ends)" in rejects[3][1]
    got = dict(con.execute("SELECT po_line, acknowledged_at FROM raw.purchase_orders").fetchall())
    assert got == {3: dt.datetime(2026, 10, 25, 2, 30), 4: dt.datetime(2026, 3, 29, 3, 30)}


def test_an_unterminated_quote_does_not_swallow_the_good_rows_after_it(tmp_path: Path) -> None:
    lines = [
        _po("PO-3,1"),  # line 2
        'PO-3,2,SUP-1,RM-1,BER,100,2026-01-05,2026-02-01,"open,\n',  # line 3: the quote never closes
        _po("PO-3,3"),  # line 4
        _po("PO-3,4"),  # line 5
    ]
    con = duckdb.connect()
    result = ingest_folder(con, _drop(tmp_path, lines), Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    loaded = [r[0] for r in con.execute("SELECT po_line FROM raw.purchase_orders ORDER BY 1").fetchall()]
    assert loaded == [1, 3, 4]
    assert 3 in _rejects(con)
    po = _stats(result)
    assert (po["rows_read"], po["rows_loaded"], po["rows_rejected"]) == (4, 3, 1)


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("customer_id,name\nC-1,Somebody\n")
    drop = _drop(tmp_path, [_po("PO-4,1")])
    (drop / "customers.csv").symlink_to(outside)
    con = duckdb.connect()
    result = ingest_folder(con, drop, Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    assert "customers.csv (a symbolic link: never followed)" in result["ignored_files"]
    assert con.execute("SELECT count(*) FROM raw.customers").fetchall() == [(0,)]


def test_the_quarantine_keeps_the_original_bytes_of_the_line(tmp_path: Path) -> None:
    # a Latin-1 byte inside an otherwise UTF-8 file, and a good row after it
    bad = b"PO-5,1,SUP-1,RM-1,BER,100,2026-01-05,2026-02-01,op\xe9n,\n"
    con = duckdb.connect()
    result = ingest_folder(
        con, _drop(tmp_path, bad + _po("PO-5,2").encode()), Settings(data_dir=tmp_path / "d")
    )
    assert result["outcome"] == "succeeded", result["error"]
    (raw_line,) = con.execute(
        "SELECT raw_line FROM meta.rejects WHERE entity = 'purchase_orders' AND line = 2"
    ).fetchall()[0]
    assert bytes(raw_line) == bad.rstrip(b"\n")
    assert con.execute("SELECT po_line FROM raw.purchase_orders").fetchall() == [(2,)]


def test_contract_attributes_are_checked_when_the_contract_is_read(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "ingest" / "source_contract.yaml").read_text()
    bad = tmp_path / "contract.yaml"
    bad.write_text(
        text.replace(
            "qty_ordered: {type: decimal, required: true, min: 0}", "qty_ordered: {type: decimal, minimum: 0}"
        )
    )
    with pytest.raises(ContractError, match=r"purchase_orders.qty_ordered: unknown attribute minimum"):
        load_contract(bad)
    bad.write_text(text.replace("site_from: purchase_orders", "site_from: suppliers"))
    with pytest.raises(ContractError, match="site_from 'suppliers' is not an entity with site_id"):
        load_contract(bad)
    contract = load_contract()
    assert contract["scans"].column("payload").trim is False
    assert json.dumps(contract.limits.__dict__) == '{"field_chars": 65536, "line_bytes": 1048576}'


def test_personal_data_in_a_quarantined_row_is_masked_and_the_full_row_kept(tmp_path: Path) -> None:
    drop = _drop(tmp_path, [_po("PO-6,1")])
    (drop / "customers.csv").write_text(
        "customer_id,name,customer_type,Contact_Name,contact_email\n"
        "C-1,St. Mary's,hospital,Dr. Jane Roe,jane.roe@stmary.example\n"  # line 2: good
        "C-2,Northwind,pharmacy,John Doe,john@northwind.example\n"  # line 3: 'pharmacy' is no type
    )
    con = duckdb.connect()
    result = ingest_folder(con, drop, Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    raw, full = con.execute("SELECT raw, raw_full FROM meta.rejects WHERE entity = 'customers'").fetchall()[0]
    shown = json.loads(raw)
    assert shown["Contact_Name"] == shown["contact_email"] == "*** personal data ***"
    assert (shown["customer_id"], shown["customer_type"]) == ("C-2", "pharmacy")
    assert json.loads(full)["contact_email"] == "john@northwind.example"
    # what `medtower rejects` lists is the masked row
    listed = [r for r in list_rejects(con, entity="customers")]
    assert listed[0]["raw"]["contact_email"] == "*** personal data ***"
    assert "john" not in json.dumps(listed, default=str)


def test_a_line_appended_with_crlf_to_an_lf_file_loads_like_the_others(tmp_path: Path) -> None:
    """Another system appends lines ending in CRLF to a file whose lines end in LF (DuckDB's reader takes
    one line ending per file): every row loads, with no carriage return left in its last column, a bad
    CRLF line is refused on its own line number with its bytes as delivered, and the run succeeds."""
    lines = (
        _po("PO-6,1").encode()  # line 2, LF
        + _po("PO-6,2", "2026-01-06T10:00:00").encode().replace(b"\n", b"\r\n")  # line 3, CRLF
        + b"PO-6,3,SUP-1,RM-1,BER,-5,2026-01-05,2026-02-01,open,\r\n"  # line 4, CRLF, negative quantity
        + _po("PO-6,4").encode()  # line 5, LF
    )
    con = duckdb.connect()
    result = ingest_folder(con, _drop(tmp_path, lines), Settings(data_dir=tmp_path / "d"))
    assert result["outcome"] == "succeeded", result["error"]
    rows = con.execute(
        "SELECT po_line, status, acknowledged_at, _source_line FROM raw.purchase_orders ORDER BY 1"
    ).fetchall()
    assert rows == [
        (1, "open", None, 2),
        (2, "open", dt.datetime(2026, 1, 6, 10, 0), 3),
        (4, "open", None, 5),
    ]
    assert _rejects(con)[4][0] == "qty_ordered"
    (raw_line,) = con.execute(
        "SELECT raw_line FROM meta.rejects WHERE entity = 'purchase_orders' AND line = 4"
    ).fetchall()[0]
    assert bytes(raw_line) == b"PO-6,3,SUP-1,RM-1,BER,-5,2026-01-05,2026-02-01,open,"
