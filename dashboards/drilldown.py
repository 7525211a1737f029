"""One drill-down page factory: an entity's page is its facts and a list of sections, registered once.

Why: the material, work-order, lot, customer and supplier pages were five copies of one layout and one
callback. Here a page is data (route, the facts query, the sections); the factory registers the
``path_template`` page, its layout and its one callback, and every page gets the same "not found" answer,
the same aligned facts grid and the same "first N of M" note on a capped table.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dash
import dash_ag_grid as dag
import duckdb
import pandas as pd
from dash import Input, dcc, html

from dashboards.components import (
    data_grid,
    empty_state,
    filters_from,
    granted_sites,
    guarded,
    localize_times,
    page_header,
    reader,
    section,
)
from dashboards.data import shell
from dashboards.filters import Filters
from dashboards.in_place import body_callback, page_body
from medtower import roles


@dataclass(frozen=True)
class Context:
    """What a section needs: the open connection, the filters, the entity's id and facts, site zones."""

    con: duckdb.DuckDBPyConnection
    f: Filters
    key: str
    row: Mapping[str, Any]
    zones: Mapping[str, str]

    def href(self, route: str, ident: str) -> str:
        """A link to another drill-down that keeps the filters."""
        return f"{route}{ident}{self.f.query_string()}"


# A section builds one or more page blocks (panels, rows of panels) from the context.
SectionBuilder = Callable[[Context], Any]


