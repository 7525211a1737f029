"""Quality: open NCRs by severity and age, Pareto by defect code, CAPAs, incoming rejects, complaints."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboards import drilldown_data as dd
from dashboards import figures, personal
from dashboards.components import (
    data_grid,
    filters_from,
    graph,
    guarded,
    reader,
    section,
)
from dashboards.data import quality
from dashboards.drilldown import capped, worded_headers
from dashboards.in_place import register_page
from medtower import pii


@register_page(
    __name__,
    path="/quality",
    name="Quality",
    order=4,
    heading="Quality",
    subtitle="Nonconformances, CAPAs, incoming inspection and complaints",
    body_id="quality-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    f = filters_from(filters)
    with reader().connect() as con:
        ncr_age = quality.ncr_open_by_severity_age(con, f)
        pareto = quality.ncr_pareto(con, f)
        capas = quality.capas_open(con, f)
        rejects = quality.incoming_reject_rate_by_supplier(con, f)
        unmasked = personal.unmasked()
        complaints = quality.complaints(con, f, unmasked=unmasked)
        unsited = quality.open_without_site(con, f) if f.site else {"ncrs": 0, "capas": 0}
        ncrs, ncr_total = dd.ncr_list(con, f)
    if unmasked:
        personal.record_view(
            complaints,
            pii.columns()["fct_complaint_patient_references"],
            "complaints",
            "quality page",
            "/quality",
            id_column="complaint_id",
            site=f.site,
        )
    open_ncrs = int(ncr_age["ncrs"].sum()) if not ncr_age.empty else 0
    ncr_note = f"{open_ncrs:,} open at {f.as_of}"
    if unsited["ncrs"]:
        ncr_note += (
            f"; {unsited['ncrs']:,} more open NCRs have no site (no lot to take it from): "
            "in the all-sites view only"
        )
    capa_note = "overdue first"
    if unsited["capas"]:
        capa_note += (
            f"; {unsited['capas']:,} more open CAPAs have no single site (their NCRs have none or "
            "several): in the all-sites view only"
        )
    return worded_headers(
        [
            html.Div(
                className="grid-2",
                children=[
                    section(
                        "Open NCRs by severity and age",
                        graph(figures.severity_age_bar(ncr_age), 300),
                        note=ncr_note,
                    ),
                    section(
                        "Pareto of defect codes",
                        graph(figures.pareto(pareto, "defect_code", "ncrs"), 300),
                        note=f"NCRs opened in the {f.period_days} days to {f.as_of}",
                    ),
                ],
            ),
            capped(
                "Nonconformances",
                "ncr-list",
                ncrs,
                ncr_total,
                note=f"open at {f.as_of} first, then those opened in the {f.period_days} days to it; "
                "most severe and oldest first; age in days to A (or to closing)",
                what="NCRs",
                wide=True,
                height=340,
                empty_text="No NCR open at this date or opened in the period.",
            ),
            html.Div(
                className="grid-2",
                children=[
                    section(
                        "Open CAPAs",
                        data_grid("capas", capas, height=300, empty_text="No CAPA open at this date."),
                        note=capa_note,
                    ),
                    section(
                        "Incoming reject rate by supplier",
                        data_grid(
                            "incoming-rejects",
                            rejects,
                            height=300,
                            empty_text="No incoming inspection completed in this window.",
                        ),
                        note="fails / (passes + fails), inspections completed in the window",
                    ),
                ],
            ),
            section(
                "Complaints",
                data_grid(
                    "complaints", complaints, height=300, empty_text="No complaint received up to this date."
                ),
                note="open first; patient references "
                + ("shown: your role may see personal data, each view is recorded" if unmasked else "masked"),
                wide=True,
            ),
        ]
    )
