"""Numbers that agree: per-site parts add up, future dates and unknown sites are refused, WIP counts agree.

The plant (tests/core/site_plant.py) is built with dbt for real (only the KPI and production marts and
what they need); every expected value is worked out by hand in that module's docstring.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dashboards import report
from dashboards.data import quality, shell, wip
from dashboards.filters import Filters
from medtower import kpis
from tests.conftest import build_plant
from tests.core.site_plant import AS_OF, ROWS

pytestmark = pytest.mark.slow

MODELS = (
    "+fct_kpi_events",
    "+fct_kpi_intervals",
    "+fct_work_orders",
    "+dim_materials",
    "+dim_sites",
    "+fct_inventory_by_lot",
    "+fct_shortages",  # the review pack lists the planned actions
)


@pytest.fixture(scope="module")
def site_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path, _ = build_plant(tmp_path_factory.mktemp("site_plant"), ROWS, AS_OF, *MODELS)
    return db_path


@pytest.fixture()
def con(site_db: Path):
    c = duckdb.connect(str(site_db), read_only=True)
    yield c
    c.close()


def _count(result: dict, kpi_id: str) -> dict[str | None, int]:
    return {site: part.n for site, part in result["kpis"][kpi_id].items()}


def test_records_without_a_site_show_as_no_site_and_the_parts_add_up(con) -> None:
    result = kpis.kpis_by_site(con, AS_OF, 30)
    assert result["sites"] == ["S1", "S2", None]
    assert _count(result, "open_ncr_count") == {"S1": 1, "S2": 1, None: 1}  # NA, ND, NC
    assert _count(result, "overdue_capa_count") == {"S1": 1, "S2": 0, None: 2}  # KA; KB and KC
    assert _count(result, "late_wo_count") == {"S1": 1, "S2": 1, None: 0}  # WO1, WO2
    reject = result["kpis"]["incoming_lot_reject_rate"]
    assert (reject["S1"].numerator, reject["S1"].denominator) == (0.0, 1.0)
    assert (reject["S2"].numerator, reject["S2"].denominator) == (1.0, 2.0)
    assert reject[None].denominator is None and reject[None].value is None  # an empty population
    fpy = result["kpis"]["first_pass_yield"]
    assert (fpy["S1"].numerator, fpy["S1"].denominator) == (50.0, 50.0)
    assert (fpy["S2"].numerator, fpy["S2"].denominator) == (90.0, 100.0)
    everything = result["all"]
    assert everything["open_ncr_count"].value == 3 and everything["overdue_capa_count"].value == 3
    assert everything["incoming_lot_reject_rate"].value == pytest.approx(1 / 3)
    assert everything["first_pass_yield"].value == pytest.approx(140 / 150)


@pytest.mark.parametrize("day", [dt.date(2026, 6, 2), dt.date(2026, 6, 15), dt.date(2026, 6, 27), AS_OF])
def test_site_filtered_values_plus_no_site_sum_to_all_sites_at_every_date(con, day: dt.date) -> None:
    """compute_kpis with each site filter, plus the no-site part, gives compute_kpis for all sites."""
    every = kpis.compute_kpis(con, day, 30)["kpis"]
    per_site = {s: kpis.compute_kpis(con, day, 30, site=s)["kpis"] for s in ("S1", "S2")}
    parts = kpis.kpis_by_site(con, day, 30)
    for k in kpis.CATALOG:
        if k.is_count:
            no_site = parts["kpis"][k.id][None].n
            assert per_site["S1"][k.id] + per_site["S2"][k.id] + no_site == every[k.id], (day, k.id)
        elif k.aggregation in ("ratio", "days_on_hand"):
            site_parts = parts["kpis"][k.id].values()
            num = sum(p.numerator for p in site_parts if p.numerator is not None)
            den = sum(p.denominator for p in site_parts if p.denominator is not None)
            assert (num / den if den else None) == pytest.approx(every[k.id]), (day, k.id)
            for s in ("S1", "S2"):
                assert parts["kpis"][k.id][s].value == pytest.approx(per_site[s][k.id]), (day, k.id, s)


def test_counts_at_past_dates_by_site(con) -> None:
    at_15 = kpis.kpis_by_site(con, dt.date(2026, 6, 15), 30)
    assert _count(at_15, "open_ncr_count") == {"S1": 1, "S2": 1, None: 1}  # NA, NB, NC
    at_02 = kpis.kpis_by_site(con, dt.date(2026, 6, 2), 30)
    assert _count(at_02, "open_ncr_count") == {"S1": 1, "S2": 0, None: 0}  # NE
    at_27 = kpis.kpis_by_site(con, dt.date(2026, 6, 27), 30)
    assert _count(at_27, "late_wo_count") == {"S1": 1, "S2": 1, None: 0}  # WO1, WO6


def test_review_breakdown_shows_no_site_and_the_all_sites_column(con) -> None:
    table = report.site_breakdown(con, Filters(as_of=AS_OF))
    assert list(table.columns) == ["kpi_id", "kpi", "S1", "S2", "no site", "all sites"]
    row = table.set_index("kpi_id").loc["overdue_capa_count"]
    assert (row["S1"], row["S2"], row["no site"], row["all sites"]) == ("1", "0", "2", "3")
    reject = table.set_index("kpi_id").loc["incoming_lot_reject_rate"]
    assert reject["S2"] == "50.0 % (1 / 2)" and reject["all sites"] == "33.3 % (1 / 3)"
    only_s1 = report.site_breakdown(con, Filters(as_of=AS_OF, site="S1"))
    assert list(only_s1.columns) == ["kpi_id", "kpi", "S1", "all sites"]


def test_a_date_after_the_build_is_refused_and_the_build_date_is_fine(con) -> None:
    assert kpis.warehouse_as_of(con) == AS_OF
    assert kpis.compute_kpis(con, None)["as_of"] == AS_OF.isoformat()  # None: the build date
    kpis.compute_kpis(con, AS_OF, 30)
    later = AS_OF + dt.timedelta(days=1)
    for call in (
        lambda: kpis.compute_kpis(con, later, 30),
        lambda: kpis.kpi_series(con, [AS_OF, later], 30),
        lambda: kpis.kpis_by_site(con, later, 30),
        lambda: kpis.open_ncr_by_severity(con, later),
    ):
        with pytest.raises(kpis.AsOfBeyondDataError, match=r"2026-07-01 is after .* built as of 2026-06-30"):
            call()
    assert "after the warehouse's data" in (shell.filter_problem(con, Filters(as_of=later)) or "")
    assert shell.filter_problem(con, Filters(as_of=AS_OF, site="S2")) is None


def test_an_unknown_site_is_refused_naming_the_known_sites(con) -> None:
    with pytest.raises(kpis.UnknownSiteError, match=r"unknown site 'S9'; known sites: S1, S2"):
        kpis.compute_kpis(con, AS_OF, 30, site="S9")
    problem = shell.filter_problem(con, Filters(as_of=AS_OF, site="S9"))
    assert problem is not None and "'S9'" in problem and "S1, S2" in problem


def test_cli_refuses_an_unknown_site_and_a_future_date(
    site_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medtower.cli import main

    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(site_db.parent))
    assert main(["kpis", "--as-of", "2026-06-30", "--site", "UNKNOWN"]) == 2
    assert "unknown site 'UNKNOWN'; known sites: S1, S2" in capsys.readouterr().err
    assert main(["kpis", "--as-of", "2026-07-01"]) == 2
    assert "built as of 2026-06-30" in capsys.readouterr().err
    assert main(["kpis", "--as-of", "2026-06-30", "--site", "S1", "--json"]) == 0
    assert '"open_ncr_count": 1' in capsys.readouterr().out


@pytest.mark.parametrize("day", [dt.date(2026, 6, 19), dt.date(2026, 6, 27), dt.date(2026, 6, 29), AS_OF])
@pytest.mark.parametrize("site", [None, "S1", "S2"])
def test_wip_counts_agree_with_the_late_wo_tile(con, day: dt.date, site: str | None) -> None:
    """The Overview tile (compute_kpis late_wo_count), the WIP list and the WIP/Inventory counts agree."""
    f = Filters(as_of=day, site=site)
    counts = wip.work_order_counts(con, f)
    listed = wip.work_orders_open(con, f)
    assert counts["open"] == len(listed)
    assert counts["late"] == int(listed["is_late"].sum())
    assert counts["late"] == kpis.compute_kpis(con, day, 30, site)["kpis"]["late_wo_count"]


def test_wip_counts_by_hand(con) -> None:
    at_a = {s: wip.work_order_counts(con, Filters(as_of=AS_OF, site=s)) for s in (None, "S1", "S2")}
    assert at_a == {None: {"open": 3, "late": 2}, "S1": {"open": 1, "late": 1}, "S2": {"open": 2, "late": 1}}
    listed = wip.work_orders_open(con, Filters(as_of=AS_OF))
    assert sorted(listed["wo_id"]) == ["WO1", "WO2", "WO3"]
    assert dict(zip(listed["wo_id"], listed["is_late"], strict=True)) == {
        "WO1": True,
        "WO2": True,
        "WO3": False,
    }
    # On 06-27 WO6 (planned end 06-26, finished 06-29) is open and late; WO4 finished 06-25 is not open.
    at_27 = wip.work_orders_open(con, Filters(as_of=dt.date(2026, 6, 27)))
    assert sorted(at_27["wo_id"]) == ["WO1", "WO2", "WO3", "WO6"]
    assert sorted(at_27.loc[at_27["is_late"], "wo_id"]) == ["WO1", "WO6"]


def _same(page_value: object, value: float | int | None) -> bool:
    """The page's frame holds NaN where medtower.kpis says None (an empty population)."""
    if value is None:
        return page_value is None or bool(pd.isna(page_value))
    return page_value == pytest.approx(value)


