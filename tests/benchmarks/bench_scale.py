"""Issue 10's figures per scale: cold run, the same feed again, 1 % delta, event to email, pages, trace, disk.

    .venv/bin/python tests/benchmarks/bench_scale.py [--scale 10] [--keep DIR] [--no-pages] [--no-postgres]

`make bench` runs scales 1 and 10 (``BENCH_SCALE=100`` runs 100). Each scale's figures are kept in
``test-artifacts/bench-scale.json`` (keyed by scale, so a scale-100 run adds its row to the earlier ones) and
the whole table is written to ``docs/benchmarks.md`` between the ``bench-scale`` markers. What is measured,
as a user would see it (every command a real subprocess, every wait bounded, only 127.0.0.1 reached):

- demo: ``medtower demo --scale S``, wall seconds and peak resident memory of the process;
- cold run: ``medtower run FEED`` on an empty data dir: wall, peak resident memory of the process tree (the
  pipeline and its dbt child, sampled from /proc every 0.2 s), and the run record's seconds per step;
- again: the same command on the same feed, nothing changed;
- delta: 1 % new inventory movements and inspections and 1 % changed inspections (another inspector), in
  their own drop folder, then ``medtower run DELTA``;
- event to email: ``medtower schedule`` watching the drop folder (``MEDTOWER_WATCH_SECONDS=2``) with a real
  SMTP server on 127.0.0.1; a failed incoming inspection is appended to ``inspections.csv`` and the clock
  stops when the quality alert's email for that lot arrives;
- pages: ``bench_pages.py`` on the built data dir (one round), the worst page-body callback's server p95;
- trace: ``medtower.trace.trace`` in-process on 50 lots, forward, p50 / p95;
- disk at rest: the data dir (without spill and logs) against the feed as delivered and the work database;
- scale 1 only: the dbt build on DuckDB and on PostgreSQL (``MEDTOWER_PG_*``, ``.ci/postgres.sh``) side by
  side.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alerts.plans.common import percentile  # noqa: E402

OUT = ROOT / "test-artifacts" / "bench-scale.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench-scale:begin -->", "<!-- bench-scale:end -->"
EXE = str(Path(sys.executable).with_name("medtower"))

# Issue 10's targets at scale 100 (and the goals), for the table.
TARGETS = {
    "cold_s": (300, 90),
    "cold_rss_mb": (4096, None),
    "again_s": (10, 5),
    "delta_s": (60, 30),
    "event_to_email_s": (60, None),
    "pages_p95_ms": (300, 250),
    "trace_p95_ms": (100, 50),
    "disk_ratio": (1.5, None),
}


# --- measuring a command ----------------------------------------------------------------------------


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (kB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def timed(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a command; wall seconds, peak resident memory of its process tree (MB), exit code, output tail."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        if time.perf_counter() - started > timeout:
            proc.kill()
            raise TimeoutError(f"{' '.join(args)} took more than {timeout:.0f} s")
        time.sleep(0.2)
    reader.join(timeout=10)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{''.join(out)[-4000:]}")
    return {"seconds": round(wall, 1), "peak_rss_mb": round(peak / 1024), "tail": "".join(out)[-2000:]}


def last_run(data: Path) -> dict[str, Any]:
    """The last finished run record of the data dir's pipeline log."""
    lines = (data / "logs" / "pipeline-runs.jsonl").read_text(encoding="utf-8").splitlines()
    for line in reversed(lines):
        record = json.loads(line)
        if record.get("ended_at") and "steps" in record:
            return record
    raise LookupError("no finished run on record")


def step_seconds(record: dict[str, Any]) -> dict[str, float]:
    return {s["step"]: round(s["seconds"], 1) for s in record.get("steps", [])}


