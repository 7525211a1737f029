"""Alert evaluation on a built warehouse: a first evaluation, then a second one with nothing changed.

    .venv/bin/python tests/benchmarks/bench_alerts.py [--warehouse FILE] [--work DIR] [--json FILE]
        [--quality-lookback-days N]

The warehouse (default: the published scale-10 demo, ``readlink -f /tmp/s10/data/warehouse.duckdb``) is
never written: it is copied to ``DIR/data/warehouse.duckdb`` (``MEDTOWER_DATA_DIR`` points there) and its
``alerts`` schema dropped, so the first evaluation finds no alert and plans every one. The second runs an
hour later on the same marts: every alert is unchanged, so no plan should be computed. Prints a markdown
table and writes JSON (default test-artifacts/bench-alerts.json). Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alerts.engine import evaluate, rules_dir  # noqa: E402
from alerts.rules import load_rules  # noqa: E402
from medtower.settings import load_settings  # noqa: E402

DEFAULT_WAREHOUSE = Path("/tmp/s10/data/warehouse.duckdb")


def plan_counts(con: duckdb.DuckDBPyConnection, run_id: str, plan_rules: set[str]) -> dict[str, int | None]:
    """Plans computed and kept in one evaluation, from its rows in ``alerts.evaluations``."""
    cols = {r[0] for r in con.execute("describe alerts.evaluations").fetchall()}
    if {"plans_computed", "plans_kept"} <= cols:
        computed, kept = con.execute(
            "select sum(plans_computed), sum(plans_kept) from alerts.evaluations where run_id = ?", [run_id]
        ).fetchone() or (0, 0)
        return {"plans_computed": int(computed or 0), "plans_kept": int(kept or 0)}
    # A MedTower before plan fingerprints planned every firing alert of a rule with a plan, every time.
    firing = con.execute(
        "select coalesce(sum(firing), 0) from alerts.evaluations where run_id = ? and rule_id in "
        "(select unnest(?))",
        [run_id, sorted(plan_rules)],
    ).fetchone()
    return {"plans_computed": int(firing[0]) if firing else 0, "plans_kept": None}


def _plans(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(con.execute("select alert_key, plan from alerts.alert_instances").fetchall())


def run_once(
    con: duckdb.DuckDBPyConnection, run_id: str, now: dt.datetime, quality_lookback: int | None
) -> dict:
    settings = load_settings()
    rules = load_rules(rules_dir(settings))
    if quality_lookback is not None:  # more failed inspections in the window: more quality alerts
        rules = [
            replace(r, params={**r.params, "lookback_days": quality_lookback})
            if r.id == "quality_exception"
            else r
            for r in rules
        ]
    began = time.perf_counter()
    result = evaluate(con, settings, run_id=run_id, now=now, rules=rules, deliver=False)
    seconds = time.perf_counter() - began
    plan_rules = {r.id for r in rules if r.plan}
    by_rule = {r["rule_id"]: round(r["duration_ms"] / 1000, 3) for r in result["rules"]}
    firing = sum(r["firing"] for r in result["rules"])
    return {
        "run_id": run_id,
        "seconds": round(seconds, 3),
        "firing": firing,
        **plan_counts(con, run_id, plan_rules),
        "plan_rule_seconds": {k: v for k, v in by_rule.items() if k in plan_rules},
        "summary": result["summary"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temp dir)")
    parser.add_argument("--json", type=Path, default=ROOT / "test-artifacts" / "bench-alerts.json")
    parser.add_argument(
        "--quality-lookback-days",
        type=int,
        default=None,
        help="widen quality_exception's window (its lookback_days) for an alert count a wider plant has",
    )
    parser.add_argument("--label", default="", help="a name for this run in the JSON (e.g. before/after)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    source = args.warehouse.resolve()
    if not source.is_file() and args.warehouse == DEFAULT_WAREHOUSE:  # make bench on a fresh machine
        from tests.benchmarks.bench_demo import build_demo

        print(f"no {DEFAULT_WAREHOUSE}: building the scale-10 demo under {work / 'demo'}", flush=True)
        build_demo(work / "demo", 10)
        source = (work / "demo" / "data" / "warehouse.duckdb").resolve()
    if not source.is_file():
        sys.exit(f"no warehouse at {args.warehouse}: build one (medtower run) or pass --warehouse FILE")
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    db = data / "warehouse.duckdb"
    shutil.copyfile(source, db)
    os.environ["MEDTOWER_DATA_DIR"] = str(data)
    with duckdb.connect(str(db)) as con:
        con.execute("drop schema if exists alerts cascade")
        as_of = con.execute("select max(as_of_date) from marts.fct_shortages").fetchone()
        now = dt.datetime.combine(as_of[0] if as_of and as_of[0] else dt.date.today(), dt.time(6))
        first = run_once(con, "bench-1", now, args.quality_lookback_days)
        plans = _plans(con)
        second = run_once(con, "bench-2", now + dt.timedelta(hours=1), args.quality_lookback_days)
        unchanged = plans == _plans(con)
    runs = {"first": first, "second": second}
    print(f"Alert evaluation on {source} ({source.stat().st_size / 1e6:,.0f} MB)\n")
    print("| evaluation | seconds | firing | plans computed | plans kept | plan rules (s) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in runs.items():
        kept = "n/a" if r["plans_kept"] is None else r["plans_kept"]
        rules = ", ".join(f"{k} {v}" for k, v in r["plan_rule_seconds"].items())
        print(f"| {name} | {r['seconds']} | {r['firing']} | {r['plans_computed']} | {kept} | {rules} |")
    out = {
        "label": args.label,
        "warehouse": str(source),
        "quality_lookback_days": args.quality_lookback_days,
        "alerts_with_plan": sum(1 for p in plans.values() if p is not None),
        "plans_identical_after_second": unchanged,
        **runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nEvery stored plan identical after the second evaluation: {unchanged}")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
