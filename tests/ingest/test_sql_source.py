"""The ERP database connector against a real SQLite file and the real PostgreSQL of .ci/postgres.sh.

The ERP is shaped like ERPNext: a Frappe DocType ``X`` is the table ``tabX``; ``tabBatch`` and
``tabStock Ledger Entry`` carry the columns of their DocType JSON (erpnext/stock/doctype/batch/batch.json,
stock_ledger_entry.json) plus Frappe's standard columns (name, creation, modified, ...). Lots come from a
query over both tables (a batch's site is the company of its stock ledger entries); purchase orders from a
plain ``po_lines`` table with a soft-delete flag. Parents (sites, materials, suppliers) are seeded through
the drop folder. Expected rows are written out by hand from the rows each test inserts.

PostgreSQL: each test works in a schema of its own; without a server the PostgreSQL cases skip locally and
fail under CI (as tests/dbt/test_postgres_portability.py does).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from ingest.load import ingest_folder
from ingest.sources import SourceConfig, SourceConfigError, SourceError, load_sources
from ingest.sources.runner import pull_source, source_status
from ingest.sources.sql import SqlConnector
from medtower.settings import Settings

FRAPPE_STANDARD = """name varchar(140) primary key, creation timestamp(6), modified timestamp(6),
    modified_by varchar(140), owner varchar(140), docstatus int default 0, idx int default 0"""

# tabBatch: erpnext/stock/doctype/batch/batch.json (fields that hold data; breaks and sections are layout)
TAB_BATCH = f"""CREATE TABLE "tabBatch" ({FRAPPE_STANDARD},
    disabled int default 0, use_batchwise_valuation int default 0, batch_id varchar(140) not null,
    item varchar(140) not null, item_name varchar(140), image text, parent_batch varchar(140),
    manufacturing_date date, batch_qty double precision default 0, stock_uom varchar(140), expiry_date date,
    supplier varchar(140), reference_doctype varchar(140), reference_name varchar(140), description text,
    qty_to_produce double precision default 0, produced_qty double precision default 0)"""

# tabStock Ledger Entry: erpnext/stock/doctype/stock_ledger_entry/stock_ledger_entry.json
TAB_SLE = f"""CREATE TABLE "tabStock Ledger Entry" ({FRAPPE_STANDARD},
    item_code varchar(140), warehouse varchar(140), posting_date date, posting_time time,
    is_adjustment_entry int default 0, voucher_type varchar(140), voucher_no varchar(140),
    voucher_detail_no varchar(140), serial_and_batch_bundle varchar(140), recalculate_rate int default 0,
    actual_qty double precision, qty_after_transaction double precision, incoming_rate numeric(21,9),
    outgoing_rate numeric(21,9), valuation_rate numeric(21,9), stock_value numeric(21,9),
    stock_value_difference numeric(21,9), stock_queue text, company varchar(140), stock_uom varchar(140),
    project varchar(140), fiscal_year varchar(140), has_batch_no int default 0, has_serial_no int default 0,
    is_cancelled int default 0, to_rename int default 1, serial_no text, batch_no varchar(140))"""

PO_LINES = """CREATE TABLE po_lines (po_no varchar(20), line_no int, supplier varchar(20),
    item_code varchar(20), site varchar(20), qty numeric(18,3), order_date date, required_by date,
    status varchar(20), modified timestamp(6), is_deleted boolean default false,
    PRIMARY KEY (po_no, line_no))"""

LOTS_QUERY = """
SELECT b.batch_id, b.item,
       (SELECT min(e.company) FROM "tabStock Ledger Entry" e WHERE e.batch_no = b.name) AS company,
       CASE WHEN b.reference_doctype = 'Purchase Receipt' THEN 'received' ELSE 'produced' END AS origin,
       b.supplier, b.manufacturing_date, b.expiry_date,
       CASE WHEN b.disabled = 1 THEN 'on_hold' ELSE 'released' END AS status,
       b.modified
