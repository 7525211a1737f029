"""The audit trail (issue 11, Part 11 §11.10(e)): a SHA-256 hash chain in an SQLite file outside the
warehouse.

Tampering is done the way someone with the file would do it (drop the append-only triggers, then edit,
delete, insert or swap rows with sqlite3), and `medtower audit verify` must fail naming the place. Hashes are
recomputed here from the documented rule (SHA-256 of the record's JSON with sorted keys and no spaces,
without ``hash``), not taken from the module. Real DuckDB and dbt for the rebuild test, real processes for
the concurrency test, the real web app callback and CLI for acknowledgements and resolutions.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from medtower import audit
from medtower.cli import main
from medtower.settings import Settings
from tests.alerts.test_workbench import K100, K300, _act, _call, _client_of
from tests.alerts.test_workbench import build as build_alerts
from tests.dash_tree import tree_text
from tests.signin import add_user, signed_in_client

ROOT = Path(__file__).resolve().parents[2]


def _hash(rec: dict[str, Any]) -> str:
    body = {k: v for k, v in rec.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(rec: dict[str, Any]) -> str:
    """A record as the file stores it: its JSON without the hash."""
    return json.dumps({k: v for k, v in rec.items() if k != "hash"}, sort_keys=True, separators=(",", ":"))


def _rows(path: Path) -> list[tuple[int, dict[str, Any], str]]:
    con = sqlite3.connect(path)
    try:
        got = con.execute("select position, record, hash from entries order by position").fetchall()
    finally:
        con.close()
    return [(p, json.loads(r), h) for p, r, h in got]


def _tamper(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What someone with write access to the file does: drop the triggers, change rows."""
    con = sqlite3.connect(path)
    try:
        con.execute("drop trigger entries_no_update")
        con.execute("drop trigger entries_no_delete")
        for sql, params in statements:
            con.execute(sql, params)
        con.commit()
    finally:
        con.close()


def _verify(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(settings.data_dir))
    capsys.readouterr()
    code = main(["audit", "verify"])
    return code, capsys.readouterr().out


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Settings, Path]:
    """Five records by two people, on a data dir without any warehouse."""
    settings = Settings(data_dir=tmp_path / "data")
    for i, who in enumerate(["alice", "bob", "alice", "bob", "alice"], start=1):
        audit.record(settings, who, "comment", "alert", f"rule:k={i}", None, {"comment": f"note {i}"})
    return settings, audit.store_path(settings)


def test_records_chain_by_sha256_of_their_canonical_json(trail: tuple[Settings, Path]) -> None:
    settings, path = trail
    assert path == settings.data_dir / "audit" / "audit-trail.sqlite"
    rows = _rows(path)
    assert [p for p, _, _ in rows] == [1, 2, 3, 4, 5]
    previous = "0" * 64
    for position, rec, stored in rows:
        assert rec["seq"] == position
        assert rec["prev_hash"] == previous
        assert _hash(rec) == stored and "hash" not in rec  # the hash is stored beside the record
        previous = stored
        # Computer-generated time, in UTC and (no site) in the default time zone, UTC.
        at = dt.datetime.fromisoformat(rec["at_utc"].replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.UTC) - at).total_seconds()) < 60
        assert rec["site_tz"] == "UTC" and dt.datetime.fromisoformat(
            rec["at_site"]
        ).utcoffset() == dt.timedelta(0)
    assert rows[2][1]["actor"] == "alice" and rows[2][1]["new"] == {"comment": "note 3"}
    con = sqlite3.connect(path)
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    # Append-only: the file refuses UPDATE and DELETE while its triggers are in place.
    for sql in ("update entries set hash = 'x' where position = 1", "delete from entries where position = 1"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()
    check = audit.verify(settings)
    assert check.ok and check.records == 5 and check.head == rows[-1][2]


def test_record_refuses_a_record_that_says_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="actor"):
        audit.record(settings, " ", "ack", "alert", "k")
    with pytest.raises(ValueError, match="object"):
        audit.record(settings, "alice", "ack", "alert", "")
    with pytest.raises(ValueError, match="needs a reason"):
        audit.record(settings, "alice", "resolve", "alert", "k", require_reason=True)
    assert not audit.store_path(settings).exists() or audit.verify(settings).records == 0


