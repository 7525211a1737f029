"""KPI review's trends as one small-multiples figure (issue 8): every KPI keeps its title, unit, target line,
status colour and dated hover, in one plain-dict figure the browser draws once.

The page test renders the real page body (its Dash callback, over HTTP to the app) on the hand-made plant of
``tests/small_plant.py``, whose KPI values are worked out by hand there (EXPECTED).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dashboards import figures
from medtower import kpis
from tests.signin import add_user, signed_in_client
from tests.small_plant import AS_OF, EXPECTED

FILTERS = {"site": None, "as_of": AS_OF.isoformat(), "period_days": 30}
RED, AMBER, GREEN = "#c62828", "#b7791f", "#2e7d32"


def _panels(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each subplot of the figure by the KPI it shows: its title, trace, axes, target shape and note."""
    layout = fig["layout"]
    titles = [a for a in layout["annotations"] if a["text"].startswith(("<b>", "<span"))]
    traces = {t["name"]: t for t in fig["data"]}
    out = {}
    for i, title in enumerate(titles, start=1):
        name = title["text"].split("<b>")[1].split("</b>")[0]
        xa, ya = ("x", "y") if i == 1 else (f"x{i}", f"y{i}")
        out[name] = {
            "title": title["text"],
            "trace": traces.get(name),
            "xaxis": layout["xaxis" if i == 1 else f"xaxis{i}"],
            "yaxis": layout["yaxis" if i == 1 else f"yaxis{i}"],
            "targets": [s for s in layout["shapes"] if s["yref"] == ya],
            "target_notes": [a for a in layout["annotations"] if a.get("yref") == ya],
            "axes": (xa, ya),
        }
    return out


def test_trend_grid_keeps_each_kpis_title_unit_target_and_status() -> None:
    dates = [dt.date(2026, 5, 1), dt.date(2026, 5, 31), dt.date(2026, 6, 30)]
    fig = figures.trend_grid(
        [
            figures.Trend("OTIF", dates, [0.9, None, 0.5], "", True, 0.95, RED, "red"),
            figures.Trend("Late work orders", dates, [3, 2, 0], "count", False, 0, GREEN, "green"),
            figures.Trend("Lead time", dates, [None, None, None], "days", False, None, None, "no value"),
            figures.Trend("Cycle", dates, [50.0, 48.5, 54.0], "hours", False, 48.0, AMBER, "amber"),
        ],
        cols=3,
        row_height=200,
    )
    assert isinstance(fig, dict)  # a plain dict: no Plotly validation on the way to the browser
    assert fig["layout"]["height"] == 2 * 200  # 4 panels in rows of 3
    panels = _panels(fig)
    assert list(panels) == ["OTIF", "Late work orders", "Lead time", "Cycle"]

    otif = panels["OTIF"]
    assert otif["trace"]["y"] == [90.0, None, 50.0]  # percent on the axis, the gap kept
    assert otif["trace"]["x"] == ["2026-05-01", "2026-05-31", "2026-06-30"]
    assert (otif["trace"]["xaxis"], otif["trace"]["yaxis"]) == otif["axes"] == ("x", "y")
    assert otif["trace"]["marker"]["color"][-1] == RED  # the latest point in its status colour
    assert RED in otif["title"] and "(%)" in otif["title"] and "red" in otif["title"]
    assert [s["y0"] for s in otif["targets"]] == [95.0]
    assert [a["text"] for a in otif["target_notes"]] == ["target 95 %"]
    assert "%{x|%Y-%m-%d}" in otif["trace"]["hovertemplate"]
    assert otif["yaxis"]["ticksuffix"] == " %"

    late = panels["Late work orders"]
    assert late["axes"] == ("x2", "y2") and late["trace"]["yaxis"] == "y2"
    assert late["trace"]["y"] == [3, 2, 0] and "(count)" in late["title"]
    assert [s["y0"] for s in late["targets"]] == [0]  # a target of 0 is a target
    assert late["yaxis"]["anchor"] == "x2" and late["xaxis"]["anchor"] == "y2"

    empty = panels["Lead time"]
    assert empty["trace"] is None and empty["targets"] == []
    assert any(a["text"] == "No data in this window" for a in fig["layout"]["annotations"])
    assert empty["yaxis"]["visible"] is False

    cycle = panels["Cycle"]
    assert [a["text"] for a in cycle["target_notes"]] == ["target 48 hours"]
    assert "48.5" not in cycle["title"] and "(hours)" in cycle["title"]
    # The second row's panel sits under the first row's, the panels of a row side by side, none overlapping.
    assert cycle["yaxis"]["domain"][1] < otif["yaxis"]["domain"][0]
    assert otif["xaxis"]["domain"][1] < late["xaxis"]["domain"][0]
    assert cycle["xaxis"]["domain"] == otif["xaxis"]["domain"]