FROM "tabBatch" b
WHERE :watermark IS NULL OR b.modified >= :watermark
ORDER BY b.modified, b.batch_id
"""


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


SOURCES = f"""
sources:
  erp:
    kind: sql
    every_minutes: 30
    connection: {{url_env: ERP_URL, schema_env: ERP_SCHEMA}}
    page_size: 2
    entities:
      purchase_orders:
        table: po_lines
        columns: {{po_id: po_no, po_line: line_no, supplier_id: supplier, material_id: item_code,
                   site_id: site, qty_ordered: qty, requested_date: required_by, updated_at: modified}}
        cursor: modified
        deleted_flag: is_deleted
      lots:
        query: |
{_indent(LOTS_QUERY, 10)}
        columns: {{lot_id: batch_id, material_id: item, site_id: company, supplier_id: supplier,
                   status_changed_at: modified}}
        cursor: modified
        reconcile_keys: true
"""


@dataclass
class Erp:
    """A throwaway ERP database: its SQLAlchemy URL, schema (PostgreSQL) and an engine to write rows."""

    url: str
    schema: str
    engine: sa.Engine

    def run(self, sql: str, rows: list[dict[str, Any]] | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), rows or [{}])


def _pg_url() -> str:
    env = os.environ
    user = env.get("MEDTOWER_PG_USER", "medtower")
    password = env.get("MEDTOWER_PG_PASSWORD", "")
    auth = f"{user}:{password}" if password else user
    host, port = env.get("MEDTOWER_PG_HOST", "127.0.0.1"), env.get("MEDTOWER_PG_PORT", "5432")
    return f"postgresql+psycopg2://{auth}@{host}:{port}/{env.get('MEDTOWER_PG_DATABASE', 'medtower')}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def erp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Erp]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
        engine = sa.create_engine(url)
        yield Erp(url, "main", engine)
        engine.dispose()
        return
    schema = f"erp_{uuid.uuid4().hex[:10]}"
    base = _pg_url()
    admin = sa.create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide PostgreSQL (.ci/postgres.sh): {exc}")
        pytest.skip(f"no PostgreSQL on MEDTOWER_PG_*: {exc}")
    # the query names tables without a schema: the connection's search_path finds them
    url = f"{base}?options=-csearch_path%3D{schema}"
    engine = sa.create_engine(url)
    yield Erp(url, schema, engine)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _batch(name: str, item: str, modified: str, **fields: Any) -> dict[str, Any]:
    row = {
        "name": name,
        "batch_id": name,
        "item": item,
        "modified": modified,
        "creation": modified,
        "disabled": 0,
        "supplier": None,
        "reference_doctype": "Work Order",
        "manufacturing_date": None,
        "expiry_date": None,
    }
    return {**row, **fields}


BATCHES = [
    _batch(
        "B-001",
        "RM-1",
        "2026-11-01 08:00:00.000000",
        supplier="SUP-1",
        reference_doctype="Purchase Receipt",
        expiry_date="2027-11-01",
    ),
    _batch("B-002", "CMP-2", "2026-11-02 09:00:00.000000", manufacturing_date="2026-11-02"),
    _batch("B-003", "CMP-2", "2026-11-03 10:00:00.000000", disabled=1),
]
# one stock ledger entry per batch: where it is (the company is the site)
SLES = [
    {"name": "MAT-SLE-1", "batch_no": "B-001", "company": "GAL", "item_code": "RM-1", "actual_qty": 100.0},
    {"name": "MAT-SLE-2", "batch_no": "B-002", "company": "GAL", "item_code": "CMP-2", "actual_qty": 20.0},
    {"name": "MAT-SLE-3", "batch_no": "B-003", "company": "SZX", "item_code": "CMP-2", "actual_qty": 5.0},
]


def _po(po: str, line: int, qty: str, modified: str, status: str = "open", **fields: Any) -> dict[str, Any]:
    row = {
        "po_no": po,
        "line_no": line,
        "supplier": "SUP-1",
        "item_code": "RM-1",
        "site": "GAL",
        "qty": qty,
        "order_date": "2026-10-01",
        "required_by": "2026-12-01",
        "status": status,
        "modified": modified,
        "is_deleted": False,
    }
    return {**row, **fields}


PO_ROWS = [
    _po("PO-1", 1, "100.000", "2026-11-01 08:00:00.000000"),
    _po("PO-1", 2, "50.500", "2026-11-01 08:00:00.000000", item_code="CMP-2"),
    _po("PO-2", 1, "10.000", "2026-11-02 08:00:00.000000", site="SZX"),
    # breaks the contract: 'draft' is not a purchase order status
    _po("PO-3", 1, "7.000", "2026-11-03 08:00:00.000000", status="draft"),
]


def _insert(erp: Erp, table: str, rows: list[dict[str, Any]]) -> None:
    with erp.engine.begin() as conn:
        conn.execute(sa.insert(sa.table(table, *(sa.column(c) for c in rows[0]))), rows)


def _build_erp(erp: Erp) -> None:
    for ddl in (TAB_BATCH, TAB_SLE, PO_LINES):
        erp.run(ddl)
    _insert(erp, "tabBatch", BATCHES)
    _insert(erp, "tabStock Ledger Entry", SLES)
    _insert(erp, "po_lines", PO_ROWS)


def _seed_parents(folder: Path) -> None:
    folder.mkdir()
    (folder / "sites.csv").write_text(
        "site_id,name,country,timezone\nGAL,Galway,IE,Europe/Dublin\nSZX,Shenzhen,CN,Asia/Shanghai\n"
    )
    (folder / "materials.csv").write_text(
        "material_id,description,material_type,uom,lot_controlled,serial_controlled,status\n"
        "RM-1,Polymer resin,raw,KG,true,false,active\nCMP-2,Needle hub,component,EA,true,false,active\n"
    )
    (folder / "suppliers.csv").write_text(
        "supplier_id,name,approval_status\nSUP-1,Acme Polymers,approved\nSUP-2,Borealis Films,approved\n"
    )


@pytest.fixture
def world(
    erp: Erp, tmp_path: Path
) -> Iterator[tuple[Erp, SourceConfig, duckdb.DuckDBPyConnection, Settings]]:
    _build_erp(erp)
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (source,) = load_sources(tmp_path / "sources.yaml", env={"ERP_URL": erp.url, "ERP_SCHEMA": erp.schema})
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    _seed_parents(tmp_path / "parents")
    assert ingest_folder(con, tmp_path / "parents", settings)["outcome"] == "succeeded"
    yield erp, source, con, settings
    con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


PO_SQL = "SELECT po_id, po_line, site_id, qty_ordered, updated_at FROM raw.purchase_orders ORDER BY 1, 2"
LOT_SQL = (
    "SELECT lot_id, material_id, site_id, origin, supplier_id, expiry_date, status FROM raw.lots ORDER BY 1"
)
EXPECTED_LOTS = [
    ("B-001", "RM-1", "GAL", "received", "SUP-1", dt.date(2027, 11, 1), "released"),
    ("B-002", "CMP-2", "GAL", "produced", None, None, "released"),
    ("B-003", "CMP-2", "SZX", "produced", None, None, "on_hold"),
]


def test_check_counts_the_configured_tables(world) -> None:
    _, source, _, _ = world
    said = SqlConnector(source).check()
    assert said.endswith(": po_lines 4 rows, lots (query)")


def test_initial_pull_quarantines_the_bad_row_and_a_second_pull_loads_nothing(world) -> None:
    _, source, con, settings = world
    first = pull_source(con, source, settings)
    assert first["outcome"] == "succeeded", first["error"]
    assert _rows(con, PO_SQL) == [
        ("PO-1", 1, "GAL", Decimal("100.000"), dt.datetime(2026, 11, 1, 8)),
        ("PO-1", 2, "GAL", Decimal("50.500"), dt.datetime(2026, 11, 1, 8)),
        ("PO-2", 1, "SZX", Decimal("10.000"), dt.datetime(2026, 11, 2, 8)),
    ]
    (reject,) = _rows(con, 'SELECT file, "column", reason FROM meta.rejects')
    assert reject[:2] == ("erp:purchase_orders", "status")
    assert "'draft' is not one of" in reject[2]
    assert _rows(con, LOT_SQL) == EXPECTED_LOTS
    # 3 PO rows + 3 lots loaded, PO-3 quarantined; pages of 2: POs 2 + 2 batches, lots 2 + 1, 1 key list
    assert (first["rows_loaded"], first["rows_rejected"], first["batches"]) == (6, 1, 5)
    marks = source_status(con, "erp")["watermarks"]
    assert set(marks) == {"purchase_orders", "lots"}
    assert marks["lots"].replace("T", " ").startswith("2026-11-03 10:00:00")

    second = pull_source(con, source, settings)
    assert second["outcome"] == "succeeded", second["error"]
    # re-read at the boundary: PO-3 (still bad, so rejected again) and B-003 (unchanged)
    assert (second["rows_loaded"], second["rows_read"], second["rows_removed"]) == (0, 2, 0)
    assert second["rows_rejected"] == 1


def test_update_soft_delete_and_hard_delete_found_by_reconciliation(world) -> None:
    erp, source, con, settings = world
    assert pull_source(con, source, settings)["outcome"] == "succeeded"
    erp.run(
        "UPDATE po_lines SET qty = 120, modified = '2026-11-05 08:00:00.000000' "
        "WHERE po_no = 'PO-1' AND line_no = 1"
    )
    erp.run(
        "UPDATE po_lines SET is_deleted = true, modified = '2026-11-05 09:00:00.000000' "
        "WHERE po_no = 'PO-2' AND line_no = 1"
    )
    # a hard delete leaves nothing to read incrementally: only the key list shows it is gone
    erp.run("""DELETE FROM "tabBatch" WHERE name = 'B-002'""")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert _rows(con, PO_SQL) == [
        ("PO-1", 1, "GAL", Decimal("120.000"), dt.datetime(2026, 11, 5, 8)),
        ("PO-1", 2, "GAL", Decimal("50.500"), dt.datetime(2026, 11, 1, 8)),
    ]
    assert _rows(con, LOT_SQL) == [EXPECTED_LOTS[0], EXPECTED_LOTS[2]]
    assert result["rows_removed"] == 2  # PO-2/1 by its flag, B-002 by reconciliation
    assert result["rows_loaded"] == 1  # the new version of PO-1/1


def test_a_failing_second_stream_keeps_the_first_and_the_next_pull_resumes(world) -> None:
    erp, source, con, settings = world
    erp.run('ALTER TABLE "tabStock Ledger Entry" RENAME TO "tabStock Ledger Entry Old"')
    failed = pull_source(con, source, settings)
    assert failed["outcome"] == "failed"
    assert "entity lots: reading its query failed" in failed["error"]
    assert "tabStock Ledger Entry" in failed["error"]
    # the purchase orders came first and were committed with their watermark
    assert len(_rows(con, PO_SQL)) == 3
    assert set(source_status(con, "erp")["watermarks"]) == {"purchase_orders"}
    assert _rows(con, "SELECT count(*) FROM raw.lots") == [(0,)]

    erp.run('ALTER TABLE "tabStock Ledger Entry Old" RENAME TO "tabStock Ledger Entry"')
    resumed = pull_source(con, source, settings)
    assert resumed["outcome"] == "succeeded", resumed["error"]
    assert resumed["rows_loaded"] == 3  # the lots; the purchase orders at the boundary are unchanged
    assert _rows(con, LOT_SQL) == EXPECTED_LOTS


def test_a_table_and_column_names_with_spaces_are_quoted(erp: Erp, tmp_path: Path) -> None:
    erp.run('CREATE TABLE "PO Lines 2026" ("PO No" varchar(20), "Line No" int, "Last Modified" timestamp)')
    _insert(
        erp,
        "PO Lines 2026",
        [
            {"PO No": "PO-9", "Line No": 1, "Last Modified": "2026-11-01 08:00:00"},
            {"PO No": "PO-9", "Line No": 2, "Last Modified": "2026-11-02 08:00:00"},
            {"PO No": "PO-9", "Line No": 3, "Last Modified": "2026-11-03 08:00:00"},
        ],
    )
    (tmp_path / "sources.yaml").write_text(
        """
