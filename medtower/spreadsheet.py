"""Exports that a spreadsheet opens as data, never as formulas (CSV/formula injection, OWASP).

A value read from a feed can start with ``=``, ``+``, ``-`` or ``@`` (``=HYPERLINK("http://...")`` in a
customer name, a supplier note): Excel, LibreOffice and Google Sheets run such a cell as a formula when the
CSV is opened. Every file MedTower writes for a person (CSV and XLSX exports, the audit trail's export)
goes through this module:

- CSV: a text cell that starts with one of those characters, a tab or a carriage return gets a leading
  apostrophe, which spreadsheets show as text and do not evaluate (OWASP's advice). Numbers are numbers
  and stay as they are (``-5`` in a numeric column is not text).
- XLSX: openpyxl stores a string that starts with ``=`` as a formula; MedTower never writes formulas, so
  every formula cell of a workbook it wrote is turned back into a text cell with the same characters.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_STARTS", "csv_text", "safe_cell", "safe_frame", "text_only_workbook"]

# What a spreadsheet may read as the start of a formula (tab and CR: some apps strip them first).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text value that a spreadsheet would evaluate, prefixed with ``'``; any other value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are safe to open in a spreadsheet."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as RFC 4180 CSV (CRLF, so a field holding a bare CR or LF is quoted), safe cells."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n")


def text_only_workbook(workbook: Any) -> int:
    """Turn every formula cell of an openpyxl workbook into text with the same characters; how many."""
    changed = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
                    changed += 1
    return changed
