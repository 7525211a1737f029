"""Reads the KPI review table (``table.kpi-review``) out of any HTML: an email, the report file, the page.

Independent of medtower.review: a stdlib HTML parser, so a test compares what each reader sees.
The status colour is taken from the cells' inline style; the browser writes it as ``rgb(r, g, b)``,
files and emails as ``#rrggbb``: both come back as ``#rrggbb``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class ReviewTable:
    caption: str = ""
    site: str | None = None
    header: list[str] = field(default_factory=list)
    rows: dict[str, list[str]] = field(default_factory=dict)  # kpi_id -> cell texts
    classes: dict[str, list[str]] = field(default_factory=dict)  # kpi_id -> the cells' status classes
    colours: dict[str, list[str | None]] = field(default_factory=dict)  # kpi_id -> the cells' colours


_RGB = re.compile(r"rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)")


def _colour(style: str | None) -> str | None:
    for part in (style or "").split(";"):
        name, _, value = part.partition(":")
        if name.strip() == "color":
            value = value.strip().lower()
            rgb = _RGB.fullmatch(value)
            return "#{:02x}{:02x}{:02x}".format(*map(int, rgb.groups())) if rgb else value
    return None


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[ReviewTable] = []
        self._table: ReviewTable | None = None
        self._kpi: str | None = None
        self._text: list[str] | None = None
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "kpi-review" in (a.get("class") or "").split():
            self._table = ReviewTable(site=a.get("data-site"))
            self.tables.append(self._table)
        elif self._table is None:
            return
        elif tag == "tr":
            self._kpi = a.get("data-kpi")
            if self._kpi:
                self._table.rows[self._kpi] = []
                self._table.classes[self._kpi] = []
                self._table.colours[self._kpi] = []
        elif tag in ("caption", "th", "td"):
            self._text, self._where = [], tag
            if tag == "td" and self._kpi:
                self._table.classes[self._kpi].append(a.get("class") or "")
                self._table.colours[self._kpi].append(_colour(a.get("style")))

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._table is None:
            return
        if tag == "table":
            self._table = None
        elif tag == self._where and self._text is not None:
            text = " ".join("".join(self._text).split())
            if tag == "caption":
                self._table.caption = text
            elif tag == "th":
                self._table.header.append(text)
            elif self._kpi:
                self._table.rows[self._kpi].append(text)
            self._text = None


def review_tables(html: str) -> list[ReviewTable]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.tables


def review_table(html: str) -> ReviewTable:
    """The one review table of a document (an error if there is none or more than one)."""
    tables = review_tables(html)
    assert len(tables) == 1, f"{len(tables)} KPI review tables, expected 1"
    return tables[0]
