"""medtower.kpis against the small hand-made plant (tests/small_plant.py), built with dbt for real."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from medtower.kpis import (
    CATALOG,
    AsOfBeyondDataError,
    compute_kpis,
    kpi_series,
    latest_data_date,
    open_ncr_by_severity,
)
from tests.small_plant import AS_OF, EXPECTED

pytestmark = pytest.mark.slow

COUNTS = {k.id for k in CATALOG if k.is_count}


def test_every_kpi_of_the_definitions_at_as_of_matches_the_hand_computation(small_con) -> None:
    result = compute_kpis(small_con, AS_OF, 30)
    assert result["as_of"] == "2026-06-30" and result["period_days"] == 30 and result["site"] is None
    assert set(result["kpis"]) == set(EXPECTED)
    for kpi_id, want in EXPECTED.items():
        got = result["kpis"][kpi_id]
        if kpi_id in COUNTS:
            assert isinstance(got, int) and got == want, kpi_id
        elif want is None:
            assert got is None, kpi_id
        else:
            assert isinstance(got, float) and got == pytest.approx(want, abs=1e-12), kpi_id


def test_window_edge_is_exclusive_at_a_minus_p_and_inclusive_at_a(small_con) -> None:
    # I7 (fail) and WO7 (10 good / 10 scrap, site S2) have local date 05-31 = A - 30: out of a 30-day
    # window, in a 31-day one.
    k30 = compute_kpis(small_con, AS_OF, 30)["kpis"]
    k31 = compute_kpis(small_con, AS_OF, 31)["kpis"]
    assert k30["incoming_lot_reject_rate"] == pytest.approx(1 / 3)
    assert k31["incoming_lot_reject_rate"] == pytest.approx(2 / 4)
    assert k31["first_pass_yield"] == pytest.approx((183 + 10) / (190 + 20))
    # N3 opened and closed on A; WO4's planned_end is on A at 10:00 and it is not finished at the end of A.
    assert k30["open_ncr_count"] == 1 and k30["late_wo_count"] == 1


def test_counts_at_past_dates_use_history_not_current_status(small_con) -> None:
    k = compute_kpis(small_con, dt.date(2026, 6, 14), 30)["kpis"]
    assert k["open_ncr_count"] == 2  # N1 and N2 (closed 06-15)
    assert k["overdue_capa_count"] == 1  # K3: due 06-10, closed 06-15
    assert compute_kpis(small_con, dt.date(2026, 6, 9), 30)["kpis"]["late_wo_count"] == 1  # WO2
    assert compute_kpis(small_con, dt.date(2026, 6, 10), 30)["kpis"]["late_wo_count"] == 0  # WO2 finished
    assert (
        compute_kpis(small_con, dt.date(2026, 6, 20), 30)["kpis"]["overdue_capa_count"] == 0
    )  # K1 due today
    assert compute_kpis(small_con, dt.date(2026, 6, 21), 30)["kpis"]["overdue_capa_count"] == 1


def test_empty_population_is_null_and_empty_count_is_zero(small_con) -> None:
    k = compute_kpis(small_con, dt.date(2025, 1, 1), 30)["kpis"]
    for kpi_id, value in k.items():
        assert value == (0 if kpi_id in COUNTS else None), kpi_id


def test_site_filter_and_unknown_site(small_con) -> None:
    s2 = compute_kpis(small_con, AS_OF, 31, site="S2")
    assert s2["site"] == "S2"
    assert s2["kpis"]["first_pass_yield"] == pytest.approx(0.5)
    assert s2["kpis"]["incoming_lot_reject_rate"] is None and s2["kpis"]["open_ncr_count"] == 0
    assert compute_kpis(small_con, AS_OF, 30, site="S1")["kpis"]["otif_rate"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"unknown site 'XX'.*S1, S2"):
        compute_kpis(small_con, AS_OF, 30, site="XX")


def test_as_of_none_is_the_date_the_warehouse_was_built_for(small_con) -> None:
    # The dashboards open on the build date (dbt var as_of = 06-30), so `None` means that date too,
    # not the last KPI event that happened (F2's release on 06-22).
    assert compute_kpis(small_con, None)["as_of"] == "2026-06-30"
    assert latest_data_date(small_con) == dt.date(2026, 6, 22)


def test_a_date_after_the_build_is_refused(small_con) -> None:
    with pytest.raises(AsOfBeyondDataError, match="built as of 2026-06-30"):
        compute_kpis(small_con, dt.date(2026, 7, 1), 30)


def test_release_cycle_time_percentiles_interpolate(small_con) -> None:
    k = compute_kpis(small_con, dt.date(2026, 6, 12), 30)["kpis"]
    assert k["lot_release_cycle_time_p50_hours"] == pytest.approx(48.0)  # only F1 so far
    assert k["lot_release_cycle_time_p90_hours"] == pytest.approx(48.0)


def test_series_matches_single_dates(small_con) -> None:
    dates = [dt.date(2026, 6, 9), dt.date(2026, 6, 14), AS_OF]
    frame = kpi_series(small_con, dates, 30)
    assert list(frame.columns) == ["as_of", "kpi_id", "value"]
    assert len(frame) == len(dates) * len(CATALOG)
    for day in dates:
        single = compute_kpis(small_con, day, 30)["kpis"]
        got = frame[frame["as_of"] == day].set_index("kpi_id")["value"].to_dict()
        for kpi_id, value in single.items():
            if value is None:
                assert pd.isna(got[kpi_id]), kpi_id  # an empty population is NaN in the frame
            else:
                assert got[kpi_id] == pytest.approx(value), kpi_id


def test_open_ncr_by_severity(small_con) -> None:
    assert open_ncr_by_severity(small_con, AS_OF) == {"minor": 0, "major": 1, "critical": 0}
    assert open_ncr_by_severity(small_con, dt.date(2026, 6, 14)) == {"minor": 1, "major": 1, "critical": 0}
    assert open_ncr_by_severity(small_con, AS_OF, site="S2") == {"minor": 0, "major": 0, "critical": 0}


def test_period_must_be_positive(small_con) -> None:
    with pytest.raises(ValueError, match="period_days"):
        compute_kpis(small_con, AS_OF, 0)


def test_one_formatting_for_page_pack_and_email() -> None:
    """format_value / format_change are what the tiles, the review and (once it uses them) the email show."""
    from medtower.kpis import format_change, format_value

    assert format_value(0.91547, "ratio") == "91.5 %"
    assert format_value(33.7468, "hours") == "33.7 h"
    assert format_value(1122, "count") == "1,122"
    assert format_value(None, "ratio") == "n/a"
    assert format_change(0.95, 0.9, "ratio") == "+5.0 pp vs prev."
    assert format_change(3, 5, "count") == "-2 vs prev."
    assert format_change(None, 5, "count") == "no previous value"


def test_supplier_acknowledgment_window_and_what_was_known_at_a_past_date(small_con) -> None:
    """PO1 ordered 04-01, acknowledged 04-02 (1 day); PO2 ordered 05-01, acknowledged 05-04 16:00 (3 days).

    91 days to A: (03-31, 06-30] holds both: median (1 + 3) / 2 = 2; 90 days: (04-01, 06-30] only PO2.
    At 05-02 PO2 is ordered but not acknowledged yet: one unacknowledged line, no median; at 05-04 it is.
    """
    assert compute_kpis(small_con, AS_OF, 91)["kpis"]["supplier_ack_days_p50"] == pytest.approx(2.0)
    assert compute_kpis(small_con, AS_OF, 90)["kpis"]["supplier_ack_days_p50"] == pytest.approx(3.0)
    before = compute_kpis(small_con, dt.date(2026, 5, 2), 30)["kpis"]
    assert before["supplier_ack_days_p50"] is None and before["unacknowledged_po_lines"] == 1
    after = compute_kpis(small_con, dt.date(2026, 5, 4), 30)["kpis"]
    assert after["supplier_ack_days_p50"] == pytest.approx(3.0) and after["unacknowledged_po_lines"] == 0


def test_order_cycle_time_and_days_on_hand_outside_their_windows(small_con) -> None:
    """SO1 (ordered 06-01) shipped in full 06-15: in the window to 06-15, not in the one to 06-14.

    At 06-14 (window (05-15, 06-14]) the consumption is MV07 100 + MV09 240 = 340 (the shipment MV13 is on
    06-15); the stock at the end of 06-14: R1 50 x 2 = 100, A1 47 x 5 = 235, F1 48 x 10 = 480 -> 815
    (R5 and F2 come later) -> 815 / (340 / 30) days.
    """
    at_15 = compute_kpis(small_con, dt.date(2026, 6, 15), 30)["kpis"]
    assert at_15["order_cycle_time_days_p50"] == pytest.approx(14.0)
    at_14 = compute_kpis(small_con, dt.date(2026, 6, 14), 30)["kpis"]
    assert at_14["order_cycle_time_days_p50"] is None
    assert at_14["inventory_days_on_hand"] == pytest.approx(815 / (340 / 30))
