"""The shipped rules on the demo warehouse, end to end: demo -> ingest -> dbt -> alerts -> real SMTP.

One demo (scale 0.05) is generated and built once for the module; each test evaluates the alerts on its
own copy of the built warehouse (without the build's own alert state) against an aiosmtpd server on
127.0.0.1. Expected values come from the demo feed files (CSV) and the generator's manifest, computed
here with pandas, never from the marts the rules and plans read.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from alerts.engine import evaluate_in_pipeline
from alerts.message import alert_link, compact_plan, render_plan_html, render_plan_text
from medtower.pipeline import run_once
from medtower.settings import Settings
from tests.alerts.support import alert_settings_for

if TYPE_CHECKING:
    from conftest import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Demo:
    def __init__(self, feed: Path, data: Path, manifest: dict[str, Any]) -> None:
        self.feed, self.data, self.manifest = feed, data, manifest
        self.as_of = dt.date.fromisoformat(manifest["as_of"])
        self._csv: dict[str, pd.DataFrame] = {}

    def csv(self, entity: str) -> pd.DataFrame:
        """The entity's rows as written, without the planted bad rows (ingest quarantines those)."""
        if entity not in self._csv:
            frame = pd.read_csv(self.feed / f"{entity}.csv", dtype=str, keep_default_na=False)
            bad = [b["line"] - 2 for b in self.manifest["bad_rows"] if b["file"] == f"{entity}.csv"]
            self._csv[entity] = frame.drop(index=bad)
        return self._csv[entity]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    from ingest.demo import generate

    root = tmp_path_factory.mktemp("alertdemo")
    feed = root / "feed"
    generate(feed, seed=7, scale=0.05, as_of=None, clean=False)
    manifest = json.loads((feed / "_demo_manifest.json").read_text())
    data = root / "data"
    as_of = dt.date.fromisoformat(manifest["as_of"])
    record = run_once(Settings(data_dir=data), feed, as_of=as_of)
    assert record["outcome"] == "succeeded", record.get("error")
    return Demo(feed, data, manifest)


def _settings(tmp_path: Path, smtp: SmtpServer, data_dir: Path | None = None) -> Settings:
    return alert_settings_for(data_dir or tmp_path / "d", smtp)


def _fresh_copy(demo: Demo, tmp_path: Path) -> Path:
    """A private copy of the built warehouse, without the alert state of the build's own evaluation.

    The work database, as the pipeline evaluates there (data_freshness reads the raw schema's tables).
    """
    target = tmp_path / "w.duckdb"
    shutil.copyfile(demo.data / "work" / "warehouse.duckdb", target)
    with duckdb.connect(str(target)) as con:
        con.execute("drop schema if exists alerts cascade")
    return target


def _alert_lines(smtp: SmtpServer, to: str | None = None) -> list[tuple[str, str]]:
    """(recipient, line) for every alert line of every digest received: "[SEVERITY] what: title"."""
    out = []
    for m in smtp.handler.messages:
        if to is None or m["To"] == to:
            text = smtp.text(m).replace("\r\n", "\n")
            out += [(str(m["To"]), line) for line in text.splitlines() if line.startswith("[")]
    return out


def _site_name(demo: Demo, site_id: str) -> str:
    """The site's name as the feed's sites.csv gives it (the digest names sites, not their ids)."""
    sites = demo.csv("sites")
    return str(sites.loc[sites["site_id"] == site_id, "name"].iloc[0])


def _stored_plan(db: Path, rule_id: str, **labels: str) -> dict[str, Any]:
    where = " and ".join(f"labels->>'{k}' = ?" for k in labels)
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            f"select plan from alerts.alert_instances where rule_id = ? and {where}",
            [rule_id, *labels.values()],
        ).fetchone()
    assert row is not None, (rule_id, labels)
    return json.loads(row[0])


def _day(ts: str) -> dt.date:
    return dt.date.fromisoformat(ts[:10])


# --- independent readings of the feed ---------------------------------------------------------


