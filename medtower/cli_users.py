"""`medtower users add|disable|enable|reset|change|list`: the administrator's user commands.

Writing commands act as a named administrator (``--user NAME``, checked against the store: an active user
whose role may manage users), except the very first: while the store has no active administrator, ``users
add`` may create one, so a new installation starts without any default password. A new or reset user gets
a one-time password, printed once here, that must be changed at the first sign-in.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from medtower import users
from medtower.roles import ROLES
from medtower.settings import Settings


def _sites(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def _admin(settings: Settings, name: str | None, first: bool) -> str:
    """The acting administrator; while there is none yet, the first `users add` needs no --user."""
    no_admin = not any(u.role == "admin" and not u.disabled for u in users.list_users(settings))
    if name is None and first and no_admin:
        return "(first administrator)"
    return users.acting_user(settings, name, "users.manage").name


def _audit(settings: Settings, actor: str, action: str, name: str, old: Any = None, new: Any = None) -> None:
    """A user change in the audit trail (medtower/audit.py), with the values before and after."""
    from medtower import audit

    audit.record(settings, actor, action, "user", name, old, new, source="cli")


def _show_once(name: str, password: str) -> None:
    print(f"one-time password for {name}: {password}")
    print("  (shown once; it must be changed at the first sign-in)")


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    # A refusal is a users.UserError (a ValueError): medtower/cli.py prints it on one line, exit code 2.
    if args.users_command == "list":
        rows: list[dict[str, Any]] = [
            {
                "name": u.name,
                "role": u.role,
                "sites": u.sites,
                "full_name": u.full_name,
                "state": "disabled" if u.disabled else ("locked" if u.locked() else "active"),
                "must_change_password": u.must_change,
                "created_at": u.created_at,
            }
            for u in users.list_users(settings)
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("no users yet: `medtower users add NAME --role admin` creates the first administrator")
        for r in rows if not args.json else []:
            sites = ",".join(r["sites"]) or "all sites"
            print(f"{r['name']:<24} {r['role']:<11} {r['state']:<9} {sites}")
        return 0
    actor = _admin(settings, args.user, first=args.users_command == "add" and args.role == "admin")
    if args.users_command == "add":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        user, one_time = users.add(
            settings,
            args.name,
            args.role,
            sites=_sites(args.sites),
            password=password,
            must_change=not args.password_stdin or args.must_change,
            full_name=args.full_name,
        )
        _audit(
            settings,
            actor,
            "user_add",
            user.name,
            None,
            {"role": user.role, "sites": user.sites}
            | ({"full_name": user.full_name} if user.full_name else {}),
        )
        print(f"user {user.name} added ({user.role}, {','.join(user.sites) or 'all sites'})")
        if not args.password_stdin:
            _show_once(user.name, one_time)
    elif args.users_command in ("disable", "enable"):
        user = users.set_disabled(settings, args.name, args.users_command == "disable")
        _audit(
            settings,
            actor,
            f"user_{args.users_command}",
            user.name,
            {"disabled": args.users_command == "enable"},
            {"disabled": args.users_command == "disable"},
        )
        print(f"user {user.name} {args.users_command}d")
    elif args.users_command == "reset":
        user, one_time = users.reset(settings, args.name)
        _audit(settings, actor, "user_reset", user.name, None, {"must_change": True, "unlocked": True})
        print(f"user {user.name}: password reset, account unlocked, signed-in sessions ended")
        _show_once(user.name, one_time)
    elif args.users_command == "change":
        before = users.get(settings, args.name)
        user = users.change(
            settings, args.name, role=args.role, sites=_sites(args.sites), full_name=args.full_name
        )
        fields = ("role", "sites", *(("full_name",) if args.full_name is not None else ()))
        old = {k: getattr(before, k) for k in fields} if before else None
        _audit(settings, actor, "role_change", user.name, old, {k: getattr(user, k) for k in fields})
        signs = f"; signs as {user.full_name}" if user.full_name else ""
        print(f"user {user.name}: {user.role}, {','.join(user.sites) or 'all sites'}{signs}")
    return 0


FULL_NAME_HELP = 'the printed name an electronic signature shows, e.g. "Dana Kim" (default: the user name)'


def add_parser(command: Any) -> None:
    """Register `medtower users ...` (``command`` is medtower/cli.py's sub-command factory)."""
    p = command("users", "add, disable, reset and list the people who may sign in to the web app")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    who = "the administrator doing this (an active admin of `medtower users list`); not needed for the first"
    a = usub.add_parser("add", help="add a user with a role; prints a one-time password")
    a.add_argument("name", help="unique user name (letters, digits, . _ @ -)")
    a.add_argument(
        "--role", required=True, choices=ROLES, help="what the user may see and do (README: Roles)"
    )
    a.add_argument("--sites", default=None, help="comma-separated site ids the user sees (default: all)")
    a.add_argument("--full-name", default=None, help=FULL_NAME_HELP)
    a.add_argument("--user", default=None, help=who)
    a.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of making up a one-time one",
    )
    a.add_argument(
        "--must-change", action="store_true", help="with --password-stdin: still change it at first sign-in"
    )
    for action, text in (
        ("disable", "stop a user from signing in (their sessions end at once)"),
        ("enable", "let a disabled user sign in again"),
        ("reset", "new one-time password, unlock after failed sign-ins, end the user's sessions"),
    ):
        a = usub.add_parser(action, help=text)
        a.add_argument("name", help="the user, as `medtower users list` shows them")
        a.add_argument("--user", default=None, help=who)
    a = usub.add_parser("change", help="change a user's role, site grants or full name")
    a.add_argument("name", help="the user, as `medtower users list` shows them")
    a.add_argument("--role", default=None, choices=ROLES, help="the new role (README: Roles)")
    a.add_argument("--sites", default=None, help="comma-separated site ids; '' for all sites")
    a.add_argument("--full-name", default=None, help=FULL_NAME_HELP)
    a.add_argument("--user", default=None, help=who)
    a = usub.add_parser("list", help="each user: role, state, sites")
    a.add_argument("--json", action="store_true", help="print the users as JSON")
    p.set_defaults(func=cmd_users)
