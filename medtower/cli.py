"""MedTower, a supply-chain control tower for medical-device makers.

Load a drop folder of CSV/XLSX files, build the warehouse with dbt, evaluate the alert rules and mail a
digest, then serve the web app. Settings come from MEDTOWER_* environment variables (MEDTOWER_DATA_DIR
is where the warehouse lives). Start with: medtower demo --out demo-feed; medtower run demo-feed;
medtower serve.
"""

# Each subcommand is a thin wrapper: parse arguments, build the settings once, call one function of the
# package that owns the work, print its result. Progress goes to stderr on a terminal only.

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from medtower.settings import Settings, SettingsError, load_settings

log = logging.getLogger("medtower")

STEP_WORDS = {
    "demo": "generating a year of purchasing, production, quality and sales",
    "ingest": "loading the drop folder (validate, quarantine, upsert)",
    "build": "dbt build: models and data tests",
    "alerts": "evaluating alert rules and sending digests",
    "publish": "publishing the new warehouse",
}


class CliError(Exception):
    """An error whose message is the whole story for the user (exit code 2)."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def _on_terminal() -> bool:
    """Progress is for a person watching: stderr must be a terminal (not a pipe, file or CI log)."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


@functools.cache
def _console() -> Any:
    """One rich console on stderr, shared by the spinner and the log lines (so they do not garble)."""
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def _progress(title: str) -> Iterator[Callable[[str, str], None]]:
    """A spinner with the running step on a terminal and a line per step ended; silent when piped.

    Yields the callback the pipeline calls with (step, "running" | "succeeded" | "failed").
    """
    if not _on_terminal():
        yield lambda step, state: None
        return
    console = _console()
    began: dict[str, float] = {}
    with console.status(f"{title}...") as status:

        def tell(step: str, state: str) -> None:
            if state == "running":
                began[step] = time.monotonic()
                status.update(f"{title}: {STEP_WORDS.get(step, step)}...")
                return
            took = time.monotonic() - began.get(step, time.monotonic())
            mark = "[green]done[/green]" if state == "succeeded" else "[bold red]FAILED[/bold red]"
            console.print(f"{mark} {step} ({took:,.1f} s)", highlight=False)

        yield tell


# --- commands ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.demo import generate

    with _progress(f"writing the demo company to {args.out} (scale {args.scale:g})") as tell:
        tell("demo", "running")
        summary = generate(
            args.out, seed=args.seed, scale=args.scale, as_of=args.as_of, clean=args.clean, ports=args.ports
        )
        tell("demo", "succeeded")
    admin = _demo_admin(settings)
    if args.json:
        _print_json(summary)
        if admin:
            print(f"web app: sign in as 'admin' with the one-time password {admin}", file=sys.stderr)
    else:
        print(f"demo company written to {args.out}")
        for entity, count in summary["rows"].items():
            print(f"  {entity:<22} {count:>10,}")
        print(
            f"what was planted (shortage, quality escape, late supplier, bad rows): "
            f"{args.out / '_demo_manifest.json'}; next: medtower run {args.out}"
        )
        if args.ports:
            print(
                f"some entities came through the ports (ERP database, EDI, EPCIS, scanner log): set "
                f"MEDTOWER_SOURCES={args.out / '_ports' / 'sources.yaml'} before medtower run; "
                "medtower sources list shows them"
            )
        if admin:
            print(
                f"sign in to the web app as 'admin' with the one-time password {admin} "
                "(shown once; you pick your own at the first sign-in)"
            )
        else:
            print("sign in to the web app as a user of `medtower users list` (`medtower users reset NAME`)")
    return 0


