"""Every page's callbacks on the scale-10 demo in real Chromium: does a click answer within 500 ms?

    .venv/bin/python tests/benchmarks/bench_pages.py [--scale 10] [--reps 5] [--keep DIR] [--pages /alerts]
    .venv/bin/python tests/benchmarks/bench_pages.py --data-dir /tmp/bench10/data --feed /tmp/bench10/feed

Generates the demo (``medtower demo`` + ``medtower run``, bench_demo.build_demo), serves it with ``app.py`` on
127.0.0.1 and, for every page in ``dash.page_registry`` (drill-downs with the manifest's real ids), drives
Chromium through the page's interactions: load, change the site filter, change the period, open each tab of a
drill-down, open a row (a drill link; on Alerts, an alert and its plan). For each Dash callback it records the
server time (the browser's Resource Timing: response start - request start of ``/_dash-update-component``) and
the browser's render after the response (response parsed -> main thread idle again); for each interaction, the
time from the click (pointer down) to the page settled (no callback in flight, no DOM change for 300 ms).

Prints page / what / n / p50 / p95 and writes test-artifacts/bench-pages.json. Every wait is bounded
(``--timeout`` per interaction, ``--max-minutes`` in all); only 127.0.0.1 is reached. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alerts.plans.common import percentile  # noqa: E402
from tests.benchmarks.bench_demo import build_demo  # noqa: E402
from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.served_app import run_app  # noqa: E402
from tests.signin import add_user, sign_in  # noqa: E402

BUDGET_MS = 500
QUIET_MS = 300
OUT = ROOT / "test-artifacts" / "bench-pages.json"

# Installed before the app's scripts: wraps fetch to time each Dash callback in the page, watches the DOM.
PROBE_JS = """
(() => {
  const b = (window.__bench = {calls: [], inflight: 0, lastMutation: 0, lastInput: 0});
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  const origFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    if (!url.includes("_dash-update-component")) return origFetch(input, init);
    let output = "";
    try { output = JSON.parse(init.body).output; } catch (e) {}
    const rec = {output, start: performance.now(), headers: null, body: null, idle: null, status: null};
    b.calls.push(rec);
    b.inflight++;
    const done = () => {
      rec.body = performance.now();
      b.inflight--;
      const idle = () => { rec.idle = performance.now(); };
      setTimeout(() => requestAnimationFrame(() => setTimeout(idle, 0)), 0);
    };
    let res;
    try { res = await origFetch(input, init); } catch (e) { rec.status = -1; done(); throw e; }
    rec.headers = performance.now();
    rec.status = res.status;
    if (res.status !== 200) { done(); return res; }
    const json = res.json.bind(res);
    res.json = () => json().then((d) => { done(); return d; }, (e) => { done(); throw e; });
    return res;
  };
  // AG Grid's overlay scrollbars (headless Chromium has no classic ones) drop a class ~0.5 s after a
  // scroll: a fade nobody waits for, so it does not count as the page still changing.
  const fade = (m) => m.type === "attributes" && m.attributeName === "class" && m.target.classList
    && (m.target.classList.contains("ag-body-horizontal-scroll")
        || m.target.classList.contains("ag-body-vertical-scroll"));
  new MutationObserver((ms) => {
    if (ms.some((m) => !fade(m))) b.lastMutation = performance.now();
  }).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  addEventListener("pointerdown", () => { b.lastInput = performance.now(); }, true);
})();
"""

# Settled: every callback started since the mark answered and rendered, nothing loading, the DOM quiet.
SETTLED_JS = """
([mark, quiet]) => {
  const b = window.__bench;
  if (!b || !document.querySelector("#data-as-of-date")) return false;
  const now = performance.now();
  const calls = b.calls.filter((c) => c.start >= mark);
  return b.inflight === 0 && calls.every((c) => c.idle !== null)
    && !document.body.innerText.includes("Loading…")
    && now - Math.max(b.lastMutation, mark) > quiet;
}
"""

# The callbacks since the mark with the server time from Resource Timing (zipped in start order).
CALLS_JS = """
(mark) => {
  const b = window.__bench;
  const calls = b.calls.filter((c) => c.start >= mark);
  const entries = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("_dash-update-component") && e.startTime >= mark - 1)
    .sort((x, y) => x.startTime - y.startTime);
  return {
    calls: calls.map((c, i) => ({
      output: c.output, status: c.status,
      server: entries[i] ? entries[i].responseStart - entries[i].requestStart : c.headers - c.start,
      render: c.idle - c.body,
      end: c.idle,
    })),
    lastInput: b.lastInput,
    lastMutation: b.lastMutation,
    nodes: document.getElementsByTagName("*").length,
  };
}
"""


def callback_name(output: str) -> str:
    """A short name for a callback from its output spec: ``alerts-list+2``, ``{alerts-rows}.children``."""
    outs = output.strip(".").split("...") if output.startswith("..") else [output]
    first = outs[0]
    match = re.match(r"^(\{.*\})\.(\w+)$", first)
    if match:  # pattern-matching id: name it by its type
        with contextlib.suppress(ValueError):
            first = "{" + str(json.loads(match.group(1)).get("type")) + "}." + match.group(2)
    return first + (f"+{len(outs) - 1}" if len(outs) > 1 else "")


def page_paths(manifest: dict[str, Any], as_of: str) -> list[tuple[str, str]]:
    """(name, URL path) of every page in dash.page_registry; drill-downs with the demo's planted ids."""
    import dash

    from dashboards.app import create_app
    from medtower.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        create_app(Settings(data_dir=Path(tmp)))
    planted = manifest["planted"]
    ids = {
        "material_id": planted["shortage"]["material_id"],
        "lot_id": planted["quality_escape"]["failed_lot_id"],
        "wo_id": planted["shortage"]["planted_work_orders"][0],
        "customer_id": planted["quality_escape"]["customer_ids"][0],
        "supplier_id": planted["late_supplier"]["supplier_id"],
    }
    extra = {"/traceability": f"&q={planted['quality_escape']['failed_lot_id']}"}
    out = []
    for page in dash.page_registry.values():
        path = page["path"]
        template = page.get("path_template")
        if template:
            keys = re.findall(r"<(\w+)>", template)
            missing = [k for k in keys if k not in ids]
            if missing:
                raise SystemExit(f"bench_pages: no demo id for {template} ({missing}): add it to page_paths")
            path = template
            for k in keys:
                path = path.replace(f"<{k}>", ids[k])
        out.append((page["name"], f"{path}?as_of={as_of}{extra.get(page['path'], '')}"))
    return out


