"""Personal data by role, checked where it leaves: the served app's responses, the browser, exports, the CLI's
JSON, the review file and the alert emails.

The small plant (tests/small_plant.py) holds distinctive personal data: customer C1's contact is
"Zelda Quintero-Marsh" <zq@clinic.example>, complaint CP1's patient is "PAT-77Q1"; here a quarantined
customers row carries the same contact. The real app (app.py) serves it on 127.0.0.1 to one user per role.
Who may see personal data is written out by hand here (admin and QA), not read from medtower/roles.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import openpyxl
import pytest

from medtower import audit, pii
from medtower.settings import Settings
from tests.alerts.conftest import smtp_server  # noqa: F401 - the real SMTP server fixture
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.conftest import BuiltWarehouse
from tests.served_app import filters, post, run_app
from tests.signin import TEST_PASSWORD, add_user, csrf_headers, http_client, signed_in_page
from tests.small_plant import AS_OF, ROWS

ROLES = ("admin", "management", "planner", "qa", "viewer")
SEES_PERSONAL = {"admin", "qa"}
NAME, EMAIL, PATIENT = "Zelda Quintero-Marsh", "zq@clinic.example", "PAT-77Q1"
PLANTED = (NAME, EMAIL, PATIENT)
# The masks, worked out by hand: bullets for all but the last two characters (at least three).
EMAIL_MASKED = "•" * 15 + "le"  # zq@clinic.example: 17 characters
NAME_MASKED = "•" * 18 + "sh"  # Zelda Quintero-Marsh: 20 characters
# A quarantined customers row as delivered (name missing), holding the planted contact.
REJECT_ROW = {"customer_id": "C9", "name": "", "contact_name": NAME, "contact_email": EMAIL}


def _quarantine(db: Path) -> None:
    """One refused customers row in meta.rejects as ingest keeps it: ``raw`` masked, the row as delivered in
    ``raw_full`` and its bytes in ``raw_line``."""
    from ingest.contract import load_contract
    from ingest.load import mask_personal

    full = json.dumps(REJECT_ROW)
    now = dt.datetime(2026, 6, 30, 22, 0)
    with duckdb.connect(str(db)) as con:
        con.execute(
            'insert into meta.rejects (reject_id, entity, file, line, "column", reason, raw, raw_hash, '
            "first_run_id, first_seen_at, last_run_id, last_seen_at, raw_line, raw_full) "
            "values ('r1', 'customers', 'customers.csv', 7, 'name', 'required', "
            "?, ?, 'run1', ?, 'run1', ?, ?, ?)",
            [
                mask_personal(load_contract()["customers"], full),
                hashlib.sha256(full.encode()).hexdigest(),
                now,
                now,
                f"C9,,{NAME},{EMAIL}".encode(),
                full,
            ],
        )


def _health_tables(data: Path, db: Path, target: Path) -> None:
    """What Data health reads beside the quarantine, written as the pipeline writes it: this build's dbt
    results and the (empty) alert store."""
    from alerts import store
    from medtower.pipeline import _record_dbt_results, _summarise_run_results

    _record_dbt_results(Settings(data_dir=data), db, "build1", _summarise_run_results(target))
    with duckdb.connect(str(db)) as con:
        store.ensure_schema(con)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory, small_warehouse: BuiltWarehouse) -> Path:
    """The data folder: a copy of the small plant's warehouse (built by dbt once per session), a reject,
    one user per role."""
    assert {c.get("contact_name") for c in ROWS["customers"]} >= {NAME}  # the planted values are the plant's
    assert [c.get("patient_reference") for c in ROWS["complaints"]] == [PATIENT]
    data = tmp_path_factory.mktemp("pii") / "data"
    data.mkdir()
    db = data / "warehouse.duckdb"
    shutil.copy(small_warehouse.path, db)
    _quarantine(db)
    _health_tables(data, db, small_warehouse.target_dir)
    for role in ROLES:
        add_user(data, role, role)
    return data


@pytest.fixture(scope="module")
def served(plant: Path) -> Iterator[dict[str, Any]]:
    # A loaded machine: the app imports Dash and every page first.
    with run_app(plant, plant.parent / "app.log", seconds=180) as app:
        yield {"url": app.url, "data": plant}


def _views(data: Path) -> list[dict[str, Any]]:
    return audit.read(Settings(data_dir=data), action="pii.view")


def _body(client: httpx.Client, body_id: str, key: str | None = None) -> str:
    """A page body's callback as Dash's renderer sends it; the answer's text (JSON, non-ASCII as is)."""
    held = f"{body_id}-held"
    slug = body_id.removesuffix("-body")
    inputs = [{"id": f"{slug}-id", "property": "data", "value": key}] if key else []
    resp = post(
        client,
        [{"id": body_id, "property": "children"}, {"id": held, "property": "data"}],
        [*inputs, filters()],
        state=[{"id": held, "property": "data", "value": None}],
        changed=["filters.data"],
    )
    assert resp.status_code == 200, (body_id, resp.status_code, resp.text[:300])
    return json.dumps(resp.json(), ensure_ascii=False)