def run(drop: Path, data: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """``medtower run DROP``: wall seconds, peak resident memory and the run record's seconds per step."""
    result = timed([EXE, "run", str(drop)], env, timeout)
    return {k: result[k] for k in ("seconds", "peak_rss_mb")} | {"steps": step_seconds(last_run(data))}


def dir_bytes(path: Path, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for p in path.rglob("*"):
        if any(part in skip for part in p.relative_to(path).parts):
            continue
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


# --- the delta and the event ------------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_delta(feed: Path, delta: Path, share: float = 0.01) -> dict[str, int]:
    """1 % new movements and inspections (new ids) and 1 % changed inspections (another inspector)."""
    delta.mkdir(parents=True, exist_ok=True)
    header, moves = _rows(feed / "inventory_movements.csv")
    picked = moves[-max(1, int(len(moves) * share)) :]
    _write(
        delta / "inventory_movements.csv",
        header,
        [{**r, "movement_id": f"D-{r['movement_id']}"} for r in picked],
    )
    header, inspections = _rows(feed / "inspections.csv")
    n = max(1, int(len(inspections) * share))
    new = [{**r, "inspection_id": f"D-{r['inspection_id']}"} for r in inspections[-n:]]
    changed = [{**r, "inspector": "bench.delta"} for r in inspections[:n]]
    _write(delta / "inspections.csv", header, new + changed)
    return {"movements_new": len(picked), "inspections_new": n, "inspections_changed": n}


def failed_inspection(feed: Path, as_of: dt.date) -> tuple[str, dict[str, str]]:
    """A failed incoming inspection of a component lot that passed, completed the day before the as-of."""
    _, rows = _rows(feed / "inspections.csv")
    _, lots = _rows(feed / "lots.csv")
    _, materials = _rows(feed / "materials.csv")
    finished = {
        m["material_id"] for m in materials if m.get("material_type", "").lower() in ("finished_good", "fg")
    }
    failed = {r["lot_id"] for r in rows if r["result"] != "pass"}
    known = {lot["lot_id"] for lot in lots}
    for r in reversed(rows):
        if (
            r["inspection_type"] == "incoming"
            and r["result"] == "pass"
            and r["lot_id"] in known
            and r["lot_id"] not in failed
            and r["material_id"] not in finished
        ):
            day = as_of - dt.timedelta(days=1)
            return r["lot_id"], {
                **r,
                "inspection_id": "INS-BENCH-EVENT",
                "started_at": f"{day}T08:00:00",
                "completed_at": f"{day}T09:00:00",
                "defects_found": "5",
                "result": "fail",
                "inspector": "bench.event",
            }
    raise LookupError("no passed incoming inspection of a component lot in the feed")


def event_to_email(
    feed: Path, data: Path, env: dict[str, str], as_of: dt.date, timeout: float
) -> dict[str, Any]:
    """`medtower schedule` watching the drop folder; a failed inspection lands; seconds until its email."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[float, str]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((time.perf_counter(), envelope.content.decode("utf-8", "replace")))
            return "250 OK"

    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    sched_env = {
        **env,
        "MEDTOWER_DROP_DIR": str(feed),
        "MEDTOWER_WATCH_SECONDS": "2",
        "MEDTOWER_SCHEDULE_EVERY_MINUTES": "600",
        "MEDTOWER_SMTP_HOST": "127.0.0.1",
        "MEDTOWER_SMTP_PORT": str(port),
        "MEDTOWER_QA_EMAILS": "qa@plant.test",
        "MEDTOWER_PLANNER_EMAILS": "planner@plant.test",
        "MEDTOWER_MANAGEMENT_EMAILS": "manager@plant.test",
    }
    log = open(data.parent / "schedule.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([EXE, "schedule"], env=sched_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        runs_before = len((data / "logs" / "pipeline-runs.jsonl").read_text().splitlines())
        deadline = time.perf_counter() + timeout
        # The scheduler's first run (on the unchanged feed) sends what waited for a recipient; let it end.
        while time.perf_counter() < deadline:
            lines = (data / "logs" / "pipeline-runs.jsonl").read_text().splitlines()[runs_before:]
            if any('"ended_at"' in line for line in lines):
                break
            time.sleep(0.5)
        time.sleep(3)
        inbox.messages.clear()
        lot, row = failed_inspection(feed, as_of)
        header, _ = _rows(feed / "inspections.csv")
        landed = time.perf_counter()
        with (feed / "inspections.csv").open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=header, lineterminator="\n").writerow(row)
        while time.perf_counter() < deadline:
            for at, text in list(inbox.messages):
                if lot in text:
                    return {"seconds": round(at - landed, 1), "lot": lot, "mails": len(inbox.messages)}
            time.sleep(0.2)
        raise TimeoutError(
            f"no email about {lot} within {timeout:.0f} s (see {data.parent / 'schedule.log'})"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        controller.stop()


# --- reading the built warehouse ------------------------------------------------------------------


def trace_times(data: Path, n: int = 50) -> dict[str, Any]:
    from medtower.settings import Settings
    from medtower.trace import trace
    from medtower.warehouse import connect_readonly

    with connect_readonly(Settings(data_dir=data)) as con:
        sql = "select lot_id from marts.dim_lots order by hash(lot_id) limit ?"
        lots = [r[0] for r in con.execute(sql, [n]).fetchall()]
        times = []
        for lot in lots:
            started = time.perf_counter()
            trace(con, lot, "forward")
            times.append((time.perf_counter() - started) * 1000)
    return {
        "n": len(times),
        "p50_ms": round(percentile(times, 0.5) or 0, 1),
        "p95_ms": round(percentile(times, 0.95) or 0, 1),
    }


def pages(base: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    out = base / "bench-pages.json"
    script = ROOT / "tests" / "benchmarks" / "bench_pages.py"
    args = [sys.executable, str(script), "--data-dir", str(base / "data"), "--feed", str(base / "feed")]
    timed([*args, "--reps", "1", "--out", str(out)], env, timeout)
    result = json.loads(out.read_text())
    worst: dict[str, float] = {}
    for page in result["pages"]:
        servers = [cb["server"]["p95_ms"] for cb in page["callbacks"].values() if cb["server"]["n"]]
        if servers:
            worst[page["page"]] = max(servers)
    top = max(worst, key=worst.__getitem__) if worst else None
    return {"worst_page": top, "p95_ms": worst.get(top or "", 0.0), "per_page_p95_ms": worst}


def postgres_build(base: Path, env: dict[str, str], timeout: float) -> dict[str, Any] | None:
    """dbt build on PostgreSQL of the same raw tables (copied as the portability test does), wall seconds."""
    if not any(k.startswith("MEDTOWER_PG_") for k in env):
        return None
    import duckdb

    from medtower.settings import Settings
    from medtower.warehouse import work_path
    from tests.dbt.test_postgres_portability import _copy_raw
    from tests.pg import pg_connect

    pg = pg_connect(env)
    source = work_path(Settings(data_dir=base / "data"))  # the writer's database, where raw is kept
    started = time.perf_counter()
    with duckdb.connect(str(source), read_only=True) as duck:
        _copy_raw(duck, pg)
    copied = time.perf_counter() - started
    pg.close()
    dbt = str(Path(sys.executable).with_name("dbt"))
    project = str(ROOT / "dbt_project")
    args = [dbt, "build", "--project-dir", project, "--profiles-dir", project]
    args += ["--target-path", str(base / "target-pg"), "--log-path", str(base / "target-pg")]
    result = timed(args, {**env, "MEDTOWER_DBT_TARGET": "postgres"}, timeout)
    return {"copy_raw_s": round(copied, 1), "build_s": result["seconds"]}


# --- one scale --------------------------------------------------------------------------------------


def bench(
    scale: float, base: Path, *, with_pages: bool, with_postgres: bool, timeout: float
) -> dict[str, Any]:
    feed, data = base / "feed", base / "data"
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(data)}
    for key in ("MEDTOWER_DROP_DIR", "MEDTOWER_SOURCES", "MEDTOWER_QA_EMAILS", "MEDTOWER_PLANNER_EMAILS"):
        env.pop(key, None)
    row: dict[str, Any] = {
        "scale": scale,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    demo = timed([EXE, "demo", "--out", str(feed), "--scale", f"{scale:g}"], env, timeout)
    manifest = json.loads((feed / "_demo_manifest.json").read_text())
    as_of = dt.date.fromisoformat(str(manifest.get("as_of")))
    row["demo"] = {k: demo[k] for k in ("seconds", "peak_rss_mb")}
    row["feed_mb"] = round(dir_bytes(feed) / 2**20, 1)
    row["movements"] = sum(1 for _ in (feed / "inventory_movements.csv").open()) - 1
    print(f"scale {scale:g}: demo {demo['seconds']} s, {row['movements']:,} movements", flush=True)

    row["cold"] = run(feed, data, env, timeout)
    print(f"  cold run {row['cold']}", flush=True)
    row["again"] = run(feed, data, env, timeout)
    print(f"  same feed again {row['again']}", flush=True)
    row["disk"] = {
        "data_dir_mb": round(dir_bytes(data, skip=("tmp", "logs", "dbt")) / 2**20, 1),
        "work_db_mb": round(dir_bytes(data / "work") / 2**20, 1) if (data / "work").is_dir() else None,
        "published_mb": round((data / "warehouse.duckdb").resolve().stat().st_size / 2**20, 1),
    }
    row["disk"]["ratio_to_feed"] = round(row["disk"]["data_dir_mb"] / row["feed_mb"], 2)
    one_copy = row["disk"]["work_db_mb"] or row["disk"]["published_mb"]
    row["disk"]["ratio_to_one_copy"] = round(row["disk"]["data_dir_mb"] / one_copy, 2)
    row["trace"] = trace_times(data)
    print(f"  trace {row['trace']}, disk {row['disk']}", flush=True)
    if with_postgres and scale == 1:
        row["postgres"] = postgres_build(base, env, timeout)
        row["duckdb_build_s"] = row["cold"]["steps"].get("build")
        print(f"  PostgreSQL {row['postgres']} vs DuckDB build {row['duckdb_build_s']} s", flush=True)
    if with_pages:
        row["pages"] = pages(base, env, timeout)
        print(
            f"  pages worst server p95 {row['pages']['p95_ms']} ms ({row['pages']['worst_page']})", flush=True
        )
    row["delta_rows"] = write_delta(feed, base / "delta")
    row["delta"] = run(base / "delta", data, env, timeout)
    print(f"  1 % delta {row['delta']}", flush=True)
    row["event_to_email"] = event_to_email(feed, data, env, as_of, timeout=min(timeout, 900))
    print(f"  event to email {row['event_to_email']}", flush=True)
    return row


# --- the table --------------------------------------------------------------------------------------


def _fmt(value: Any, target: str) -> str:
    if value is None:
        return "-"
    text = (
        f"{value:,.2f}"
        if target == "disk_ratio"
        else f"{value:,.1f}"
        if isinstance(value, float)
        else f"{value:,}"
    )
    limit, _goal = TARGETS.get(target, (None, None))
    if limit is not None and isinstance(value, int | float) and value > limit:
        text += " (over)"
    return text


def table(results: dict[str, Any]) -> str:
    lines = [
        "| scale | movements | demo s | cold run s (ingest / build / alerts) | cold peak RSS MB "
        "| same feed again s | 1 % delta s | event to email s | page callback p95 ms (worst page) "
        "| trace p50 / p95 ms "
        "| disk at rest MB (x feed, x one copy) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(results, key=float):
        r = results[key]
        steps = r["cold"]["steps"]
        split = " / ".join(f"{steps.get(s, 0):.0f}" for s in ("ingest", "build", "alerts"))
        page = r.get("pages") or {}
        lines.append(
            f"| {float(key):g} | {r['movements']:,} | {r['demo']['seconds']:.0f} "
            f"| {_fmt(r['cold']['seconds'], 'cold_s')} ({split}) "
            f"| {_fmt(r['cold']['peak_rss_mb'], 'cold_rss_mb')} "
            f"| {_fmt(r['again']['seconds'], 'again_s')} | {_fmt(r['delta']['seconds'], 'delta_s')} "
            f"| {_fmt((r.get('event_to_email') or {}).get('seconds'), 'event_to_email_s')} "
            f"| {_fmt(page.get('p95_ms'), 'pages_p95_ms')} ({page.get('worst_page', '-')}) "
            f"| {r['trace']['p50_ms']:.0f} / {_fmt(r['trace']['p95_ms'], 'trace_p95_ms')} "
            f"| {r['disk']['data_dir_mb']:,.0f} ({r['disk']['ratio_to_feed']}, "
            f"{_fmt(r['disk']['ratio_to_one_copy'], 'disk_ratio')}) |"
        )
    pg = [r for r in results.values() if r.get("postgres")]
    if pg:
        r = pg[-1]
        lines += [
            "",
            f"dbt build at scale {r['scale']:g}, the same raw tables: DuckDB {r['duckdb_build_s']} s, "
            f"PostgreSQL {r['postgres']['build_s']} s "
            f"(copying raw into PostgreSQL: {r['postgres']['copy_raw_s']} s).",
        ]
    targets = ", ".join(f"{k} {v[0]}" + (f" (goal {v[1]})" if v[1] else "") for k, v in TARGETS.items())
    lines += ["", f"Targets at scale 100 (issue 10): {targets}; '(over)' marks a figure above its target."]
    return "\n".join(lines)


def write_doc(results: dict[str, Any], doc: Path) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{table(results)}\n{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text += f"\n## Scale: cold run, unchanged, delta, event to email (`bench_scale.py`)\n\n{block}\n"
    doc.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument(
        "--keep", type=Path, help="build under DIR and keep it (default: a temp dir, removed)"
    )
    parser.add_argument("--no-pages", action="store_true", help="skip the browser pages bench")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL build at scale 1")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds any one command may take")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file the table goes into")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for scale in args.scale:
        base = (args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))) / f"scale-{scale:g}"
        if base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True)
        try:
            results[f"{scale:g}"] = bench(
                scale,
                base,
                with_pages=not args.no_pages,
                with_postgres=not args.no_postgres,
                timeout=args.timeout,
            )
        finally:
            if args.keep is None:
                shutil.rmtree(base.parent, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    write_doc(results, args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