@dataclass(frozen=True)
class Tab:
    """A tab of a drill-down: its label and the sections it holds.

    Why tabs: the browser builds only the selected tab's tables and charts. A Material drew ten tables and
    a chart on open, 1.1-1.5 s of the browser's time at scale 10, for a person who reads one part of it at a
    time; a tab's few tables draw in a fraction of that, and the next tab is one click away.
    """

    label: str
    sections: Sequence[SectionBuilder]

    @property
    def value(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


@dataclass(frozen=True)
class DrillDown:
    """A drill-down page: ``path_template`` with one ``<param>``, its facts (one row) and its sections."""

    path_template: str  # "/material/<material_id>"
    name: str  # "Material"
    facts: Callable[[duckdb.DuckDBPyConnection, str], pd.DataFrame]
    sections: Sequence[SectionBuilder]
    tabs: Sequence[Tab] = ()  # below the sections, one shown at a time
    subtitle: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # fact column -> label in words
    hidden: tuple[str, ...] = ()  # fact columns not shown
    not_found_detail: str = "Check the id; links from tables always carry a valid one."
    # The facts column naming the one site the entity belongs to (a lot, a work order): a user granted
    # other sites is refused the whole page. None: the entity spans sites (material, supplier, customer)
    # and its tables show the user's sites only.
    site_column: str | None = None

    @property
    def param(self) -> str:
        found = re.fullmatch(r"/([a-z-]+)/<([a-z_]+)>", self.path_template)
        if not found:
            raise ValueError(f"a drill-down path is /<route>/<param>, got {self.path_template!r}")
        return found.group(2)

    @property
    def slug(self) -> str:
        return self.path_template.strip("/").split("/")[0]


def fact_label(col: str, labels: Mapping[str, str] | None = None) -> str:
    """A fact's label in words: the page's own label, else the column name without underscores."""
    if labels and col in labels:
        return labels[col]
    text = col.replace("_", " ")
    if text.endswith(" id"):
        text = text[:-3]
    return text[:1].upper() + text[1:]


def fact_text(value: Any) -> str:
    """A fact's value as text: dashes for nothing, dates without midnight, yes/no for flags."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def facts_grid(
    row: Mapping[str, Any], labels: Mapping[str, str] | None = None, hidden: Sequence[str] = ()
) -> html.Dl:
    """Label / value pairs that stay together: each pair is one cell of the grid (label above value).

    The old list put every label and value in its own grid cell, so a long value pushed the next label
    into the wrong column.
    """
    cells = [
        html.Div(
            [html.Dt(fact_label(k, labels)), html.Dd(fact_text(v))],
            className="fact",
        )
        for k, v in row.items()
        if k not in hidden
    ]
    return html.Dl(cells, className="facts")


# Column -> header in words, for the ids and codes the generic header ("So id", "Uom") leaves cryptic.
# Link columns keep their names (the grid links them by name); only the header text changes.
HEADER_WORDS = {
    "site_id": "Site",
    "lot_id": "Lot",
    "output_lot_id": "Output lot",
    "material_id": "Material",
    "other_material_id": "Other material",
    "wo_id": "Work order",
    "so_id": "Sales order",
    "so_line": "Line",
    "po_id": "Purchase order",
    "po_line": "Line",
    "asn_id": "ASN",
    "asn_line": "ASN line",
    "supplier_id": "Supplier",
    "supplier": "Supplier name",
    "supplier_name": "Supplier name",
    "supplier_approval_status": "Approval",
    "customer_id": "Customer",
    "customer": "Customer name",
    "customer_name": "Customer name",
    "ncr_id": "NCR",
    "ncrs": "NCRs",
    "why_suspect": "Why suspect",
    "capa_id": "CAPA",
    "change_id": "Change control",
    "shipment_id": "Shipment",
    "inspection_id": "Inspection",
    "bom_revision": "BOM revision",
    "uom": "Unit",
    "op_seq": "Step",
    "is_orderable": "Orderable",
    "is_valid_at_as_of": "Valid at as-of",
    "is_past_due_at_as_of": "Past due",
    "open_at": "Open at as-of",
    "material_description": "Description",
    "is_at_risk": "At risk",
    "qty_per": "Per unit",
}


def worded_headers(tree: Any) -> Any:
    """Give every grid in ``tree`` headers in words (HEADER_WORDS); returns the tree, changed in place."""
    if isinstance(tree, list | tuple):
        for node in tree:
            worded_headers(node)
        return tree
    if isinstance(tree, dag.AgGrid):
        for cdef in tree.columnDefs or []:
            words = HEADER_WORDS.get(cdef.get("field", ""))
            if words:
                cdef["headerName"] = words
        return tree
    # A short table as plain HTML (components.plain_table): its header cells and the columns it exports.
    if isinstance(tree, html.Th):
        words = HEADER_WORDS.get(str(getattr(tree, "data-field", "")))
        if words:
            tree.children = words
        return tree
    ident = getattr(tree, "id", None)
    if isinstance(tree, dcc.Store) and isinstance(ident, dict) and ident.get("type") == "table-rows":
        for column in getattr(tree, "data")["columns"]:  # noqa: B009 - Store declares its props untyped
            column[1] = HEADER_WORDS.get(column[0], column[1])
        return tree
    children = getattr(tree, "children", None)
    if children is not None and not isinstance(children, str):
        worded_headers(children)
    return tree


def first_of(shown: int, total: int, what: str = "rows") -> str:
    """The note of a capped table: 'first 500 of 1,234 rows', or 'all 12 rows'."""
    if total > shown:
        return f"first {shown:,} of {total:,} {what}"
    return f"{total:,} {what}"


def capped(
    title: str,
    name: str,
    df: pd.DataFrame,
    total: int | None = None,
    *,
    note: str | None = None,
    what: str = "rows",
    wide: bool = False,
    **grid: Any,
) -> html.Section:
    """A section holding one table; the note says 'first N of M' when the query cut it at N."""
    n = len(df)
    count = first_of(n, total if total is not None else n, what)
    return section(title, data_grid(name, df, **grid), note=f"{count}; {note}" if note else count, wide=wide)


def pair(*blocks: Any) -> html.Div:
    """Two panels side by side (one alone takes the row)."""
    kept = [b for b in blocks if b is not None]
    return html.Div(className="grid-2", children=kept)


def own_site(filters: dict[str, Any] | None, sites: Sequence[str]) -> dict[str, Any] | None:
    """A user granted exactly one site sees a drill-down at that site when the filters say "all sites".

    A user granted several sites is asked to pick one (filters_from's notice): every table then shows that
    site, and data_grid drops any row of a site not granted.
    """
    if filters and filters.get("site") is None and len(sites) == 1:
        return {**filters, "site": sites[0]}
    return filters


def site_refusal(page: DrillDown, value: str, facts: pd.DataFrame, sites: Sequence[str]) -> html.Div | None:
    """The notice instead of the page when the entity belongs to one site the user is not granted."""
    if page.site_column is None or not sites or page.site_column not in facts.columns:
        return None
    site = facts[page.site_column].iloc[0]
    site = None if pd.isna(site) else str(site)
    if roles.site_allowed(sites, site):
        return None
    return html.Div(
        className="notice filter-problem",
        id="site-refused",
        children=[
            html.Strong(f"Not shown: this {page.name.lower()} is at {site or 'no site'}. "),
            f"You see {', '.join(sites)} only; ask an administrator for access to {site or 'it'}.",
        ],
    )


def built(builders: Sequence[SectionBuilder], ctx: Context) -> list[Any]:
    """The page blocks of ``builders``, in order (a builder may give one block or several)."""
    blocks: list[Any] = []
    for build in builders:
        out = build(ctx)
        blocks.extend(out if isinstance(out, list | tuple) else [out])
    return blocks


def tabbed(page: DrillDown, ctx: Context) -> dcc.Tabs:
    """The page's tabs, the first selected. Every tab's content is sent (a click on a tab asks the server
    nothing); the browser builds the selected one only. The tab a person picked stays picked when the
    filters change (the body is updated in place, dashboards.in_place) and, through Dash's persistence, when
    the body is built anew or the page reloaded, in that browser tab's session."""
    return dcc.Tabs(
        id=f"{page.slug}-tabs",
        value=page.tabs[0].value,
        persistence=True,
        persistence_type="session",
        className="drill-tabs",
        parent_className="drill-tabs-parent",
        content_className="drill-tab-content",
        colors={"border": "transparent", "primary": "transparent", "background": "transparent"},
        children=[
            dcc.Tab(
                label=tab.label,
                value=tab.value,
                className="drill-tab",
                selected_className="drill-tab--selected",
                children=built(tab.sections, ctx),
            )
            for tab in page.tabs
        ],
    )


def register_page(
    module: str,
    *,
    path_template: str,
    name: str,
    facts: Callable[[duckdb.DuckDBPyConnection, str], pd.DataFrame],
    sections: Sequence[SectionBuilder],
    tabs: Sequence[Tab] = (),
    subtitle: str = "",
    labels: Mapping[str, str] | None = None,
    hidden: tuple[str, ...] = (),
    not_found_detail: str | None = None,
    site_column: str | None = None,
) -> Callable[..., Any]:
    """Register ``page`` as a Dash page with its layout and callback; returns the (guarded) render function.

    Named like ``dash.register_page`` on purpose: Dash imports only the files of the pages folder whose text
    contains "register_page".

    The render function is returned so tests can call it with an id and a filters store, exactly as Dash does.
    """
    page = DrillDown(
        path_template=path_template,
        name=name,
        facts=facts,
        sections=tuple(sections),
        tabs=tuple(tabs),
        subtitle=subtitle,
        labels=dict(labels or {}),
        hidden=hidden,
        site_column=site_column,
        **({"not_found_detail": not_found_detail} if not_found_detail else {}),
    )
    body_id, key_id = f"{page.slug}-body", f"{page.slug}-id"

    def layout(**params: Any) -> html.Div:
        value = params.get(page.param)
        return html.Div(
            [
                page_header(f"{page.name} {value or ''}".strip(), page.subtitle or None),
                dcc.Store(id=key_id, data=value),
                *page_body(body_id),
            ]
        )

    def render(value: str | None, filters: dict[str, Any] | None) -> Any:
        sites = granted_sites()
        f = filters_from(own_site(filters, sites))
        if not value:
            return empty_state(f"No {page.name.lower()} given.")
        with reader().connect() as con:
            facts = page.facts(con, value)
            if facts.empty:
                return empty_state(f"No {page.name.lower()} {value} in the warehouse.", page.not_found_detail)
            refused = site_refusal(page, value, facts, sites)
            if refused is not None:
                return refused
            zones = shell.site_zones(con)
            facts = localize_times(facts, zones)
            row = facts.astype(object).where(facts.notna(), None).iloc[0].to_dict()
            ctx = Context(con=con, f=f, key=value, row=row, zones=zones)
            blocks: list[Any] = [section(page.name, facts_grid(row, page.labels, page.hidden), wide=True)]
            blocks.extend(built(page.sections, ctx))
            if page.tabs:
                blocks.append(tabbed(page, ctx))
        return worded_headers(blocks)

    dash.register_page(
        module,
        path_template=page.path_template,
        name=page.name,
        title=f"MedTower · {page.name}",
        layout=layout,
    )
    guarded_render = guarded(render)
    body_callback(body_id, Input(key_id, "data"), Input("filters", "data"))(guarded_render)
    return guarded_render