@pytest.mark.parametrize("period", [7, 30])
def test_review_rows_are_what_the_review_page_shows(con, period: int) -> None:
    """kpis.review (for the weekly email) and the review page's table give the same numbers."""
    f = Filters(as_of=AS_OF, period_days=period)
    page = {r.kpi_id: r for r in report.review_rows(con, f)}
    rows = kpis.review(con, AS_OF, period)
    assert [r.kpi_id for r in rows] == list(page)
    for row in rows:
        shown = page[row.kpi_id]
        for col in ("value", "previous", "target"):
            assert _same(getattr(shown, col), getattr(row, col)), (row.kpi_id, col)
        assert shown.status == row.status, row.kpi_id
    by_id = {r.kpi_id: r for r in rows}
    # 30 days: WO4 50/50 and WO6 90/100 finished in the window; 7 days (06-24..06-30): both too.
    assert by_id["first_pass_yield"].value == pytest.approx(140 / 150)
    assert by_id["first_pass_yield"].previous is None  # nothing finished in the period before
    assert by_id["open_ncr_count"].value == 3 and by_id["overdue_capa_count"].value == 3


def test_quality_page_says_how_many_open_records_have_no_site(con) -> None:
    # Open at A without a site: NCR NC; CAPAs KB, KC (its NCRs at two sites) and KD (no NCR), all open.
    assert quality.open_without_site(con, Filters(as_of=AS_OF, site="S1")) == {"ncrs": 1, "capas": 3}
    # On 06-02 NC was not yet opened (06-12); the CAPAs were already open (06-01).
    assert quality.open_without_site(con, Filters(as_of=dt.date(2026, 6, 2), site="S1")) == {
        "ncrs": 0,
        "capas": 3,
    }


