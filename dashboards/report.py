"""The KPI review pack: a period vs the previous one and target, with trends, as one self-contained HTML file.

Used by the KPI review page ("Download HTML") and by `medtower report --as-of D --out FILE.html`.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
from typing import Any

import duckdb
import pandas as pd

from dashboards import figures, kpi_view
from dashboards.components import fmt_value
from dashboards.data import shortages
from dashboards.filters import Filters
from medtower import kpis, review
from medtower.settings import Settings


def review_rows(
    con: duckdb.DuckDBPyConnection, f: Filters, values: kpi_view.KpiValues | None = None
) -> list[kpis.ReviewRow]:
    """One row per KPI: this period, the previous one and target (``medtower.kpis.review_rows``), from
    the series the page caches; ``medtower.review`` renders them for the page, this file and the email."""
    values = values or kpi_view.values(con, f)
    return kpis.review_rows(values.current, values.previous)


def review_scope(con: duckdb.DuckDBPyConnection, f: Filters) -> review.ReviewScope:
    """The period and the site (with its name) the review covers, as the page and the file title it."""
    return review.scope(con, f.as_of, f.period_days, f.site)


ALL_SITES = "all sites"


def _part_text(part: kpis.SitePart, unit: str, aggregation: str) -> str:
    """A site's part as the reader checks it adds up: counts, num / den of rates, stock / daily use."""
    if aggregation in kpis.COUNTS:
        return "n/a" if part.value is None else f"{part.n:,}"
    if aggregation == "days_on_hand":
        if part.value is None:
            return "n/a"
        return (
            f"{fmt_value(part.value, unit)} ({part.numerator or 0:,.0f} / {part.denominator or 0:,.0f} a day)"
        )
    if aggregation == "ratio":
        if not part.denominator:
            return "n/a"
        return f"{fmt_value(part.value, unit)} ({part.numerator:,.0f} / {part.denominator:,.0f})"
    return f"{fmt_value(part.value, unit)} (n={part.n:,})" if part.n else "n/a"


