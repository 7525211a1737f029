"""`medtower signatures verify`: every signed record against its signature in the audit trail.

Reports a signed record changed after signing, a signature moved onto another record, a record that must
be signed and is not, and a signed export file whose data no longer matches its signature; the audit
trail's own hash chain is checked too (a signature record edited in the trail breaks it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medtower.settings import Settings


def cmd_signatures(args: argparse.Namespace, settings: Settings) -> int:
    from medtower import audit, signatures

    chain = audit.verify(settings)
    print(chain.summary())
    check = signatures.verify(settings)
    print(check.summary())
    for p in check.problems[1:]:
        print(f"  {p}")
    ok = chain.ok and check.ok
    for path in args.file or []:
        found = signatures.verify_export(settings, Path(path))
        print(f"{path}: {found or 'signature intact'}")
        ok = ok and found is None
    return 0 if ok else 1


def add_parser(command: Any) -> None:
    """Register `medtower signatures verify` (``command`` is medtower/cli.py's sub-command factory)."""
    p = command("signatures", "electronic signatures: check each signed record against its signature")
    sub = p.add_subparsers(dest="signatures_command", required=True, metavar="ACTION")
    v = sub.add_parser(
        "verify", help="exit 1 if a signed record changed, a signature moved, or one is missing"
    )
    v.add_argument(
        "--file", action="append", help="a signed export (CSV or XLSX) to check as well; may repeat"
    )
    p.set_defaults(func=cmd_signatures)
