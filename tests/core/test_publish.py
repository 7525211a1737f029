"""The pipeline on the work database, with real DuckDB and dbt on the hand-made plant: a run publishes only
what readers read; the same delivery again runs no dbt and changes no mart row; a changed entity builds
only what depends on it; a failed build changes nothing readers see and the next run builds again; new
alert rules are evaluated without a build.

The tests share one data dir (one dbt parse) and run in this order, each starting where the last ended.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from medtower.pipeline import SKIPPED, build, run_once
from medtower.settings import Settings
from medtower.warehouse import connect_readonly, current_version, work_database, work_path
from tests.small_plant import AS_OF

pytestmark = [pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules"


def _write(drop: Path, entity: str, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(drop / f"{entity}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _write_sites(drop: Path, rows: list[dict[str, Any]]) -> None:
    _write(drop, "sites", rows)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path, dict[str, Any]]:
    """The hand-made plant's raw tables in the work database, a drop folder of its sites, a first run."""
    from ingest.contract import load_contract
    from ingest.load import ensure_schema
    from tests.conftest import insert_rows
    from tests.small_plant import ROWS

    root = tmp_path_factory.mktemp("publish")
    rules = root / "rules"
    rules.mkdir()
    settings = Settings(
        data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=1, alert_rules_dir=rules
    )
    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        ensure_schema(con, load_contract())
        for table, rows in ROWS.items():
            insert_rows(con, table, rows)
    drop = root / "drop"
    drop.mkdir()
    _write_sites(drop, ROWS["sites"])
    first = _run(settings, drop)
    assert first["outcome"] == "succeeded", first.get("error")
    return settings, drop, first


def _run(settings: Settings, drop: Path) -> dict[str, Any]:
    """`medtower run` as of the small plant's day: what is due (expiry, reminders) does not move with the
    calendar, and a run that crosses midnight UTC is not a new day's full build."""
    return run_once(settings, drop, as_of=AS_OF)