sources:
  erp:
    kind: sql
    connection: {url_env: ERP_URL, schema_env: ERP_SCHEMA}
    entities:
      purchase_orders:
        table: PO Lines 2026
        columns: {po_id: PO No, po_line: Line No, updated_at: Last Modified}
        cursor: Last Modified
""",
        encoding="utf-8",
    )
    (source,) = load_sources(tmp_path / "sources.yaml", env={"ERP_URL": erp.url, "ERP_SCHEMA": erp.schema})
    connector = SqlConnector(source)
    assert connector.check().endswith(": PO Lines 2026 3 rows")

    class State:
        def watermark(self, entity: str) -> str | None:
            return "2026-11-02 08:00:00" if entity == "purchase_orders" else None

        def seen(self, item: str, digest: str) -> bool:
            return False

    (batch,) = list(connector.pull(State()))
    assert [(r["PO No"], r["Line No"]) for r in batch.records] == [("PO-9", 2), ("PO-9", 3)]
    assert batch.label == "erp:purchase_orders"
    assert batch.cursor is not None and batch.cursor.replace("T", " ").startswith("2026-11-03 08:00:00")


class _At:
    """A pull state whose every watermark is ``mark``."""

    def __init__(self, mark: str | None) -> None:
        self.mark = mark

    def watermark(self, entity: str) -> str | None:
        return self.mark

    def seen(self, item: str, digest: str) -> bool:
        return False


@pytest.mark.parametrize(
    "spec",
    [
        "table: po_seq",
        "query: SELECT * FROM po_seq WHERE :watermark IS NULL OR seq >= :watermark ORDER BY seq",
    ],
)
def test_a_sequence_cursor_compares_as_a_number(erp: Erp, tmp_path: Path, spec: str) -> None:
    erp.run("CREATE TABLE po_seq (po_no varchar(20), line_no int, seq bigint)")
    _insert(erp, "po_seq", [{"po_no": "PO-7", "line_no": n - 8, "seq": n} for n in (9, 10, 11)])
    (tmp_path / "sources.yaml").write_text(
        f"""