def test_material_page_flags_late_work_orders_at_the_chosen_date(con) -> None:
    """The material drill-down marks late work orders as WIP does, at the filters' date, not the build's."""
    at_27 = wip.material_work_orders(con, "FG1", Filters(as_of=dt.date(2026, 6, 27)))
    late = set(at_27.loc[at_27["is_late"], "wo_id"])
    assert late == {"WO1", "WO6"}  # as on the WIP page on 06-27
    at_a = wip.material_work_orders(con, "FG1", Filters(as_of=AS_OF))
    assert set(at_a.loc[at_a["is_late"], "wo_id"]) == {"WO1", "WO2"}


def test_review_pack_cli_refuses_a_date_after_the_build(
    site_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medtower.cli import main

    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(site_db.parent))
    out = tmp_path / "review.html"
    assert main(["report", "--as-of", "2026-07-01", "--out", str(out)]) == 2
    assert "built as of 2026-06-30" in capsys.readouterr().err and not out.exists()
    assert main(["report", "--as-of", "2026-06-30", "--out", str(out)]) == 0
    text = out.read_text()
    # The pack's by-site table: overdue CAPAs S1 1, S2 0, no site 2, all 3 (site_plant.py).
    for site, want in (("S1", "1"), ("S2", "0"), ("no site", "2"), ("all sites", "3")):
        assert f"<td data-kpi='overdue_capa_count' data-site='{site}'>{want}</td>" in text, site