def test_an_edited_field_is_found_at_its_record(trail, monkeypatch, capsys) -> None:
    settings, path = trail
    _tamper(
        path,
        (
            'update entries set record = replace(record, \'"actor":"alice"\', \'"actor":"mallory"\') '
            "where position = 3",
            (),
        ),
    )
    assert _rows(path)[2][1]["actor"] == "mallory"
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1
    assert "TAMPERED" in out and "record 3 (seq 3) was edited" in out
    assert [(p.kind, p.position) for p in audit.verify(settings).problems] == [("edited", 3)]


def test_an_edit_with_its_hash_recomputed_is_found_by_the_next_record(trail, monkeypatch, capsys) -> None:
    settings, path = trail
    rec = _rows(path)[1][1]
    rec["new"] = {"comment": "nothing to see"}
    rec["hash"] = _hash(rec)
    text = _text(rec)
    _tamper(path, ("update entries set record = ?, hash = ? where position = 2", (text, rec["hash"])))
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1 and "record 2 was edited (and its hash recomputed)" in out
    assert [(p.kind, p.position) for p in audit.verify(settings).problems] == [("edited", 2)]


def test_a_deleted_record_is_named(trail, monkeypatch, capsys) -> None:
    settings, path = trail
    _tamper(path, ("delete from entries where position = 3", ()))
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1 and "record seq 3 deleted: missing between record 2 and record 3 (seq 4)" in out
    assert [(p.kind, p.seq) for p in audit.verify(settings).problems] == [("deleted", 4)]


def test_a_deleted_last_record_is_named_and_stays_visible_after_new_appends(
    trail, monkeypatch, capsys
) -> None:
    settings, path = trail
    _tamper(path, ("delete from entries where position = 5", ()))
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1 and "record seq 5 deleted: missing after the last record" in out
    # The next append chains onto record 4 but takes seq 6: the gap stays on record.
    audit.record(settings, "carol", "comment", "alert", "rule:k=6", None, {"comment": "later"})
    assert _rows(path)[-1][1]["seq"] == 6
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1 and "record seq 5 deleted: missing before record 5 (seq 6)" in out


def test_an_inserted_record_is_named_even_when_it_chains_onto_the_one_before(
    trail, monkeypatch, capsys
) -> None:
    settings, path = trail
    rows = _rows(path)
    forged = {**rows[1][1], "record_id": "f" * 32, "actor": "mallory", "seq": 3, "prev_hash": rows[1][2]}
    forged["new"] = {"comment": "I was here all along"}
    forged["hash"] = _hash(forged)
    text = _text(forged)
    _tamper(
        path,
        # Make room at position 3 (two steps: positions are unique), then put the forged record there.
        ("update entries set position = -position - 1 where position >= 3", ()),
        ("update entries set position = -position where position < 0", ()),
        ("insert into entries (position, record, hash) values (3, ?, ?)", (text, forged["hash"])),
    )
    assert [r[1]["actor"] for r in _rows(path)] == ["alice", "bob", "mallory", "alice", "bob", "alice"]
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1 and "record 3 (seq 3) was inserted: record 4 chains to record 2" in out
    kinds = {(p.kind, p.position) for p in audit.verify(settings).problems}
    assert ("inserted", 3) in kinds


def test_reordered_records_are_named(trail, monkeypatch, capsys) -> None:
    settings, path = trail
    rows = _rows(path)
    two = json.dumps(rows[1][1], sort_keys=True, separators=(",", ":"))
    four = json.dumps(rows[3][1], sort_keys=True, separators=(",", ":"))
    _tamper(
        path,
        ("update entries set record = ?, hash = ? where position = 2", (four, rows[3][2])),
        ("update entries set record = ?, hash = ? where position = 4", (two, rows[1][2])),
    )
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1
    assert "record seq 4 stands at position 2: reordered" in out
    assert "record seq 2 stands at position 4: reordered" in out


def test_verify_with_a_head_noted_earlier_catches_a_rewritten_tail(trail, monkeypatch, capsys) -> None:
    settings, path = trail
    head = audit.verify(settings).head
    # A rewrite from record 4 on, every hash recomputed: the chain is consistent again...
    rows = _rows(path)
    statements = []
    previous = rows[2][2]
    for position, rec, _ in rows[3:]:
        rec = {**rec, "actor": "mallory", "prev_hash": previous}
        rec["hash"] = _hash(rec)
        previous = rec["hash"]
        text = _text(rec)
        statements.append(
            ("update entries set record = ?, hash = ? where position = ?", (text, rec["hash"], position))
        )
    _tamper(path, *statements)
    assert audit.verify(settings).ok
    # ...but not with the head an inspector wrote down.
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(settings.data_dir))
    capsys.readouterr()
    assert main(["audit", "verify", "--head", head]) == 1
    assert "no longer holds the head" in capsys.readouterr().out