def _steps(record: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {s["step"]: (s["outcome"], s["detail"]) for s in record["steps"]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _published(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with connect_readonly(settings) as con:
        return con.execute(sql).fetchall()


def _dbt_nodes(settings: Settings, run_id: str, kind: str = "") -> int:
    """The dbt nodes a run's build ran; ``kind``: only those whose id starts so (``unit_test.``)."""
    with duckdb.connect(str(work_path(settings)), read_only=True) as con:
        return con.execute(
            "select count(*) from meta.dbt_results where run_id = ? and starts_with(unique_id, ?)",
            [run_id, kind],
        ).fetchone()[0]


def test_a_run_publishes_the_marts_and_never_raw(plant: tuple[Settings, Path, dict[str, Any]]) -> None:
    settings, _, first = plant
    assert _steps(first)["build"][0] == "succeeded" and first["steps"][1]["result"]["select"] == "everything"
    assert first["publish"]["outcome"] == "succeeded"
    schemas = {r[0] for r in _published(settings, "select table_schema from information_schema.tables")}
    assert schemas == {"marts", "meta", "alerts"}  # never raw, staging, intermediate or writer
    assert _published(settings, "select site_id, name from marts.dim_sites order by 1") == [
        ("S1", "Berlin"),
        ("S2", "Suzhou"),
    ]
    with duckdb.connect(str(work_path(settings)), read_only=True) as con:
        assert con.execute("select count(*) from raw.sites").fetchone() == (2,)


def test_the_same_delivery_again_runs_no_dbt_and_changes_no_mart_row(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    settings, drop, first = plant
    version, digest = current_version(settings), _sha(current_version(settings))
    inode = work_path(settings).stat().st_ino
    marts_before = _published(settings, "select * from marts.dim_sites order by site_id")
    again = _run(settings, drop)
    assert again["outcome"] == "succeeded", again.get("error")
    assert _steps(again) == {
        "ingest": ("succeeded", "0 rows loaded, 0 quarantined"),
        "build": ("skipped", SKIPPED),
        "alerts": ("skipped", SKIPPED),
    }
    assert again["publish"] == {"outcome": "skipped", "detail": SKIPPED}
    assert _dbt_nodes(settings, again["run_id"]) == 0 and _dbt_nodes(settings, first["run_id"]) > 0
    assert current_version(settings) == version and _sha(version) == digest
    assert _published(settings, "select * from marts.dim_sites order by site_id") == marts_before
    assert work_path(settings).stat().st_ino == inode


def test_a_changed_entity_builds_only_what_depends_on_it(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    from tests.small_plant import ROWS

    settings, drop, first = plant
    version = current_version(settings)
    inode = work_path(settings).stat().st_ino
    _write_sites(drop, [{**ROWS["sites"][0], "name": "Berlin Plant"}, *ROWS["sites"][1:]])
    delta = _run(settings, drop)
    assert delta["outcome"] == "succeeded", delta.get("error")
    build_step = {s["step"]: s for s in delta["steps"]}["build"]
    assert build_step["outcome"] == "succeeded"
    assert build_step["result"]["select"] == "source:feed.sites+"
    assert 0 < _dbt_nodes(settings, delta["run_id"]) < _dbt_nodes(settings, first["run_id"])
    assert _published(settings, "select site_id, name from marts.dim_sites order by 1") == [
        ("S1", "Berlin Plant"),
        ("S2", "Suzhou"),
    ]
    assert current_version(settings) != version
    assert work_path(settings).stat().st_ino == inode

    # The new version started as a copy of the last one and only the marts downstream of sites were
    # written again: those dbt's own manifest says depend on the sites source.
    manifest = json.loads(
        (settings.data_dir / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8")
    )
    below, todo = set(), ["source.medtower.feed.sites"]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    downstream = {
        manifest["nodes"][n]["alias"]
        for n in below
        if n.startswith("model.") and manifest["nodes"][n]["schema"] == "marts"
    }
    every = {
        r[0]
        for r in _published(
            settings, "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    }
    assert "dim_sites" in downstream and len(downstream) < len(every), (downstream, every)
    assert delta["publish"]["marts_of"] == version.name
    assert delta["publish"]["marts_written"] == len(downstream)
    # ... and yet every published mart holds exactly the work database's rows.
    with duckdb.connect(str(work_path(settings)), read_only=True) as con:
        con.execute(f"attach '{current_version(settings)}' as pub (read_only)")
        for table in sorted(every):
            work, pub = f"marts.{table}", f"pub.marts.{table}"
            differ = con.execute(
                f"select count(*) from ((select * from {work} except all select * from {pub}) "
                f"union all (select * from {pub} except all select * from {work}))"
            ).fetchone()[0]
            assert differ == 0, (
                f"marts.{table}: {differ} rows differ between the work database and the version"
            )


def test_a_delta_build_leaves_the_unit_tests_to_full_builds(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    """dbt's unit tests check a model's SQL on fixed inputs, not the rows: a full build runs them; a delta
    build (same project, new rows) builds and data-tests the models below the changed entity without them."""
    from tests.small_plant import ROWS

    settings, drop, first = plant
    unit = "unit_test.medtower.fct_work_orders."
    assert _dbt_nodes(settings, first["run_id"], unit) == 1  # work_order_late_from_end_of_planned_end_day
    wos = [{**r, "qty_completed": 96} if r["wo_id"] == "WO1" else r for r in ROWS["work_orders"]]
    _write(drop, "work_orders", wos)
    delta = _run(settings, drop)
    assert delta["outcome"] == "succeeded", delta.get("error")
    build_step = {s["step"]: s for s in delta["steps"]}["build"]
    assert build_step["result"]["select"] == "source:feed.work_orders+"
    assert _dbt_nodes(settings, delta["run_id"], "model.medtower.fct_work_orders") == 1
    assert _dbt_nodes(settings, delta["run_id"], "test.") > 0
    assert _dbt_nodes(settings, delta["run_id"], "unit_test.") == 0
    assert _published(settings, "select qty_completed from marts.fct_work_orders where wo_id = 'WO1'") == [
        (96,)
    ]


def test_a_failed_build_changes_nothing_readers_see_and_the_next_run_builds(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    settings, drop, _ = plant
    version, digest = current_version(settings), _sha(current_version(settings))
    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        # A second S2: marts.dim_sites.site_id is no longer unique, its dbt test fails.
        con.execute("insert into raw.sites select * from raw.sites where site_id = 'S2'")
    # The mart and its tests, no more: a quick failure.
    failed = build(settings, select="dim_sites", as_of=AS_OF)
    assert failed["outcome"] == "failed" and "unique" in failed["error"], failed
    assert current_version(settings) == version and _sha(version) == digest
    assert list(settings.build_dir.iterdir()) == []

    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        con.execute(
            "delete from raw.sites where site_id = 'S2' "
            "and rowid <> (select min(rowid) from raw.sites where site_id = 'S2')"
        )
    after = _run(settings, drop)  # nothing new in the drop folder, yet the last build failed
    assert after["outcome"] == "succeeded", after.get("error")
    build_step = {s["step"]: s for s in after["steps"]}["build"]
    assert build_step["outcome"] == "succeeded" and build_step["result"]["select"] == "everything"
    assert after["publish"]["outcome"] == "succeeded" and current_version(settings) != version
    assert _published(settings, "select count(*) from marts.dim_sites") == [(2,)]


def test_new_alert_rules_are_evaluated_without_a_build(plant: tuple[Settings, Path, dict[str, Any]]) -> None:
    settings, drop, _ = plant
    version = current_version(settings)
    shutil.copy(RULES / "expiring_lots.yaml", settings.alert_rules_dir)
    record = _run(settings, drop)
    assert record["outcome"] == "succeeded", record.get("error")
    steps = _steps(record)
    assert steps["build"] == ("skipped", SKIPPED) and steps["alerts"][0] == "succeeded"
    assert record["publish"]["outcome"] == "succeeded"
    assert record["publish"]["marts_of"] == version.name  # no build: the marts copied as a file
    assert _published(settings, "select distinct rule_id from alerts.evaluations") == [("expiring_lots",)]
    assert _published(settings, "select count(*) from marts.dim_sites") == [(2,)]
    again = _run(settings, drop)
    assert _steps(again)["alerts"] == ("skipped", SKIPPED) and again["publish"]["outcome"] == "skipped"


def test_mail_waiting_for_a_retry_is_delivered_even_when_nothing_changed(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    from alerts import outbox
    from alerts.message import OutgoingMessage

    settings, drop, _ = plant
    message = OutgoingMessage(
        to=("boss@example.test",), subject="Weekly KPI review", text="t", html="<p>t</p>"
    )
    outbox.enqueue_message(settings, kind="kpi_review", idempotency_key="week-1", message=message)
    down = settings.model_copy(  # no mail server on port 1: the digest stays pending
        update={"smtp_port": 1, "alert_smtp_retries": 1, "alert_smtp_backoff_seconds": 0.01}
    )
    record = _run(down, drop)
    assert record["outcome"] == "succeeded", record.get("error")
    steps = _steps(record)
    assert steps["build"] == ("skipped", SKIPPED) and steps["alerts"][0] == "succeeded"
    assert "1 pending delivery" in steps["alerts"][1]
    assert [d["status"] for d in outbox.list_digests(settings) if d["kind"] == "kpi_review"] == ["pending"]


def test_a_reminder_that_is_due_is_sent_even_when_nothing_changed(
    plant: tuple[Settings, Path, dict[str, Any]],
) -> None:
    """An open alert last notified longer ago than its rule's reminder interval: the unchanged run evaluates
    the rules and records the reminder; with nothing due, unchanged runs skip them (before and after)."""
    import sqlite3

    from alerts.outbox import outbox_path
    from alerts.rules import load_rules

    settings, drop, _ = plant
    if not (settings.alert_rules_dir / "expiring_lots.yaml").exists():  # run alone, not after the rule test
        shutil.copy(RULES / "expiring_lots.yaml", settings.alert_rules_dir)
        assert _run(settings, drop)["outcome"] == "succeeded"
    with sqlite3.connect(outbox_path(settings)) as mail:  # the mail server took what waited meanwhile
        mail.execute("update digests set status = 'sent' where status = 'pending'")
    assert _steps(_run(settings, drop))["alerts"] == ("skipped", SKIPPED)
    hours = {r.id: r.reminder_hours for r in load_rules(settings.alert_rules_dir)}
    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        open_alerts = con.execute(
            "select alert_key, rule_id from alerts.alert_instances "
            "where state = 'open' and last_notified_at is not null order by alert_key"
        ).fetchall()
        assert open_alerts, "the plant has no open alert to remind of"
        key, rule = open_alerts[0]
        con.execute(
            "update alerts.alert_instances set last_notified_at = last_notified_at - to_hours(?) "
            "where alert_key = ?",
            [int(hours[rule]) + 1, key],
        )
    record = _run(settings, drop)
    assert record["outcome"] == "succeeded", record.get("error")
    steps = _steps(record)
    assert steps["build"] == ("skipped", SKIPPED) and steps["alerts"][0] == "succeeded"
    with duckdb.connect(str(work_path(settings)), read_only=True) as con:
        events = con.execute(
            "select count(*) from alerts.alert_events where alert_key = ? and event = 'reminder'", [key]
        ).fetchone()
    assert events == (1,)
    assert _steps(_run(settings, drop))["alerts"] == ("skipped", SKIPPED)