def site_ids(db: Path) -> list[str]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return [str(r[0]) for r in con.execute("select site_id from marts.dim_sites order by 1").fetchall()]
    finally:
        con.close()


class Bench:
    def __init__(self, page: Any, url: str, timeout_ms: float) -> None:
        self.page, self.url, self.timeout_ms = page, url, timeout_ms
        self.interactions: dict[str, dict[str, list[float]]] = {}
        self.callbacks: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.dom_nodes: dict[str, dict[str, int]] = {}
        self.errors: list[str] = []

    def _mark(self) -> float:
        return float(self.page.evaluate("performance.now()"))

    def _settle(self, name: str, what: str, mark: float, from_input: bool) -> None:
        timed_out = False
        try:
            self.page.wait_for_function(SETTLED_JS, arg=[mark, QUIET_MS], timeout=self.timeout_ms, polling=50)
        except Exception:
            timed_out = True
        got = self.page.evaluate(CALLS_JS, mark)
        start = got["lastInput"] if from_input and got["lastInput"] >= mark else mark
        ends = [c["end"] for c in got["calls"] if c["end"] is not None]
        settled = max([got["lastMutation"], *ends]) if timed_out is False else mark + self.timeout_ms
        self.interactions.setdefault(name, {}).setdefault(what, []).append(max(settled - start, 0.0))
        nodes = self.dom_nodes.setdefault(name, {})
        nodes[what] = max(nodes.get(what, 0), int(got["nodes"]))
        if timed_out:
            self.errors.append(f"{name} {what}: not settled within {self.timeout_ms / 1000:.0f}s")
        for c in got["calls"]:
            if c["status"] not in (200, 204):
                self.errors.append(f"{name} {what}: callback {c['output']} answered {c['status']}")
            rec = self.callbacks.setdefault(name, {}).setdefault(
                callback_name(c["output"]), {"server": [], "render": []}
            )
            rec["server"].append(float(c["server"]))
            if c["end"] is not None:
                rec["render"].append(float(c["render"]))

    def load(self, name: str, path: str) -> None:
        self.page.goto(self.url + path)
        self._settle(name, "load", 0.0, from_input=False)

    def choose(self, name: str, what: str, control: str, option: str) -> bool:
        """Pick ``option`` in the dropdown ``control`` as a person does: open it, click the option."""
        mark = self._mark()
        self.page.click(control)
        options = self.page.locator(".dash-dropdown-option").filter(has_text=option)
        if options.count() == 0:
            self.page.keyboard.press("Escape")
            return False
        options.first.click()
        self._settle(name, what, mark, from_input=True)
        return True

    def click(self, name: str, what: str, selector: str) -> bool:
        target = self.page.locator(selector)
        if target.count() == 0:
            return False
        mark = self._mark()
        target.first.click()
        self._settle(name, what, mark, from_input=True)
        return True

    def tabs(self, name: str) -> None:
        """A drill-down's tabs (drilldown.tabbed): open each of the others, then the first; then the second
        once more ("again": what it loaded the first time, a chart's script, is loaded) and the first."""
        tabs = self.page.locator(".drill-tab")
        labels = [tabs.nth(i).inner_text() for i in range(tabs.count())]
        if len(labels) < 2:
            return
        # By place, not by text: one label may be part of another ("Orders", "Open orders").
        for i, what in [
            *((i, labels[i]) for i in [*range(1, len(labels)), 0]),
            (1, f"{labels[1]}, again"),
            (0, labels[0]),
        ]:
            mark = self._mark()
            tabs.nth(i).click()
            self._settle(name, f"tab {what}", mark, from_input=True)


