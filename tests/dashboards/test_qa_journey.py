"""The QA engineer's journey in real Chromium on the demo: trace two lots at once, check who got them and
which lots are suspect, export the scope; then widen a quality hold on the Alerts page (to the 90-day
lookback), trace the wider scope and export it.

Every expected value comes from the demo's CSV feed read here with pandas (tests/e2e/feed_oracle.py reads
the files and drops the manifest's bad rows; the genealogy walk is the oracle's), never from the marts or
the code under test. The unit test at the end checks the graph's marks on a hand-made trace.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from dashboards import figures
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, table_rows
from tests.e2e.feed_oracle import Feed, genealogy
from tests.signin import signed_in_page

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
SUSPECT_STATUSES = {"on_hold", "quarantine", "rejected"}
# alerts/rules/quality_exception.yaml: receipt_window_days, suspect_lookback_days, lookback_days
WINDOW_DAYS, SUSPECT_LOOKBACK_DAYS, LOOKBACK_DAYS = 14, 90, 30


# --- the feed, read independently ---------------------------------------------------------------------------


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if isinstance(value, str) and value else None


def forward_scope(feed: Feed, starts: list[str]) -> dict[str, Any]:
    """What a forward trace of ``starts`` must show: lots, work orders, shipments, customers per material."""
    lots = set(starts)
    for lot in starts:
        lots |= genealogy(feed, lot, "forward")
    wo = feed.good("work_orders")
    made = set(wo.loc[wo["output_lot_id"].notna(), "wo_id"])
    cons = feed.good("lot_consumption")
    work_orders = set(cons.loc[cons["component_lot_id"].isin(lots) & cons["wo_id"].isin(made), "wo_id"])
    ships = feed.good("shipments")
    ships = ships[ships["lot_id"].isin(lots)].copy()
    ships["qty"] = pd.to_numeric(ships["qty"])
    names = dict(zip(feed.good("customers")["customer_id"], feed.good("customers")["name"], strict=True))
    customers = {
        (cust, mat): {
            "customer": names[cust],
            "shipments": group["shipment_id"].nunique(),
            "lots": group["lot_id"].nunique(),
            "qty": float(group["qty"].sum()),
        }
        for (cust, mat), group in ships.groupby(["customer_id", "material_id"])
    }
    return {
        "lots": lots,
        "work_orders": work_orders,
        "shipments": set(ships["shipment_id"]),
        "customers": customers,
    }


def suspect_facts(feed: Feed, lots: set[str], as_of: dt.date) -> dict[str, dict[str, Any]]:
    """Per lot of ``lots`` that is suspect or has an NCR: the facts in words and its NCRs."""
    out: dict[str, dict[str, Any]] = {}

    def entry(lot: str) -> dict[str, Any]:
        return out.setdefault(lot, {"facts": [], "ncrs": [], "suspect": False})

    status = feed.good("lots").set_index("lot_id")["status"]
    for lot in lots:
        if status.get(lot) in SUSPECT_STATUSES:
            entry(lot)["facts"].append(
                {"on_hold": "on hold", "quarantine": "quarantined"}.get(status[lot], "rejected")
            )
            entry(lot)["suspect"] = True
    ins = feed.good("inspections")
    for row in ins[ins["lot_id"].isin(lots) & (ins["result"] == "fail")].itertuples():
        entry(row.lot_id)["facts"].append(f"failed {row.inspection_type} inspection {row.inspection_id}")
        entry(row.lot_id)["suspect"] = True
    ncr = feed.good("nonconformances")
    for row in ncr[ncr["lot_id"].isin(lots)].itertuples():
        opened, closed = _day(row.opened_at), _day(row.closed_at)
        is_open = opened is not None and opened <= as_of and (closed is None or closed > as_of)
        entry(row.lot_id)["ncrs"].append(f"{row.ncr_id} {row.severity} {row.status}")
        if is_open:
            entry(row.lot_id)["facts"].append(f"open {row.severity} NCR {row.ncr_id}")
            entry(row.lot_id)["suspect"] = True
    return out


def hold_scopes(feed: Feed, failed: str, as_of: dt.date) -> dict[str, list[str]]:
    """The suspect lots of each hold scope as the quality rule and plan describe them: the failed lot's
    supplier lot (proposed); the supplier's lots of the material received within 14 days either side of
    the failed receipt; and those received from 90 days before the exception on (the exception: the
    earliest failed incoming inspection of the last 30 days or open critical NCR of the lot)."""
    lots = feed.good("lots")
    bad = lots.set_index("lot_id").loc[failed]
    same = lots[(lots["supplier_id"] == bad["supplier_id"]) & (lots["material_id"] == bad["material_id"])]
    norm = same["supplier_lot"].fillna("").str.strip().str.upper()
    proposed = set(same.loc[norm == str(bad["supplier_lot"]).strip().upper(), "lot_id"]) | {failed}
    mv = feed.good("inventory_movements")
    rec = mv[mv["movement_type"] == "receipt"]
    received = rec.assign(day=rec["moved_at"].map(_day)).groupby("lot_id")["day"].min()
    centre = received[failed]
    lo, hi = centre - dt.timedelta(days=WINDOW_DAYS), centre + dt.timedelta(days=WINDOW_DAYS)
    window = proposed | {lot for lot in same["lot_id"] if lot in received and lo <= received[lot] <= hi}
    ins = feed.good("inspections")
    ins = ins[(ins["lot_id"] == failed) & (ins["inspection_type"] == "incoming") & (ins["result"] == "fail")]
    events = [
        d
        for d in ins["completed_at"].map(_day)
        if d is not None and as_of - dt.timedelta(days=LOOKBACK_DAYS) < d <= as_of
    ]
    ncr = feed.good("nonconformances")
    for row in ncr[(ncr["lot_id"] == failed) & (ncr["severity"] == "critical")].itertuples():
        opened, closed = _day(row.opened_at), _day(row.closed_at)
        if opened is not None and opened <= as_of and (closed is None or closed > as_of):
            events.append(opened)
    since = min(events) - dt.timedelta(days=SUSPECT_LOOKBACK_DAYS)
    lookback = window | {lot for lot in same["lot_id"] if lot in received and received[lot] >= since}
    return {
        "supplier_lot": sorted(proposed),
        "supplier_window": sorted(window),
        "supplier_lookback": sorted(lookback),
    }


# --- the page, read in the browser -------------------------------------------------------------------------


def _graph_traces(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """Array.from(document.querySelector('.js-plotly-plot').data).map(t => (
        {name: t.name || null, text: t.text || null, showlegend: t.showlegend !== false}))"""
    )


def _settled(page: Any) -> None:
    page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
    page.wait_for_timeout(300)


def _trace_query(page: Any) -> tuple[list[str], str]:
    q = parse_qs(urlparse(page.url).query)
    return [p for p in re.split(r"[,\s]+", q["q"][0]) if p], q["direction"][0]


def _download(page: Any, button: str) -> tuple[str, Path]:
    with page.expect_download() as info:
        page.click(button)
    return info.value.suggested_filename, Path(info.value.path())


def _customers_of(frame: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (str(r["customer_id"]), str(r["material_id"])): {
            "customer": r["customer"],
            "shipments": int(r["shipments"]),
            "lots": int(r["lots"]),
            "qty": float(r["qty"]),
        }
        for r in frame.to_dict("records")
    }


def _check_export(page: Any, expected: dict[str, Any], facts: dict[str, dict[str, Any]]) -> None:
    """CSV (the lots) and XLSX (lots, suspects, customers ...) of the scope on screen, against the feed."""
    name, path = _download(page, "#trace-csv")
    assert name.endswith(".csv"), name
    lots = pd.read_csv(path, dtype={"lot_id": str})
    assert set(lots["lot_id"]) == expected["lots"] and len(lots) == len(expected["lots"])
    assert set(lots.loc[lots["suspect"], "lot_id"]) == {k for k, f in facts.items() if f["suspect"]}
    why = dict(zip(lots["lot_id"], lots["why_suspect"].fillna(""), strict=True))
    assert {k: set(filter(None, v.split("; "))) for k, v in why.items() if v} == {
        k: set(f["facts"]) for k, f in facts.items() if f["facts"]
    }
    name, path = _download(page, "#trace-xlsx")
    assert name.endswith(".xlsx"), name
    book = pd.read_excel(path, sheet_name=None)
    assert {"query", "lots", "suspects", "shipments", "customers", "suppliers", "edges"} <= set(book)
    assert set(book["lots"]["lot_id"]) == expected["lots"]
    assert _customers_of(book["customers"]) == expected["customers"]
    assert set(book["shipments"]["shipment_id"]) == expected["shipments"]
    assert set(book["suspects"]["lot_id"]) == set(facts)


# --- the journey -------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_qa_traces_two_lots_widens_a_quality_scope_and_exports_it(demo: dict) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    feed = Feed(Path(demo["feed"]))
    as_of = dt.date.fromisoformat(feed.manifest["as_of"])
    escape = feed.manifest["planted"]["quality_escape"]
    failed = escape["failed_lot_id"]
    scopes = hold_scopes(feed, failed, as_of)
    # The oracle agrees with what the demo planted: the failed lot and its sibling of one supplier lot.
    assert scopes["supplier_lot"] == sorted({failed, *escape["same_supplier_lot_ids"]})
    two = [failed, escape["same_supplier_lot_ids"][0]]
    first = forward_scope(feed, two)
    first_facts = suspect_facts(feed, first["lots"], as_of)
    assert first_facts[failed]["suspect"], "the planted failed lot is suspect in the feed itself"
    assert f"open critical NCR {escape['ncr_id']}" in first_facts[failed]["facts"]

    errors: list[str] = []
    failed_requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = signed_in_page(
            browser, demo["url"], viewport={"width": 1440, "height": 1100}, accept_downloads=True
        )
        page.set_default_timeout(30_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on(
            "response", lambda r: failed_requests.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )

        # 1. A link with two lots and the direction opens the trace.
        page.goto(demo["url"] + f"/traceability?q={','.join(two)}&direction=forward")
        page.wait_for_selector("#trace-body .notice")
        _settled(page)
        assert _trace_query(page) == (two, "forward")
        assert page.input_value("#trace-q") == ",".join(two)
        notice = page.inner_text("#trace-body .notice")
        assert notice.startswith(f"Forward trace of 2 lots {two[0]}, {two[1]}: ")
        assert (
            f"{len(first['lots'] - set(two)):,} lots reached, {len(first['work_orders']):,} work orders, "
            f"{len(first['shipments']):,} shipments, {len({c for c, _ in first['customers']}):,} customers"
        ) in notice
        # Customers with names and quantities, per customer and material.
        assert _customers_of(pd.DataFrame(table_rows(page, "trace-parties"))) == first["customers"]
        body = page.inner_text("#trace-body")
        for info in first["customers"].values():
            assert info["customer"] in body
        # The suspect lots are ringed and their NCRs written under them; the legend says what marks mean.
        traces = {t["name"]: t for t in _graph_traces(page)}
        suspect_mark = next(t for n, t in traces.items() if n and n.startswith("suspect"))
        assert set(suspect_mark["text"]) == {lot for lot, f in first_facts.items() if f["suspect"]}
        ncr_mark = next(t for n, t in traces.items() if n and n.startswith("NCR"))
        assert sorted(tuple(sorted(label.split(", "))) for label in ncr_mark["text"]) == sorted(
            tuple(sorted(f["ncrs"])) for f in first_facts.values() if f["ncrs"]
        )
        legend = {n for n, t in traces.items() if n and t["showlegend"]}
        assert {"traced lot", "lot"} <= legend
        assert any("suspect" in n and "open NCR" in n for n in legend)
        assert any(n.startswith("NCR") and "severity" in n for n in legend)
        # The table beside the graph says why each lot is suspect.
        rows = {r["lot_id"]: r for r in table_rows(page, "trace-suspects")}
        assert set(rows) == set(first_facts)
        for lot, f in first_facts.items():
            assert set(filter(None, rows[lot]["why_suspect"].split("; "))) == set(f["facts"]), (
                lot,
                rows[lot],
            )
            assert sorted(filter(None, rows[lot]["ncrs"].split(", "))) == sorted(f["ncrs"])
        page.screenshot(path=str(SHOTS / "qa-1-two-lots-forward.png"), full_page=True)
        # The direction lives in the URL: backward and forward again.
        page.check("#trace-direction input[value=backward]")
        page.wait_for_function("() => window.location.search.includes('direction=backward')")
        page.wait_for_selector("text=Backward trace of 2 lots")
        page.check("#trace-direction input[value=forward]")
        page.wait_for_function("() => window.location.search.includes('direction=forward')")
        page.wait_for_selector("text=Forward trace of 2 lots")
        _settled(page)
        _check_export(page, first, first_facts)

        # 2. The quality alert of the failed lot: the proposed hold, then the +/-14-day window.
        page.goto(demo["url"] + "/alerts")
        row = page.locator(f'tr.alert-row[data-key^="quality_exception:"][data-key$="lot_id={failed}"]')
        row.locator("button.alert-pick").click()
        page.wait_for_selector(".alerts-scope")
        _settled(page)
        expected = {sid: forward_scope(feed, starts) for sid, starts in scopes.items()}
        labels = page.locator(".alerts-scope label").all_inner_texts()
        for sid, label_start in (
            ("supplier_lot", "Proposed"),
            ("supplier_window", "Same supplier +/-14 d"),
            ("supplier_lookback", "Same supplier, 90-day lookback"),
        ):
            e = expected[sid]
            counts = (
                f"{len(e['lots'])} lots, {len(e['work_orders'])} work orders, "
                f"{len(e['shipments'])} shipments, {len({c for c, _ in e['customers']})} customers"
            )
            assert any(lab.strip().startswith(label_start) and counts in lab for lab in labels), (
                sid,
                counts,
                labels,
            )
        wide = expected["supplier_lookback"]
        assert len(wide["customers"]) > len(expected["supplier_lot"]["customers"]), "wider on the demo"
        page.screenshot(path=str(SHOTS / "qa-2-quality-alert-proposed.png"), full_page=True)
        page.locator(".alerts-scope label", has_text="Same supplier, 90-day lookback").click()
        held = page.locator(".alerts-scope .scope-lots_to_hold")
        held.filter(has_text=f"Lots to hold ({len(wide['lots'])}):").wait_for()
        listed = held.inner_text().split(":", 1)[1].split(", ")
        assert sorted(s.strip() for s in listed) == sorted(wide["lots"])
        customers = page.inner_text(".alerts-scope .scope-customers")
        assert customers.startswith(f"Customers ({len({c for c, _ in wide['customers']})}):")
        page.screenshot(path=str(SHOTS / "qa-3-quality-alert-wider.png"), full_page=True)

        # 3. The wider scope's lots traced forward on the Traceability page, and exported.
        page.goto(demo["url"] + "/traceability")
        page.fill("#trace-q", ", ".join(sorted(wide["lots"])))
        page.check("#trace-direction input[value=forward]")
        page.click("#trace-go")
        page.wait_for_selector(f"text=Forward trace of {len(wide['lots']):,} lots")
        _settled(page)
        lots_q, way = _trace_query(page)
        assert sorted(lots_q) == sorted(wide["lots"]) and way == "forward"
        wide_facts = suspect_facts(feed, wide["lots"], as_of)
        assert _customers_of(pd.DataFrame(table_rows(page, "trace-parties"))) == wide["customers"]
        page.screenshot(path=str(SHOTS / "qa-4-wider-scope-traced.png"), full_page=True)
        _check_export(page, wide, wide_facts)
        browser.close()
    assert not errors, errors
    assert not failed_requests, failed_requests


def test_the_graph_marks_suspect_lots_and_their_ncrs() -> None:
    """A hand-made trace: R1 -> A1 -> F1 and R2 -> F1; R2 is on hold with an open NCR, A1 has a closed one."""
    edges = pd.DataFrame({"parent_lot_id": ["R1", "A1", "R2"], "child_lot_id": ["A1", "F1", "F1"]})
    lots = pd.DataFrame(
        {
            "lot_id": ["R1", "R2", "A1", "F1"],
            "material_id": ["RM", "RM", "SA", "FG"],
            "status": ["released", "on_hold", "consumed", "released"],
            "suspect": [False, True, False, False],
            "why_suspect": ["", "on hold; open major NCR N1", "", ""],
            "ncrs": ["", "N1 major open", "N2 minor closed", ""],
        }
    )
    fig = figures.genealogy_graph(edges, "R1", lots, ["R1", "R2"])
    by_name = {t.name: t for t in fig.data}
    nodes = by_name["lots"]
    x = dict(zip(nodes.text, nodes.x, strict=True))
    assert (x["R1"], x["R2"], x["A1"], x["F1"]) == (0, 0, 1, 2)
    colors = dict(zip(nodes.text, nodes.marker.color, strict=True))
    assert colors["R1"] == colors["R2"] == figures.TRACED_COLOR != colors["A1"]
    (suspect,) = [t for t in fig.data if t.name and t.name.startswith("suspect")]
    assert list(suspect.text) == ["R2"] and "on hold" in suspect.customdata[0]
    (ncr,) = [t for t in fig.data if t.name and t.name.startswith("NCR")]
    assert sorted(ncr.text) == ["N1 major open", "N2 minor closed"]
    y = dict(zip(nodes.text, nodes.y, strict=True))
    under = dict(zip(ncr.text, ncr.y, strict=True))
    assert under["N1 major open"] < y["R2"] and under["N2 minor closed"] < y["A1"]
    assert ncr.x[list(ncr.text).index("N2 minor closed")] == x["A1"]
    assert fig.layout.showlegend is True
    # A traced lot without links is still drawn with its mark.
    alone = figures.genealogy_graph(edges.iloc[0:0], "R2", lots[lots["lot_id"] == "R2"], ["R2"])
    assert [t.text for t in alone.data if t.name and t.name.startswith("suspect")] == [("R2",)]
