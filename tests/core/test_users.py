"""The users store and `medtower users ...` as an administrator types them (real CLI processes)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from medtower import users
from medtower.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medtower", "users", *args],
        cwd=ROOT,
        env={**os.environ, "MEDTOWER_DATA_DIR": str(data)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_time(out: str, name: str) -> str:
    return out.split(f"one-time password for {name}: ")[1].split()[0]


def test_users_cli_first_admin_then_only_admins_manage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    assert "no users yet" in _cli(data, "list").stdout
    # The first administrator needs nobody's --user; no default password: a one-time one, printed once.
    first = _cli(data, "add", "ada", "--role", "admin")
    assert first.returncode == 0, first.stderr
    ada_pw = _one_time(first.stdout, "ada")
    assert len(ada_pw) >= 20
    assert users.get(settings, "ada").must_change
    # The hash is argon2id; the password is nowhere in the store.
    raw = sqlite3.connect(data / "users.sqlite").execute("select password_hash from users").fetchone()[0]
    assert raw.startswith("$argon2id$") and ada_pw not in raw

    # From now on a writing command names an active admin.
    anon = _cli(data, "add", "pat", "--role", "planner")
    assert anon.returncode == 2 and "--user NAME" in anon.stderr
    added = _cli(data, "add", "pat", "--role", "planner", "--user", "ada", "--sites", "SITE-GAL")
    assert added.returncode == 0, added.stderr
    as_planner = _cli(data, "add", "eve", "--role", "admin", "--user", "pat")
    assert as_planner.returncode == 2 and "pat (planner) may not" in as_planner.stderr
    assert users.get(settings, "eve") is None
    unknown = _cli(data, "disable", "pat", "--user", "nobody")
    assert unknown.returncode == 2 and "no active user 'nobody'" in unknown.stderr
    # Names are unique regardless of case.
    dup = _cli(data, "add", "PAT", "--role", "viewer", "--user", "ada")
    assert dup.returncode == 2 and "unique" in dup.stderr

    listed = json.loads(_cli(data, "list", "--json").stdout)
    assert [(u["name"], u["role"], u["sites"], u["state"]) for u in listed] == [
        ("ada", "admin", [], "active"),
        ("pat", "planner", ["SITE-GAL"], "active"),
    ]
    assert _cli(data, "disable", "pat", "--user", "ada").returncode == 0
    pat_first = _one_time(added.stdout, "pat")
    with pytest.raises(users.UserError, match="wrong user name or password"):
        users.authenticate(settings, "pat", pat_first)  # the right password, but disabled
    assert json.loads(_cli(data, "list", "--json").stdout)[1]["state"] == "disabled"
    assert _cli(data, "enable", "pat", "--user", "ada").returncode == 0
    assert users.authenticate(settings, "pat", pat_first).name == "pat"
    changed = _cli(data, "change", "pat", "--role", "qa", "--sites", "", "--user", "ada")
    assert changed.returncode == 0 and "pat: qa, all sites" in changed.stdout
    reset = _cli(data, "reset", "pat", "--user", "ada")
    pat_pw = _one_time(reset.stdout, "pat")
    assert users.authenticate(settings, "pat", pat_pw).must_change

    # Every user change is in the audit trail with who did it; the refused ones left nothing.
    from medtower import audit

    trail = audit.read(settings, object_type="user")
    assert [(r["actor"], r["action"], r["object_id"]) for r in trail] == [
        ("(first administrator)", "user_add", "ada"),
        ("ada", "user_add", "pat"),
        ("ada", "user_disable", "pat"),
        ("ada", "user_enable", "pat"),
        ("ada", "role_change", "pat"),
        ("ada", "user_reset", "pat"),
    ]
    assert trail[4]["old"] == {"role": "planner", "sites": ["SITE-GAL"]}
    assert trail[4]["new"] == {"role": "qa", "sites": []}
    assert audit.verify(settings).ok


def test_password_rules() -> None:
    for bad, why in (
        ("short1", "at least 12 characters"),
        ("x" * 129, "at most 128"),
        ("my name is dana, ok?", "may not contain the user name"),
        ("password1234", "too easy"),
        ("aaaaaaaaaaaaaaa", "too easy"),
    ):
        with pytest.raises(users.UserError, match=why):
            users.check_password(bad, "dana", 12)
    users.check_password("four random words here", "dana", 12)


def test_lockout_counts_failures_in_a_row_and_ends(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, lockout_attempts=3, lockout_minutes=10)
    users.add(settings, "lena", "viewer", password="a long enough phrase", must_change=False)
    t0 = dt.datetime(2026, 12, 1, 8, 0)
    for _ in range(2):
        with pytest.raises(users.UserError, match="wrong user name"):
            users.authenticate(settings, "lena", "nope nope nope", now=t0)
    # A success in between starts the count again.
    users.authenticate(settings, "lena", "a long enough phrase", now=t0)
    for _ in range(2):
        with pytest.raises(users.UserError, match="wrong user name"):
            users.authenticate(settings, "lena", "nope nope nope", now=t0)
    with pytest.raises(users.UserError, match="now locked for 10 minutes"):
        users.authenticate(settings, "lena", "nope nope nope", now=t0)
    with pytest.raises(users.UserError, match="locked after 3 failed"):
        users.authenticate(settings, "lena", "a long enough phrase", now=t0 + dt.timedelta(minutes=9))
    assert users.authenticate(settings, "lena", "a long enough phrase", now=t0 + dt.timedelta(minutes=11))
    # An unknown name gets the same answer as a wrong password.
    with pytest.raises(users.UserError, match=r"^wrong user name or password$"):
        users.authenticate(settings, "nobody", "a long enough phrase")


def test_cli_alert_decisions_act_as_a_checked_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    users.add(settings, "vic", "viewer", password="a long enough phrase", must_change=False)
    run = subprocess.run(
        [sys.executable, "-m", "medtower", "alerts", "ack", "k", "--user", "vic", "--comment", "x"],
        cwd=ROOT,
        env={**os.environ, "MEDTOWER_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "vic (viewer) may not alert.acknowledge" in run.stderr
    typed = subprocess.run(
        [sys.executable, "-m", "medtower", "alerts", "resolve", "k", "--by", "CEO", "--comment", "x"],
        cwd=ROOT,
        env={**os.environ, "MEDTOWER_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typed.returncode == 2 and "no active user 'CEO'" in typed.stderr
    assert not (data / "alert-actions.sqlite").exists()
