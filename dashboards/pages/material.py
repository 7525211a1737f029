"""Material drill-down (/material/<id>): stock, time-phased balance, BOM, supply, substitutes, alerts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards import drilldown, figures
from dashboards import drilldown_data as dd
from dashboards.components import data_grid, graph, section, settings, snapshot_notice
from dashboards.data import shell, wip
from dashboards.drilldown import Context, Tab, capped, first_of, pair


def _facts(con: Any, material_id: str) -> Any:
    return shell.entity_facts(con, "dim_materials", "material_id", material_id)


def _notice(ctx: Context) -> Any:
    return snapshot_notice(dd.planning_as_of(ctx.con), ctx.f)


def _stock(ctx: Context) -> Any:
    by_status, lots, total = dd.material_stock(ctx.con, ctx.key, ctx.f)
    return pair(
        section(
            "Stock by status",
            data_grid("material-status", by_status, empty_text="No stock of this material at this date."),
            note=f"on hand at {ctx.f.as_of}; 'no lot' = stock kept without lots, all of it counted as supply",
        ),
        capped(
            "Lots on hand",
            "material-lots",
            lots,
            total,
            note="blocked and soon-expiring first",
            what="lots",
            height=300,
            empty_text="No lot of this material has stock at this date.",
        ),
    )


def _balance(ctx: Context) -> Any:
    days = dd.material_balance_by_day(ctx.con, ctx.key, ctx.f)
    table, total = dd.material_projected_balance(ctx.con, ctx.key, ctx.f)
    chart = (
        graph(figures.shortage_profile_chart(days), 300, name="material-balance")
        if not days.empty
        else html.Div()
    )
    return section(
        "Supply, demand and projected balance",
        chart,
        data_grid(
            "material-balance",
            table.drop(columns=["event_seq"]),
            height=320,
            empty_text="No supply or demand of this material in the planning horizon.",
            empty_detail="Open work orders, sales orders and PO lines and released stock make the horizon.",
        ),
        note=f"{first_of(len(table), total, 'events')}; balance = max(previous, 0) + supply - demand, "
        "netting order; below 0 = net requirement",
        wide=True,
    )


def _shortages(ctx: Context) -> Any:
    return section(
        "Net requirements",
        data_grid(
            "material-shortages",
            dd.material_shortages(ctx.con, ctx.key, ctx.f),
            height=260,
            empty_text="This material nets clean: no net requirement.",
            empty_detail="Exceptions fall inside the lead time (alerted); actions beyond it.",
        ),
        note="exceptions first",
        wide=True,
    )


def _alerts(ctx: Context) -> Any:
    return section("Open alerts", _open_alerts(ctx), wide=True)


def _open_alerts(ctx: Context) -> Any:
    from medtower.alert_queries import list_alerts

    rows = [
        a
        for a in list_alerts(ctx.con, settings())
        if (a.get("labels") or {}).get("material_id") == ctx.key
        and (ctx.f.site is None or (a.get("labels") or {}).get("site_id") in (None, ctx.f.site))
    ]
    if not rows:
        return html.Div("No open alert on this material.", className="empty-detail")
    qs = ctx.f.query_string()
    return html.Ul(
        [
            html.Li(
                [
                    html.Strong(str(a.get("severity") or "").upper() + " "),
                    dcc.Link(
                        str(a.get("title") or a["alert_key"]),
                        href=f"/alerts{qs}&alert={quote(str(a['alert_key']), safe='')}",
                    ),
                    f" · {a.get('state')}",
                ]
            )
            for a in rows
        ],
        className="alert-list",
    )


def _bom(ctx: Context) -> Any:
    return pair(
        section(
            "Components",
            data_grid(
                "material-components",
                dd.material_components(ctx.con, ctx.key, ctx.f),
                height=260,
                empty_text="No BOM in force makes this material (it is bought).",
                empty_detail="Components come from the BOM revisions in force at the as-of date.",
            ),
            note="per unit made, BOM revisions in force; what its open work orders still need of each",
        ),
        section(
            "Where used",
            data_grid(
                "material-where-used",
                dd.material_where_used(ctx.con, ctx.key, ctx.f),
                height=260,
                empty_text="No BOM in force uses this material.",
            ),
            note="products whose BOM in force uses it; what their open work orders still need",
        ),
    )


def _supply(ctx: Context) -> Any:
    pos, total = dd.material_open_po_lines(ctx.con, ctx.key, ctx.f)
    return pair(
        section(
            "Approved suppliers",
            data_grid(
                "material-suppliers",
                dd.material_approved_suppliers(ctx.con, ctx.key),
                height=220,
                empty_text="No approved supplier for this material.",
                empty_detail="Made materials have none; a bought one without any cannot be ordered.",
            ),
        ),
        capped(
            "Open purchase order lines",
            "material-pos",
            pos,
            total,
            note="soonest due first",
            height=260,
            empty_text="No purchase order line of this material is open.",
        ),
    )


def _substitutes(ctx: Context) -> Any:
    return section(
        "Substitutes",
        data_grid(
            "material-substitutes",
            dd.material_substitutes(ctx.con, ctx.key, ctx.f),
            height=200,
            empty_text="No substitute is validated for or with this material.",
        ),
        note="validated per product by a change control; free = left after the substitute's own demand",
        wide=True,
    )


def _work_orders(ctx: Context) -> Any:
    wos = wip.material_work_orders(ctx.con, ctx.key, ctx.f)
    return section(
        "Work orders making it",
        data_grid(
            "material-wos",
            wos,
            height=300,
            zones=ctx.zones,
            empty_text="No work order makes this material.",
        ),
        note=f"newest first, the latest 100 at most; late = open and past its planned end at {ctx.f.as_of}",
        wide=True,
    )


render = drilldown.register_page(
    __name__,
    path_template="/material/<material_id>",
    name="Material",
    facts=_facts,
    sections=(_notice, _alerts),
    tabs=(
        Tab("Stock", (_stock,)),
        Tab("Supply and demand", (_balance,)),
        Tab("Net requirements", (_shortages,)),
        Tab("BOM", (_bom,)),
        Tab("Suppliers and substitutes", (_supply, _substitutes)),
        Tab("Work orders", (_work_orders,)),
    ),
    labels={
        "uom": "Unit",
        "safety_stock": "Safety stock",
        "planned_lead_time_days": "Planned lead time (d)",
        "shelf_life_days": "Shelf life (d)",
        "gtin": "GTIN",
        "is_finished_good": "Finished good",
    },
)
