"""The users store: names, roles, site grants and argon2 password hashes, outside the warehouse.

A small SQLite file (``$MEDTOWER_DATA_DIR/users.sqlite``, WAL mode) that a warehouse rebuild never
touches. Passwords are hashed with argon2id (argon2-cffi's PasswordHasher, its RFC 9106 defaults); a
name is unique regardless of case. There is no default password: a new or reset user gets a one-time
password that must be changed at the first sign-in. After ``lockout_attempts`` failed sign-ins in a row
the account is locked for ``lockout_minutes``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from medtower.roles import check_role
from medtower.settings import Settings

_HASHER = PasswordHasher()
# Verified against for an unknown name, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,63}")
MAX_PASSWORD = 128
# A few of the most used passwords (NIST SP 800-63B: check against a list of known-bad ones).
COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "medtowermedtower",
        "changemechangeme",
        "administrator",
        "letmeinletmein",
        "welcome12345",
    }
)


class UserError(ValueError):
    """A refusal whose message says what to do."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    sites: list[str] = field(default_factory=list)
    disabled: bool = False
    must_change: bool = False
    failed: int = 0
    locked_until: str | None = None
    password_changed_at: str | None = None
    created_at: str | None = None
    # The printed name an electronic signature shows (Part 11 §11.50(a)(1)); the user name when unset.
    full_name: str | None = None

    @property
    def printed_name(self) -> str:
        return self.full_name or self.name

    def locked(self, now: dt.datetime | None = None) -> bool:
        if not self.locked_until:
            return False
        return (now or _now()) < dt.datetime.fromisoformat(self.locked_until)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "users.sqlite"


def _connect(settings: Settings) -> sqlite3.Connection:
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=10)
    con.row_factory = sqlite3.Row
    con.execute("pragma journal_mode=wal")
    con.execute(
        """create table if not exists users (
            name text primary key collate nocase, role text not null, sites text not null default '[]',
            password_hash text not null, must_change integer not null default 1,
            disabled integer not null default 0, failed integer not null default 0, locked_until text,
            password_changed_at text, created_at text not null, full_name text)"""
    )
    # A store made before signatures has no full_name column: add it (existing users keep working).
    columns = {r[1] for r in con.execute("pragma table_info(users)").fetchall()}
    if "full_name" not in columns:
        try:
            con.execute("alter table users add column full_name text")
        except sqlite3.OperationalError as exc:  # another process added it meanwhile
            if "duplicate column" not in str(exc):
                raise
    return con


def _user(row: sqlite3.Row) -> User:
    return User(
        name=row["name"],
        role=row["role"],
        sites=list(json.loads(row["sites"] or "[]")),
        disabled=bool(row["disabled"]),
        must_change=bool(row["must_change"]),
        failed=int(row["failed"]),
        locked_until=row["locked_until"],
        password_changed_at=row["password_changed_at"],
        created_at=row["created_at"],
        full_name=row["full_name"],
    )


def check_password(password: str, name: str, min_length: int) -> None:
    """The password rules (NIST SP 800-63B): long enough, not too long, not the name, not a known one."""
    if len(password) < min_length:
        raise UserError(f"the password needs at least {min_length} characters (it has {len(password)})")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password may have at most {MAX_PASSWORD} characters")
    if name.lower() in password.lower():
        raise UserError("the password may not contain the user name")
    if password.lower() in COMMON or len(set(password)) < 4:
        raise UserError("that password is too easy to guess: pick a longer phrase")


def one_time_password() -> str:
    """A random password for a new or reset user, to be changed at the first sign-in."""
    return secrets.token_urlsafe(15)


def get(settings: Settings, name: str) -> User | None:
    con = _connect(settings)
    try:
        row = con.execute("select * from users where name = ?", (name,)).fetchone()
    finally:
        con.close()
    return _user(row) if row else None


def list_users(settings: Settings) -> list[User]:
    if not store_path(settings).exists():
        return []
    con = _connect(settings)
    try:
        return [_user(r) for r in con.execute("select * from users order by name").fetchall()]
    finally:
        con.close()


def add(
    settings: Settings,
    name: str,
    role: str,
    sites: list[str] | None = None,
    password: str | None = None,
    must_change: bool = True,
    full_name: str | None = None,
) -> tuple[User, str]:
    """Add a user; (the user, the one-time password). Without ``password`` one is made up."""
    if not NAME_RE.fullmatch(name):
        raise UserError(
            f"user name {name!r}: 2-64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    check_role(role)
    full_name = check_full_name(full_name)
    password = password if password is not None else one_time_password()
    check_password(password, name, settings.password_min_length)
    now = _now().isoformat(timespec="microseconds")
    con = _connect(settings)
    try:
        with con:
            if con.execute("select 1 from users where name = ?", (name,)).fetchone():
                raise UserError(f"there is a user {name!r} already: user names are unique")
            con.execute(
                "insert into users (name, role, sites, password_hash, must_change, password_changed_at,"
                " created_at, full_name) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    role,
                    json.dumps(sorted(sites or [])),
                    _HASHER.hash(password),
                    int(must_change),
                    now,
                    now,
                    full_name,
                ),
            )
    finally:
        con.close()
    user = get(settings, name)
    assert user is not None
    return user, password