sources:
  erp:
    kind: sql
    connection: {{url_env: ERP_URL, schema_env: ERP_SCHEMA}}
    entities:
      purchase_orders:
        {spec}
        columns: {{po_id: po_no, po_line: line_no}}
        cursor: seq
""",
        encoding="utf-8",
    )
    (source,) = load_sources(tmp_path / "sources.yaml", env={"ERP_URL": erp.url, "ERP_SCHEMA": erp.schema})
    # the watermark is text; as text '9' >= '10', as a number it is not
    (batch,) = list(SqlConnector(source).pull(_At("10")))
    assert [r["seq"] for r in batch.records] == [10, 11]
    assert batch.cursor == "11"


def _sqlite_source(tmp_path: Path, stream: str, url: str | None = None) -> SourceConfig:
    (tmp_path / "sources.yaml").write_text(
        f"""
sources:
  erp:
    kind: sql
    connection: {{url_env: ERP_URL}}
    entities:
      lots:
{_indent(stream, 8)}
""",
        encoding="utf-8",
    )
    env = {"ERP_URL": url or f"sqlite:///{tmp_path / 'erp.sqlite'}"}
    (source,) = load_sources(tmp_path / "sources.yaml", env=env)
    return source


def test_reconciliation_once_per_window(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    erp = Erp(str(engine.url), "main", engine)
    _build_erp(erp)
    # a window of ten million minutes (19 years): the second pull is in the window of the first
    source = _sqlite_source(
        tmp_path,
        f"""query: |
{_indent(LOTS_QUERY, 2)}
columns: {{lot_id: batch_id, material_id: item, site_id: company, status_changed_at: modified}}
cursor: modified
reconcile_keys: true
reconcile_every_minutes: 10000000""",
    )
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    _seed_parents(tmp_path / "parents")
    ingest_folder(con, tmp_path / "parents", settings)
    first = pull_source(con, source, settings)
    assert first["outcome"] == "succeeded", first["error"]
    (unit,) = _rows(con, "SELECT item, outcome FROM meta.source_items WHERE source = 'erp'")
    assert unit[0].startswith("reconcile:lots:10000000 min from ") and unit[1] == "loaded"
    erp.run("""DELETE FROM "tabBatch" WHERE name = 'B-002'""")
    second = pull_source(con, source, settings)
    assert second["outcome"] == "succeeded", second["error"]
    assert second["rows_removed"] == 0  # reconciled already in this window
    assert _rows(con, "SELECT lot_id FROM raw.lots ORDER BY 1") == [("B-001",), ("B-002",), ("B-003",)]
    engine.dispose()


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (
            "columns: {lot_id: batch_id}",
            "source erp, entity lots: give exactly one of the options table or query",
        ),
        (
            "table: tabBatch\nquery: SELECT 1",
            "source erp, entity lots: give exactly one of the options table or query",
        ),
        (
            'query: SELECT * FROM "tabBatch"\ncursor: modified',
            "must filter on the bound parameter :watermark",
        ),
        ("table: tabBatch\npage_sise: 10", "unknown option page_sise (allowed: page_size, query"),
        ("table: tabBatch\npage_size: 0", "option page_size must be a whole number >= 1, not 0"),
    ],
)
def test_a_bad_stream_says_what_and_where(tmp_path: Path, stream: str, message: str) -> None:
    source = _sqlite_source(tmp_path, stream)
    with pytest.raises(SourceConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SqlConnector(source)


def test_an_unreachable_database_names_the_source_and_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'erp.sqlite'}"
    source = _sqlite_source(tmp_path, "table: tabBatch", url=url)
    with pytest.raises(
        SourceError, match=r"source erp \(sqlite:///.*erp.sqlite\): cannot connect: unable to open"
    ):
        SqlConnector(source).check()
    with pytest.raises(SourceConfigError, match=r"connection\.url is not a database URL"):
        SqlConnector(_sqlite_source(tmp_path, "table: tabBatch", url="not a url"))


def test_replace_mode_reads_the_table_whole_and_drops_what_is_gone(erp: Erp, tmp_path: Path) -> None:
    _build_erp(erp)
    (tmp_path / "sources.yaml").write_text(
        """