def _is_path(url_path: str, path: str) -> bool:
    """``/material`` names /material/<id>?...; ``/`` names the overview only."""
    base = url_path.split("?")[0]
    return base == path or (path != "/" and base.startswith(path.rstrip("/") + "/"))


def run_pages(args: argparse.Namespace, url: str, manifest: dict[str, Any], env_data: str) -> Bench:
    from playwright.sync_api import sync_playwright

    pages = page_paths(manifest, manifest["as_of"])
    if args.pages:
        pages = [(n, p) for n, p in pages if any(_is_path(p, x) for x in args.pages)]
    if args.skip:
        pages = [(n, p) for n, p in pages if not any(_is_path(p, x) for x in args.skip)]
    deadline = time.monotonic() + args.max_minutes * 60
    sites = site_ids(Path(env_data) / "warehouse.duckdb")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        # Only the app on 127.0.0.1: anything else is refused.
        context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())
        context.add_init_script(PROBE_JS)
        page = context.new_page()
        sign_in(page, url)  # the bench's own admin (main() adds it to the served data folder)
        page.set_default_timeout(args.timeout * 1000)
        bench = Bench(page, url, args.timeout * 1000)
        page.on("console", lambda m: bench.errors.append(m.text) if m.type == "error" else None)
        for name, path in pages:
            for rep in range(args.reps):
                if time.monotonic() > deadline:
                    bench.errors.append(f"stopped at {name}: --max-minutes {args.max_minutes} reached")
                    break
                bench.load(name, path)
                bench.choose(name, "site filter", "#f-site", sites[rep % len(sites)])
                bench.choose(name, "period", "#f-period", f"{(90, 7)[rep % 2]} days")
                bench.load(name, path)
                if path.startswith("/alerts"):
                    picks = page.locator(".alert-pick")
                    if picks.count() > rep % 2:
                        mark = bench._mark()
                        picks.nth(rep % 2).click()
                        bench._settle(name, "open an alert", mark, from_input=True)
                    bench.click(name, "show a plan table", ".plan-rows-button")
                else:
                    bench.tabs(name)
                    bench.click(name, "open a row", ".content .drill-link")
            print(f"  {name}: done", file=sys.stderr)
        browser.close()
    return bench


def summary(bench: Bench) -> dict[str, Any]:
    def stats(xs: list[float]) -> dict[str, Any]:
        return {
            "n": len(xs),
            "p50_ms": round(percentile(xs, 0.5) or 0.0, 1),
            "p95_ms": round(percentile(xs, 0.95) or 0.0, 1),
            "samples_ms": [round(x, 1) for x in xs],
        }

    pages = []
    for name in bench.interactions.keys() | bench.callbacks.keys():
        pages.append(
            {
                "page": name,
                "interactions": {
                    w: {**stats(xs), "dom_nodes": bench.dom_nodes.get(name, {}).get(w)}
                    for w, xs in bench.interactions.get(name, {}).items()
                },
                "callbacks": {
                    cb: {"server": stats(v["server"]), "render": stats(v["render"])}
                    for cb, v in bench.callbacks.get(name, {}).items()
                },
            }
        )
    pages.sort(key=lambda p: p["page"])
    over = [
        f"{p['page']} {w}: p95 {s['p95_ms']:,.0f} ms"
        for p in pages
        for w, s in p["interactions"].items()
        if w != "load" and s["p95_ms"] > BUDGET_MS
    ]
    return {"budget_ms": BUDGET_MS, "pages": pages, "over_budget": over, "errors": bench.errors}


