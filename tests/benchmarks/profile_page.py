"""Where a page's click goes in the browser: a CPU profile of one interaction in real Chromium.

    .venv/bin/python tests/benchmarks/profile_page.py --data-dir /tmp/s10/data --page /inventory [--what site]

Serves an already built warehouse (``medtower demo`` + ``medtower run``, as bench_pages.py ``--data-dir``),
loads the page signed in, then records the browser's JavaScript CPU profile (Chrome DevTools Protocol,
``Profiler``) over one interaction (``site``: the site filter; ``period``: the period) until the page has
settled, and prints the click-to-settled time, each callback's server time, and the functions with the most
self time (with their script), summed by function and by script. Only 127.0.0.1 is reached; every wait is
bounded. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_pages import PROBE_JS, Bench, page_paths, site_ids  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.served_app import run_app  # noqa: E402
from tests.signin import add_user, sign_in  # noqa: E402


def self_times(profile: dict[str, Any]) -> tuple[dict[tuple[str, str], float], float]:
    """Self time (ms) per (function, script) from a CDP Profiler profile, and the profile's span (ms)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    out: dict[tuple[str, str], float] = collections.defaultdict(float)
    for node_id, delta in zip(samples, [*deltas[1:], 0], strict=True):
        frame = nodes[node_id]["callFrame"]
        script = frame.get("url", "").rsplit("/", 1)[-1].split("?")[0] or "-"
        out[(frame.get("functionName") or "(anonymous)", script)] += delta / 1000
    return out, (profile["endTime"] - profile["startTime"]) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--feed", type=Path, help="the demo feed with _demo_manifest.json (default DATA_DIR/../feed)"
    )
    parser.add_argument("--page", required=True, help="a page's path, e.g. /inventory")
    parser.add_argument("--what", choices=("site", "period"), default="site")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--out", type=Path, help="write the raw profile (.cpuprofile, opens in DevTools)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    feed = args.feed or args.data_dir.parent / "feed"
    manifest = json.loads((feed / "_demo_manifest.json").read_text())
    paths = [p for _n, p in page_paths(manifest, manifest["as_of"]) if p.split("?")[0] == args.page]
    if not paths:
        parser.error(f"--page {args.page}: no such page in dash.page_registry")
    sites = site_ids(args.data_dir / "warehouse.duckdb")
    add_user(args.data_dir)
    log = ROOT / "test-artifacts" / "profile-page-app.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with run_app(args.data_dir, log, MEDTOWER_HOST="127.0.0.1") as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())
        context.add_init_script(PROBE_JS)
        page = context.new_page()
        sign_in(page, app.url)
        bench = Bench(page, app.url, args.timeout * 1000)
        bench.load("page", paths[0])
        cdp = context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        if args.what == "site":
            bench.choose("page", "click", "#f-site", sites[1 % len(sites)])
        else:
            bench.choose("page", "click", "#f-period", "7 days")
        profile = cdp.send("Profiler.stop")["profile"]
        browser.close()
    if args.out:
        args.out.write_text(json.dumps(profile))
    times, span = self_times(profile)
    print(f"{args.page} {args.what}: click to settled {bench.interactions['page']['click'][0]:,.0f} ms")
    for cb, rec in bench.callbacks.get("page", {}).items():
        print(f"  callback {cb}: server {rec['server'][0]:,.0f} ms, render {rec['render'][0]:,.0f} ms")
    idle = sum(v for (fn, _s), v in times.items() if fn in ("(idle)", "(program)", "(garbage collector)"))
    print(f"profile {span:,.0f} ms: {span - idle:,.0f} ms running JavaScript; idle/program/GC {idle:,.0f} ms")
    by_script: dict[str, float] = collections.defaultdict(float)
    for (_fn, script), v in times.items():
        by_script[script] += v
    print("by script:")
    for script, v in sorted(by_script.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {v:8,.0f} ms  {script}")
    print("by function (self time):")
    for (fn, script), v in sorted(times.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {v:8,.0f} ms  {fn[:50]:<50} {script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
