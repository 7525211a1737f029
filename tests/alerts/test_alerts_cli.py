"""`medtower alerts ...` as a user types it: as-of guard, unknown keys, list order (real CLI processes)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from alerts.state import Instance
from alerts.store import ensure_schema, save_instance
from medtower.alert_queries import list_alerts
from medtower.settings import Settings
from tests.alerts.support import SHORTAGE_RULE_YAML, shortage_warehouse
from tests.signin import add_user

ROOT = Path(__file__).resolve().parents[2]
BUILT = dt.date(2026, 12, 1)


def _cli(data: Path, rules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MEDTOWER_DATA_DIR": str(data),
        "MEDTOWER_ALERT_RULES_DIR": str(rules),
        "MEDTOWER_PLANNER_EMAILS": "",
        "MEDTOWER_SMTP_PORT": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "medtower", "alerts", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _plant(tmp_path: Path) -> tuple[Path, Path]:
    data, rules = tmp_path / "data", tmp_path / "rules"
    data.mkdir()
    rules.mkdir()
    (rules / "material_shortage.yaml").write_text(SHORTAGE_RULE_YAML, encoding="utf-8")
    shortage_warehouse(data / "warehouse.duckdb", BUILT, [("M-1", "WO-1", 30.0)])
    return data, rules


def test_alerts_run_refuses_an_as_of_the_marts_were_not_built_for(tmp_path: Path) -> None:
    data, rules = _plant(tmp_path)
    other = _cli(data, rules, "run", "--as-of", "2026-12-08")
    assert other.returncode == 2, other.stdout + other.stderr
    assert "built for as-of 2026-12-01 (marts.fct_shortages.as_of_date), not 2026-12-08" in other.stderr
    assert "`medtower run DROP_DIR --as-of 2026-12-08`" in other.stderr
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        schemas = {r[0] for r in con.sql("select schema_name from information_schema.schemata").fetchall()}
    assert "alerts" not in schemas  # nothing evaluated, nothing published

    # Without --as-of it evaluates for the marts' own day; with that day, the same.
    for args in (("run",), ("run", "--as-of", "2026-12-01")):
        done = _cli(data, rules, *args)
        assert done.returncode == 0, done.stderr
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        days = con.execute("select distinct as_of from alerts.evaluations").fetchall()
    assert days == [(BUILT,)]


def test_ack_or_resolve_of_an_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    data, rules = _plant(tmp_path)
    add_user(data, "dana", "planner")
    assert _cli(data, rules, "run").returncode == 0
    key = "material_shortage:material_id=M-1,site_id=S1"
    typo = "material_shortage:material_id=M-l,site_id=S1"
    for action in ("ack", "resolve"):
        bad = _cli(data, rules, action, typo, "--user", "dana", "--comment", "chasing SUP-1")
        assert bad.returncode == 2
        assert f"no alert with key '{typo}'" in bad.stderr and f"did you mean '{key}'" in bad.stderr
    assert not (data / "alert-actions.sqlite").exists()  # nothing recorded for the typo
    # A decision says why: without a comment (or with a blank one) nothing is recorded.
    assert _cli(data, rules, "ack", key, "--user", "dana").returncode == 2
    blank = _cli(data, rules, "ack", key, "--user", "dana", "--comment", "  ")
    assert blank.returncode == 2 and "write a comment to acknowledge" in blank.stderr
    assert not (data / "alert-actions.sqlite").exists()
    good = _cli(data, rules, "ack", key, "--user", "dana", "--comment", "expediting PO-9 with SUP-1")
    assert good.returncode == 0 and f"ack of {key} by dana recorded" in good.stdout


def test_list_is_most_severe_first_then_newest(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    t = dt.datetime(2026, 12, 1, 6, 0)
    rows = [  # (key, severity, opened hours after t)
        ("r:k=a", "medium", 0),
        ("r:k=b", "critical", 1),
        ("r:k=c", "high", 5),
        ("r:k=d", "critical", 3),
        ("r:k=e", "low", 9),
        ("r:k=f", "high", 2),
    ]
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        for key, severity, hours in rows:
            opened = t + dt.timedelta(hours=hours)
            inst = Instance(
                key, "r", {"k": key[-1]}, "open", severity, key, opened_at=opened, first_seen_at=opened
            )
            save_instance(con, inst, opened)
    with duckdb.connect(str(path), read_only=True) as con:
        got = [r["alert_key"] for r in list_alerts(con, Settings(data_dir=tmp_path))]
    assert got == ["r:k=d", "r:k=b", "r:k=c", "r:k=f", "r:k=a", "r:k=e"]
