"""Time the demo generator: rows per second and peak RSS at scale 1 and 10 (and 100 with --full).

A plain script, not collected by pytest:  .venv/bin/python tests/benchmarks/bench_demo.py [--full]
Each scale runs in a fresh subprocess so peak RSS belongs to that scale alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from ingest.demo import generate
out, scale = Path(sys.argv[1]), float(sys.argv[2])
started = time.perf_counter()
manifest = generate(out, seed=7, scale=scale, as_of=dt.date(2026, 6, 30))
seconds = time.perf_counter() - started
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": manifest["rows"], "peak_rss_mb": rss_mb}))
"""


def build_demo(base: Path, scale: float, timeout: float = 3600) -> dict[str, str]:
    """``medtower demo --scale S`` into base/feed and ``medtower run`` on it into base/data, as a user would.

    Returns the environment that points MEDTOWER_DATA_DIR at base/data (the published warehouse).
    """
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(base / "data")}
    exe = str(Path(sys.executable).with_name("medtower"))
    for args in (["demo", "--out", str(base / "feed"), "--scale", f"{scale:g}"], ["run", str(base / "feed")]):
        proc = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = proc.stderr[-4000:]
            raise RuntimeError(f"medtower {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return env


def run(scale: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench_demo_{scale}_") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, str(scale)],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["bytes"] = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also run scale 100 (~10M movements)")
    parser.add_argument("--scales", type=float, nargs="*", default=None)
    args = parser.parse_args()
    scales = args.scales or ([1.0, 10.0, 100.0] if args.full else [1.0, 10.0])
    print(f"demo generator benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}")
    head = ("scale", 7), ("seconds", 9), ("rows", 12), ("movements", 12), ("rows/s", 10), ("peak RSS MB", 12)
    print(" ".join(f"{name:>{width}}" for name, width in head) + f" {'MB out':>8}")
    for scale in scales:
        r = run(scale)
        total = sum(r["rows"].values())
        print(
            f"{scale:>7g} {r['seconds']:>9.1f} {total:>12,} {r['rows']['inventory_movements']:>12,} "
            f"{total / r['seconds']:>10,.0f} {r['peak_rss_mb']:>12,.0f} {r['bytes'] / 1e6:>8,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