def test_inventory_days_on_hand_by_site_adds_up_by_hand(con) -> None:
    """site_plant docstring: S1 280 / 4 a day = 70, S2 160 / (4 / 3) = 120, all 440 / (16 / 3) = 82.5."""
    result = kpis.kpis_by_site(con, AS_OF, 30)
    doh = result["kpis"]["inventory_days_on_hand"]
    assert doh["S1"].value == pytest.approx(70.0) and doh["S2"].value == pytest.approx(120.0)
    assert (doh["S1"].numerator, doh["S1"].denominator) == (pytest.approx(280.0), pytest.approx(4.0))
    assert (doh["S2"].numerator, doh["S2"].denominator) == (pytest.approx(160.0), pytest.approx(4 / 3))
    assert doh[None].value is None  # no stock and no use without a site
    total = result["all"]["inventory_days_on_hand"]
    assert total.value == pytest.approx(82.5)
    assert (total.numerator, total.denominator) == (pytest.approx(440.0), pytest.approx(16 / 3))
    assert kpis.compute_kpis(con, AS_OF, 30, site="S2")["kpis"]["inventory_days_on_hand"] == pytest.approx(
        120
    )
    # nothing used in (05-16, 06-15]: no average to divide by, null rather than infinite
    assert kpis.compute_kpis(con, dt.date(2026, 6, 15), 30)["kpis"]["inventory_days_on_hand"] is None
    row = report.site_breakdown(con, Filters(as_of=AS_OF)).set_index("kpi_id").loc["inventory_days_on_hand"]
    assert row["S1"] == "70.0 d (280 / 4 a day)" and row["all sites"] == "82.5 d (440 / 5 a day)"


def test_supplier_acknowledgment_by_site_and_at_a_past_date(con) -> None:
    """site_plant docstring: at A p50 S1 2, S2 7, all 2.5, unacknowledged S2 1 (PD); at 06-27 PE was not
    acknowledged yet (06-29): p50 S1 1, all 2, unacknowledged S1 1, S2 1."""
    at_a = kpis.kpis_by_site(con, AS_OF, 30)
    p50 = at_a["kpis"]["supplier_ack_days_p50"]
    assert (p50["S1"].value, p50["S1"].n, p50["S2"].value, p50["S2"].n) == (2.0, 3, 7.0, 1)
    assert at_a["all"]["supplier_ack_days_p50"].value == pytest.approx(2.5)
    assert _count(at_a, "unacknowledged_po_lines") == {"S1": 0, "S2": 1, None: 0}
    assert at_a["all"]["unacknowledged_po_lines"].value == 1
    past = kpis.compute_kpis(con, dt.date(2026, 6, 27), 30)["kpis"]
    assert past["supplier_ack_days_p50"] == pytest.approx(2.0)
    assert past["unacknowledged_po_lines"] == 2
    s1 = kpis.compute_kpis(con, dt.date(2026, 6, 27), 30, site="S1")["kpis"]
    assert s1["supplier_ack_days_p50"] == pytest.approx(1.0) and s1["unacknowledged_po_lines"] == 1


def test_the_pack_says_no_target_rather_than_nan(con) -> None:
    """open_ncr_count and inventory_days_on_hand have no target: no colour and 'no target' (it said 'nan')."""
    from medtower.settings import Settings
    from tests.review_tables import review_table

    rows = {r.kpi_id: r for r in report.review_rows(con, Filters(as_of=AS_OF))}
    assert rows["open_ncr_count"].status is None
    assert rows["supplier_ack_days_p50"].status == "red"  # 2.5 d against 2: amber only up to 2.2
    html = report.build_report_html(con, Settings(), AS_OF)
    assert "rag-nan" not in html and ">nan<" not in html
    table = review_table(html)
    assert table.rows["inventory_days_on_hand"][1:4] == ["82.5 d", "n/a", "no target"]  # 440 / (16 / 3)
    assert table.classes["inventory_days_on_hand"] == ["", "rag-none", "", "", "", "rag-none"]
    assert table.rows["open_ncr_count"][-1] == "no target"
    assert table.rows["supplier_ack_days_p50"][-1] == "red"