def _demo_admin(settings: Settings) -> str | None:
    """The demo's first administrator 'admin' when there are no users yet: its one-time password."""
    from medtower import users

    if users.list_users(settings):
        return None
    _user, password = users.add(settings, "admin", "admin")
    return password


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import ingest

    with _progress(f"ingest of {args.drop_dir}") as progress:
        result = ingest(settings, args.drop_dir, progress=progress)
    if args.json:
        _print_json(result)
    else:
        _print_ingest(result)
    if result["outcome"] == "skipped":
        print(f"medtower ingest: warning: {result['warning']}", file=sys.stderr)
        return 0
    if result.get("failed_files"):
        return 1
    return 0 if result["outcome"] == "succeeded" else 1


def _print_ingest(result: dict[str, Any]) -> None:
    if result["outcome"] == "skipped":
        print(f"ingest: nothing to load ({result['warning']})")
        return
    failed = result.get("failed_files") or []
    outcome = result["outcome"]
    if outcome == "succeeded" and failed:
        outcome = f"succeeded, but {len(failed)} file(s) FAILED and nothing of them was loaded"
    print(f"ingest run {result['run_id']}: {outcome}")
    if result.get("error"):
        print(f"  error: {result['error']}")
    # every row read is accounted for: read = loaded + unchanged + superseded + rejected
    print(
        f"  {'entity':<22} {'read':>10} {'loaded':>10} {'unchanged':>10} {'superseded':>10} {'rejected':>10}"
    )
    for row in result["entities"]:
        print(
            f"  {row['entity']:<22} {row['rows_read']:>10,} {row['rows_loaded']:>10,} "
            f"{row['rows_unchanged']:>10,} {row['rows_superseded']:>10,} {row['rows_rejected']:>10,}"
            + ("  (the same file as last time: not read again)" if row.get("skipped") else "")
        )
    for f in failed:
        print(f"FAILED {f['file']} ({f['entity']}): {f['error']}")
    if result.get("rejected_total"):
        print(f"{result['rejected_total']:,} rows quarantined: `medtower rejects` lists them")


