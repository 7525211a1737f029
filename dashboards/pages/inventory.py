"""Inventory: stock by status, expiry horizon, days of supply, shortage exceptions and planned actions."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards import figures
from dashboards.components import (
    data_grid,
    empty_state,
    filters_from,
    graph,
    guarded,
    reader,
    section,
    snapshot_notice,
)
from dashboards.data import base, inventory, shell, shortages
from dashboards.in_place import register_page


def _planning(con: Any, f: Any) -> list[Any]:
    """Days of supply and shortages (planning marts, built for one as-of date).

    Shortages are root-cause net requirements of fct_shortages: exceptions (inside the lead time, the
    shortage alerts) and actions (later: order or plan a work order by the order-by date), each its own list.
    """
    try:
        mart_date = shell.mart_as_of(con, "fct_shortages")
        dos = inventory.days_of_supply(con, f)
        exceptions = shortages.shortage_exceptions(con, f)
        actions = shortages.shortage_actions(con, f)
        profile = shortages.shortage_profile(con, f)
        summary = shortages.shortage_summary(con, f)
    except base.MartMissingError as exc:
        return [
            section(
                "Days of supply and shortages",
                empty_state("The planning marts are not built yet.", str(exc)),
                wide=True,
            )
        ]
    zero_cover = int((dos["days_of_supply"] == 0).sum()) if not dos.empty else 0
    return [
        snapshot_notice(mart_date, f),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Projected balance of the materials short",
                    graph(figures.shortage_profile_chart(profile), 340),
                    note=f"{summary.get('exceptions', 0):,} exceptions on "
                    f"{summary.get('short_materials', 0):,} materials hit "
                    f"{summary.get('short_work_orders', 0):,} of "
                    f"{summary.get('open_work_orders', 0):,} open work orders and "
                    f"{summary.get('short_order_lines', 0):,} order lines directly; balance after each day's "
                    "supply and demand, below 0 = short",
                ),
                section(
                    "Days of supply",
                    data_grid(
                        "days-of-supply",
                        dos,
                        height=340,
                        empty_text="No released stock and no issues in the last 90 days.",
                        empty_detail="Days of supply need stock on hand or consumption to compare.",
                    ),
                    note=f"released on hand / average daily issue over 90 days; lowest first; "
                    f"{zero_cover:,} with none released; blank = not issued in 90 days",
                ),
            ],
        ),
        section(
            "Shortages inside the lead time (exceptions)",
            data_grid(
                "shortage-exceptions",
                exceptions,
                height=320,
                hidden=("shortage_id",),
                empty_text="No exception: every firm demand inside its lead time is covered.",
                empty_detail="Covered = released lots before their expiry, open POs and open work orders "
                "due by the need date.",
            ),
            note="root causes only: a net requirement the projected balance leaves uncovered with the need "
            "date within the lead time; these are the shortage alerts; soonest first",
            wide=True,
        ),
        section(
            "Planned actions (beyond the lead time)",
            data_grid(
                "shortage-actions",
                actions,
                height=320,
                hidden=("shortage_id",),
                empty_text="No action due: later demand is covered by the firm supply.",
                empty_detail="An action is a net requirement far enough out for ordinary ordering.",
            ),
            note=f"{summary.get('actions', 0):,} actions: order (buy) or plan a work order (make) by the "
            "order-by date = need date - lead time; not alerts, never emailed; earliest order-by first",
            wide=True,
        ),
    ]


@register_page(
    __name__,
    path="/inventory",
    name="Inventory",
    order=1,
    heading="Inventory",
    subtitle="Stock position at the as-of date, by status, lot and expiry",
    body_id="inventory-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        stock = inventory.stock(con, f)
        planning = _planning(con, f)
    by_status = inventory.by_status(stock)
    expiry = inventory.expiry_horizon(stock)
    lots = inventory.lots_first(stock)
    pivot = (
        by_status.pivot_table(
            index=["material_id", "description", "uom"],
            columns="status",
            values="on_hand_qty",
            aggfunc="sum",
            fill_value=0,
        ).reset_index()
        if not by_status.empty
        else by_status
    )
    if not pivot.empty:
        # "<status>_qty" so each cell shows its quantity with the material's unit of measure.
        keys = ("material_id", "description", "uom")
        pivot.columns = [c if c in keys else f"{c}_qty" for c in pivot.columns]
    return [
        html.Div(
            className="grid-2",
            children=[
                section(
                    "On hand by status (top materials)",
                    graph(figures.stock_status_bar(by_status), 340),
                    note=f"at end of {f.as_of}",
                ),
                section(
                    "Expiry horizon",
                    graph(figures.expiry_horizon_bar(expiry), 340),
                    note="lots with stock: expired, < 30, 30-90, >= 90 days",
                ),
            ],
        ),
        section(
            "Stock by material and status",
            data_grid("stock-by-material", pivot, height=300, empty_text="No stock on hand at this date."),
            note="quantities in each material's unit of measure",
        ),
        section(
            "Lots on hand",
            data_grid("stock-lots", lots, height=320, empty_text="No lot has stock on hand at this date."),
            note="blocked and soonest-expiring first; max 500 rows",
        ),
        *planning,
    ]
