"""Incremental facts: dbt build after a small delta, incremental against --full-refresh of the same data.

    .venv/bin/python tests/benchmarks/bench_incremental.py [--scale 1] [--delta-share 0.01] [--keep DIR]

A demo feed is ingested and built; then a delta of new inventory movements (a share of the demo's, under
new ids) is ingested and built twice from the same warehouse copy: incrementally and with --full-refresh.
Prints the wall time of each build and the seconds dbt spent in the incremental facts (run_results.json).
Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ingest.load import ingest_folder
from medtower.settings import Settings

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
FACTS = ("fct_inventory_movements", "fct_inspections", "fct_lot_shipments", "fct_lot_genealogy_edges")


def dbt_build(db: Path, target: Path, *args: str) -> tuple[float, float]:
    """Wall seconds of `dbt build`, and dbt's own seconds in the incremental facts."""
    env = {**os.environ, "MEDTOWER_DBT_TARGET": "duckdb", "MEDTOWER_DBT_DUCKDB_PATH": str(db)}
    dbt = str(Path(sys.executable).with_name("dbt"))
    started = time.perf_counter()
    subprocess.run(
        [dbt, "build", *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
         "--target-path", str(target), "--log-path", str(target / "logs")],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    facts = sum(r["execution_time"] for r in results if r["unique_id"].split(".")[-1] in FACTS)
    return wall, facts


def write_delta(feed: Path, delta: Path, share: float) -> int:
    """A share of the demo's movements again, under new ids: rows a later delivery would add."""
    delta.mkdir(parents=True)
    with (feed / "inventory_movements.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    picked = rows[-max(1, int(len(rows) * share)) :]
    with (delta / "inventory_movements.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in picked:
            writer.writerow({**row, "movement_id": f"DELTA-{row['movement_id']}"})
    return len(picked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--delta-share", type=float, default=0.01)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=root / "data")
    feed = root / "feed"
    subprocess.run(
        [sys.executable, "-m", "medtower", "demo", "--out", str(feed), "--scale", str(args.scale)],
        check=True, capture_output=True, env={**os.environ, "MEDTOWER_DATA_DIR": str(root / "data")},
    )  # fmt: skip
    db = root / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        ingest_folder(con, feed, settings)
    first, first_facts = dbt_build(db, root / "target")
    unchanged, unchanged_facts = dbt_build(db, root / "target")
    n = write_delta(feed, root / "delta", args.delta_share)
    with duckdb.connect(str(db)) as con:
        ingest_folder(con, root / "delta", settings)
    full = root / "full.duckdb"
    shutil.copyfile(db, full)
    incremental, incremental_facts = dbt_build(db, root / "target")
    refresh, refresh_facts = dbt_build(full, root / "target-full", "--full-refresh")
    with duckdb.connect(str(db), read_only=True) as con:
        movements = con.execute("select count(*) from marts.fct_inventory_movements").fetchone()[0]
    print(f"scale {args.scale}: {movements:,} movements, delta {n:,} new movements")
    print("build                      wall s   incremental facts s")
    print(f"first (full)             {first:8.1f}   {first_facts:8.2f}")
    print(f"nothing changed          {unchanged:8.1f}   {unchanged_facts:8.2f}")
    print(f"delta, incremental       {incremental:8.1f}   {incremental_facts:8.2f}")
    print(f"delta, --full-refresh    {refresh:8.1f}   {refresh_facts:8.2f}")
    if args.keep is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