def site_breakdown(
    con: duckdb.DuckDBPyConnection, f: Filters, result: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Each KPI per site, 'no site' and all sites (medtower.kpis.kpis_by_site), as display text.

    Why: a reader can check that the sites add up: counts, and numerators and denominators of rates.
    With a site filter, only that site and all sites are shown.
    """
    result = result or kpis.kpis_by_site(con, f.as_of, f.period_days)  # the page passes a cached one
    sites = [s for s in result["sites"] if f.site is None or s == f.site]
    rows = []
    for k in kpis.CATALOG:
        row = {"kpi_id": k.id, "kpi": k.label}
        for site in sites:
            row[site or kpis.NO_SITE] = _part_text(result["kpis"][k.id][site], k.unit, k.aggregation)
        row[ALL_SITES] = _part_text(result["all"][k.id], k.unit, k.aggregation)
        rows.append(row)
    return pd.DataFrame(rows)


def trend_frames(
    con: duckdb.DuckDBPyConnection, f: Filters, points: int = 8, values: kpi_view.KpiValues | None = None
) -> dict[str, pd.DataFrame]:
    out = {}
    trend = values.trend if values is not None else kpi_view.series(con, f, points=points)
    for kpi_id, pts in trend.items():
        out[kpi_id] = pd.DataFrame(pts, columns=["as_of", "value"])
    return out


_CSS = """
body { font-family: 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2933; margin: 24px;
  font-size: 13px; }
h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #52606d; margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; margin-bottom: 18px; }
th, td { border-bottom: 1px solid #d9e2ec; padding: 5px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.rag-green { color: #2e7d32; font-weight: 700; } .rag-amber { color: #b7791f; font-weight: 700; }
.rag-red { color: #c62828; font-weight: 700; }
.charts { display: grid; grid-template-columns: repeat(2, 1fr); gap: 12px; }
.chart { border: 1px solid #d9e2ec; border-radius: 6px; padding: 6px; break-inside: avoid; }
@media print { body { margin: 8mm; } .chart { page-break-inside: avoid; } }
"""


def build_report_html(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: dt.date,
    period_days: int = 30,
    site: str | None = None,
) -> str:
    """A self-contained HTML KPI review (plotly.js inlined once, no external requests)."""
    f = Filters(as_of=as_of, period_days=period_days, site=site)
    values = kpi_view.values(con, f)
    rows = review_rows(con, f, values)
    covered = review_scope(con, f)
    trends = trend_frames(con, f, values=values)
    esc = html_lib.escape
    charts = []
    first = True
    by_id = {r.kpi_id: r for r in rows}
    for kpi_id, frame in trends.items():
        if kpi_id not in by_id:
            continue
        r = by_id[kpi_id]
        percent = r.unit in ("ratio", "fraction", "rate", "%", "percent")
        fig = figures.trend_line(
            frame,
            "as_of",
            "value",
            y_title=r.label,
            percent=percent,
            target=None if r.target is None else float(r.target),
            title=r.label,
        )
        fig.update_layout(height=260)
        charts.append(
            "<div class='chart'>"
            + fig.to_html(full_html=False, include_plotlyjs="inline" if first else False)
            + "</div>"
        )
        first = False
    by_site = site_breakdown(con, f)
    site_cols = [c for c in by_site.columns if c not in ("kpi_id", "kpi")]
    site_rows = "".join(
        f"<tr><td>{esc(str(r['kpi']))}</td>"
        + "".join(
            f"<td data-kpi='{esc(r['kpi_id'])}' data-site='{esc(c)}'>{esc(str(r[c]))}</td>" for c in site_cols
        )
        + "</tr>"
        for r in by_site.to_dict("records")
    )
    site_head = "".join(f"<th>{esc(c)}</th>" for c in site_cols)
    actions, n_actions = shortages.planned_actions(con, f)
    action_rows = (
        "".join(
            f"<tr><td>{esc(str(r.to_do))}</td><td>{esc(str(r.later))}</td><td>{esc(str(r.material_id))}</td>"
            f"<td>{esc(str(r.description or ''))}</td><td>{esc(str(r.site_id))}</td>"
            f"<td>{esc(pd.Timestamp(r.first_need_date).date().isoformat())}</td><td>{int(r.needs):,}</td></tr>"
            for r in actions.itertuples(index=False)
        )
        or "<tr><td colspan=6>No need beyond the lead time is uncovered.</td></tr>"
    )
    shown = f"first {len(actions):,} of {n_actions:,}" if n_actions > len(actions) else f"{n_actions:,}"
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MedTower KPI review {as_of}</title>
<style>{_CSS}</style></head>
<body>
<h1>MedTower {esc(covered.title)}</h1>
<div class="sub">{esc(covered.comparison)}. {esc(review.LEGEND)} Generated {generated} from
{esc(str(settings.warehouse_path))}.</div>
{review.table_html(covered, rows)}
<h2 style="font-size:15px">By site (rates as numerator / denominator, days on hand as stock value / value
used a day; 'no site' = members with no site
of their own nor from their lot or work order)</h2>
<table><thead><tr><th>KPI</th>{site_head}</tr></thead><tbody>{site_rows}</tbody></table>
<h2 style="font-size:15px">Planned actions: needs beyond the lead time, by material ({shown}; the
netting of the warehouse's build date, kpi-definitions.md "Shortages")</h2>
<table class="actions"><thead><tr><th>To do first</th><th>Then</th><th>Material</th><th>Description</th>
<th>Site</th><th>First need</th><th>Needs</th></tr></thead><tbody>{action_rows}</tbody></table>
<h2 style="font-size:15px">Trends (value at the end of each of the last 8 periods)</h2>
<div class="charts">{"".join(charts)}</div>
</body></html>
"""
