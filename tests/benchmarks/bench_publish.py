"""The work database and the publish: a cold `medtower run`, the same feed again, publish time, disk at rest.

    .venv/bin/python tests/benchmarks/bench_publish.py [--scales 1,10] [--feed SCALE=DIR ...] [--keep DIR]

Per scale: a demo feed (made here unless ``--feed 10=/tmp/s10/feed`` names one, which is only read), a new
data dir, `medtower run FEED --json` twice end to end (the CLI in a subprocess, wall time), then on the
same data dir one publish on its own and, for comparison, the copy of the work database every run made
before (the older layout's staged copy). Disk at rest: the work database and the published versions after
the second run. Prints a markdown table; writes test-artifacts/bench-publish.json. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from medtower.settings import Settings  # noqa: E402
from medtower.warehouse import published_versions, work_database, work_path  # noqa: E402

MEDTOWER = [sys.executable, "-m", "medtower"]
MB = 1024 * 1024


def medtower(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run([*MEDTOWER, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"medtower {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc


def run(env: dict[str, str], feed: Path) -> dict[str, Any]:
    seconds, proc = medtower(env, "run", str(feed), "--json")
    record = json.loads(proc.stdout)
    return {
        "seconds": round(seconds, 1),
        "steps": {s["step"]: [s["outcome"], round(s["seconds"], 1)] for s in record["steps"]},
        "publish": record.get("publish"),
    }


def bench_scale(scale: float, feed: Path | None, base: Path) -> dict[str, Any]:
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(base / "data"), "PYTHONPATH": str(ROOT)}
    if feed is None:
        feed = base / "feed"
        medtower(env, "demo", "--out", str(feed), "--scale", str(scale))
    cold = run(env, feed)
    again = run(env, feed)
    settings = Settings(data_dir=base / "data")
    work = work_path(settings)
    versions = published_versions(settings)
    at_rest = work.stat().st_size + sum(v.stat().st_size for v in versions)
    with work_database(settings) as session:
        publish = session.publish()
    started = time.perf_counter()
    copy = work.with_name("copy-as-before.duckdb")
    shutil.copyfile(work, copy)
    copy_seconds = time.perf_counter() - started
    copy.unlink()
    return {
        "scale": scale,
        "cold_run_seconds": cold["seconds"],
        "cold_steps": cold["steps"],
        "cold_publish_seconds": (cold["publish"] or {}).get("seconds"),
        "unchanged_run_seconds": again["seconds"],
        "unchanged_steps": again["steps"],
        "unchanged_publish": (again["publish"] or {}).get("outcome"),
        "publish_seconds": publish["seconds"],
        "published_mb": round(publish["bytes"] / MB, 1),
        "work_mb": round(work.stat().st_size / MB, 1),
        "versions_at_rest": len(versions),
        "disk_at_rest_mb": round(at_rest / MB, 1),
        "copy_of_work_seconds_before": round(copy_seconds, 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scale | cold run s | same feed again s | publish s | published MB | work MB | disk at rest MB "
        "(versions) | copy per run before s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scale']:g} | {r['cold_run_seconds']} | {r['unchanged_run_seconds']} "
            f"| {r['publish_seconds']} | {r['published_mb']} | {r['work_mb']} "
            f"| {r['disk_at_rest_mb']} ({r['versions_at_rest']}) "
            f"| {r['copy_of_work_seconds_before']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated demo scales (default 1,10)")
    parser.add_argument("--feed", action="append", default=[], help="SCALE=DIR: use this feed (only read)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data dirs under this folder")
    args = parser.parse_args()
    feeds = {float(k): Path(v) for k, v in (f.split("=", 1) for f in args.feed)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        root = args.keep or Path(tmp)
        for scale in (float(s) for s in args.scales.split(",")):
            base = root / f"scale-{scale:g}"
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir(parents=True)
            rows.append(bench_scale(scale, feeds.get(scale), base))
            print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "test-artifacts" / "bench-publish.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
