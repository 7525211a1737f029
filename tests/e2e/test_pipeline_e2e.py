"""End to end: demo feed -> `medtower run` -> KPIs, traces and quarantine, checked against the
feed itself (tests/e2e/feed_oracle.py), never against the marts."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import biip
import pandas as pd
import pytest

from tests.e2e.feed_oracle import Feed, genealogy, kpis

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AS_OF = dt.date(2026, 6, 30)


def medtower(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "medtower", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"medtower {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Feed, dict]:
    root = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "MEDTOWER_DATA_DIR": str(root / "data"),
        "MEDTOWER_PLANNER_EMAILS": "",
        "MEDTOWER_QA_EMAILS": "",
        "MEDTOWER_MANAGEMENT_EMAILS": "",
    }
    feed_dir = root / "feed"
    medtower(
        env, "demo", "--out", str(feed_dir), "--scale", "0.05", "--seed", "11", "--as-of", AS_OF.isoformat()
    )
    run = medtower(env, "run", str(feed_dir), "--as-of", AS_OF.isoformat(), "--json")
    record = json.loads(run.stdout)
    assert record["outcome"] == "succeeded", record
    return env, Feed(feed_dir), record


def _kpis_cli(env: dict[str, str], as_of: dt.date, days: int = 30) -> dict:
    out = medtower(env, "kpis", "--as-of", as_of.isoformat(), "--period-days", str(days), "--json")
    return json.loads(out.stdout)


def _assert_kpis_match(got: dict, expected: dict) -> None:
    for kpi_id, want in expected.items():
        assert kpi_id in got, f"{kpi_id} missing from medtower kpis"
        have = got[kpi_id]
        if want is None:
            assert have is None, f"{kpi_id}: expected null (empty population), got {have}"
        else:
            # Hours are stored as numeric(28,6) in the marts: six decimals of an hour.
            tolerance = 1e-5 if kpi_id.endswith("_hours") else 1e-9
            assert have == pytest.approx(want, rel=1e-9, abs=tolerance), f"{kpi_id}: {have} != {want}"


def test_kpis_at_the_end_of_the_feed_match_the_definitions(plant) -> None:
    env, feed, _ = plant
    got = _kpis_cli(env, AS_OF)
    assert got["as_of"] == AS_OF.isoformat() and got["period_days"] == 30
    _assert_kpis_match(got["kpis"], kpis(feed, AS_OF, 30))


def test_kpis_at_a_past_date_and_other_window(plant) -> None:
    env, feed, _ = plant
    past = AS_OF - dt.timedelta(days=75)
    got = _kpis_cli(env, past, 60)
    _assert_kpis_match(got["kpis"], kpis(feed, past, 60, include_stock=False))


def test_planted_situations_show_in_kpis(plant) -> None:
    env, feed, _ = plant
    got = _kpis_cli(env, AS_OF)["kpis"]
    planted = feed.manifest["planted"]
    assert got["overdue_capa_count"] >= 1
    assert got["late_wo_count"] >= len(planted["late_work_orders"])
    assert got["expiring_released_lots_90d"] >= 1
    assert got["traceability_completeness"] is not None and got["traceability_completeness"] < 1.0


def test_forward_trace_of_an_escaped_supplier_lot(plant) -> None:
    env, feed, _ = plant
    lot = feed.manifest["planted"]["quality_escape"]["earlier_lot_ids"][0]
    out = json.loads(medtower(env, "trace", lot, "--direction", "forward", "--json").stdout)
    expected_lots = genealogy(feed, lot, "forward")
    assert out["lot_id"] == lot
    assert set(out["lots"]) == expected_lots and expected_lots
    shipments = feed.good("shipments")
    reached = shipments[shipments["lot_id"].isin(expected_lots | {lot})]
    assert set(out["customers"]) == set(reached["customer_id"]) and set(out["customers"])
    assert set(out["shipments"]) == set(reached["shipment_id"])


def test_backward_trace_from_a_scanned_udi(plant) -> None:
    env, feed, _ = plant
    scans = feed.good("scans")
    lots = feed.good("lots")
    mats = feed.good("materials")
    shipped_lots = set(feed.good("shipments")["lot_id"])
    gtin_of = dict(zip(mats["material_id"], mats["gtin"], strict=True))
    for payload in scans["payload"]:
        try:
            parsed = biip.parse(payload)
        except Exception:
            continue
        msg = parsed.gs1_message
        if (
            msg is None
            or msg.element_strings.get(ai="01") is None
            or msg.element_strings.get(ai="10") is None
        ):
            continue
        gtin = msg.element_strings.get(ai="01").value
        lot_no = msg.element_strings.get(ai="10").value
        match = lots[(lots["lot_id"] == lot_no) & (lots["material_id"].map(gtin_of) == gtin)]
        if len(match) == 1 and lot_no in shipped_lots:
            break
    else:
        pytest.fail("the demo feed has no GS1 scan of a shipped finished-good lot")
    out = json.loads(medtower(env, "trace", payload, "--direction", "backward", "--json").stdout)
    assert out["lot_id"] == lot_no
    ancestors = genealogy(feed, lot_no, "backward")
    assert set(out["lots"]) == ancestors and ancestors
    received = lots[lots["lot_id"].isin(ancestors) & (lots["origin"] == "received")]
    assert set(out["suppliers"]) == set(received["supplier_id"].dropna())


def test_unknown_lot_and_garbage_scan_are_clear_errors(plant) -> None:
    env, _, _ = plant
    unknown = medtower(env, "trace", "NO-SUCH-LOT-42", "--direction", "forward", check=False)
    assert unknown.returncode != 0 and "NO-SUCH-LOT-42" in unknown.stderr
    garbage = medtower(env, "trace", "(01)12345678901234(10)X", "--direction", "forward", check=False)
    assert garbage.returncode != 0 and garbage.stderr.strip()


def test_quarantine_lists_every_planted_bad_row_and_nothing_is_lost(plant) -> None:
    env, feed, _ = plant
    rejects = json.loads(medtower(env, "rejects", "--json").stdout)
    for bad in feed.manifest["bad_rows"]:
        hits = [r for r in rejects if r["entity"] == bad["entity"] and int(r["line"]) == int(bad["line"])]
        assert hits, f"planted bad row not quarantined: {bad}"
        assert all(r["reason"] and r["file"].endswith(bad["file"].split("/")[-1]) for r in hits)
    # Nothing silently dropped: every data line of every file is loaded or quarantined.
    con_rows = json.loads(medtower(env, "kpis", "--as-of", AS_OF.isoformat(), "--json").stdout)
    assert con_rows["kpis"]
    rejected_lines = {(r["entity"], int(r["line"])) for r in rejects if r.get("line") is not None}
    import duckdb

    # raw is in the writer's work database only, never in a published version
    work = Path(env["MEDTOWER_DATA_DIR"]) / "work" / "warehouse.duckdb"
    with duckdb.connect(str(work), read_only=True) as con:
        for entity in feed.manifest["rows"]:
            raw = feed.raw(entity)
            loaded_lines = {
                int(x[0]) for x in con.execute(f"select _source_line from raw.{entity}").fetchall()
            }
            for line in raw["_line"]:
                assert line in loaded_lines or (entity, int(line)) in rejected_lines, (
                    f"{entity}.csv line {line} neither loaded nor quarantined"
                )


def test_reingest_changes_nothing(plant) -> None:
    env, feed, _ = plant
    before = json.loads(medtower(env, "rejects", "--json").stdout)
    out = json.loads(medtower(env, "ingest", str(feed.folder), "--json").stdout)
    assert out["outcome"] == "succeeded"
    assert sum(e["rows_loaded"] for e in out["entities"]) == 0
    after = json.loads(medtower(env, "rejects", "--json").stdout)
    assert len(after) == len(before)


def test_failed_build_keeps_the_last_good_warehouse(plant, tmp_path: Path) -> None:
    env, _feed, _ = plant
    link = Path(env["MEDTOWER_DATA_DIR"]) / "warehouse.duckdb"
    published = link.resolve()
    broken_project = tmp_path / "dbt_project"
    import shutil

    shutil.copytree(
        Path(__file__).resolve().parents[2] / "dbt_project",
        broken_project,
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    (broken_project / "models" / "marts" / "zz_broken.sql").write_text(
        "select * from no_such_table_anywhere\n"
    )
    proc = medtower({**env, "MEDTOWER_DBT_PROJECT_DIR": str(broken_project)}, "build", check=False)
    assert proc.returncode != 0
    assert link.resolve() == published
    run_log = (Path(env["MEDTOWER_DATA_DIR"]) / "logs" / "pipeline-runs.jsonl").read_text().splitlines()
    assert json.loads(run_log[-1])["outcome"] == "failed"
    assert pd.notna(published)
