"""Outside the planted situations the demo plant is quiet: what the quality, expiry and supplier rules
look at (per kpi-definitions.md and alerts/rules/*.yaml) is found only where the manifest plants it.
Recomputed from the CSV files; a planner or QA engineer would act on every one of these."""

from __future__ import annotations

import pandas as pd
import pytest

from .feed import Feed


def _day(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.str.slice(0, 10).replace("", None))


def test_only_the_planted_lots_expire_within_90_days(feed: Feed) -> None:
    as_of = pd.Timestamp(feed.as_of)
    lots = feed.good("lots")
    stock = feed.onhand(feed.as_of).reindex(lots["lot_id"]).fillna(0).to_numpy()
    exp = _day(lots["expiry_date"])
    soon = lots[
        (lots["status"] == "released") & (stock > 0) & (exp > as_of) & (exp <= as_of + pd.Timedelta(days=90))
    ]
    assert sorted(soon["lot_id"]) == sorted(feed.planted["expiring_lots"])


def test_only_the_late_supplier_has_past_due_open_lines(feed: Feed) -> None:
    po = feed.good("purchase_orders")
    po = po[po["status"].isin(["open", "partially_received"])]
    due = _day(po["confirmed_date"].where(po["confirmed_date"] != "", po["requested_date"]))
    late = po[due < pd.Timestamp(feed.as_of)]
    planted = feed.planted["late_supplier"]
    assert set(late["supplier_id"]) == {planted["supplier_id"]}
    got = set(zip(late["po_id"], late["po_line"].astype(int), strict=True))
    assert got == {(x["po_id"], x["po_line"]) for x in planted["past_due_po_lines"]}


def test_only_the_late_supplier_announces_deliveries_after_their_due_date(feed: Feed) -> None:
    po = feed.good("purchase_orders")
    po = po[po["status"].isin(["open", "partially_received"])].copy()
    po["due"] = _day(po["confirmed_date"].where(po["confirmed_date"] != "", po["requested_date"]))
    asn = feed.good("asn").merge(po[["po_id", "po_line", "due"]], on=["po_id", "po_line"])
    late = asn[_day(asn["expected_delivery"]) > asn["due"]]
    assert set(late["supplier_id"]) <= {feed.planted["late_supplier"]["supplier_id"]}


def test_only_the_escape_fails_incoming_inspection_in_the_last_30_days(feed: Feed) -> None:
    as_of = pd.Timestamp(feed.as_of)
    ins = feed.good("inspections")
    done = _day(ins["completed_at"])
    failed = ins[
        (ins["inspection_type"] == "incoming")
        & (ins["result"] == "fail")
        & (done > as_of - pd.Timedelta(days=30))
        & (done <= as_of)
    ]
    assert list(failed["lot_id"]) == [feed.planted["quality_escape"]["failed_lot_id"]]


def test_only_the_escape_has_an_open_critical_ncr_on_a_component(feed: Feed) -> None:
    as_of = pd.Timestamp(feed.as_of)
    ncr = feed.good("nonconformances")
    mats = feed.good("materials").set_index("material_id")["material_type"]
    closed = _day(ncr["closed_at"])
    open_ = ncr[
        (ncr["severity"] == "critical")
        & (_day(ncr["opened_at"]) <= as_of)
        & (closed.isna() | (closed > as_of))
        & (ncr["material_id"].map(mats) != "finished_good")
    ]
    assert list(open_["ncr_id"]) == [feed.planted["quality_escape"]["ncr_id"]]


@pytest.mark.slow
def test_the_default_demo_is_quiet_too(scale1: Feed) -> None:
    """At scale 1 there are enough receipts and open lines for accidents to show."""
    test_only_the_planted_lots_expire_within_90_days(scale1)
    test_only_the_late_supplier_has_past_due_open_lines(scale1)
    test_only_the_late_supplier_announces_deliveries_after_their_due_date(scale1)
    test_only_the_escape_fails_incoming_inspection_in_the_last_30_days(scale1)
    test_only_the_escape_has_an_open_critical_ncr_on_a_component(scale1)