def test_appends_from_two_processes_at_once_keep_one_chain(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    n = 150
    go = tmp_path / "go"
    # Each process says it is ready and waits for the go (bounded), so both append at the same time.
    script = textwrap.dedent(
        f"""
        import pathlib, sys, time
        from medtower import audit
        from medtower.settings import Settings
        s = Settings(data_dir={str(settings.data_dir)!r})
        pathlib.Path({str(tmp_path)!r}, "ready-" + sys.argv[1]).touch()
        deadline = time.monotonic() + 60
        while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        other = "webapp" if sys.argv[1] == "pipeline" else "pipeline"
        for i in range({n}):
            audit.record(s, sys.argv[1], "comment", "alert", f"k-{{i}}", None, {{"i": i}}, source="pipeline")
            if i == 0:  # both are writing before either goes on, however busy the machine is
                pathlib.Path({str(tmp_path)!r}, "first-" + sys.argv[1]).touch()
                deadline = time.monotonic() + 60
                while not pathlib.Path({str(tmp_path)!r}, "first-" + other).exists():
                    assert time.monotonic() < deadline, "the other writer never wrote"
                    time.sleep(0.001)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, who], env=env, cwd=ROOT)
        for who in ("pipeline", "webapp")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{w}").exists() for w in ("pipeline", "webapp")):
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.01)
    go.touch()
    for p in procs:
        assert p.wait(timeout=120) == 0
    rows = _rows(audit.store_path(settings))
    assert len(rows) == 2 * n
    assert [r["seq"] for _, r, _ in rows] == list(range(1, 2 * n + 1))
    previous = "0" * 64
    for _, rec, stored in rows:  # one chain: no two records share a predecessor
        assert rec["prev_hash"] == previous and _hash(rec) == stored
        previous = stored
    for who in ("pipeline", "webapp"):
        assert sorted(r["new"]["i"] for _, r, _ in rows if r["actor"] == who) == list(range(n))
    # Both wrote at the same time: their records interleave, they did not run one after the other.
    actors = [r["actor"] for _, r, _ in rows]
    switches = sum(a != b for a, b in itertools.pairwise(actors))
    assert switches >= 2, "the two writers did not overlap; the test proves nothing"
    assert audit.verify(settings).ok


# --- the hooks: the CLI and the web app's callback -------------------------------------------------------


@pytest.fixture
def app_client(tmp_path: Path) -> Any:
    from dashboards.app import create_app

    settings = Settings(data_dir=tmp_path / "data", planner_emails=[])
    build_alerts(settings)
    for name, role in (("chen.planner", "planner"), ("dana.planner", "planner"), ("quinn.qa", "qa")):
        add_user(settings.data_dir, name, role)
    app = create_app(settings)
    client = _client_of(app, "quinn.qa")  # signed in (one login record); QA may read the audit trail
    assert client.get("/alerts").status_code == 200
    return app, client, settings


def _site_time(at_utc: str, zone: str) -> str:
    at = dt.datetime.fromisoformat(at_utc.replace("Z", "+00:00"))
    return at.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def test_ack_and_resolve_from_the_cli_and_the_web_app_land_in_the_trail(
    app_client, monkeypatch, capsys
) -> None:
    app, client, settings = app_client
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(settings.data_dir))
    before = dt.datetime.now(dt.UTC)
    assert main(["alerts", "ack", K300, "--by", "chen.planner", "--comment", "Asked the supplier"]) == 0
    out = _act(app, client, "alerts-assign", K300, "dana.planner", owner="role:qa")
    assert out["alerts-action-result"]["children"].startswith("Assigned to QA (role)")
    _act(app, client, "alerts-add-comment", K300, "quinn.qa", comment='=HYPERLINK("http://x")')
    _act(app, client, "alerts-resolve", K300, "quinn.qa", comment="Gel arrived, lot released")
    assert main(["alerts", "resolve", K100, "--by", "chen.planner", "--comment", "Covered by PO-9"]) == 0
    after = dt.datetime.now(dt.UTC)

    # People's actions only: the engine's own opens (actor "system") are tests/alerts/test_engine_trail.py's.
    got = [r for r in audit.read(settings, object_type="alert") if r["actor"] != audit.SYSTEM]
    assert [(r["actor"], r["action"], r["object_id"]) for r in got] == [
        ("chen.planner", "ack", K300),
        ("dana.planner", "assign", K300),
        ("quinn.qa", "comment", K300),
        ("quinn.qa", "resolve", K300),
        ("chen.planner", "resolve", K100),
    ]
    ack, assign, comment, resolve, resolve_100 = got
    assert (ack["old"]["state"], ack["new"]["state"], ack["reason"]) == (
        None,
        "acknowledged",
        "Asked the supplier",
    )
    assert (assign["old"], assign["new"]["owner"]) == ({"owner": None}, "role:qa")
    assert comment["old"] is None and comment["new"]["comment"] == '=HYPERLINK("http://x")'
    assert (resolve["old"]["state"], resolve["new"]["state"]) == ("acknowledged", "resolved")
    assert resolve["reason"] == "Gel arrived, lot released"
    assert resolve_100["old"] == {"state": None}
    # Who and when: the web app's records come from the request, the CLI's from the command line.
    assert {r["source"] for r in (assign, comment, resolve)} == {"web"}
    for r in got:
        at = dt.datetime.fromisoformat(r["at_utc"].replace("Z", "+00:00"))
        assert before <= at <= after
    # Site time: K300 is at S2 (Asia/Shanghai in dim_sites, UTC+8), K100 at S1 (Europe/Dublin).
    assert ack["site_id"] == "S2" and ack["site_tz"] == "Asia/Shanghai"
    assert ack["at_site"] == _site_time(ack["at_utc"], "Asia/Shanghai") and ack["at_site"].endswith("+08:00")
    assert resolve_100["site_tz"] == "Europe/Dublin"
    assert audit.verify(settings).ok

    # `medtower audit list` with filters, and the page.
    capsys.readouterr()
    assert main(["audit", "list", "--user", "quinn", "--action", "resolve"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert (
        len(listed) == 1
        and "quinn.qa: resolve alert " + K300 in listed[0]
        and "why: Gel arrived" in listed[0]
    )
    assert main(["audit", "list", "--object", "M-100", "--json"]) == 0
    # The engine opened the alert (as the system), Chen resolved it.
    assert [r["action"] for r in json.loads(capsys.readouterr().out)] == ["open", "resolve"]

    assert client.get("/audit").status_code == 200
    body = _call(
        app,
        client,
        "audit-body.children",
        [
            {"id": "audit-user", "property": "value", "value": "Quinn"},
            {"id": "audit-object", "property": "value", "value": ""},
            {"id": "audit-action", "property": "value", "value": ""},
            {"id": "audit-days", "property": "start_date", "value": before.date().isoformat()},
            {"id": "audit-days", "property": "end_date", "value": after.date().isoformat()},
        ],
        [{"id": "audit-body-held", "property": "data", "value": None}],
        [{"id": "audit-body", "property": "children"}, {"id": "audit-body-held", "property": "data"}],
    )
    text = tree_text(body["audit-body"]["children"])
    # The engine's 3 opens (the fixture's three alerts), 5 people's alert records and 2 sign-ins (quinn.qa,
    # dana.planner); quinn.qa's: sign-in, comment, resolve.
    assert "Chain intact." in text and "3 of 10 records" in text
    grid = json.dumps(body["audit-body"]["children"])
    assert "Gel arrived, lot released" in grid and "Asked the supplier" not in grid  # Chen's, filtered out
    # A day before the records: none.
    body = _call(
        app,
        client,
        "audit-body.children",
        [
            {"id": "audit-user", "property": "value", "value": ""},
            {"id": "audit-object", "property": "value", "value": ""},
            {"id": "audit-action", "property": "value", "value": ""},
            {"id": "audit-days", "property": "start_date", "value": None},
            {
                "id": "audit-days",
                "property": "end_date",
                "value": (before.date() - dt.timedelta(days=1)).isoformat(),
            },
        ],
        [{"id": "audit-body-held", "property": "data", "value": None}],
        [{"id": "audit-body", "property": "children"}, {"id": "audit-body-held", "property": "data"}],
    )
    assert "0 of 10 records" in tree_text(body["audit-body"]["children"])


def test_a_grid_export_is_recorded(tmp_path: Path) -> None:
    """The grid's export callback, posted to a real app. In a process of its own: Dash gives callbacks
    registered at import (dashboards.components) to the first app of a process only."""
    settings = Settings(data_dir=tmp_path / "data", planner_emails=[])
    build_alerts(settings)
    script = textwrap.dedent(
        f"""
        from dashboards.app import create_app
        from medtower.settings import Settings
        from tests.alerts.test_workbench import _call
        from tests.signin import add_user, signed_in_client
        add_user(Settings(data_dir={str(settings.data_dir)!r}).data_dir)
        app = create_app(Settings(data_dir={str(settings.data_dir)!r}, planner_emails=[]))
        client = signed_in_client(app)
        assert client.get("/data-health").status_code == 200
        out = _call(
            app, client, "exportDataAsCsv",
            [{{"id": {{"name": "pipeline-runs", "type": "grid-csv"}}, "property": "n_clicks", "value": 1}}],
            [],
            {{"id": {{"name": "pipeline-runs", "type": "grid"}}, "property": "exportDataAsCsv"}},
        )
        print(out)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (rec,) = audit.read(settings, action="export")
    # Under the signed-in user's name (tests/signin.py's "tester").
    assert (rec["actor"], rec["object_type"], rec["object_id"]) == ("tester", "grid", "pipeline-runs")
    assert rec["new"] == {"file": "medtower-pipeline-runs.csv"} and rec["source"] == "web"


def test_export_csv_and_html_for_an_inspector(app_client, monkeypatch, capsys, tmp_path) -> None:
    app, client, settings = app_client
    _act(app, client, "alerts-ack", K100, "quinn.qa", comment="=1+1 looked at it")
    _act(app, client, "alerts-resolve", K100, "quinn.qa", comment="Done <b>now</b>")
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(settings.data_dir))

    out_csv = tmp_path / "out" / "trail.csv"
    assert main(["audit", "export", "--format", "csv", "--out", str(out_csv)]) == 0
    with open(out_csv, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    stored = [{**r, "hash": h} for _, r, h in _rows(audit.store_path(settings))]
    # 1-3: the engine opens the fixture's three alerts, 4: quinn.qa's sign-in, 5: the ack, 6: the resolution.
    assert [row["seq"] for row in table] == [str(r["seq"]) for r in stored] == ["1", "2", "3", "4", "5", "6"]
    assert [row["hash"] for row in table] == [r["hash"] for r in stored]
    assert {(row["actor"], row["action"]) for row in table[:3]} == {("system", "open")}
    table, stored = table[3:], stored[3:]
    assert (table[0]["action"], table[0]["actor"]) == ("login", "quinn.qa")
    assert table[1]["reason"] == "'=1+1 looked at it"  # a spreadsheet shows it, does not run it
    assert json.loads(table[2]["old"]) == {"state": "acknowledged"}
    assert table[2]["actor"] == "quinn.qa" and table[2]["at_site"] == stored[2]["at_site"]

    out_html = tmp_path / "trail.html"
    assert main(["audit", "export", "--format", "html", "--out", str(out_html), "--user", "quinn"]) == 0
    page = out_html.read_text(encoding="utf-8")
    assert "Verification: chain intact" in page and stored[2]["hash"] in page
    assert "Done &lt;b&gt;now&lt;/b&gt;" in page and "<b>now</b>" not in page
    assert page.count("<tr>") == 4  # header and three records (the sign-in, the ack, the resolution)
    assert "@media print" in page

    _tamper(audit.store_path(settings), ("delete from entries where position = 1", ()))
    assert main(["audit", "export", "--format", "html", "--out", str(out_html)]) == 0
    page = out_html.read_text(encoding="utf-8")
    assert "Verification: chain TAMPERED" in page and "record seq 1 deleted" in page


# --- the pipeline: runs, publishes, rule changes; the trail outlives the warehouse -----------------------


def _seed_plant(settings: Settings) -> None:
    import duckdb

    from ingest.contract import load_contract
    from ingest.load import ensure_schema
    from medtower.warehouse import work_database
    from tests.conftest import insert_rows
    from tests.small_plant import ROWS

    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        ensure_schema(con, load_contract())
        for table, rows in ROWS.items():
            insert_rows(con, table, rows)


@pytest.mark.slow
def test_pipeline_runs_and_publishes_are_recorded_and_survive_deleting_the_warehouse(tmp_path: Path) -> None:
    from medtower.pipeline import run_once
    from tests.core.test_publish import _write_sites
    from tests.small_plant import ROWS

    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "alerts" / "rules" / "data_freshness.yaml", rules)
    settings = Settings(
        data_dir=tmp_path / "data", duckdb_memory_limit="1GB", duckdb_threads=1, alert_rules_dir=rules
    )
    _seed_plant(settings)
    drop = tmp_path / "drop"
    drop.mkdir()
    _write_sites(drop, ROWS["sites"])
    first = run_once(settings, drop)
    assert first["outcome"] == "succeeded", first.get("error")
    # The pipeline's own records; the alerts step's opens (tests/alerts/test_engine_trail.py) come between.
    trail = audit.read(settings, source="pipeline")
    opened = len(audit.read(settings, source="alerts engine"))
    assert [(r["action"], r["object_type"]) for r in trail] == [
        ("run_started", "pipeline_run"),
        ("rules_changed", "alert_rules"),
        ("publish", "warehouse"),
        ("run_finished", "pipeline_run"),
    ]
    started, rules_rec, publish, finished = trail
    assert {r["actor"] for r in trail} == {audit.SYSTEM} and {r["source"] for r in trail} == {"pipeline"}
    assert started["object_id"] == finished["object_id"] == first["run_id"]
    assert finished["old"] == {"outcome": "running"} and finished["new"]["outcome"] == "succeeded"
    assert finished["new"]["steps"] == {s["step"]: s["outcome"] for s in first["steps"]}
    sha = hashlib.sha256((rules / "data_freshness.yaml").read_bytes()).hexdigest()
    assert rules_rec["old"] is None and rules_rec["new"] == {"data_freshness.yaml": sha}
    version = settings.warehouse_path.resolve().name
    assert (
        publish["old"] == {"version": None} and publish["new"]["version"] == version == publish["object_id"]
    )

    # A trace scope exported from the page is on record too, with what it held.
    from dashboards.app import create_app
    from medtower.warehouse import connect_readonly

    with connect_readonly(settings) as con:
        (lot,) = con.execute(
            "select child_lot_id from marts.fct_lot_genealogy_edges order by 1 limit 1"
        ).fetchone()
    add_user(settings.data_dir, "quinn.qa", "qa")
    app = create_app(settings)
    client = signed_in_client(app, "quinn.qa")  # record 5: the sign-in
    assert client.get("/traceability").status_code == 200
    sent = _call(
        app,
        client,
        "trace-download.data",
        [
            {"id": "trace-csv", "property": "n_clicks", "value": 1},
            {"id": "trace-xlsx", "property": "n_clicks", "value": 0},
        ],
        [
            {"id": "trace-q", "property": "value", "value": lot},
            {"id": "trace-direction", "property": "value", "value": "forward"},
        ],
        {"id": "trace-download", "property": "data"},
    )
    lines = sent["trace-download"]["data"]["content"].strip().splitlines()
    (export,) = audit.read(settings, action="export")
    assert (export["object_type"], export["object_id"], export["actor"]) == ("trace_scope", lot, "quinn.qa")
    assert export["new"]["lots"] == len(lines) - 1 > 0 and export["new"]["direction"] == "forward"
    assert export["new"]["file"] == sent["trace-download"]["data"]["filename"]

    # The warehouse is lost: the work database, every published version and the link.
    shutil.rmtree(settings.data_dir / "work")
    for p in settings.data_dir.glob("warehouse*.duckdb"):
        p.unlink()
    assert audit.verify(settings).ok and audit.verify(settings).records == 6 + opened
    # Restored from the feed and built again, with one rule changed: the trail goes on from where it was.
    (rules / "data_freshness.yaml").write_text(
        (rules / "data_freshness.yaml").read_text() + "\n# threshold reviewed\n", encoding="utf-8"
    )
    _seed_plant(settings)
    second = run_once(settings, drop)
    assert second["outcome"] == "succeeded", second.get("error")
    trail = audit.read(settings, source="pipeline")
    # Between the two runs: the sign-in and the export (the first run's publish came after its opens).
    seqs = [r["seq"] for r in trail]
    assert len(trail) == 8 and seqs[:2] == [1, 2] and seqs[4] == seqs[3] + 3 and seqs == sorted(seqs)
    assert [r["action"] for r in trail[4:]] == ["run_started", "rules_changed", "publish", "run_finished"]
    changed = trail[5]
    assert changed["old"] == {"data_freshness.yaml": sha} and changed["new"]["data_freshness.yaml"] != sha
    assert changed["reason"] == "rule files changed: data_freshness.yaml"
    assert trail[4]["prev_hash"] == export["hash"]
    assert trail[6]["old"] == {"version": None}  # the versions before were deleted with the warehouse
    check = audit.verify(settings)
    opened_again = len(audit.read(settings, source="alerts engine")) - opened  # the state went with it
    assert opened_again == opened > 0
    assert check.ok and check.records == 10 + 2 * opened, check.summary()