sources:
  erp:
    kind: sql
    connection: {url_env: ERP_URL, schema_env: ERP_SCHEMA}
    page_size: 2
    entities:
      purchase_orders:
        table: po_lines
        columns: {po_id: po_no, po_line: line_no, supplier_id: supplier, material_id: item_code,
                  site_id: site, qty_ordered: qty, requested_date: required_by, updated_at: modified}
        mode: replace
""",
        encoding="utf-8",
    )
    (source,) = load_sources(tmp_path / "sources.yaml", env={"ERP_URL": erp.url, "ERP_SCHEMA": erp.schema})
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    settings = Settings(data_dir=tmp_path / "data")
    _seed_parents(tmp_path / "parents")
    ingest_folder(con, tmp_path / "parents", settings)
    first = pull_source(con, source, settings)
    # one batch although the page size is 2: a replace delivery is the whole table
    assert (first["outcome"], first["batches"], first["rows_loaded"]) == ("succeeded", 1, 3)
    erp.run("DELETE FROM po_lines WHERE po_no = 'PO-1' AND line_no = 2")
    second = pull_source(con, source, settings)
    assert (second["rows_removed"], second["rows_loaded"]) == (1, 0)
    assert _rows(con, "SELECT po_id, po_line FROM raw.purchase_orders ORDER BY 1, 2") == [
        ("PO-1", 1),
        ("PO-2", 1),
    ]
    con.close()


def test_a_relative_sqlite_path_is_read_relative_to_the_sources_file(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "ports"
    folder.mkdir()
    engine = sa.create_engine(f"sqlite:///{folder / 'erp.sqlite'}")
    _build_erp(Erp(str(engine.url), "main", engine))
    source = _sqlite_source(
        folder, "table: tabBatch\ncolumns: {lot_id: batch_id}", url="sqlite:///erp.sqlite"
    )
    monkeypatch.chdir(tmp_path)  # the working directory holds no erp.sqlite
    assert "tabBatch" in SqlConnector(source).check()
