"""`medtower audit verify|list|export`: check the audit trail's hash chain, read it, hand it to an inspector.

Registered by ``medtower.cli`` (``add_audit_parser``); the trail itself is ``medtower.audit``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medtower import audit
from medtower.settings import Settings

FILTERS = ("actor", "action", "object_type", "object_id")


def _when(text: str) -> str:
    """A filter bound: YYYY-MM-DD (the whole day) or an ISO time; UTC unless it carries an offset."""
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]") from exc
    return text


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", dest="actor", default=None, help="who (part of the name, any case)")
    p.add_argument("--action", default=None, help="e.g. ack, resolve, assign, comment, export, publish")
    p.add_argument(
        "--object-type", default=None, help="e.g. alert, grid, trace_scope, pipeline_run, warehouse"
    )
    p.add_argument("--object", dest="object_id", default=None, help="the object's id, or part of it")
    p.add_argument("--since", type=_when, default=None, help="from this UTC day or time on")
    p.add_argument("--until", type=_when, default=None, help="up to this UTC day (inclusive) or time")


def add_audit_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `audit` with ``command(name, help)``, the CLI's own way of adding a command."""
    p = command("audit", "the audit trail: verify its hash chain, list records, export it for an inspector")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    a = asub.add_parser(
        "verify",
        help="recompute the hash chain; exit 1 and say where when a record was edited, deleted or inserted",
    )
    a.add_argument(
        "--head",
        default=None,
        metavar="HASH",
        help="a chain head noted earlier (from a previous verify): fail if the chain no longer holds it",
    )
    a.add_argument("--json", action="store_true", help="print the result as one JSON object")
    a = asub.add_parser("list", help="records, oldest first, with filters")
    _filters(a)
    a.add_argument("--limit", type=int, default=None, help="only the newest N of the records found")
    a.add_argument("--json", action="store_true", help="print the records as a JSON list")
    a = asub.add_parser("export", help="write the trail (filtered) with its verification result to a file")
    _filters(a)
    a.add_argument("--format", choices=("csv", "html"), required=True, help="csv, or printable html")
    a.add_argument("--out", type=Path, required=True, help="the file to write")
    p.set_defaults(func=cmd_audit)


def _selected(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    return audit.read(
        settings,
        **{k: getattr(args, k) for k in FILTERS},
        since=args.since,
        until=args.until,
    )


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.audit_command == "verify":
        check = audit.verify(settings, expect_head=args.head)
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": check.ok,
                        "records": check.records,
                        "head": check.head,
                        "path": check.path,
                        "problems": [vars(p) for p in check.problems],
                    },
                    indent=2,
                )
            )
        else:
            print(check.summary())
            for p in check.problems:
                print(f"  {p.kind:<10} at record {p.position}: {p.message}")
            if not check.ok:
                print(f"trail: {check.path}", file=sys.stderr)
        return 0 if check.ok else 1
    rows = _selected(args, settings)
    if args.audit_command == "list":
        if args.limit:
            rows = rows[-args.limit :]
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        if not rows:
            print("no audit records match")
        for r in rows:
            what = f"{r['object_type']} {r['object_id']}"
            change = f"{json.dumps(r['old'], sort_keys=True)} -> {json.dumps(r['new'], sort_keys=True)}"
            why = f"  why: {r['reason']}" if r.get("reason") else ""
            when = f"{r['at_utc']} ({r['at_site']})"
            print(f"{r['seq']:>6} {when} {r['actor']}: {r['action']} {what}: {change}{why}")
        return 0
    check = audit.verify(settings)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "csv":
        n = audit.export_csv(rows, out)
    else:
        shown = {k: getattr(args, k) for k in (*FILTERS, "since", "until") if getattr(args, k)}
        n = audit.export_html(rows, check, out, title=", ".join(f"{k} {v}" for k, v in shown.items()))
    print(f"wrote {n:,} audit records to {out} ({check.summary()})")
    return 0