def _po_receipts(demo: Demo) -> pd.DataFrame:
    """Receipts against PO lines with local date <= as-of, per line: total and first date."""
    mv = demo.csv("inventory_movements")
    rec = mv[(mv["movement_type"] == "receipt") & (mv["reference_type"] == "po")].copy()
    rec["date"] = rec["moved_at"].map(_day)
    rec = rec[rec["date"] <= demo.as_of]
    rec["qty"] = rec["qty"].astype(float)
    rec["po_line"] = rec["reference_line"]
    return (
        rec.groupby(["reference_id", "po_line"])
        .agg(received=("qty", "sum"), first_receipt=("date", "min"))
        .reset_index()
        .rename(columns={"reference_id": "po_id"})
    )


def _po_lines(demo: Demo) -> pd.DataFrame:
    po = demo.csv("purchase_orders").copy()
    po = po.merge(_po_receipts(demo), on=["po_id", "po_line"], how="left")
    po["received"] = po["received"].fillna(0.0)
    po["qty_ordered"] = po["qty_ordered"].astype(float)
    po["due"] = [
        dt.date.fromisoformat(c or r) for c, r in zip(po["confirmed_date"], po["requested_date"], strict=True)
    ]
    po["order"] = po["order_date"].map(dt.date.fromisoformat)
    return po


def _expected_arrivals(demo: Demo, material: str, site: str) -> dict[str, tuple[dt.date, dt.date]]:
    """Open PO lines of material at site -> (median, p90) expected arrival: due + the supplier's delay
    (actual - planned lead time days) on this material, else on all its materials, rounded up."""
    po = _po_lines(demo)
    approved = demo.csv("approved_suppliers")
    planned_pair = {
        (s, m): int(d)
        for s, m, d in zip(
            approved["supplier_id"], approved["material_id"], approved["planned_lead_time_days"], strict=True
        )
    }
    mats = demo.csv("materials")
    planned_mat = dict(zip(mats["material_id"], mats["planned_lead_time_days"], strict=True))
    hist = po[(po["status"] != "cancelled") & po["first_receipt"].notna()].copy()
    hist["planned"] = [
        planned_pair.get((s, m), int(planned_mat[m]) if planned_mat.get(m) else None)
        for s, m in zip(hist["supplier_id"], hist["material_id"], strict=True)
    ]
    hist = hist[hist["planned"].notna()]
    hist["delay"] = [
        (f - o).days - p
        for f, o, p in zip(hist["first_receipt"], hist["order"], hist["planned"], strict=True)
    ]
    is_open = (
        (po["status"] != "cancelled")
        & (po["order"] <= demo.as_of)
        & (po["qty_ordered"] > po["received"])
        & (po["status"] != "received")  # the demo closes a line short only with status received
        & (po["material_id"] == material)
        & (po["site_id"] == site)
    )
    out = {}
    for _, line in po[is_open].iterrows():
        mine = hist[(hist["supplier_id"] == line["supplier_id"]) & (hist["material_id"] == material)]
        if mine.empty:
            mine = hist[hist["supplier_id"] == line["supplier_id"]]
        delays = mine["delay"].astype(float).to_numpy()
        p50 = float(np.percentile(delays, 50)) if len(delays) else 0.0
        p90 = float(np.percentile(delays, 90)) if len(delays) else 0.0
        out[line["po_id"]] = (
            line["due"] + dt.timedelta(days=int(np.ceil(p50))),
            line["due"] + dt.timedelta(days=int(np.ceil(p90))),
            float(line["qty_ordered"] - line["received"]),
        )
    return out


def _available_qty(demo: Demo, lot_ids: list[str]) -> float:
    mv = demo.csv("inventory_movements")
    mine = mv[mv["lot_id"].isin(lot_ids) & (mv["moved_at"].map(_day) <= demo.as_of)]
    return float(mine["qty"].astype(float).sum())


def _forward(demo: Demo, start: set[str]) -> set[str]:
    """Every lot made (directly or not) from the start lots: consumption edges to the WO's output lot."""
    cons = demo.csv("lot_consumption")
    wos = demo.csv("work_orders")
    out_lot = dict(zip(wos["wo_id"], wos["output_lot_id"], strict=True))
    children: dict[str, set[str]] = {}
    for wo, comp in zip(cons["wo_id"], cons["component_lot_id"], strict=True):
        if out_lot.get(wo):
            children.setdefault(comp, set()).add(out_lot[wo])
    seen, frontier = set(start), set(start)
    while frontier:
        frontier = {c for lot in frontier for c in children.get(lot, ())} - seen
        seen |= frontier
    return seen