def _update(settings: Settings, name: str, **values: Any) -> User:
    con = _connect(settings)
    try:
        with con:
            cols = ", ".join(f"{k} = ?" for k in values)
            cur = con.execute(f"update users set {cols} where name = ?", (*values.values(), name))
            if cur.rowcount == 0:
                raise UserError(f"no user {name!r}; `medtower users list` shows them")
    finally:
        con.close()
    user = get(settings, name)
    assert user is not None
    return user


def set_disabled(settings: Settings, name: str, disabled: bool = True) -> User:
    return _update(settings, name, disabled=int(disabled))


def check_full_name(full_name: str | None) -> str | None:
    """The printed name as the person signs: 2-128 characters of text, no control characters."""
    if full_name is None:
        return None
    text = " ".join(full_name.split())
    if not 2 <= len(text) <= 128 or any(not c.isprintable() for c in text):
        raise UserError("the full name (as printed on a signature) needs 2-128 printable characters")
    return text


def change(
    settings: Settings,
    name: str,
    role: str | None = None,
    sites: list[str] | None = None,
    full_name: str | None = None,
) -> User:
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = check_role(role)
    if sites is not None:
        values["sites"] = json.dumps(sorted(sites))
    if full_name is not None:
        values["full_name"] = check_full_name(full_name)
    if not values:
        raise UserError("nothing to change: give --role, --sites or --full-name")
    return _update(settings, name, **values)


def reset(settings: Settings, name: str) -> tuple[User, str]:
    """A new one-time password (to change at the next sign-in); unlocks the account."""
    password = one_time_password()
    user = _update(
        settings,
        name,
        password_hash=_HASHER.hash(password),
        must_change=1,
        failed=0,
        locked_until=None,
        password_changed_at=_now().isoformat(timespec="microseconds"),
    )
    return user, password


def set_password(settings: Settings, name: str, old: str, new: str) -> User:
    """The user's own change: the old password again, the rules, and not the same as before."""
    user = authenticate(settings, name, old)
    if new == old:
        raise UserError("the new password must differ from the old one")
    check_password(new, user.name, settings.password_min_length)
    return _update(
        settings,
        user.name,
        password_hash=_HASHER.hash(new),
        must_change=0,
        password_changed_at=_now().isoformat(timespec="microseconds"),
    )


def authenticate(settings: Settings, name: str, password: str, now: dt.datetime | None = None) -> User:
    """The user when name and password match and the account is active; UserError (one message) if not.

    Failures count; at ``lockout_attempts`` in a row the account locks for ``lockout_minutes`` (a locked
    account refuses even the right password). The message never says which of name or password was wrong.
    """
    now = now or _now()
    refused = UserError("wrong user name or password")
    con = _connect(settings)
    try:
        row = con.execute("select * from users where name = ?", (name,)).fetchone()
        if row is None:
            _verify(_DUMMY_HASH, password)
            raise refused
        user = _user(row)
        if user.locked(now):
            raise UserError(
                f"this account is locked after {settings.lockout_attempts} failed sign-ins until "
                f"{user.locked_until} UTC; an administrator can unlock it (`medtower users reset`)"
            )
        if not _verify(row["password_hash"], password):
            failed = user.failed + 1
            locked = (
                (now + dt.timedelta(minutes=settings.lockout_minutes)).isoformat(timespec="seconds")
                if failed >= settings.lockout_attempts
                else None
            )
            with con:
                con.execute(
                    "update users set failed = ?, locked_until = ? where name = ?",
                    (0 if locked else failed, locked, user.name),
                )
            if locked:
                raise UserError(
                    f"wrong user name or password; the account is now locked for "
                    f"{settings.lockout_minutes:g} minutes"
                )
            raise refused
        if user.disabled:
            raise refused
        with con:
            con.execute("update users set failed = 0, locked_until = null where name = ?", (user.name,))
            if _HASHER.check_needs_rehash(row["password_hash"]):
                con.execute(
                    "update users set password_hash = ? where name = ?", (_HASHER.hash(password), user.name)
                )
    finally:
        con.close()
    fresh = get(settings, user.name)
    assert fresh is not None
    return fresh


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def acting_user(settings: Settings, name: str | None, action: str) -> User:
    """The CLI's writing commands act as a named user: active, in the store, and allowed ``action``."""
    from medtower.roles import allowed

    if not name:
        raise UserError("say who you are: --user NAME (a user of `medtower users list`)")
    user = get(settings, name)
    if user is None or user.disabled:
        raise UserError(f"no active user {name!r}; `medtower users list` shows them")
    if not allowed(user.role, action):
        raise UserError(f"{user.name} ({user.role}) may not {action}")
    return user