@pytest.fixture(scope="module")
def review_client(small_warehouse: Any) -> Any:
    from dashboards.app import create_app
    from medtower.settings import Settings

    settings = Settings(
        data_dir=small_warehouse.path.parent, planner_emails=[], qa_emails=[], management_emails=[]
    )
    add_user(settings.data_dir)
    app = create_app(settings)
    client = signed_in_client(app)  # tests/signin.py: the app asks for a signed-in user
    assert client.get("/").status_code == 200  # registers the pages' callbacks
    return client


def _review_body(client: Any, filters: dict[str, Any]) -> list[Any]:
    body = {
        "output": "..review-body.children...review-body-held.data..",
        "outputs": [
            {"id": "review-body", "property": "children"},
            {"id": "review-body-held", "property": "data"},
        ],
        "inputs": [{"id": "filters", "property": "data", "value": filters}],
        "state": [{"id": "review-body-held", "property": "data", "value": None}],
        "changedPropIds": ["filters.data"],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[-3000:]
    return resp.get_json()["response"]["review-body"]["children"]


def _graphs(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [g for n in node for g in _graphs(n)]
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") == "Graph" else []
    return found + _graphs(node.get("props", {}).get("children"))


def test_review_page_draws_every_kpis_trend_in_one_figure(review_client: Any) -> None:
    graphs = _graphs(_review_body(review_client, FILTERS))
    assert len(graphs) == 1, "the trends are one small-multiples figure, not a figure per KPI"
    fig = graphs[0]["props"]["figure"]
    panels = _panels(fig)
    assert list(panels) == [k.label for k in kpis.CATALOG]  # every KPI, in the review table's order

    def last(kpi_id: str) -> float:
        label = next(k.label for k in kpis.CATALOG if k.id == kpi_id)
        return panels[label]["trace"]["y"][-1]

    # The latest point is this period's value (worked out by hand in tests/small_plant.py).
    assert last("otif_rate") == pytest.approx(EXPECTED["otif_rate"] * 100)  # 50 %
    assert last("first_pass_yield") == pytest.approx(EXPECTED["first_pass_yield"] * 100)
    assert last("lot_release_cycle_time_p50_hours") == pytest.approx(54.0)
    assert last("late_wo_count") == 1
    # Status colours by hand: OTIF 50 % against 95 % is red; first pass yield 96.3 % against 97 % is
    # within 10 % of the target, amber; lot release p90 58.8 h against 120 h is green.
    otif = panels["Customer OTIF"]
    assert otif["trace"]["marker"]["color"][-1] == RED and RED in otif["title"]
    fpy = panels["First pass yield"]
    assert fpy["trace"]["marker"]["color"][-1] == AMBER and "amber" in fpy["title"]
    p90 = panels["Lot release cycle time, p90"]
    assert p90["trace"]["marker"]["color"][-1] == GREEN
    assert [s["y0"] for s in p90["targets"]] == [120.0] and "(hours)" in p90["title"]
    assert [s["y0"] for s in otif["targets"]] == [95.0] and "(%)" in otif["title"]
    # The last date on every panel is the chosen as-of date, the first 7 periods of 30 days before it.
    dates = otif["trace"]["x"]
    assert dates[-1] == AS_OF.isoformat()
    assert dates[0] == (AS_OF - dt.timedelta(days=7 * 30)).isoformat()
    # No target, no target line: open NCRs.
    assert panels["Open nonconformances"]["targets"] == []
    assert "no target" in panels["Open nonconformances"]["title"]


def test_plain_figures_are_valid_plotly_and_carry_the_data() -> None:
    """The builders that answer with plain dicts skip Plotly's validation on the way to the browser: here
    it runs once (``go.Figure(d)`` raises on a property Plotly does not know) and the values are checked."""
    import pandas as pd
    import plotly.graph_objects as go

    dates = [dt.date(2026, 5, 1), dt.date(2026, 5, 31)]
    grid = figures.trend_grid([figures.Trend("A", dates, [0.5, 0.6], "", True, 0.9, RED, "red")] * 4)
    go.Figure(grid)  # subplots, shapes on "x2 domain", paper titles: all valid

    spark = figures.sparkline([1.0, None, 3.0])
    assert go.Figure(spark).data[0].y == (1.0, None, 3.0)

    ages = pd.DataFrame(
        {
            "severity": ["major", "critical", "major"],
            "age_band": ["< 30 d", ">= 90 d", "30-90 d"],
            "ncrs": [4, 1, 2],
        }
    )
    bars = go.Figure(figures.severity_age_bar(ages))
    assert [(t.name, list(t.x), list(t.y)) for t in bars.data] == [
        ("critical", [">= 90 d"], [1]),
        ("major", ["< 30 d", "30-90 d"], [4, 2]),
    ]
    assert bars.layout.barmode == "stack" and bars.layout.yaxis.title.text == "open NCRs"

    expiry = pd.DataFrame(
        {
            "bucket": pd.Categorical(["< 30 d", "30-90 d"], categories=["< 30 d", "30-90 d", "> 90 d"]),
            "status": ["released", "quarantine"],
            "lots": [3, 5],
        }
    )
    exp = go.Figure(figures.expiry_horizon_bar(expiry))
    assert [(t.name, list(t.y)) for t in exp.data] == [("released", [3]), ("quarantine", [5])]
    assert list(exp.layout.xaxis.categoryarray) == ["< 30 d", "30-90 d", "> 90 d"]

    ops = pd.DataFrame(
        {
            "work_center": ["WC1", "WC2"],
            "status": ["running", "waiting"],
            "start": ["2026-06-01 08:00", "2026-06-02 08:00"],
            "finish": ["2026-06-01 10:00", None],
            "wo_id": ["WO1", "WO2"],
            "operation": ["10", "20"],
        }
    )
    g = go.Figure(figures.gantt(ops, dt.date(2026, 6, 2)))
    running = g.data[0]
    assert running.base == ("2026-06-01T08:00:00",) and running.x == (2 * 3600 * 1000,)
    assert running.customdata[0][0] == "WO1" and g.data[1].x == (None,)  # no finish: no bar
    assert g.layout.shapes[0].x0 == "2026-06-02T00:00:00"

    by_op = pd.DataFrame({"operation": ["10", "10"], "status": ["done", "odd"], "operations": [2, 1]})
    s = go.Figure(figures.status_by_category(by_op, "operation", "status", "operations"))
    assert [(t.name, t.y) for t in s.data] == [("done", (2,)), ("odd", (1,))]
    assert s.data[0].marker.color == "#9e9e9e" and s.data[1].marker.color is None

    empty = go.Figure(figures.severity_age_bar(ages.iloc[0:0]))
    assert empty.layout.annotations[0].text == "No open NCRs at this date" and not empty.data


def test_by_site_is_kept_across_a_change_of_site(small_con: Any) -> None:
    """The per-site KPIs do not depend on the site filter: the review reuses them when only the site changes,
    and recomputes them for another period or another published warehouse."""
    from dashboards import kpi_view, report
    from dashboards.filters import Filters

    every, one = Filters(as_of=AS_OF), Filters(as_of=AS_OF, site="S1")
    first = kpi_view.by_site(small_con, every, warehouse=("file", 1))
    assert kpi_view.by_site(small_con, one, warehouse=("file", 1)) is first
    assert (
        kpi_view.by_site(small_con, Filters(as_of=AS_OF, period_days=7), warehouse=("file", 1)) is not first
    )
    assert kpi_view.by_site(small_con, every, warehouse=("file", 2)) is not first
    # The site's table from the kept result is the one computed anew: S1 and all sites only.
    kept = report.site_breakdown(small_con, one, first)
    assert kept.equals(report.site_breakdown(small_con, one))
    assert [c for c in kept.columns if c not in ("kpi_id", "kpi")] == ["S1", "all sites"]
    late = kept.set_index("kpi_id").loc["late_wo_count", "all sites"]
    assert late == str(EXPECTED["late_wo_count"])  # WO4, worked out by hand in tests/small_plant.py
