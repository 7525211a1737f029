"""Supplier drill-down (/supplier/<id>): contact, scorecard for the period, open POs and ASNs, the
three-way match PO / receipt / invoice, lots."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from dashboards import drilldown
from dashboards import drilldown_data as dd
from dashboards.components import data_grid, fmt_number, granted_sites, section, snapshot_notice
from dashboards.data import base, shell, suppliers
from dashboards.drilldown import Context, Tab, capped, facts_grid, pair


def _rate(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{100 * float(value):.1f} %"


def _notice(ctx: Context) -> Any:
    return snapshot_notice(shell.mart_as_of(ctx.con, "fct_purchase_order_lines"), ctx.f)


def _scorecard(ctx: Context) -> Any:
    card = dd.supplier_period_scorecard(ctx.con, ctx.key, ctx.f)
    r = card.iloc[0]
    lead = r.median_lead_time_days
    lead_text = "n/a" if lead is None or lead != lead else fmt_number(float(lead), "d", 1)
    cells = {
        "On-time delivery": f"{_rate(r.on_time_rate)} "
        f"({int(r.po_lines_on_time):,} of {int(r.po_lines_due):,} lines due)",
        "Incoming reject rate": f"{_rate(r.reject_rate)} "
        f"({int(r.incoming_rejects):,} of {int(r.incoming_inspections):,} inspections)",
        "Median lead time": f"{lead_text} ({int(r.lines_received):,} lines received)",
    }
    where = f" at {ctx.f.site}" if ctx.f.site else ""
    return section(
        f"Scorecard, {ctx.f.period_days} days to {ctx.f.as_of}{where}",
        facts_grid(cells),
        note="PO lines by requested date, on time = received in full by then; incoming inspections by "
        "completion date, pass or fail; lead time = order to first receipt",
        wide=True,
    )


def _supply(ctx: Context) -> Any:
    pos = suppliers.open_purchase_order_lines(ctx.con, ctx.f, supplier_id=ctx.key)
    asns = suppliers.open_asn_lines(ctx.con, ctx.f, supplier_id=ctx.key)
    return pair(
        section(
            "Open purchase order lines",
            data_grid(
                "supplier-pos",
                pos,
                height=260,
                empty_text="No purchase order line open with this supplier.",
                empty_detail="Open = not cancelled and not fully received at the as-of date.",
            ),
            note=f"past due first, up to {base.ROW_LIMIT:,}",
        ),
        section(
            "ASNs in transit",
            data_grid(
                "supplier-asns",
                asns,
                height=260,
                zones=ctx.zones,
                empty_text="Nothing in transit from this supplier.",
                empty_detail="In transit = shipped by the as-of date for a PO line still open.",
            ),
            note="landing after the need date first",
        ),
    )


def _lead_times(ctx: Context) -> Any:
    # The statistics pool the receipts of every site: not shown to a user granted some sites only.
    if granted_sites():
        return section(
            "Lead time by material",
            html.Div(
                "Not shown: these lead times pool the receipts of every site, and you see "
                f"{', '.join(granted_sites())} only. The open lines above are your sites'.",
                className="empty-detail",
            ),
            wide=True,
        )
    return section(
        "Lead time by material",
        data_grid(
            "supplier-lead",
            suppliers.supplier_lead_times(ctx.con, ctx.f, supplier_id=ctx.key),
            height=220,
            empty_text="No purchase order line received from this supplier yet.",
        ),
        note="every PO line received up to the build date",
        wide=True,
    )


def _ncrs(ctx: Context) -> pd.DataFrame:
    """The supplier's NCRs with the site that raised each, so a user granted some sites sees theirs only
    (data_grid keeps the rows of the user's sites)."""
    ncrs = suppliers.supplier_ncrs(ctx.con, ctx.key)
    if ncrs.empty:
        return ncrs
    sites = ctx.con.execute(
        "select ncr_id, site_id from marts.fct_nonconformances where supplier_id = ?", [ctx.key]
    ).df()
    return ncrs.merge(sites, on="ncr_id", how="left")


def _three_way_match(ctx: Context) -> Any:
    lines, total = dd.supplier_three_way_match(ctx.con, ctx.key, ctx.f)
    return capped(
        "Three-way match",
        "supplier-three-way",
        lines,
        total,
        note="PO / receipt / invoice per PO line at the build date, mismatches first; quantity within 2 % of "
        "received, price within 1 % of the agreed price (kpi-definitions.md)",
        what="lines",
        wide=True,
        height=260,
        empty_text="No purchase order line with this supplier to match.",
        empty_detail="Invoices come from EDI 810 (supplier_invoices); a line with none is not invoiced.",
    )


def _quality(ctx: Context) -> Any:
    return pair(
        section(
            "Lots received and incoming inspection",
            data_grid(
                "supplier-lots",
                suppliers.supplier_lots(ctx.con, ctx.key),
                height=300,
                zones=ctx.zones,
                empty_text="No lot received from this supplier.",
            ),
            note=f"newest inspection first, up to {base.ROW_LIMIT:,}; site local time",
        ),
        section(
            "Nonconformances",
            data_grid(
                "supplier-ncrs",
                _ncrs(ctx),
                height=300,
                empty_text="No NCR against this supplier.",
            ),
        ),
    )


render = drilldown.register_page(
    __name__,
    path_template="/supplier/<supplier_id>",
    name="Supplier",
    facts=dd.supplier_facts,
    sections=(_notice, _scorecard),
    tabs=(
        Tab("Open orders", (_supply,)),
        Tab("Three-way match", (_three_way_match,)),
        Tab("Lots and quality", (_quality,)),
        Tab("Lead times", (_lead_times,)),
    ),
    labels={"approval_status": "Approval", "contact_email": "Contact e-mail"},
)