# --- tests ------------------------------------------------------------------------------------


def _exceptions(demo: Demo, material: str, site: str) -> pd.DataFrame:
    """The feed oracle's net requirements of material at site inside the lead time (kpi-definitions.md)."""
    from tests.e2e.feed_oracle import Feed, net_requirements

    req = net_requirements(Feed(demo.feed), demo.as_of)
    return req[(req["material_id"] == material) & (req["site_id"] == site) & (req["kind"] == "exception")]


def on_hand_total(demo: Demo, material: str, site: str) -> float:
    """Released, unexpired stock of material at site at A, summed from the movements."""
    lots = demo.csv("lots")
    usable = lots[
        (lots["material_id"] == material)
        & (lots["site_id"] == site)
        & (lots["status"] == "released")
        & ((lots["expiry_date"] == "") | (lots["expiry_date"] > demo.as_of.isoformat()))
    ]
    return _available_qty(demo, list(usable["lot_id"]))


def total_fence_demand(plan: dict[str, Any]) -> float:
    rows = next(sec for sec in plan["sections"] if sec["id"] == "resequence")["rows"]
    return float(sum(r["qty"] for r in rows))


def test_planted_shortage_sends_one_email_with_the_full_plan(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    planted = demo.manifest["planted"]["shortage"]
    material, site = planted["material_id"], planted["site_id"]
    db = _fresh_copy(demo, tmp_path)
    settings = _settings(tmp_path, smtp_server)
    evaluate_in_pipeline(settings, db, "t1", as_of=demo.as_of)
    # One digest for the planner; the planted shortage is one line of it, critical or high, with its
    # compact plan and a link to the alert. The full plan is the stored one the Alerts page shows.
    to_planner = [m for m in smtp_server.handler.messages if m["To"] == "planner@example.test"]
    assert len(to_planner) == 1, [m["Subject"] for m in smtp_server.handler.messages]
    digest = smtp_server.text(to_planner[0]).replace("\r\n", "\n")
    mine = [line for _, line in _alert_lines(smtp_server) if f"] opened: {material} short " in line]
    mine = [line for line in mine if f" at {_site_name(demo, site)} from " in line]
    assert len(mine) == 1, _alert_lines(smtp_server)
    assert "SITE-" not in mine[0] and "-12-" not in mine[0]  # a name and a date in words, no raw keys
    assert mine[0].startswith(("[CRITICAL]", "[HIGH]"))
    stored = _stored_plan(db, "material_shortage", material_id=material, site_id=site)
    assert not stored.get("errors"), stored.get("errors")
    after = digest.split(mine[0] + "\n", 1)[1].splitlines()
    # Under the headline: what is hit (in words), the link to the alert, then the compact plan.
    assert "customer order line(s) short" in after[0]
    key_link = f"http://tower.example.test/alerts?alert=material_shortage%3Amaterial_id%3D{material}"
    assert after[1].strip().startswith(f"Open it: {key_link}")
    assert [line.removeprefix("  - ") for line in after[2:]][: len(compact_plan(stored))] == list(
        compact_plan(stored)
    )
    text, page = "\n".join(render_plan_text(stored)), render_plan_html(stored)
    assert "EMERGENCY PLAN" in text and "Emergency plan" in page
    sections = {sec["id"]: sec for sec in stored["sections"]}

    # What is hit: the oracle's net requirements inside the lead time (netted from the CSV files), with the
    # planted work orders among them.
    oracle = _exceptions(demo, material, site)
    total, first_need = float(oracle["shortage_qty"].sum()), min(oracle["need_date"])
    assert total > 0
    assert sections["hit"]["lines"][0].startswith(f"{total:,.0f} EA of {material} at {site} are not covered")
    assert f"between {first_need} and" in sections["hit"]["lines"][0]
    short_wos = {src.removeprefix("wo:") for src in oracle["source"] if src.startswith("wo:")}
    assert {r["wo_id"] for r in sections["hit"]["rows"]} == short_wos
    assert set(planted["planted_work_orders"]) <= short_wos

    # Potential supply first: every lot of the material at the site on hold or in quarantine with stock,
    # with its quantity summed from the movements.
    lots = demo.csv("lots")
    blocked = lots[
        (lots["material_id"] == material)
        & (lots["site_id"] == site)
        & lots["status"].isin(["quarantine", "on_hold"])
    ]
    qty = {lot: _available_qty(demo, [lot]) for lot in blocked["lot_id"]}
    qty = {lot: q for lot, q in qty.items() if q > 0}
    assert qty, "the demo plants blocked stock of the short material"
    asks = "\n".join(sections["potential_supply"]["lines"])
    for lot, q in qty.items():
        assert f"Ask QA to decide lot {lot} ({q:,.0f} EA, " in asks

    # Substitutes: the planted one, validated for the planted device, with the stock of its lots (it has no
    # demand of its own, so all of it is free).
    assert _exceptions(demo, planted["substitute_material_id"], site).empty
    free = _available_qty(demo, planted["substitute_lot_ids"])
    subs = "\n".join(sections["substitutes"]["lines"])
    assert planted["substitute_material_id"] in subs
    # Used when stock and the QA decisions leave work orders of its product uncovered, else said not needed.
    uncovered_after_qa = on_hand_total(demo, material, site) + sum(qty.values()) < total_fence_demand(stored)
    if uncovered_after_qa:
        assert f"Use {planted['substitute_material_id']}" in subs
    else:
        assert "not needed: stock and QA decisions cover the work orders it is validated for" in subs
    assert f"validated for {planted['substitute_parent_material_id']}" in subs
    assert f"{free:,.0f} EA free at {site}" in subs

    # Suppliers: an expedite request naming the planted open PO and its ASN; the alternate supplier.
    suppliers = demo.csv("suppliers").set_index("supplier_id")
    asn = demo.csv("asn")
    open_po = planted["open_po"]
    po_asn = asn[(asn["po_id"] == open_po["po_id"]) & (asn["po_line"] == str(open_po["po_line"]))]
    expedite = "\n".join(sections["suppliers"]["lines"])
    assert f"Expedite request to {suppliers.loc[planted['supplier_id'], 'name']}" in expedite
    assert f"PO {open_po['po_id']} line {open_po['po_line']}" in expedite
    for asn_id, when in zip(po_asn["asn_id"], po_asn["expected_delivery"], strict=True):
        assert f"ASN {asn_id} expected {when}" in expedite
    assert f"({planted['alternate_supplier_id']}, " in expedite
    po = _po_lines(demo)
    arrivals = _expected_arrivals(demo, material, site)
    first_due = min(po.set_index("po_id").loc[p, "due"] for p in arrivals)
    if first_due > first_need:
        assert f"The first open PO line is due {first_due}, {(first_due - first_need).days} days after" in (
            expedite
        )

    # Re-forecast: every open PO line's expected arrival from the supplier's own history.
    forecast = {r["po_id"]: r for r in sections["reforecast"]["rows"]}
    assert open_po["po_id"] in arrivals
    for po_id, (p50, p90, _) in arrivals.items():
        assert (forecast[po_id]["expected_p50"], forecast[po_id]["expected_p90"]) == (str(p50), str(p90))

    # Re-sequenced: one allocation the plan's numbers all come from. Customer orders first; each need is
    # covered in full from the levers in order; what the stock covers is the released stock on hand.
    rows = sections["resequence"]["rows"]
    assert sum(r["short_in_netting"] for r in rows) == pytest.approx(total)
    pegged = [bool(r["customer_orders"]) for r in rows]
    assert pegged == sorted(pegged, reverse=True)  # every pegged need before every unpegged one
    on_hand = on_hand_total(demo, material, site)
    from_stock = sum(
        float(part.split(" from ")[0].replace(",", ""))
        for r in rows
        for part in r["covered_by"].split("; ")
        if part.endswith(" from stock")
    )
    assert from_stock == pytest.approx(min(on_hand, sum(r["qty"] for r in rows)))
    from_qa = {
        part.split(" from ")[1]: float(part.split(" from ")[0].replace(",", ""))
        for r in rows
        for part in r["covered_by"].split("; ")
        if part.split(" from ")[1] in qty
    }
    assert all(from_qa.get(lot, 0) <= q + 1e-6 for lot, q in qty.items())
    # Recovery: the day the last need of the fence can run, once every lever is pulled (None: never).
    runs = [r["can_run_from"] for r in rows]
    assert stored["data"]["recovery_date"] == (None if None in runs else max(runs))

    # A second evaluation on the same data sends nothing at all.
    sent = len(smtp_server.handler.messages)
    evaluate_in_pipeline(settings, db, "t2", as_of=demo.as_of)
    assert len(smtp_server.handler.messages) == sent


def test_planted_expiring_lots_alert_once(demo: Demo, tmp_path: Path, smtp_server: SmtpServer) -> None:
    # Independent reading of the feed: released lots with stock whose expiry is in (A, A + 90].
    lots = demo.csv("lots")
    planted_ids = set(demo.manifest["planted"]["expiring_lots"])
    expiry = dict(zip(lots["lot_id"], lots["expiry_date"], strict=True))
    for lot in planted_ids:
        assert demo.as_of < dt.date.fromisoformat(expiry[lot]) <= demo.as_of + dt.timedelta(days=90)

    db = _fresh_copy(demo, tmp_path)
    settings = _settings(tmp_path, smtp_server)
    evaluate_in_pipeline(settings, db, "t1", as_of=demo.as_of)
    # The rule mails planner and QA: each digest lists each planted lot once.
    lines = _alert_lines(smtp_server)
    for lot in planted_ids:
        for to in ("planner@example.test", "qa@example.test"):
            mine = [line for who, line in lines if who == to and f"opened: Lot {lot} of " in line]
            assert len(mine) == 1, (lot, to, lines)


def test_quality_escape_plan_holds_forward_genealogy(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    planted = demo.manifest["planted"]["quality_escape"]
    bad = planted["failed_lot_id"]
    db = _fresh_copy(demo, tmp_path)
    evaluate_in_pipeline(_settings(tmp_path, smtp_server), db, "t1", as_of=demo.as_of)
    # QA and the planner each get it once in their digest, critical (an open critical NCR).
    mine = [(to, line) for to, line in _alert_lines(smtp_server) if f"opened: Lot {bad} of " in line]
    assert sorted(to for to, _ in mine) == ["planner@example.test", "qa@example.test"], mine
    assert all(line.startswith("[CRITICAL]") for _, line in mine)

    # Independently, the three scopes QA chooses from: the lots sharing the failed lot's supplier lot; those
    # and the same supplier's lots of the material received within 14 days of the failed receipt; those and
    # every such lot received since 90 days before the exception. Each traced forward, with who got them.
    ins, ncr = demo.csv("inspections"), demo.csv("nonconformances")
    dates = [_day(t) for t in ins[(ins["lot_id"] == bad) & (ins["result"] == "fail")]["completed_at"]]
    dates += [_day(t) for t in ncr[ncr["ncr_id"] == planted["ncr_id"]]["opened_at"]]
    event = min(dates)
    lots = demo.csv("lots")
    mv = demo.csv("inventory_movements")
    received = mv[mv["movement_type"] == "receipt"].groupby("lot_id")["moved_at"].min().map(_day)
    same = lots[
        (lots["supplier_id"] == planted["supplier_id"]) & (lots["material_id"] == planted["material_id"])
    ]
    norm = same["supplier_lot"].fillna("").astype(str).str.strip().str.upper()
    sharing = set(same[norm == norm[same["lot_id"] == bad].iloc[0]]["lot_id"]) | {bad}
    window = sharing | {
        lot for lot in same["lot_id"] if abs((received.get(lot, dt.date.min) - received[bad]).days) <= 14
    }
    lookback = window | {
        lot for lot in same["lot_id"] if received.get(lot, dt.date.min) >= event - dt.timedelta(days=90)
    }
    ship = demo.csv("shipments")

    def customers(lot_set: set[str]) -> set[str]:
        got = ship[ship["lot_id"].isin(lot_set) & (ship["shipped_at"].map(_day) <= demo.as_of)]
        return set(got["customer_id"])

    plan = _stored_plan(db, "quality_exception", lot_id=bad)
    assert "errors" not in plan, plan["errors"]
    scopes = {sc["id"]: sc for sc in [plan["scope"], *plan["wider_scopes"]]}
    assert plan["scope"]["id"] == "supplier_lot"  # the narrowest defensible scope is the one proposed
    for sid, starts in (
        ("supplier_lot", sharing),
        ("supplier_window", window),
        ("supplier_lookback", lookback),
    ):
        everything = _forward(demo, starts)
        assert set(scopes[sid]["suspect_lots"]) == starts, sid
        assert set(scopes[sid]["lots_to_hold"]) == everything, sid
        assert set(scopes[sid]["customers"]) == customers(everything), sid
    # The planted escape history (earlier lots shipped to customers) is inside the widest scope.
    assert set(planted["earlier_lot_ids"]) <= lookback
    assert set(planted["downstream_lot_ids"]) <= set(scopes["supplier_lookback"]["lots_to_hold"])
    assert set(planted["customer_ids"]) <= set(scopes["supplier_lookback"]["customers"])
    # The digest carries the compact plan: the proposed hold and each wider scope with its counts.
    digest = "\n".join(
        smtp_server.text(m) for m in smtp_server.handler.messages if m["To"] == "qa@example.test"
    )
    for line in compact_plan(plan):
        assert line in digest


def test_kpi_below_target_fires_where_the_feed_says(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    from medtower.kpis import KPIS

    # Supplier OTD per site, from the feed: PO lines not cancelled requested in (A - 30, A]; on time when
    # the quantity received by the requested date covers the order.
    po = _po_lines(demo)
    mv = demo.csv("inventory_movements")
    rec = mv[(mv["movement_type"] == "receipt") & (mv["reference_type"] == "po")].copy()
    rec["date"] = rec["moved_at"].map(_day)
    po["requested"] = po["requested_date"].map(dt.date.fromisoformat)
    window = po[
        (po["status"] != "cancelled")
        & (po["requested"] > demo.as_of - dt.timedelta(days=30))
        & (po["requested"] <= demo.as_of)
    ]
    otd = {}
    for site, lines in window.groupby("site_id"):
        on_time = 0
        for _, line in lines.iterrows():
            got = rec[
                (rec["reference_id"] == line["po_id"])
                & (rec["reference_line"] == line["po_line"])
                & (rec["date"] <= min(line["requested"], demo.as_of))
            ]["qty"]
            on_time += got.astype(float).sum() >= line["qty_ordered"]
        otd[site] = on_time / len(lines)
    target = KPIS["supplier_otd_rate"].target
    assert any(v < target for v in otd.values()), otd  # the demo's late supplier pulls a site below

    db = _fresh_copy(demo, tmp_path)
    evaluate_in_pipeline(_settings(tmp_path, smtp_server), db, "t1", as_of=demo.as_of)
    with duckdb.connect(str(db), read_only=True) as con:
        got = {
            r[0]: float(r[1])
            for r in con.execute(
                "select labels->>'site_id', details->>'value' from alerts.alert_instances "
                "where rule_id = 'kpi_below_target' and labels->>'kpi_id' = 'supplier_otd_rate'"
            ).fetchall()
        }
    assert set(got) == {s for s, v in otd.items() if v < target}
    for site, value in got.items():
        assert value == pytest.approx(otd[site])
    # Management and the planner each get every supplier-OTD alert once in their digest.
    lines = _alert_lines(smtp_server)
    for to in ("boss@example.test", "planner@example.test"):
        mine = [line for who, line in lines if who == to and "opened: Supplier on-time delivery at " in line]
        names = {_site_name(demo, s): s for s in got}
        assert sorted(names[line.split(" at ", 1)[1].split(" is ", 1)[0]] for line in mine) == sorted(got)


def test_refusing_then_recovering_server_loses_nothing(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    db = _fresh_copy(demo, tmp_path)
    settings = _settings(tmp_path, smtp_server)
    smtp_server.handler.refuse_with = "421 4.3.2 service not available, closing channel"
    first = evaluate_in_pipeline(settings, db, "t1", as_of=demo.as_of)
    queued = first["notifications_queued"]
    # One digest per recipient (planner, QA, management: every role has an open alert on the demo).
    assert queued >= 5 and first["sent"] == 0 and first["pending"] == 3
    # The server refused the first digest every time; the others wait for the next evaluation.
    assert smtp_server.handler.messages == [] and smtp_server.handler.refused == settings.alert_smtp_retries

    smtp_server.handler.refuse_with = None
    second = evaluate_in_pipeline(settings, db, "t2", as_of=demo.as_of)
    assert second["notifications_queued"] == 0  # nothing new: the same alerts, still open
    assert (second["sent"], second["pending"]) == (3, 0)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select alert_key, subject, status, recipients from alerts.notifications"
        ).fetchall()
    assert len(rows) == queued and {r[2] for r in rows} == {"sent"}
    assert len({r[0] for r in rows}) == queued
    # Every alert arrived exactly once to each of its recipients, in that recipient's one digest.
    assert sorted(str(m["To"]) for m in smtp_server.handler.messages) == [
        "boss@example.test",
        "planner@example.test",
        "qa@example.test",
    ]
    # Each alert's link is in its recipient's digest once.
    texts = {str(m["To"]): smtp_server.text(m) for m in smtp_server.handler.messages}
    for key, title, _status, recipients in rows:
        for to in json.loads(recipients):
            link = f"Open it: {alert_link(settings.app_base_url, key)}\n"
            assert texts[to].replace("\r\n", "\n").count(link) == 1, (to, title)


def test_receiving_the_short_material_resolves_the_alert(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Add a released lot of the short material with exactly the planted shortage on hand, run again."""
    planted = demo.manifest["planted"]["shortage"]
    material, site = planted["material_id"], planted["site_id"]
    key = f"material_shortage:material_id={material},site_id={site}"
    feed = tmp_path / "feed"
    shutil.copytree(demo.feed, feed)
    data = tmp_path / "data"
    shutil.copytree(demo.data, data, symlinks=True)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        before = con.execute("select state from alerts.alert_instances where alert_key = ?", [key]).fetchone()
        others_before = con.execute(
            "select count(*) from alerts.alert_instances where rule_id = 'material_shortage' "
            "and alert_key <> ? and state = 'open'",
            [key],
        ).fetchone()[0]
    assert before == ("open",)

    # What the oracle nets short inside and beyond the lead time: that much more stock covers every need.
    from tests.e2e.feed_oracle import Feed, net_requirements

    req = net_requirements(Feed(demo.feed), demo.as_of)
    received_qty = float(
        req[(req["material_id"] == material) & (req["site_id"] == site)]["shortage_qty"].sum()
    )
    day = demo.as_of.isoformat()
    with (feed / "lots.csv").open("a", encoding="utf-8") as f:
        f.write(
            f"LOT-TEST-001,{material},{site},received,{planted['supplier_id']},TEST-1,{day},"
            f"{(demo.as_of + dt.timedelta(days=3 * 365)).isoformat()},released,{day}T00:45:00\n"
        )
    with (feed / "inventory_movements.csv").open("a", encoding="utf-8") as f:
        f.write(
            f"MV-TEST-000001,{day}T00:30:00,{site},STORES,{material},LOT-TEST-001,,"
            f"{received_qty},receipt,none,,\n"
        )
    settings = _settings(tmp_path, smtp_server, data_dir=data)
    sent = len(smtp_server.handler.messages)
    record = run_once(settings, feed, as_of=demo.as_of)
    assert record["outcome"] == "succeeded", record.get("error")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        after = con.execute(
            "select state, resolved_by, resolved_at from alerts.alert_instances where alert_key = ?", [key]
        ).fetchone()
        events = [
            r[0]
            for r in con.execute(
                "select event from alerts.alert_events where alert_key = ? order by event_at", [key]
            ).fetchall()
        ]
        others_after = con.execute(
            "select count(*) from alerts.alert_instances where rule_id = 'material_shortage' "
            "and alert_key <> ? and state = 'open'",
            [key],
        ).fetchone()[0]
    assert after[0] == "resolved" and after[1] == "system" and after[2] is not None
    assert events[-1] == "resolved"
    assert others_after == others_before  # the receipt resolved this one and touched no other
    # The build's own evaluation had no recipients, so nobody was told this shortage opened: the run
    # that resolves it sends nothing about it (the other alerts still open now reach the planner).
    later = [m for m in smtp_server.handler.messages[sent:] if m["To"] == "planner@example.test"]
    assert len(later) == 1
    assert not any(f"opened: {material} short " in smtp_server.text(m) for m in later)


def test_planted_late_supplier_alerts_with_days_past_due(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    planted = demo.manifest["planted"]["late_supplier"]
    po = _po_lines(demo).set_index(["po_id", "po_line"])
    db = _fresh_copy(demo, tmp_path)
    evaluate_in_pipeline(_settings(tmp_path, smtp_server), db, "t1", as_of=demo.as_of)
    with duckdb.connect(str(db), read_only=True) as con:
        by_site: dict[str, list[dict]] = {}
        for line in planted["past_due_po_lines"]:
            row = po.loc[(line["po_id"], str(line["po_line"]))]
            assert row["due"] < demo.as_of
            by_site.setdefault(row["site_id"], []).append({**line, "days": (demo.as_of - row["due"]).days})
        for site, lines in by_site.items():
            # One alert per supplier and site, whatever the number of late lines.
            key = f"supplier_late:supplier_id={planted['supplier_id']},site_id={site}"
            got = con.execute(
                "select state, severity, details->>'days_late', details->>'late_lines', details->>'po_lines' "
                "from alerts.alert_instances where alert_key = ?",
                [key],
            ).fetchone()
            assert got is not None and got[0] == "open", key
            worst = max(x["days"] for x in lines)
            assert int(got[2]) >= worst
            assert got[1] == ("high" if int(got[2]) >= 7 else "medium")
            assert int(got[3]) >= len(lines)
            for x in lines:
                assert f"PO {x['po_id']}/{x['po_line']} " in got[4]
        per_line = con.execute(
            "select count(*) from alerts.alert_instances where rule_id = 'supplier_late' "
            "and alert_key like '%po_id=%'"
        ).fetchone()[0]
        assert per_line == 0
    suppliers = demo.csv("suppliers")
    name = suppliers.loc[suppliers["supplier_id"] == planted["supplier_id"], "name"].iloc[0]
    assert any(f"opened: {name} late at " in line for _, line in _alert_lines(smtp_server))


def test_stale_sources_and_a_failing_dbt_test_alert(
    demo: Demo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    from alerts.engine import evaluate
    from alerts.rules import load_rules

    rules = [r for r in load_rules() if r.id in ("data_freshness", "dbt_tests_failing")]
    settings = _settings(tmp_path, smtp_server)
    db = _fresh_copy(demo, tmp_path)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with duckdb.connect(str(db)) as con:
        # Fresh right after the build: nothing fires.
        result = evaluate(
            con, settings, run_id="t1", as_of=demo.as_of, now=now, rules=rules, plan_builders={}
        )
        assert result["notifications_queued"] == 0 and result["failing_rules"] == []
        # Three days without a delivery: every transactional entity of the feed is stale (48 h); master
        # data (30 days or more in the rule) is not.
        master = {"sites", "materials", "suppliers", "approved_suppliers", "customers", "bom", "substitutes"}
        delivered = {p.stem for p in demo.feed.glob("*.csv")}
        later = now + dt.timedelta(hours=72)
        evaluate(con, settings, run_id="t2", as_of=demo.as_of, now=later, rules=rules, plan_builders={})
        stale = {
            r[0]
            for r in con.execute(
                "select labels->>'entity' from alerts.alert_instances "
                "where rule_id = 'data_freshness' and state = 'open'"
            ).fetchall()
        }
        assert stale == delivered - master
        # One dbt test of the latest build fails: it alerts, named by its unique id.
        test_id = con.execute(
            "select unique_id from meta.dbt_results where resource_type = 'test' order by unique_id limit 1"
        ).fetchone()[0]
        con.execute(
            "update meta.dbt_results set status = 'fail', failures = 3 where unique_id = ? "
            "and run_id = (select run_id from meta.dbt_results order by recorded_at desc limit 1)",
            [test_id],
        )
        evaluate(con, settings, run_id="t3", as_of=demo.as_of, now=later, rules=rules, plan_builders={})
        failing = con.execute(
            "select labels->>'unique_id', severity from alerts.alert_instances "
            "where rule_id = 'dbt_tests_failing'"
        ).fetchall()
    assert failing == [(test_id, "medium")]
    # dbt_tests_failing mails planner and QA: each digest carries the failing test once.
    lines = _alert_lines(smtp_server)
    assert sorted(to for to, line in lines if f"opened: dbt test {test_id}: fail" in line) == [
        "planner@example.test",
        "qa@example.test",
    ]
