"""Crash hygiene, with real processes and real signals: `medtower build` killed mid-build leaves nothing
the next run does not clean and changes nothing readers see, its dbt child dies with it, the run log shows
it started and never finished (that the next run builds again: tests/core/test_publish.py); a full disk
is one clear error before any work; the DuckDB resource settings reach dbt's profile."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from medtower.pipeline import dbt_command, ingest
from medtower.runlog import read_run_log
from medtower.settings import Settings
from medtower.warehouse import current_version, work_database, work_path

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]

# The same in the test's settings and the CLI's environment, so every dbt run keeps the first one's parse.
LIMITS = {"MEDTOWER_DUCKDB_MEMORY_LIMIT": "1GB", "MEDTOWER_DUCKDB_THREADS": "1"}


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, str], Path]:
    """The hand-made plant's raw tables published as the warehouse, and a drop folder of its sites."""
    from ingest.contract import load_contract
    from ingest.load import ensure_schema
    from tests.conftest import insert_rows
    from tests.small_plant import ROWS

    root = tmp_path_factory.mktemp("crash")
    settings = Settings(data_dir=root / "data", duckdb_memory_limit="1GB", duckdb_threads=1)
    with work_database(settings) as work:
        with duckdb.connect(str(work.path)) as con:
            ensure_schema(con, load_contract())
            for table, rows in ROWS.items():
                insert_rows(con, table, rows)
        work.publish()
    drop = root / "drop"
    drop.mkdir()
    with open(drop / "sites.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS["sites"][0]))
        writer.writeheader()
        writer.writerows(ROWS["sites"])
    env = {**os.environ, **LIMITS, "MEDTOWER_DATA_DIR": str(settings.data_dir)}
    return settings, env, drop


def _start_build(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "medtower", "build"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _dbt_child(parent: subprocess.Popen[str], timeout: float = 120.0) -> int:
    """The pid of the dbt process the pipeline started, once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert parent.poll() is None, f"medtower build ended before dbt ran:\n{parent.communicate()}"
        for pid in _children(parent.pid):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if any(a.endswith(b"/dbt") for a in args) and b"build" in args:
                return pid
        time.sleep(0.1)
    raise AssertionError(f"no dbt child of {parent.pid} within {timeout}s")


def _holders(path: Path, among: list[int] | None = None) -> list[int]:
    """The processes that have ``path`` open."""
    target = str(path.resolve())
    pids = among if among is not None else [int(p.name) for p in Path("/proc").glob("[0-9]*")]
    found = []
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if target in links:
            found.append(pid)
    return found


def _building(parent: subprocess.Popen[str], settings: Settings) -> tuple[int, Path]:
    """Wait until the pipeline's dbt has the work database open, i.e. is building; its pid and the file."""
    dbt = _dbt_child(parent)
    work = work_path(settings)
    deadline = time.monotonic() + 120
    while not (work.exists() and _holders(work, [dbt])):
        assert time.monotonic() < deadline, "dbt never opened the work database"
        assert parent.poll() is None, (
            f"medtower build ended before dbt opened the work database:\n{parent.communicate()}"
        )
        time.sleep(0.05)
    return dbt, work


def _gone(pid: int, timeout: float) -> bool:
    """The process has ended (a zombie not yet reaped by init has ended too: it holds no file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _log_lines(settings: Settings) -> list[dict]:
    path = settings.data_dir / "logs" / "pipeline-runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_of(settings: Settings, pid: int) -> str:
    (run_id,) = {r["run_id"] for r in _log_lines(settings) if r.get("pid") == pid}
    return run_id


def _dbt_events(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.returncode == 0, proc.stdout[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_duckdb_settings_reach_dbt_and_its_parse_is_kept_across_runs(
    plant: tuple[Settings, dict[str, str], Path],
) -> None:
    settings = plant[0]
    sql = (
        "select current_setting('memory_limit') as memory_limit, current_setting('threads') as threads,"
        " current_setting('temp_directory') as temp_directory"
    )
    runs = []
    for _ in range(2):  # two writers, one after the other, on the same work database
        with work_database(settings) as work:
            args = ["show", "--inline", sql, "--output", "json", "--log-format", "json"]
            runs.append(_dbt_events(dbt_command(settings, work.path, args)[0]))
    for events in runs:
        (shown,) = [json.loads(e["data"]["preview"]) for e in events if e["info"]["name"] == "ShowNode"]
        temp = str((settings.data_dir / "tmp").resolve())
        assert shown == [{"memory_limit": "953.6 MiB", "threads": 1, "temp_directory": temp}]
    reparsed = [
        [e["data"].get("reason") for e in ev if e["info"]["name"] == "UnableToPartialParse"] for ev in runs
    ]
    assert reparsed == [["saved manifest not found. Starting full parse."], []]


def test_a_killed_build_is_cleaned_by_the_next_run_and_on_record(
    plant: tuple[Settings, dict[str, str], Path],
) -> None:
    settings, env, drop = plant
    published = current_version(settings)
    digest = published.read_bytes()
    parent = _start_build(env)
    dbt, work = _building(parent, settings)
    assert list(settings.build_dir.iterdir()) == []  # dbt builds on the work database itself: no copy
    parent.kill()  # SIGKILL: no handler, no finally
    parent.communicate(timeout=30)
    assert _gone(dbt, timeout=10), f"dbt {dbt} outlived its killed parent"
    assert _holders(work) == []  # nothing keeps the work database
    killed = _run_of(settings, parent.pid)
    (shown,) = [r for r in read_run_log(settings) if r["run_id"] == killed]
    assert shown["outcome"] == "interrupted" and "ended_at" not in shown, shown
    assert shown["running_step"] == "build"
    assert current_version(settings) == published and published.read_bytes() == digest

    record = ingest(settings, drop)  # the next writer
    assert record["outcome"] == "succeeded", record
    assert list(settings.build_dir.iterdir()) == []
    mine = read_run_log(settings)[0]
    assert mine["kind"] == "ingest" and mine["outcome"] == "succeeded"
    assert mine["cleaned"] == []  # nothing to clean: the work database is opened again as it is
    assert mine["interrupted_runs"] == [killed]
    closing = [r for r in _log_lines(settings) if r["run_id"] == killed][-1]
    assert closing["outcome"] == "interrupted" and closing["closed_by"] == mine["run_id"]
    assert "never finished" in closing["error"]


def test_sigterm_stops_dbt_and_publishes_nothing(plant: tuple[Settings, dict[str, str], Path]) -> None:
    settings, env, _ = plant
    published = current_version(settings)
    parent = _start_build(env)
    dbt, work = _building(parent, settings)
    parent.send_signal(signal.SIGTERM)
    _, stderr = parent.communicate(timeout=60)
    assert parent.returncode == 128 + signal.SIGTERM, stderr
    assert _gone(dbt, timeout=1), f"dbt {dbt} survived the SIGTERM of its parent"
    assert "stopping dbt (process group" in stderr
    assert _holders(work) == []
    assert list(settings.build_dir.iterdir()) == []
    run = _run_of(settings, parent.pid)
    (shown,) = [r for r in read_run_log(settings) if r["run_id"] == run]
    assert shown["outcome"] == "interrupted" and shown["ended_at"], shown
    assert "stopped by exit 143" in shown["error"] and "the next run builds again" in shown["error"]
    assert current_version(settings) == published


def test_a_full_disk_fails_before_any_work_and_publishes_nothing(
    plant: tuple[Settings, dict[str, str], Path],
) -> None:
    settings, env, drop = plant
    published = current_version(settings)
    versions = sorted(settings.data_dir.glob("warehouse-*.duckdb"))
    proc = subprocess.run(
        [sys.executable, "-m", "medtower", "ingest", str(drop)],
        env={**env, "MEDTOWER_MIN_FREE_DISK_MB": str(10**9)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    message = f"needs 1,000,000,000 MB free in {settings.build_dir}, has "
    assert message in proc.stdout and "MEDTOWER_MIN_FREE_DISK_MB=1000000000" in proc.stdout, proc.stdout
    assert current_version(settings) == published
    assert sorted(settings.data_dir.glob("warehouse-*.duckdb")) == versions
    assert list(settings.build_dir.iterdir()) == []
    last = read_run_log(settings)[0]
    assert last["outcome"] == "failed" and message in last["error"]
    assert [s["step"] for s in last["steps"]] == ["disk"]  # ingest never started


def test_dbt_gets_duckdbs_resources_when_the_database_opens_not_per_cursor(tmp_path: Path) -> None:
    """DuckDB refuses ``SET temp_directory`` once a query has spilled there, and dbt-duckdb runs its
    ``settings`` on every new cursor: a build that spilled failed at its next model (scale 100). The
    profile gives memory, threads and temp directory as ``config_options``, used once at connect."""
    import yaml

    spill = tmp_path / "spill"
    con = duckdb.connect(
        str(tmp_path / "w.duckdb"),
        config={"memory_limit": "64MB", "temp_directory": str(spill), "threads": 1},
    )
    con.execute("select range as v from range(6000000) order by hash(v)").fetchall()  # spills
    assert any(spill.iterdir()), "the sort did not spill; the premise of this test no longer holds"
    with pytest.raises(duckdb.NotImplementedException, match="temporary directory"):
        con.cursor().execute(f"SET temp_directory = '{spill}'")
    profiles = yaml.safe_load((REPO / "dbt_project" / "profiles.yml").read_text())
    profile = profiles["medtower"]["outputs"]["duckdb"]
    assert set(profile["config_options"]) == {"memory_limit", "threads", "temp_directory"}
    assert not set(profile.get("settings") or {}) & {"memory_limit", "threads", "temp_directory"}
