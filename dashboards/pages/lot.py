"""Lot drill-down (/lot/<lot_id>): status history and why, inspections, NCRs, genealogy, shipments."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards import drilldown
from dashboards import drilldown_data as dd
from dashboards.components import data_grid, section
from dashboards.data import base, lots
from dashboards.drilldown import Context, capped, pair


def _links(ctx: Context) -> Any:
    qs = ctx.f.query_string()
    material = str(ctx.row.get("material_id") or "")
    return html.Div(
        [
            dcc.Link(
                "Trace backward (components, suppliers) →",
                href=f"/traceability{qs}&q={quote(ctx.key)}&direction=backward",
                className="btn",
            ),
            " ",
            dcc.Link(
                "Trace forward (products, customers) →",
                href=f"/traceability{qs}&q={quote(ctx.key)}&direction=forward",
                className="btn",
            ),
            " ",
            dcc.Link(f"Material {material} →", href=ctx.href("/material/", material), className="btn"),
        ],
        style={"marginBottom": "12px"},
    )


def _history(ctx: Context) -> Any:
    return section(
        "Status history",
        data_grid(
            "lot-history",
            dd.lot_status_history(ctx.con, ctx.key),
            height=260,
            empty_text="No status history for this lot.",
            empty_detail="The history starts with the lot's first receipt or production.",
        ),
        note=(
            "oldest first, times in the site's local time; why: QA's reason and who decided it, or the "
            "failed inspections and NCRs behind a block QA gave no reason for"
        ),
        wide=True,
    )


def _quality(ctx: Context) -> Any:
    return pair(
        section(
            "Inspections",
            data_grid(
                "lot-inspections",
                dd.lot_inspections(ctx.con, ctx.key),
                height=240,
                zones=ctx.zones,
                empty_text="No inspection of this lot.",
                empty_detail="Incoming, in-process and final inspections of the lot appear here.",
            ),
        ),
        section(
            "Nonconformances",
            data_grid(
                "lot-ncrs",
                dd.lot_ncrs(ctx.con, ctx.key),
                height=240,
                empty_text="No NCR on this lot.",
                empty_detail="NCRs raised against the lot appear here.",
            ),
        ),
    )


def _genealogy(ctx: Context) -> Any:
    links, total = dd.lot_genealogy(ctx.con, ctx.key)
    ships, ship_total = dd.lot_shipments(ctx.con, ctx.key)
    return pair(
        capped(
            "Consumption and genealogy",
            "lot-genealogy",
            links,
            total,
            note="one step each way; the trace buttons follow every step",
            what="links",
            height=260,
            zones=ctx.zones,
            empty_text="This lot went into no work order and was made from no lot.",
            empty_detail="Lots consumed by work orders, and the lots a work order consumed, appear here.",
        ),
        capped(
            "Shipments",
            "lot-shipments",
            ships,
            ship_total,
            what="shipments",
            height=260,
            zones=ctx.zones,
            empty_text="Nothing of this lot was shipped to a customer.",
            empty_detail="Shipments of the lot to customers appear here.",
        ),
    )


def _movements(ctx: Context) -> Any:
    moves = lots.lot_movements(ctx.con, ctx.key)
    return section(
        "Movements",
        data_grid(
            "lot-movements",
            moves,
            height=280,
            zones=ctx.zones,
            empty_text="No inventory movement recorded for this lot.",
            empty_detail="Receipts, issues, transfers and shipments of the lot appear here.",
        ),
        note=f"oldest first, up to {base.ROW_LIMIT:,}; times in the site's local time",
        wide=True,
    )


render = drilldown.register_page(
    __name__,
    path_template="/lot/<lot_id>",
    name="Lot",
    subtitle="Status, quality, genealogy, shipments and movements of one lot",
    facts=lots.lot_facts,
    sections=(_links, _history, _quality, _genealogy, _movements),
    labels={"uom": "Unit", "supplier_lot": "Supplier lot", "status_changed_at": "Status changed"},
    not_found_detail="Check the lot number, or search it on the Traceability page.",
    site_column="site_id",
)
