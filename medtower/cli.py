"""The ``medtower`` command line.

Each subcommand is a thin wrapper: parse arguments, build the settings once, call
one function of the package that owns the work, print its result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from medtower.settings import Settings

log = logging.getLogger("medtower")


class CliError(Exception):
    """An error whose message is the whole story for the user (exit code 2)."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


# --- commands ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.demo import generate

    summary = generate(args.out, seed=args.seed, scale=args.scale, as_of=args.as_of, clean=args.clean)
    if args.json:
        _print_json(summary)
    else:
        print(f"demo company written to {args.out}")
        for entity, count in summary["rows"].items():
            print(f"  {entity:<22} {count:>10,}")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import ingest

    result = ingest(settings, args.drop_dir)
    if args.json:
        _print_json(result)
    else:
        _print_ingest(result)
    return 0 if result["outcome"] == "succeeded" else 1


def _print_ingest(result: dict[str, Any]) -> None:
    print(f"ingest run {result['run_id']}: {result['outcome']}")
    print(f"  {'entity':<22} {'read':>10} {'loaded':>10} {'unchanged':>10} {'rejected':>10}")
    for row in result["entities"]:
        print(
            f"  {row['entity']:<22} {row['rows_read']:>10,} {row['rows_loaded']:>10,} "
            f"{row['rows_unchanged']:>10,} {row['rows_rejected']:>10,}"
        )
    if result.get("rejected_total"):
        print(f"{result['rejected_total']:,} rows quarantined: `medtower rejects` lists them")


def cmd_rejects(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.load import list_rejects
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        rows = list_rejects(con, entity=args.entity, limit=args.limit)
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


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import build

    result = build(settings, select=args.select)
    print(
        f"dbt build: {result['outcome']} ({result['passed']} passed, {result['warned']} warned, "
        f"{result['failed']} failed)"
    )
    return 0 if result["outcome"] == "succeeded" else 1


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from medtower.pipeline import run_once

    result = run_once(settings, args.drop_dir, as_of=args.as_of)
    if args.json:
        _print_json(result)
    else:
        print(f"pipeline run {result['run_id']}: {result['outcome']}")
        for step in result["steps"]:
            detail = step.get("detail", "")
            print(f"  {step['step']:<8} {step['outcome']:<10} {step['seconds']:>8.1f}s  {detail}")
    return 0 if result["outcome"] == "succeeded" else 1


def cmd_kpis(args: argparse.Namespace, settings: Settings) -> int:
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
        for kpi_id, value in result["kpis"].items():
            shown = (
                "n/a (empty population)"
                if value is None
                else (f"{value:.4f}" if isinstance(value, float) else str(value))
            )
            print(f"  {kpi_id:<38} {shown}")
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
            created = d.get("created_at") or ""
            print(f"{d['status']:<13} {created:<26} {to:<30} {d['subject']}")
            if d["status"] == "maybe_sent":
                print(f"{'':<14}not resent: {d.get('last_error')} (Message-ID {d['message_id']})")
                print(f"{'':<14}did not arrive? `medtower alerts outbox --resend {d['digest_id']}`")
        return 0
    from medtower.alert_queries import alert_exists, list_alerts
    from medtower.warehouse import connect_readonly

    if args.alerts_command in ("ack", "resolve"):
        from medtower.alert_actions import record_action

        with connect_readonly(settings) as con:
            known, hint = alert_exists(con, args.key)
        if not known:
            raise CliError(
                f"no alert with key {args.key!r}{hint}; `medtower alerts list --all` shows every key"
            )
        row = record_action(settings, args.key, args.alerts_command, args.by)
        print(
            f"{args.alerts_command} of {args.key} by {row['actor']} recorded at {row['at']} "
            "(merged into the warehouse by the next alerts evaluation)"
        )
        return 0

    with connect_readonly(settings) as con:
        rows = list_alerts(con, settings, include_resolved=args.all)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no active alerts")
    for r in rows:
        who = f" by {r['acknowledged_by']}" if r["state"] == "acknowledged" else ""
        print(f"{r['severity']:<9} {r['state'] + who:<28} {r['alert_key']}\n          {r['title']}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medtower", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="write a demo company's drop folder in the canonical feed")
    p.add_argument("--out", type=Path, required=True, help="folder to write <entity>.csv files into")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scale", type=float, default=1.0, help="1 = mid-size plant, ~100k movements a year")
    p.add_argument("--as-of", type=_date, default=None, help="last day of the demo year (default: today)")
    p.add_argument("--clean", action="store_true", help="omit the deliberately bad rows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", help="load a drop folder into the warehouse (validate, quarantine, upsert)")
    p.add_argument("drop_dir", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("rejects", help="list quarantined rows with their reasons")
    p.add_argument("--entity", default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rejects)

    p = sub.add_parser("build", help="run `dbt build` on dbt_project/ and publish the result")
    p.add_argument("--select", default=None, help="dbt node selection")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", help="run the whole pipeline once: ingest, build, alerts")
    p.add_argument("drop_dir", type=Path)
    p.add_argument("--as-of", type=_date, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("kpis", help="the KPIs of dbt_project/kpi-definitions.md")
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--period-days", type=int, default=30)
    p.add_argument("--site", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kpis)

    p = sub.add_parser(
        "shortages",
        help="every net requirement of the netting: exceptions (inside the lead time) and actions",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="the day to net for; must be the day the warehouse was built for (default: that day)",
    )
    p.add_argument("--site", default=None, help="only this site (a site id)")
    p.add_argument("--json", action="store_true", help="one JSON object per net requirement")
    p.set_defaults(func=cmd_shortages)

    p = sub.add_parser("trace", help="lot genealogy from a lot id or a scanned GS1/HIBC barcode")
    p.add_argument("query", help="lot id, or a GS1 element string such as (01)...(10)LOT")
    p.add_argument("--direction", choices=["forward", "backward"], required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("alerts", help="evaluate alert rules, list alerts, acknowledge or resolve one")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    a = asub.add_parser("run", help="evaluate the rules on the warehouse and send notifications")
    a.add_argument("--as-of", type=_date, default=None)
    a = asub.add_parser("list", help="active alerts, most severe first (with --all, resolved ones too)")
    a.add_argument("--all", action="store_true")
    a.add_argument("--json", action="store_true")
    a = asub.add_parser("outbox", help="emails sent, waiting or maybe sent (newest first)")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--resend", metavar="DIGEST_ID", default=None, help="queue a maybe-sent email again")
    a.add_argument("--json", action="store_true")
    for action in ("ack", "resolve"):
        a = asub.add_parser(action, help=f"{action} an alert by its key, with your name")
        a.add_argument("key")
        a.add_argument("--by", required=True, help="who acknowledges or resolves")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("schedule", help="run the pipeline every N minutes; weekly KPI review email")
    p.add_argument("--every", type=int, default=None, help="minutes between runs (default: settings)")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("report", help="write the KPI review as one self-contained HTML file")
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--period-days", type=int, default=30)
    p.add_argument("--site", default=None)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="serve the control tower web app")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--debug", action="store_true")
    p.set_defaults(func=cmd_serve)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args, settings))
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
