"""Work order drill-down (/work-order/<wo_id>): components and shortage, operations, orders served, lots."""

from __future__ import annotations

from typing import Any

from dashboards import drilldown
from dashboards import drilldown_data as dd
from dashboards.components import data_grid, section, snapshot_notice
from dashboards.data import wip
from dashboards.drilldown import Context, capped, pair


def _notice(ctx: Context) -> Any:
    return snapshot_notice(dd.planning_as_of(ctx.con), ctx.f)


def _components(ctx: Context) -> Any:
    comps = dd.wo_components(ctx.con, ctx.key)
    short = int((comps["short_qty"] > 0).sum()) if not comps.empty else 0
    note = "required = quantity planned x per unit (BOM revision in force at its start)"
    if short:
        note = f"{short:,} short; " + note
    return section(
        "Components",
        data_grid(
            "wo-components",
            comps,
            height=300,
            empty_text="No component requirement: the work order is not open.",
            empty_detail="Requirements are kept for open work orders; see the lots it consumed below.",
        ),
        note=note + "; available = released stock at its site, not reserved for this order",
        wide=True,
    )


def _operations(ctx: Context) -> Any:
    return section(
        "Operations",
        data_grid(
            "wo-operations",
            wip.wo_operations(ctx.con, ctx.key),
            height=300,
            zones=ctx.zones,
            empty_text="No operations recorded.",
            empty_detail="Operations appear once the work order is released to the shop floor.",
        ),
        note="times in the site's local time",
        wide=True,
    )


def _orders(ctx: Context) -> Any:
    return section(
        "Customer orders it serves",
        data_grid(
            "wo-orders",
            dd.wo_customer_orders(ctx.con, ctx.key),
            height=220,
            empty_text="No customer order line depends on this work order.",
            empty_detail="Made to stock, or the orders it fed are shipped or not pegged to it.",
        ),
        note="level 1 = its output covers the order line directly; 2 and up = through the work orders "
        "its output feeds",
        wide=True,
    )


def _lots(ctx: Context) -> Any:
    consumed, total = dd.wo_lots_consumed(ctx.con, ctx.key)
    issued, issues = (consumed, 0) if total else dd.wo_lots_issued(ctx.con, ctx.key, ctx.f)
    if issues:
        # No consumption reported yet, but stock was issued: the issues name the lots in its WIP.
        lots = capped(
            "Lots issued",
            "wo-lots-issued",
            issued,
            issues,
            note=f"issued to it by the warehouse up to {ctx.f.as_of}; the MES has reported no consumption "
            "yet, which the genealogy and a trace use; no lot id = stock kept without lots",
            what="rows",  # a row of stock without lots is not a lot
            height=280,
            zones=ctx.zones,
        )
    else:
        lots = capped(
            "Lots consumed",
            "wo-lots-consumed",
            consumed,
            total,
            what="lots",
            height=280,
            zones=ctx.zones,
            empty_text="No lot issued to this work order yet.",
            empty_detail="Neither the MES (consumption) nor the warehouse (issues) has reported any.",
        )
    return pair(
        lots,
        section(
            "Lots produced",
            data_grid(
                "wo-lots-produced",
                dd.wo_lots_produced(ctx.con, ctx.key),
                height=280,
                empty_text="No lot produced yet.",
                empty_detail="The output lot appears once the work order reports production.",
            ),
            note="on hand at the build date",
        ),
    )


render = drilldown.register_page(
    __name__,
    path_template="/work-order/<wo_id>",
    name="Work order",
    facts=dd.wo_facts,
    sections=(_notice, _components, _operations, _orders, _lots),
    labels={
        "wo_id": "Work order",
        "so_id": "Sales order",
        "uom": "Unit",
        "output_lot_id": "Output lot",
        "current_operation": "Current operation",
        "current_work_center": "Current work center",
    },
    site_column="site_id",
)