def print_table(result: dict[str, Any]) -> None:
    head = f"{'page':<14} {'what':<44} {'n':>3} {'p50 ms':>8} {'p95 ms':>8}"
    print(head + f" {'render p50':>10} {'render p95':>10}")
    for p in result["pages"]:
        for what, s in p["interactions"].items():
            print(
                f"{p['page']:<14} {'click to settled: ' + what:<44} {s['n']:>3} {s['p50_ms']:>8,.0f} "
                f"{s['p95_ms']:>8,.0f} {'':>10} {'':>10} {s['dom_nodes'] or 0:>9,} DOM nodes"
            )
        for cb, s in sorted(p["callbacks"].items()):
            server, render = s["server"], s["render"]
            print(
                f"{p['page']:<14} {'  ' + cb[:42]:<44} {server['n']:>3} {server['p50_ms']:>8,.0f} "
                f"{server['p95_ms']:>8,.0f} {render['p50_ms']:>10,.0f} {render['p95_ms']:>10,.0f}"
            )
    print(f"over {result['budget_ms']} ms p95 (clicks): {', '.join(result['over_budget']) or 'none'}")
    for e in result["errors"][:20]:
        print(f"error: {e}")


def prepare(keep: Path | None, scale: float) -> tuple[Path, dict[str, str], Path]:
    """The work dir, the app's environment and the manifest: reuse ``keep`` when built, else build there."""
    work = keep or Path(tempfile.mkdtemp(prefix="bench_pages_"))
    work.mkdir(parents=True, exist_ok=True)
    if (work / "data" / "warehouse.duckdb").exists() and (work / "feed" / "_demo_manifest.json").exists():
        env = {**os.environ, "MEDTOWER_DATA_DIR": str(work / "data")}
        print(f"reusing the demo built in {work}", file=sys.stderr)
    else:
        print(f"building the scale-{scale:g} demo in {work} ...", file=sys.stderr)
        env = build_demo(work, scale)
    return work, env, work / "feed" / "_demo_manifest.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=5, help="rounds of interactions per page (default 5)")
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it; an already built DIR is reused")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="serve this already built MEDTOWER_DATA_DIR (warehouse.duckdb) instead of building a demo",
    )
    parser.add_argument(
        "--feed",
        type=Path,
        help="with --data-dir: the demo feed holding _demo_manifest.json (default: DATA_DIR/../feed)",
    )
    parser.add_argument("--pages", nargs="*", help="only these paths (e.g. /alerts /lot)")
    parser.add_argument("--skip", nargs="*", help="all pages but these paths (e.g. /delivery)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds an interaction may take")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="stop driving pages after this")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not 1 <= args.reps <= 50:
        parser.error(f"--reps must be 1 to 50, got {args.reps}")
    started = time.perf_counter()
    if args.data_dir:
        feed = args.feed or args.data_dir.parent / "feed"
        for need in (args.data_dir / "warehouse.duckdb", feed / "_demo_manifest.json"):
            if not need.exists():
                parser.error(f"--data-dir/--feed: {need} does not exist (build it with medtower demo + run)")
        env = {**os.environ, "MEDTOWER_DATA_DIR": str(args.data_dir)}
        manifest_path = feed / "_demo_manifest.json"
        print(f"reusing the warehouse in {args.data_dir}", file=sys.stderr)
    else:
        _work, env, manifest_path = prepare(args.keep, args.scale)
    manifest = json.loads(manifest_path.read_text())
    build_s = time.perf_counter() - started
    add_user(Path(env["MEDTOWER_DATA_DIR"]))  # signed in as this admin (tests/signin.py)
    # The app's log goes next to the output, not into --data-dir: a served warehouse is read-only.
    log_path = args.out.parent / "bench-pages-app.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    data = Path(env["MEDTOWER_DATA_DIR"])
    with run_app(data, log_path, base_env=env, MEDTOWER_HOST="127.0.0.1") as app:
        bench = run_pages(args, app.url, manifest, env["MEDTOWER_DATA_DIR"])
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scale": manifest.get("scale"),
        "as_of": manifest["as_of"],
        "reps": args.reps,
        "build_seconds": round(build_s, 1),
        **summary(bench),
    }
    print(f"pages benchmark, scale {manifest.get('scale')}, {args.reps} rounds, {result['when']}")
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
