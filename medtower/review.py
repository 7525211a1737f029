"""The KPI review as people read it: one table of ``medtower.kpis.review`` rows, as HTML and as text.

Why one module: the KPI review page, the `medtower report` file and the weekly review email (its HTML
and its plain-text part) must read the same: the same labels, units, status colours, period and the
site the review covers. Each of them asks this module for the table (``table_html``, ``table_text`` or,
for the page, ``lines`` and ``scope`` to build its components from) instead of formatting rows itself.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from medtower import kpis

COLUMNS: tuple[str, ...] = ("KPI", "This period", "Previous", "Target", "Change", "Status")
# The status colours of the review wherever it is shown (the page's CSS gives the tiles the same hues).
STATUS_COLOURS: dict[str, str] = {"green": "#2e7d32", "amber": "#b7791f", "red": "#c62828"}
LEGEND = (
    "Status: green at or better than target, amber within 10 % of it, red beyond. "
    "n/a: empty population (see dbt_project/kpi-definitions.md)."
)

_CELL = "padding:5px 8px;border-bottom:1px solid #d9e2ec;text-align:{align}"


@dataclass(frozen=True)
class ReviewScope:
    """What a review covers: the period to ``as_of``, the one before, and one site or all of them."""

    as_of: dt.date
    period_days: int
    site: str | None
    site_names: dict[str, str]

    @property
    def period_start(self) -> dt.date:
        """First local date of the window ``A - P < d <= A``."""
        return self.as_of - dt.timedelta(days=self.period_days - 1)

    @property
    def previous_as_of(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.period_days)

    @property
    def previous_start(self) -> dt.date:
        return self.previous_as_of - dt.timedelta(days=self.period_days - 1)

    def _site(self, site_id: str) -> str:
        name = self.site_names.get(site_id)
        return f"{site_id} · {name}" if name else site_id

    @property
    def covers(self) -> str:
        """The site it covers in words: 'SITE-GAL · Galway ...', or all sites with their names."""
        if self.site is not None:
            return self._site(self.site)
        names = ", ".join(self._site(s) for s in sorted(self.site_names))
        return f"all sites ({names})" if names else "all sites"

    @property
    def title(self) -> str:
        return f"KPI review, {self.covers}: {self.period_start} to {self.as_of} ({self.period_days} days)"

    @property
    def comparison(self) -> str:
        return (
            f"compared with the previous {self.period_days} days ({self.previous_start} to "
            f"{self.previous_as_of}) and the target"
        )


def scope(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, period_days: int, site: str | None = None
) -> ReviewScope:
    """The scope of a review, with the site names of ``marts.dim_sites`` (an unknown site is refused)."""
    kpis.check_site(con, site)
    rows = con.execute("select site_id, name from marts.dim_sites order by site_id").fetchall()
    return ReviewScope(as_of, period_days, site, {str(s): str(n or "") for s, n in rows})


@dataclass(frozen=True)
class ReviewLine:
    """One KPI as the review shows it: the cells under ``COLUMNS`` and the status that colours it."""

    kpi_id: str
    status: str | None
    cells: tuple[str, ...]

    @property
    def colour(self) -> str | None:
        return STATUS_COLOURS.get(self.status or "")

    @property
    def css_class(self) -> str:
        return f"rag-{self.status or 'none'}"


def line(row: kpis.ReviewRow) -> ReviewLine:
    target = "no target" if row.target is None else kpis.format_value(row.target, row.unit)
    cells = (
        row.label,
        kpis.format_value(row.value, row.unit),
        kpis.format_value(row.previous, row.unit),
        target,
        kpis.format_change(row.value, row.previous, row.unit),
        kpis.status_label(row.status, row.target),
    )
    return ReviewLine(row.kpi_id, row.status, cells)


def lines(rows: Sequence[kpis.ReviewRow]) -> list[ReviewLine]:
    return [line(r) for r in rows]


# The columns coloured by the status: the value and the status itself.
COLOURED = frozenset({COLUMNS.index("This period"), COLUMNS.index("Status")})


def table_html(review: ReviewScope, rows: Sequence[kpis.ReviewRow]) -> str:
    """The review table with inline styles, so it reads the same in a mail client as in the file."""
    esc = html.escape
    head = "".join(
        f"<th style='{_CELL.format(align='left' if i == 0 else 'right')}'>{esc(c)}</th>"
        for i, c in enumerate(COLUMNS)
    )
    body = []
    for item in lines(rows):
        tds = []
        for i, text in enumerate(item.cells):
            style = _CELL.format(align="left" if i == 0 else "right")
            attrs = ""
            if i in COLOURED:
                attrs = f" class='{item.css_class}'"
                if item.colour:
                    style += f";color:{item.colour};font-weight:700"
            tds.append(f"<td{attrs} style='{style}'>{esc(text)}</td>")
        body.append(f"<tr data-kpi='{esc(item.kpi_id)}'>{''.join(tds)}</tr>")
    rows_html = "".join(body) or f"<tr><td colspan='{len(COLUMNS)}'>No KPI values</td></tr>"
    return (
        f"<table class='kpi-table kpi-review' data-as-of='{review.as_of}' "
        f"data-period-days='{review.period_days}' data-site='{esc(review.site or 'all sites')}' "
        "style='border-collapse:collapse;font-variant-numeric:tabular-nums'>"
        f"<caption style='text-align:left;font-weight:700;padding:4px 0'>{esc(review.title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
    )


def table_text(review: ReviewScope, rows: Sequence[kpis.ReviewRow]) -> str:
    """The same table as plain text, one KPI a line, cells split by ' | '."""
    out = [review.title, f"({review.comparison})", "", " | ".join(COLUMNS)]
    out += [" | ".join(item.cells) for item in lines(rows)]
    return "\n".join(out)