def cmd_rejects(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.load import list_rejects
    from medtower.warehouse import connect_readonly

    reader = None
    if args.user:  # the rows as delivered, personal data included: a role with pii.unmasked, recorded
        from medtower import pii
        from medtower.users import UserError, acting_user

        try:
            reader = acting_user(settings, args.user, pii.RIGHT)
        except UserError as exc:
            raise CliError(str(exc)) from exc
    with connect_readonly(settings) as con:
        rows = list_rejects(con, entity=args.entity, limit=args.limit, unmasked=reader is not None)
    shown = [r for r in rows if r.pop("personal_data_shown", False)]
    if reader is not None and shown:
        pii.reveal(
            settings,
            reader.name,
            "quarantine",
            "medtower rejects",
            pii.feed_columns_of(r["entity"] for r in shown),
            "medtower rejects --user",
            ids=[f"{r['entity']}:{r['file']}:{r['line']}" for r in shown],
            source="cli",
        )
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no quarantined rows")
        return 0
    for row in rows:
        where = f"{row['file']}:{row['line']}"
        column = f" [{row['column']}]" if row["column"] else ""
        print(f"{row['entity']:<20} {where:<32}{column} {row['reason']}")
    return 0


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import configured_sources

    sources = configured_sources(settings, [args.name] if getattr(args, "name", None) else None)
    if args.action == "list":
        return _sources_list(args, settings, sources)
    if args.action == "test":
        from ingest.sources import SourceError, connector

        (source,) = sources
        try:
            reached = connector(source).check()
        except (SourceError, OSError) as exc:
            print(f"source {source.name} ({source.kind}): FAILED: {exc}", file=sys.stderr)
            return 1
        print(f"source {source.name} ({source.kind}): ok, {reached}")
        return 0
    from medtower.pipeline import pull

    with _progress(f"pull of source {args.name}") as progress:
        record = pull(settings, [args.name], progress=progress)
    step = record["steps"][-1] if record["steps"] else {}
    result = step.get("result") or {}
    if args.json:
        _print_json(record)
    else:
        for p in result.get("sources", []):
            print(
                f"source {p['source']} ({p['kind']}): {p['outcome']} in {p['seconds']:.1f}s, "
                f"{p['batches']:,} batches, {p['rows_read']:,} read, {p['rows_loaded']:,} loaded, "
                f"{p['rows_rejected']:,} quarantined, {p['rows_removed']:,} removed"
            )
            if p.get("error"):
                print(f"  error: {p['error']} (what was committed stays; the next pull resumes from there)")
            for n in p.get("notes") or []:  # read but not loaded (EPCIS: sensor-only or retracted events)
                print(f"  note {n['item']}: {n['note']}")
        for f in result.get("failed_files", []):
            print(f"FAILED {f['file']} ({f['entity']}): {f['error']}")
        if record["outcome"] == "succeeded":
            print("published; the marts are rebuilt by `medtower build` (or the next `medtower run`)")
        elif record.get("error"):
            print(f"pull {record['outcome']}: {record['error']}")
    bad = record["outcome"] != "succeeded" or result.get("failed_sources") or result.get("failed_files")
    return 1 if bad else 0


def _sources_list(args: argparse.Namespace, settings: Settings, sources: list[Any]) -> int:
    from ingest.sources.runner import source_status
    from medtower.warehouse import WarehouseMissingError, connect_readonly

    state: dict[str, dict[str, Any]] = {}
    try:
        with connect_readonly(settings) as con:
            state = {s.name: source_status(con, s.name) for s in sources}
    except WarehouseMissingError:
        pass
    rows = [
        {
            "name": s.name,
            "kind": s.kind,
            "every_minutes": s.every_minutes,
            "entities": [st.entity for st in s.streams],
            **state.get(s.name, {"watermarks": {}, "items": 0, "last_pull": None}),
        }
        for s in sources
    ]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no sources configured (MEDTOWER_SOURCES names the sources.yaml)")
    for r in rows:
        last = r["last_pull"]
        when = f"last pull {last['started_at']:%Y-%m-%d %H:%M} {last['outcome']}" if last else "never pulled"
        print(f"{r['name']:<16} {r['kind']:<9} every {r['every_minutes']} min   {when}")
        for entity in r["entities"]:
            mark = r["watermarks"].get(entity)
            print(f"    {entity:<22} {'watermark ' + mark if mark else ''}")
        if r["items"]:
            print(f"    {r['items']:,} files loaded")
        if last and last.get("error"):
            print(f"    error: {last['error']}")
    return 0


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import build

    with _progress("build") as progress:
        result = build(settings, select=args.select, full_refresh=args.full_refresh, progress=progress)
    print(
        f"dbt build: {result['outcome']} ({result['passed']} passed, {result['warned']} warned, "
        f"{result['failed']} failed)"
    )
    return 0 if result["outcome"] == "succeeded" else 1


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import run_once

    if args.drop_dir is None and settings.sources is None:
        raise CliError(
            "give the drop folder (medtower run DROP_DIR) or set MEDTOWER_SOURCES to a sources.yaml"
        )
    with _progress("pipeline run") as progress:
        result = run_once(
            settings, args.drop_dir, as_of=args.as_of, progress=progress, full_refresh=args.full_refresh
        )
    if args.json:
        _print_json(result)
    else:
        print(f"pipeline run {result['run_id']}: {result['outcome']}")
        for step in result["steps"]:
            detail = step.get("detail", "")
            print(f"  {step['step']:<8} {step['outcome']:<10} {step['seconds']:>8.1f}s  {detail}")
        if published := result.get("publish"):
            if published.get("target") == "postgres":
                what = f"PostgreSQL, meta copied at {published['published_at']}"
            else:
                size = f"{published.get('bytes', 0) / 2**20:,.1f} MB"
                what = published.get("detail") or f"{published.get('version')}, {size}"
            print(
                f"  {'publish':<8} {published['outcome']:<10} {published.get('seconds', 0.0):>8.1f}s  {what}"
            )
    return 0 if result["outcome"] == "succeeded" else 1


def cmd_kpis(args: argparse.Namespace, settings: Settings) -> int:
    from medtower import kpis
    from medtower.kpis import compute_kpis
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        result = compute_kpis(con, as_of=args.as_of, period_days=args.period_days, site=args.site)
    if args.json:
        _print_json(result)
    else:
        print(
            f"KPIs as of {result['as_of']} over {result['period_days']} days"
            + (f" for site {result['site']}" if result.get("site") else "")
        )
        catalog = {k.id: k for k in kpis.CATALOG}
        for kpi_id, value in result["kpis"].items():
            kpi = catalog.get(kpi_id)
            if isinstance(value, dict):  # a breakdown (e.g. open NCRs by severity)
                shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
            elif kpi is None:
                shown = "n/a (empty population)" if value is None else str(value)
            else:
                shown = kpis.format_value(value, kpi.unit)
                if value is None:
                    shown += " (empty population)"
                elif kpi.target is not None:
                    target = kpis.format_value(kpi.target, kpi.unit)
                    shown += f"  target {target}, {kpis.status_label(kpis.status(value, kpi), kpi.target)}"
            label = f"{kpi.label} ({kpi_id})" if kpi else kpi_id
            print(f"  {label:<68} {shown}")
    return 0


def cmd_shortages(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.kpis import UnknownSiteError
    from medtower.shortages import ShortagesAsOfError, list_shortages
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        try:
            result = list_shortages(con, as_of=args.as_of, site=args.site)
        except (ShortagesAsOfError, UnknownSiteError) as exc:
            raise CliError(str(exc)) from exc
    if args.json:
        _print_json(result["shortages"])
        return 0
    rows = result["shortages"]
    exceptions = sum(1 for r in rows if r["kind"] == "exception")
    print(
        f"net requirements as of {result['as_of']}"
        + (f" at {result['site']}" if result["site"] else "")
        + f": {exceptions} exceptions (inside the lead time), {len(rows) - exceptions} actions"
    )
    for r in rows:
        what = r["wo_id"] or f"{r['so_id']}/{r['so_line']}"
        todo = "order" if r["replenishment"] == "buy" else "plan a work order for"
        qty = (
            f"{r['shortage_qty']:,.0f}"
            if r["shortage_qty"] == int(r["shortage_qty"])
            else f"{r['shortage_qty']:,.2f}"
        )
        line = (
            f"{r['kind']:<9} {r['material_id']:<12} {r['site_id']:<10} need {r['need_date']} "
            f"{qty:>10} {r['uom'] or ''}  for {what}"
        )
        if r["kind"] == "action":
            line += f"  -> {todo} {qty} by {r['order_by']}"
        else:
            hit = len(r["customer_orders"])
            line += f"  ({r['lead_time_days']}-day lead time; {hit} customer order lines hit)"
        print(line)
    return 0


def cmd_trace(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.trace import TraceError, trace
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        try:
            result = trace(con, args.query, direction=args.direction)
        except TraceError as exc:
            raise CliError(str(exc)) from exc
        if args.epcis:
            from medtower.epcis_export import trace_document, write_document

            document = trace_document(con, result, default_timezone=settings.default_timezone)
            n = write_document(args.epcis, document)
            print(f"{n} EPCIS events written to {args.epcis}")
            return 0
    if args.json:
        _print_json(result)
        return 0
    print(f"{args.direction} trace of lot {result['lot_id']}")
    for key in ("lots", "work_orders", "shipments", "customers", "suppliers"):
        if key in result:
            items = result[key]
            print(
                f"  {key:<12} {len(items):>5}  {', '.join(map(str, items[:12]))}"
                + (" ..." if len(items) > 12 else "")
            )
    return 0


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.barcodes import read_scan

    payload = sys.stdin.readline().rstrip("\r\n") if args.payload == "-" else args.payload
    scan = read_scan(payload)
    if args.json:
        _print_json(scan.to_dict())
        return 0 if scan.valid else 1
    print(f"{'valid':<22} {'yes' if scan.valid else 'NO'}")
    skip = {"payload", "valid", "reasons", "warnings", "elements", "element_string"}
    for key, value in scan.to_dict().items():
        if key not in skip and value not in (None, [], ""):
            print(f"{key:<22} {' '.join(map(repr, value)) if isinstance(value, list) else value}")
    for reason in scan.reasons:
        print(f"{'reason':<22} {reason}")
    for warning in scan.warnings:
        print(f"{'warning':<22} {warning}")
    return 0 if scan.valid else 1


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    if args.alerts_command == "run":
        from medtower.pipeline import run_alerts

        record = run_alerts(settings, as_of=args.as_of)
        step = record["steps"][-1] if record["steps"] else {}
        detail = step.get("detail") or record.get("error", "")
        print(f"alerts run {record['run_id']}: {record['outcome']}  {detail}")
        return 0 if record["outcome"] == "succeeded" else 1
    if args.alerts_command == "outbox":
        from alerts.outbox import list_digests, resend

        if args.resend:
            resend(settings, args.resend)
            print(f"digest {args.resend} queued again: the next alerts evaluation sends it")
            return 0
        digests = list_digests(settings, limit=args.limit)
        if args.json:
            _print_json(digests)
            return 0
        if not digests:
            print("the outbox is empty: nothing sent yet")
        for d in digests:
            to = ", ".join(d["recipients"]) or "-"
            created = (d.get("created_at") or "")[:16].replace("T", " ")  # to the minute, UTC
            print(f"{d['status']:<13} {created + (' UTC' if created else ''):<20} {to:<30} {d['subject']}")
            if d["status"] == "maybe_sent":
                print(f"{'':<14}not resent: {d.get('last_error')} (Message-ID {d['message_id']})")
                print(f"{'':<14}did not arrive? `medtower alerts outbox --resend {d['digest_id']}`")
        return 0
    from medtower.alert_queries import alert_exists, list_alerts
    from medtower.warehouse import connect_readonly

    if args.alerts_command in ("ack", "resolve"):
        from medtower.alert_actions import needs_signature, record_decision
        from medtower.users import UserError, acting_user

        action = "alert.acknowledge" if args.alerts_command == "ack" else "alert.resolve"
        try:
            user = acting_user(settings, args.user, action)
        except UserError as exc:
            raise CliError(str(exc)) from exc
        with connect_readonly(settings) as con:
            known, hint = alert_exists(con, args.key)
        if not known:
            raise CliError(
                f"no alert with key {args.key!r}{hint}; `medtower alerts list --all` shows every key"
            )
        signing = _signing(args, user.name, needs_signature(args.key, args.alerts_command))
        try:
            row = record_decision(settings, args.key, args.alerts_command, user.name, args.comment, signing)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        print(
            f"{args.alerts_command} of {args.key} by {row['actor']} recorded at {row['at']} "
            "(merged into the warehouse by the next alerts evaluation)"
        )
        if row.get("signature"):
            from medtower.signatures import manifest_line

            print(manifest_line(json.loads(row["signature"])))
        return 0

    from alerts.message import DigestItem, describe, item_facts, site_directory

    with connect_readonly(settings) as con:
        rows = list_alerts(con, settings, include_resolved=args.all)
        sites = site_directory(con)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no active alerts")
    for r in rows:
        who = f" by {r['acknowledged_by']}" if r["state"] == "acknowledged" else ""
        # The headline the digest gives it (units, site name, dates in words); the key is what ack takes.
        item = DigestItem(
            item_key="",
            alert_key=r["alert_key"],
            rule_id=r["rule_id"],
            reason=r["state"],
            severity=r["severity"],
            title=r["title"] or "",
            roles=(),
            extra=item_facts(r.get("labels") or {}, r.get("details") or {}, sites),
        )
        head = " ".join(describe(item)[0].split())
        print(f"{r['severity']:<9} {r['state'] + who:<28} {r['alert_key']}\n          {head}")
    return 0


def _signing(args: argparse.Namespace, name: str, needed: bool) -> Any:
    """The signer's credentials for a signed action: the password is asked on the terminal (not echoed),
    or read from the first line of stdin with --password-stdin; never an argument or an environment
    variable, which other processes and the shell history can read."""
    from medtower.signatures import Signing

    if not needed and not args.meaning:
        return None
    if not args.meaning:
        raise CliError(
            "this action is an electronic signature: add --meaning reviewed|approved|responsible "
            "(you will be asked for your password)"
        )
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"password of {name}, to sign as '{args.meaning}': ")
    else:
        raise CliError("no terminal to ask for your password: pipe it in with --password-stdin")
    return Signing(name, password, args.meaning)


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.scheduler import run_scheduler

    run_scheduler(settings, every_minutes=args.every)
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.report import build_report_html
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        text = build_report_html(con, settings, args.as_of, args.period_days, site=args.site)
    args.out.write_text(text, encoding="utf-8")
    print(f"KPI review written to {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from dashboards.server import serve

    serve(settings, host=args.host or settings.host, port=args.port or settings.port, debug=args.debug)
    return 0


# --- parser -----------------------------------------------------------------------------------


JSON_HELP = "print the result as JSON (for scripts) instead of a table"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medtower",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has its own help: medtower COMMAND --help.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=kw.pop("description", text), **kw)

    p = command("demo", "write a demo company's drop folder (CSV files of one year) to try MedTower on")
    p.add_argument("--out", type=Path, required=True, help="folder to write the <entity>.csv files into")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed writes the same files")
    p.add_argument(
        "--scale", type=float, default=1.0, help="size: 1 is a mid-size plant, about 100k movements a year"
    )
    p.add_argument(
        "--as-of", type=_date, default=None, help="last day of the demo year, YYYY-MM-DD (default: today)"
    )
    p.add_argument("--clean", action="store_true", help="leave out the deliberately bad rows")
    p.add_argument(
        "--ports",
        action="store_true",
        help="send purchase orders, recent ASNs and invoices, lot consumption and scans through the source "
        "connectors instead of CSV: an ERP SQLite database, EDI X12 files, EPCIS documents and a scanner "
        "log in DIR/_ports, pulled with MEDTOWER_SOURCES=DIR/_ports/sources.yaml",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_demo)

    p = command(
        "ingest",
        "load a drop folder into the warehouse: validate, quarantine bad rows, upsert, publish",
        description="Load every <entity>.csv or .xlsx of a drop folder. Bad rows are quarantined "
        "(medtower rejects lists them); a file the contract cannot read at all fails and the command "
        "exits 1; an empty folder publishes nothing.",
    )
    p.add_argument("drop_dir", type=Path, help="folder holding the delivered <entity>.csv / .xlsx files")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_ingest)

    p = command("rejects", "list the quarantined rows with file, line, column and reason")
    p.add_argument("--entity", default=None, help="only rows of this entity, e.g. sales_orders")
    p.add_argument("--limit", type=int, default=None, help="at most this many rows (default: all)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument(
        "--user",
        default=None,
        help="show the rows as delivered, personal data included: a user whose role may see it "
        "(pii.unmasked); the view is recorded in the audit trail",
    )
    p.set_defaults(func=cmd_rejects)

    p = command(
        "sources",
        "the source connectors of MEDTOWER_SOURCES: list their state, test one, pull one",
        description="Sources (ERP database, MES/QMS REST, supplier EDI X12, EPCIS, JSON snapshots) are "
        "declared in the sources.yaml that MEDTOWER_SOURCES names. `list` shows each source's entities, "
        "watermarks and last pull; `test NAME` checks that the source can be reached; `pull NAME` pulls "
        "what is new into the warehouse (bad rows are quarantined) and publishes it.",
    )
    ssub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sp = ssub.add_parser("list", help="each source: kind, interval, entities, watermarks, last pull")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.set_defaults(func=cmd_sources)
    sp = ssub.add_parser("test", help="reach one source and say what was found (exit 1 if it cannot)")
    sp.add_argument("name", help="the source's name in sources.yaml")
    sp.set_defaults(func=cmd_sources)
    sp = ssub.add_parser("pull", help="pull one source now: what is new since its watermark, then publish")
    sp.add_argument("name", help="the source's name in sources.yaml")
    sp.add_argument("--json", action="store_true", help=JSON_HELP)
    sp.set_defaults(func=cmd_sources)

    p = command("build", "run `dbt build` (models and data tests) on a copy and publish it if it passes")
    p.add_argument("--select", default=None, help="only these dbt nodes (dbt's --select syntax)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental facts from scratch, not only what was loaded since the last build "
        "(a change of a column's type needs it)",
    )
    p.set_defaults(func=cmd_build)

    p = command(
        "run",
        "run the whole pipeline once: ingest, pull the sources, dbt build, alerts; publish at the end",
    )
    p.add_argument(
        "drop_dir",
        type=Path,
        nargs="?",
        default=None,
        help="folder holding the delivered <entity>.csv / .xlsx files (optional when MEDTOWER_SOURCES "
        "names the sources to pull)",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="the planning day, YYYY-MM-DD, the marts and alerts are built for (default: today)",
    )
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="build everything, the incremental facts from scratch (default: only what changed)",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_run)

    p = command("kpis", "the KPIs of kpi-definitions.md over a period ending on a day")
    p.add_argument("--as-of", type=_date, required=True, help="last day of the period, YYYY-MM-DD")
    p.add_argument("--period-days", type=int, default=30, help="length of the period in days (default 30)")
    p.add_argument("--site", default=None, help="only this site (a site id, e.g. SITE-GAL)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(func=cmd_kpis)

    p = command(
        "shortages",
        "every net requirement of the netting: exceptions (inside the lead time) and actions",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="the day to net for; must be the day the warehouse was built for (default: that day)",
    )
    p.add_argument("--site", default=None, help="only this site (a site id, e.g. SITE-GAL)")
    p.add_argument("--json", action="store_true", help="one JSON object per net requirement")
    p.set_defaults(func=cmd_shortages)

    p = command("trace", "lot genealogy from a lot id or a scanned GS1/HIBC barcode")
    p.add_argument("query", help="lot id, or a GS1 element string such as (01)...(10)LOT")
    p.add_argument(
        "--direction",
        choices=["forward", "backward"],
        required=True,
        help="forward: where the lot went (lots made from it, shipments, customers); "
        "backward: what it was made from (component lots, suppliers)",
    )
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument(
        "--epcis",
        type=Path,
        metavar="FILE",
        help="write the trace as an EPCIS 2.0 JSON-LD document (receipts, commissioning, "
        "transformations, shipments) to FILE, for a regulator's or customer's system",
    )
    p.set_defaults(func=cmd_trace)

    p = command(
        "scan",
        "read one scanned barcode (GS1, GS1 Digital Link, HIBC): fields, validity and why not; "
        "exit 1 when it is not valid",
    )
    p.add_argument(
        "payload",
        help="what the scanner sent, e.g. ']d2010950600013435217271231' or '+A123BJC5D6E71G'; "
        "'-' reads one line from stdin (for GS / FNC1 characters)",
    )
    p.add_argument("--json", action="store_true", help="print the reading as one JSON object")
    p.set_defaults(func=cmd_scan)

    p = command("alerts", "evaluate the alert rules, list alerts, acknowledge or resolve one, see the outbox")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    a = asub.add_parser("run", help="evaluate the rules on the warehouse and mail the digests")
    a.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="the day to evaluate for; must be the day the marts were built for (default: that day)",
    )
    a = asub.add_parser("list", help="active alerts, most severe first, newest first within a severity")
    a.add_argument("--all", action="store_true", help="resolved alerts too")
    a.add_argument("--json", action="store_true", help=JSON_HELP)
    a = asub.add_parser("outbox", help="emails sent, waiting or maybe sent (newest first)")
    a.add_argument("--limit", type=int, default=50, help="at most this many emails (default 50)")
    a.add_argument(
        "--resend",
        metavar="DIGEST_ID",
        default=None,
        help="queue a maybe-sent email again, once you checked it did not arrive",
    )
    a.add_argument("--json", action="store_true", help=JSON_HELP)
    from medtower.signatures import MEANINGS

    for action, verb in (("ack", "acknowledge (stops its reminders)"), ("resolve", "resolve")):
        a = asub.add_parser(action, help=f"{verb} an alert by its key, with your name")
        a.add_argument("key", help="the alert's key, as `medtower alerts list` shows it")
        a.add_argument(
            "--user",
            "--by",
            dest="user",
            required=True,
            help="who you are: an active user of `medtower users list` whose role may do this",
        )
        a.add_argument(
            "--comment",
            required=True,
            help="what you are doing about it, or why it is done (kept with the action, as on the page)",
        )
        a.add_argument(
            "--meaning",
            choices=tuple(MEANINGS),
            default=None,
            help="sign the action electronically with this meaning (required to resolve a quality alert); "
            "asks for your password",
        )
        a.add_argument(
            "--password-stdin",
            action="store_true",
            help="with --meaning: read your password from the first line of stdin instead of the terminal",
        )
    p.set_defaults(func=cmd_alerts)

    from medtower.cli_signatures import add_parser as add_signatures_parser

    add_signatures_parser(command)

    from medtower.cli_audit import add_audit_parser

    add_audit_parser(command)

    p = command("schedule", "run the pipeline every N minutes and mail the weekly KPI review")
    p.add_argument(
        "--every",
        type=int,
        default=None,
        help="minutes between runs (default: MEDTOWER_SCHEDULE_EVERY_MINUTES, 60)",
    )
    p.set_defaults(func=cmd_schedule)

    p = command("report", "write the KPI review as one self-contained HTML file to print or mail")
    p.add_argument("--as-of", type=_date, required=True, help="last day of the review period, YYYY-MM-DD")
    p.add_argument("--period-days", type=int, default=30, help="length of the period in days (default 30)")
    p.add_argument("--site", default=None, help="only this site (a site id, e.g. SITE-GAL)")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.set_defaults(func=cmd_report)

    p = command("serve", "serve the control tower web app")
    p.add_argument("--host", default=None, help="address to listen on (default: MEDTOWER_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: MEDTOWER_PORT, 8050)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode: reload on change, error pages")
    p.set_defaults(func=cmd_serve)

    from medtower.cli_users import add_parser as add_users_parser

    add_users_parser(command)
    return parser


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``| head``): stop without a traceback, as Unix tools do.

    Python flushes stdout again at exit; pointing it at /dev/null keeps that flush from failing too.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"medtower: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.verbose else getattr(logging, settings.log_level.upper(), logging.INFO)
    if _on_terminal():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=_console(), show_path=False, log_time_format="%H:%M:%S"
        )
        logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler])
    else:
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    try:
        code = int(args.func(args, settings))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except CliError as exc:
        print(f"medtower {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from medtower.warehouse import WarehouseBusyError, WarehouseMissingError

        if isinstance(exc, WarehouseMissingError | WarehouseBusyError | FileNotFoundError | ValueError):
            print(f"medtower {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