# --- the registry and the mart ------------------------------------------------------------------------------


def test_the_contract_names_the_personal_columns_and_each_has_its_mart(tmp_path: Path) -> None:
    assert pii.columns() == {
        "dim_customers": ("contact_name", "contact_email"),
        "fct_complaint_patient_references": ("patient_reference",),
    }
    assert pii.mask(PATIENT) == "••••••Q1" and pii.mask(EMAIL) == EMAIL_MASKED and pii.mask(None) is None
    # A new pii column of an entity no mart is declared for is refused, naming the fix.
    contract = tmp_path / "contract.yaml"
    contract.write_text("entities:\n  patients:\n    key: [p]\n    columns:\n      p: {pii: true}\n")
    with pytest.raises(ValueError, match=r"patients\.p .*pii\.MARTS"):
        pii.columns(contract)


def test_only_the_narrow_mart_holds_the_patient_reference(plant: Path) -> None:
    with duckdb.connect(str(plant / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select * from marts.fct_complaint_patient_references").fetchall()
        complaint_cols = [r[0] for r in con.execute("describe marts.fct_complaints").fetchall()]
    assert rows == [("CP1", PATIENT, "S1")]  # CP1 is about lot F1, made at S1
    assert "patient_reference" not in complaint_cols and "has_patient_reference" in complaint_cols


# --- pages, by role, from the served app --------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_personal_data_reaches_only_roles_with_the_right_and_each_view_is_recorded(
    served: dict[str, Any], role: str
) -> None:
    client = http_client(served["url"], role, TEST_PASSWORD)
    sees = role in SEES_PERSONAL

    before = len(_views(served["data"]))
    customer = _body(client, "customer-body", "C1")
    after_customer = _views(served["data"])
    assert "City Hospital" in customer  # the page is there, whoever reads it
    assert (NAME in customer, EMAIL in customer) == (sees, sees), role
    assert (EMAIL_MASKED in customer) == (not sees), role  # masked on the server, not left out by CSS
    assert len(after_customer) == before + (1 if sees else 0)
    if sees:
        rec = after_customer[-1]
        assert (rec["actor"], rec["object_type"], rec["object_id"]) == (role, "customer", "C1")
        assert rec["new"] == {"columns": ["contact_name", "contact_email"], "where": "/customer/C1"}

    quality = _body(client, "quality-body")
    after_quality = _views(served["data"])
    assert "CP1" in quality
    assert (PATIENT in quality) == sees, role
    assert ("••••••" in quality) == (not sees), role
    assert len(after_quality) == len(after_customer) + (1 if sees else 0)
    if sees:
        rec = after_quality[-1]
        assert (rec["actor"], rec["object_type"], rec["new"]["ids"]) == (role, "complaints", ["CP1"])
        assert rec["new"]["columns"] == ["patient_reference"] and rec["new"]["where"] == "/quality"

    # Data health is admin's and QA's (both may see personal data): the quarantine shows the row as
    # delivered, recorded; the others are refused the page.
    if sees:
        health = _body(client, "health-body")
        views = _views(served["data"])
        assert NAME in health and EMAIL in health
        assert len(views) == len(after_quality) + 1
        assert views[-1]["object_type"] == "quarantine"
        assert views[-1]["new"]["ids"] == ["customers:customers.csv:7"]
        assert views[-1]["new"]["columns"] == ["customers.contact_name", "customers.contact_email"]


def test_the_grid_csv_export_of_a_masked_page_is_masked_in_chromium(served: dict[str, Any]) -> None:
    """What a person sees and downloads: the viewer's customer page and its grid CSV carry no contact;
    QA's page shows it."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            seen = {}
            for role in ("viewer", "qa"):
                page = signed_in_page(browser, served["url"], role, TEST_PASSWORD, accept_downloads=True)
                page.goto(served["url"] + "/customer/C1")
                page.wait_for_selector("#customer-body .facts", timeout=30000)
                seen[role] = page.inner_text("body") + page.content()
                page.context.close()
            assert NAME not in seen["viewer"] and EMAIL not in seen["viewer"]
            assert NAME in seen["qa"] and EMAIL in seen["qa"]
            # The complaints table's CSV export by management: may export, may not see personal data. (A
            # few complaints: a plain table, exported by the server from the rows the page holds.)
            page = signed_in_page(browser, served["url"], "management", TEST_PASSWORD, accept_downloads=True)
            page.goto(served["url"] + "/quality")
            page.wait_for_selector("#quality-body .grid-block", timeout=30000)
            button = page.locator("[id*='table-csv'][id*='complaints']")
            with page.expect_download() as download:
                button.first.click()
            csv_text = Path(download.value.path()).read_text(encoding="utf-8")
            assert "CP1" in csv_text and PATIENT not in csv_text
            assert PATIENT not in page.content()
            page.context.close()
        finally:
            browser.close()


# --- what leaves without a page: exports, the CLI's JSON, the review file, emails ---------------------------


def _medtower(data: Path, *args: str) -> str:
    exe = str(Path(sys.executable).with_name("medtower"))
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(data)}
    proc = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout


def _absent(text: str, where: str) -> None:
    found = [p for p in PLANTED if p in text]
    assert not found, f"{where} carries personal data: {found}"


def test_cli_json_and_the_review_file_carry_no_personal_data(plant: Path, tmp_path: Path) -> None:
    trace = _medtower(plant, "trace", "F1", "--direction", "forward", "--json")
    assert "City Hospital" in trace  # the trace reaches customer C1
    _absent(trace, "medtower trace --json")
    rejects = _medtower(plant, "rejects", "--json")
    assert "C9" in rejects and "*** personal data ***" in rejects  # the refused row, masked
    _absent(rejects, "medtower rejects --json")
    # As delivered only for a named user whose role may see personal data, and recorded.
    exe = str(Path(sys.executable).with_name("medtower"))
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(plant)}
    refused = subprocess.run(
        [exe, "rejects", "--user", "planner", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0 and "planner (planner) may not" in refused.stderr
    _absent(refused.stdout + refused.stderr, "a refused medtower rejects --user")
    before = [r for r in _views(plant) if r["source"] == "cli"]
    full = json.loads(_medtower(plant, "rejects", "--user", "qa", "--json"))
    assert [r["raw"] for r in full] == [REJECT_ROW]
    after = [r for r in _views(plant) if r["source"] == "cli"]
    assert len(after) == len(before) + 1
    assert (after[-1]["actor"], after[-1]["object_type"], after[-1]["new"]["ids"]) == (
        "qa",
        "quarantine",
        ["customers:customers.csv:7"],
    )
    _absent(_medtower(plant, "kpis", "--as-of", AS_OF.isoformat(), "--json"), "medtower kpis --json")
    out = tmp_path / "review.html"
    _medtower(plant, "report", "--as-of", AS_OF.isoformat(), "--out", str(out))
    _absent(out.read_text(encoding="utf-8"), "the review file")


def _trace_export(client: httpx.Client, button: str) -> bytes:
    """The Traceability page's export callback as the browser sends it; the file's bytes."""
    names = ("trace-csv", "trace-xlsx")
    body = {
        "output": "trace-download.data",
        "outputs": {"id": "trace-download", "property": "data"},
        "inputs": [{"id": n, "property": "n_clicks", "value": 1 if n == button else 0} for n in names],
        "state": [
            {"id": "trace-q", "property": "value", "value": "F1"},
            {"id": "trace-direction", "property": "value", "value": "forward"},
        ],
        "changedPropIds": [f"{button}.n_clicks"],
    }
    resp = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert resp.status_code == 200, resp.text[:300]
    sent = resp.json()["response"]["trace-download"]["data"]
    return base64.b64decode(sent["content"]) if sent.get("base64") else str(sent["content"]).encode()


def test_the_trace_exports_carry_no_personal_data_even_for_qa(served: dict[str, Any]) -> None:
    """A recall scope lists customers by name; their contacts are not in it, whoever exports."""
    client = http_client(served["url"], "qa", TEST_PASSWORD)
    book = openpyxl.load_workbook(io.BytesIO(_trace_export(client, "trace-xlsx")))
    cells = " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    assert "City Hospital" in cells
    _absent(cells, "the trace XLSX")
    csv_text = _trace_export(client, "trace-csv").decode("utf-8-sig")
    assert "F1" in csv_text
    _absent(csv_text, "the trace CSV")


def test_alert_emails_carry_no_personal_data(plant: Path, tmp_path: Path, smtp_server: Any) -> None:  # noqa: F811 - the fixture
    from alerts.engine import evaluate
    from tests.alerts.support import alert_settings_for

    work = tmp_path / "data"
    work.mkdir()
    shutil.copy(plant / "warehouse.duckdb", work / "warehouse.duckdb")
    settings = alert_settings_for(work, smtp_server)
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        result = evaluate(con, settings, run_id="pii", as_of=AS_OF)
    messages = smtp_server.handler.messages
    assert result["sent"] >= 1 and messages, result["summary"]
    for msg in messages:
        _absent(str(msg["Subject"]) + smtp_server.text(msg) + smtp_server.html(msg), "an alert email")
