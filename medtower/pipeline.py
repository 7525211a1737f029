"""The pipeline: ingest a drop folder, build the dbt project, evaluate alerts, publish.

This is the top layer: the only code (with the scheduler and the CLI) that calls across ``ingest``,
``alerts`` and ``dbt``; those never import each other or this module (tests/core/test_import_layers.py).

Every writer step changes the work database in place under the writer lock
(``medtower.warehouse.work_database``); readers see a change only once the run publishes, at its end,
so a failure anywhere leaves the last good version published. Each run appends a JSON line to
``$MEDTOWER_DATA_DIR/logs/pipeline-runs.jsonl`` when it starts (under the writer lock) and one when it
ends, whatever its outcome (``medtower.runlog``), so a failed run is on record, and a killed one as
started and never finished.

Nothing changed, nothing done: the work database keeps its own state (``WorkState``, schema
``writer``, never published): the raw entities loaded since the last good build, the as-of of that
build, the hash of the alert rules of the last evaluation, and whether the published version is up to
date. A run builds only when something was loaded since the last build or the as-of moved, and then
only what depends on the entities loaded (``dbt build --select source:feed.<entity>+``) unless the
as-of moved, a run failed or was killed since (``dirty``: set when a run starts, cleared when it
succeeds) or a full refresh is asked; it evaluates alerts only after a build, when the rules changed
or when mail waits in the outbox for a retry, and publishes only what changed. Each step left out
is on record as ``skipped: nothing changed``.

dbt runs in its own process group: SIGTERM or Ctrl-C to the pipeline stops it (SIGTERM, then
SIGKILL after ``DBT_STOP_GRACE_SECONDS``) before the run ends, and the kernel kills it if the
pipeline dies outright (``PR_SET_PDEATHSIG``), so no orphan dbt keeps the work database open.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alerts.engine import evaluate, rules_dir
from medtower import audit
from medtower.runlog import append_run_log, close_interrupted_runs, start_marks
from medtower.settings import Settings
from medtower.warehouse import (
    DiskSpaceError,
    WarehouseMissingError,
    Work,
    connect_writer,
    duckdb_config,
    relation_exists,
    work_database,
)

log = logging.getLogger(__name__)


class StepFailed(RuntimeError):
    """A pipeline step failed; its detail is in the run record."""

    def __init__(self, step: str, detail: str, result: dict[str, Any] | None = None):
        super().__init__(f"{step} failed: {detail}")
        self.step = step
        self.detail = detail
        self.result = result


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


# --- what the work database holds -------------------------------------------------------------

# Every raw entity: unknown what changed (a new or migrated work database, a failed or killed run).
ALL = "*"
SKIPPED = "skipped: nothing changed"


@dataclass
class WorkState:
    """What the work database holds relative to its last good build, evaluation and publish."""

    # A run started and has not succeeded (failed or killed): the next run trusts nothing below.
    dirty: bool = False
    # The raw entities loaded since the last good build (ALL: unknown, build everything).
    pending: list[str] = field(default_factory=lambda: [ALL])
    # The as-of the marts were last built for (ISO date), None when not known to be complete.
    built_as_of: str | None = None
    # The hash of the rules folder of the last evaluation on these marts; None after a build.
    alerts_rules: str | None = None
    # The published version holds what the work database's published schemas hold.
    published: bool = False
    # Its marts are the work database's (no build since the last publish, not even a failed one).
    marts_published: bool = False
    # Else: the marts the good builds since the last publish rebuilt, the only ones that differ from the
    # published version's; None: not known (a build failed or was killed since), all may differ.
    marts_rebuilt: list[str] | None = None

    @classmethod
    def load(cls, settings: Settings, db_path: Path) -> WorkState:
        with connect_writer(settings, db_path) as con:
            con.execute(STATE_DDL)
            row = con.execute("select value from writer.state where id = 1").fetchone()
        state = cls(**json.loads(row[0])) if row else cls()
        if state.dirty:  # the last run failed or was killed part-way: build, evaluate and publish all
            state = cls(dirty=True)
        return state

    def save(self, settings: Settings, db_path: Path) -> None:
        with connect_writer(settings, db_path) as con:
            con.execute(STATE_DDL)
            con.execute("insert or replace into writer.state values (1, ?)", [json.dumps(asdict(self))])

    def loaded(self, entities: set[str]) -> None:
        if entities:
            self.pending = sorted(set(self.pending) | entities)
            self.published = False


# In the work database only: the schema writer is not one of the published ones.
STATE_DDL = (
    "create schema if not exists writer; "
    "create table if not exists writer.state (id integer primary key, value json)"
)


def _today() -> dt.date:
    """The as-of dbt builds for when none is given (the as_of_date macro: the day the run started, UTC)."""
    return dt.datetime.now(dt.UTC).date()


def rules_hash(settings: Settings) -> str:
    """The alert rules as they are now: every file of the rules folder, its path and bytes."""
    folder = rules_dir(settings)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _audit_rules(settings: Settings) -> None:
    """Rule and threshold changes in the audit trail: the rule files' hashes against the last ones it holds.

    The rules are files edited outside MedTower, so who changed them is not known here; the pipeline that
    first evaluates them records what changed (files added, removed, changed) as the system.
    """
    folder = rules_dir(settings)
    now = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (sorted(folder.rglob("*")) if folder.is_dir() else [])
        if p.is_file()
    }
    try:
        last = audit.read(
            settings, action="rules_changed", object_type="alert_rules", newest_first=True, limit=1
        )
    except Exception as exc:  # an unreadable trail is `medtower audit verify`'s to report, not a build error
        log.error("audit trail not readable (%s): rule changes not recorded", exc)
        return
    before = last[0]["new"] if last else None
    if before == now:
        return
    changed = sorted(k for k in now.keys() | (before or {}).keys() if (before or {}).get(k) != now.get(k))
    audit.record_quietly(
        settings,
        audit.SYSTEM,
        "rules_changed",
        "alert_rules",
        folder.name,  # not the absolute path: the trail is shown to people
        before,
        now,
        reason=f"rule files {'first seen' if before is None else 'changed'}: {', '.join(changed)}",
        source="pipeline",
    )


def _published_version(settings: Settings) -> str | None:
    """The name of the version published now (None: none yet, or PostgreSQL's marts)."""
    link = settings.warehouse_path
    return link.resolve().name if not settings.on_postgres and link.exists() else None


def _manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest of the last dbt command (``target/manifest.json``), None before the first."""
    path = settings.data_dir / "dbt" / "target" / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _source_selection(settings: Settings, entities: list[str]) -> str | None:
    """``source:<source>.<table>+`` for the raw tables of these entities; None if one is not a dbt source.

    The dbt sources are read from the manifest of the last build (its raw schema and table names).
    """
    manifest = None if ALL in entities else _manifest(settings)
    if manifest is None:
        return None
    sources = manifest.get("sources", {}).values()
    by_table = {
        (s.get("identifier") or s["name"]): f"source:{s['source_name']}.{s['name']}+"
        for s in sources
        if s.get("schema") == "raw"
    }
    if any(e not in by_table for e in entities):
        return None
    return " ".join(by_table[e] for e in sorted(entities))


# --- steps ------------------------------------------------------------------------------------


def _ingest_step(settings: Settings, db_path: Path, state: WorkState, drop_dir: Path) -> dict[str, Any]:
    from ingest.load import ingest_folder

    if not drop_dir.is_dir():
        raise StepFailed("ingest", f"drop folder {drop_dir} does not exist or is not a folder")
    with connect_writer(settings, db_path) as con:
        result = ingest_folder(con, drop_dir, settings)
    if result["outcome"] != "succeeded":
        raise StepFailed("ingest", str(result.get("error") or "ingest failed"), result)
    state.loaded(_changed_entities(result["entities"]))
    if any(not e.get("skipped") for e in result["entities"]):  # a file read again: its meta rows are new
        state.published = False
    state.save(settings, db_path)
    return result


def _changed_entities(entities: list[dict[str, Any]]) -> set[str]:
    """The raw entities whose stored rows a load changed (rows loaded or removed)."""
    return {e["entity"] for e in entities if e.get("rows_loaded") or e.get("rows_removed")}


def configured_sources(settings: Settings, names: list[str] | None = None) -> list[Any]:
    """The sources of ``MEDTOWER_SOURCES`` (all, or those named); an unknown name is an error."""
    from ingest.sources import load_sources

    if settings.sources is None:
        if names:
            raise ValueError("no sources file: set MEDTOWER_SOURCES to the path of sources.yaml")
        return []
    sources = load_sources(settings.sources)
    if not names:
        return sources
    known = {s.name: s for s in sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"no source {', '.join(unknown)} in {settings.sources} (sources: {', '.join(known) or 'none'})"
        )
    return [known[n] for n in names]


def _sources_step(
    settings: Settings, db_path: Path, state: WorkState, names: list[str] | None
) -> dict[str, Any]:
    """Pull each source into the work database; a failed one keeps what it committed."""
    from ingest.sources.runner import pull_source

    with connect_writer(settings, db_path) as con:
        pulls = [pull_source(con, source, settings) for source in configured_sources(settings, names)]
    entities = [dict(e, source=p["source"]) for p in pulls for e in p["entities"]]
    state.loaded(_changed_entities(entities))
    if any(p["rows_loaded"] or p["rows_rejected"] or p["error"] for p in pulls):
        state.published = False
    state.save(settings, db_path)
    return {
        "sources": [{k: v for k, v in p.items() if k != "entities"} for p in pulls],
        "entities": entities,
        "rejected_total": sum(p["rows_rejected"] for p in pulls),
        "failed_files": [dict(f, source=p["source"]) for p in pulls for f in p["failed_files"]],
        "failed_sources": [{"source": p["source"], "error": p["error"]} for p in pulls if p["error"]],
    }


def dbt_command(
    settings: Settings,
    db_path: Path | None,
    args: list[str],
    *,
    as_of: dt.date | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run one dbt command on the project with MedTower's profile; return the process and target dir."""
    project = settings.dbt_project_dir.resolve()
    target_path = (settings.data_dir / "dbt" / "target").resolve()
    log_path = (settings.data_dir / "dbt" / "logs").resolve()
    target_path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["MEDTOWER_DBT_TARGET"] = settings.dbt_target
    for name in ("host", "port", "user", "database"):  # read by the postgres target of profiles.yml
        env[f"MEDTOWER_PG_{name.upper()}"] = str(getattr(settings, f"pg_{name}"))
    if settings.pg_password is not None:
        env["MEDTOWER_PG_PASSWORD"] = settings.pg_password.get_secret_value()
    if db_path is not None:  # the work database's path is the same every run, so dbt's partial parse holds
        env["MEDTOWER_DBT_DUCKDB_PATH"] = str(db_path.absolute())
    for name, value in duckdb_config(settings).items():  # read by the duckdb target of profiles.yml
        env[f"MEDTOWER_DUCKDB_{name.upper()}"] = str(value)
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    env.update(extra_env or {})
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # A killed dbt leaves the previous run's results: never read them as this run's.
    (target_path / "run_results.json").unlink(missing_ok=True)
    dbt_exe = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt_exe) if dbt_exe.exists() else "dbt",
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]
    if as_of is not None:
        command += ["--vars", json.dumps({"as_of": as_of.isoformat()})]
    log.info("running %s", " ".join(command))
    child = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, stopped as a whole
        preexec_fn=_die_with_parent(),
    )
    log.info("dbt is process %d", child.pid)
    try:
        stdout, stderr = child.communicate()
    finally:
        if child.returncode is None:  # interrupted (SIGTERM, Ctrl-C): dbt must not outlive us
            _stop_group(child)
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr), target_path


# How long dbt gets to stop after SIGTERM before SIGKILL.
DBT_STOP_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGKILL the child when the thread that started it dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork, not in the child
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _stop_group(child: subprocess.Popen[str]) -> None:
    log.warning("stopping dbt (process group %d)", child.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=DBT_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("dbt did not stop in %.0fs; killing it", DBT_STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):  # and anything it started in its group
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _summarise_run_results(target_path: Path) -> dict[str, Any]:
    path = target_path / "run_results.json"
    if not path.exists():
        return {"passed": 0, "warned": 0, "failed": 0, "results": []}
    data = json.loads(path.read_text(encoding="utf-8"))
    results = []
    for row in data.get("results", []):
        results.append(
            {
                "unique_id": row.get("unique_id"),
                "status": row.get("status"),
                "message": row.get("message"),
                "failures": row.get("failures"),
                "execution_time": row.get("execution_time"),
            }
        )
    status = [r["status"] for r in results]
    return {
        "passed": sum(s in ("pass", "success") for s in status),
        "warned": sum(s == "warn" for s in status),
        "failed": sum(s in ("fail", "error", "runtime error") for s in status),
        "skipped": sum(s == "skipped" for s in status),
        "results": results,
    }


def _record_dbt_results(settings: Settings, db_path: Path, run_id: str, summary: dict[str, Any]) -> None:
    """Keep the dbt build's node results in the warehouse for the data-health page."""
    with connect_writer(settings, db_path) as con:
        con.execute("create schema if not exists meta")
        con.execute(
            """
            create table if not exists meta.dbt_results (
                run_id varchar, recorded_at timestamp, unique_id varchar, resource_type varchar,
                status varchar, message varchar, failures bigint, execution_time double
            )
            """
        )
        rows = [
            (
                run_id,
                _now(),
                r["unique_id"],
                (r["unique_id"] or "").split(".")[0],
                r["status"],
                r["message"],
                r["failures"],
                r["execution_time"],
            )
            for r in summary["results"]
        ]
        if rows:
            con.executemany("insert into meta.dbt_results values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _changed_build_step(
    settings: Settings,
    db_path: Path,
    run_id: str,
    state: WorkState,
    *,
    as_of: dt.date | None,
    full_refresh: bool = False,
) -> dict[str, Any] | None:
    """The pipeline's build: none when nothing was loaded since the last good build for this as-of;
    only what depends on the entities loaded when that is all that changed; else everything."""
    same_day = state.built_as_of == (as_of or _today()).isoformat()
    if same_day and not state.pending and not full_refresh:
        return None
    select = None if full_refresh or not same_day else _source_selection(settings, state.pending)
    # dbt's unit tests check the models' SQL on fixed inputs, not the rows: full builds run them; a delta
    # build (the same project, new rows) data-tests what it rebuilds without repeating them.
    return _build_step(
        settings,
        db_path,
        run_id,
        state,
        select=select,
        as_of=as_of,
        full_refresh=full_refresh,
        settles=True,
        unit_tests=select is None,
    )


def _build_step(
    settings: Settings,
    db_path: Path,
    run_id: str,
    state: WorkState,
    *,
    select: str | None = None,
    as_of: dt.date | None = None,
    full_refresh: bool = False,
    settles: bool = False,
    unit_tests: bool = True,
) -> dict[str, Any]:
    """``dbt build`` on the work database. ``settles``: the selection covers every entity loaded since
    the last good build (a full build, or the pipeline's own selection), so that build is now the last.
    ``unit_tests``: False leaves dbt's unit tests out (``--exclude-resource-type unit_test``)."""
    prior = [] if state.marts_published else state.marts_rebuilt
    # From now on the marts may differ from the published ones, and until this build succeeds nobody knows
    # which do.
    state.marts_published, state.marts_rebuilt = False, None
    state.save(settings, db_path)
    synced = marts_next = None
    extra_env: dict[str, str] = {}
    if settings.on_postgres:
        from medtower.pg_sync import MARTS_NEXT

        synced = _sync_raw(settings, db_path, state, everything=select is None)
        marts_next = _prepare_marts_build(settings, select=select, full_refresh=full_refresh)
        extra_env["MEDTOWER_DBT_MARTS_SCHEMA"] = MARTS_NEXT
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:  # the incremental facts rebuilt from scratch (kpi-definitions.md, Incremental builds)
        args.append("--full-refresh")
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    proc, target_path = dbt_command(settings, db_path, args, as_of=as_of, extra_env=extra_env)
    summary = _summarise_run_results(target_path)
    if proc.returncode != 0:
        failing = [r for r in summary["results"] if r["status"] in ("fail", "error", "runtime error")]
        detail = "; ".join(f"{r['unique_id']}: {r['message']}" for r in failing[:10]) or _tail(proc)
        raise StepFailed("build", detail, {**summary, "outcome": "failed"})
    if settings.on_postgres:  # the build and its tests passed: readers get it whole
        from medtower.pg_sync import swap_marts

        swap_marts(settings)
    _record_dbt_results(settings, db_path, run_id, summary)
    if prior is not None:
        state.marts_rebuilt = sorted(set(prior) | _marts_built(settings, summary))
    built_for = (as_of or _today()).isoformat()
    if settles:
        state.pending, state.built_as_of = [], built_for
    elif state.built_as_of != built_for:  # a selection built for another day: the marts are mixed
        state.built_as_of = None
    state.alerts_rules, state.published = None, False
    state.save(settings, db_path)
    return {
        **summary,
        "outcome": "succeeded",
        "select": select or "everything",
        "raw_synced": synced,
        "marts_next": marts_next,
    }


def _marts_built(settings: Settings, summary: dict[str, Any]) -> set[str]:
    """The tables of the marts schema this build wrote (its models that ran, by the manifest's relations)."""
    nodes = (_manifest(settings) or {}).get("nodes", {})
    built = set()
    for result in summary["results"]:
        node = nodes.get(result["unique_id"] or "")
        if node is None:
            if str(result["unique_id"]).startswith("model."):  # a model the manifest does not know: all
                return {"*"}
            continue
        if node.get("resource_type") == "model" and node.get("schema") == "marts":
            built.add(node.get("alias") or node["name"])
    return built


def _prepare_marts_build(settings: Settings, *, select: str | None, full_refresh: bool) -> dict[str, Any]:
    """``marts_next`` on the server with what the build merges into or leaves as it is: the incremental facts
    for a full build (the manifest says which; all marts without one), every mart for a selection, none for a
    full refresh."""
    from medtower.pg_sync import prepare_marts_build

    if full_refresh:
        return prepare_marts_build(settings, keep=[])
    keep: list[str] | None = None
    manifest = _manifest(settings) if select is None else None
    if manifest is not None:
        nodes = manifest.get("nodes", {}).values()
        keep = [
            n.get("alias") or n["name"]
            for n in nodes
            if n.get("resource_type") == "model" and n.get("config", {}).get("materialized") == "incremental"
        ]
    return prepare_marts_build(settings, keep=keep)


def _sync_raw(settings: Settings, db_path: Path, state: WorkState, *, everything: bool) -> dict[str, Any]:
    """Copy the raw tables dbt will read to the server: those loaded since the last build (all for a full
    build), and any the server does not have yet."""
    from medtower.pg import PostgresReader
    from medtower.pg_sync import sync_tables

    with PostgresReader(settings).connect() as pg:
        on_server = set(_tables(pg, "raw"))
    with connect_writer(settings, db_path) as con:
        local = _tables(con, "raw")
        wanted = [
            t for t in local if everything or ALL in state.pending or t in state.pending or t not in on_server
        ]
        try:
            return sync_tables(settings, con, "raw", wanted)
        except Exception as exc:
            raise StepFailed("build", f"copying raw tables to PostgreSQL failed: {exc}") from exc


def _alerts_step(
    settings: Settings,
    db_path: Path,
    run_id: str,
    state: WorkState,
    as_of: dt.date | None,
    *,
    always: bool = False,
) -> dict[str, Any] | None:
    """Evaluate the rules on the work database after dbt build and before publish.

    None (left out) when neither the marts nor the rules changed since the last evaluation and no mail
    waits in the outbox for a retry (the evaluation delivers it), unless ``always``. The evaluation
    writes in many statements (a failing rule is recorded, not raised), so the alert state is kept aside
    first and put back if it fails or is killed (``restore_alert_state``, also by the next run): a failed
    evaluation changes no alert state, and what it mailed the outbox knows (``alerts.outbox``), so the
    next evaluation does not send it again.
    """
    rules = rules_hash(settings)
    if state.alerts_rules != rules:
        _audit_rules(settings)
    if (
        not always
        and state.alerts_rules == rules
        and not _mail_to_retry(settings)
        and not _reminder_due(settings, db_path)
    ):
        return None
    if settings.on_postgres:  # one server transaction: a failed or killed evaluation changes nothing
        from medtower.pg import connect_writer as connect_pg
        from medtower.pg_sync import sync_tables

        with connect_writer(settings, db_path) as con:  # the rules read meta too (data freshness)
            sync_tables(settings, con, "meta")
        with connect_pg(settings) as pg:
            result = evaluate(pg, settings, run_id=run_id, as_of=as_of)  # type: ignore[arg-type]
        state.alerts_rules, state.published = rules, False
        state.save(settings, db_path)
        return result
    _keep_alert_state(settings, db_path)
    try:
        with connect_writer(settings, db_path) as con:
            result = evaluate(con, settings, run_id=run_id, as_of=as_of)
    except BaseException:
        with contextlib.suppress(Exception):
            restore_alert_state(settings, db_path)
        raise
    with connect_writer(settings, db_path) as con:
        con.execute(f"drop schema if exists {ALERTS_KEPT} cascade")
    state.alerts_rules, state.published = rules, False
    state.save(settings, db_path)
    return result


# The alert state as it was before the evaluation under way (work database only, never published).
ALERTS_KEPT = "writer_alerts_before"


def _tables(con: Any, schema: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_type = 'BASE TABLE' order by 1",
            [schema],
        ).fetchall()
    ]


def _keep_alert_state(settings: Settings, db_path: Path) -> None:
    with connect_writer(settings, db_path) as con:
        con.execute("begin transaction")
        con.execute(f"drop schema if exists {ALERTS_KEPT} cascade")
        con.execute(f"create schema {ALERTS_KEPT}")
        for table in _tables(con, "alerts"):
            con.execute(f'create table {ALERTS_KEPT}."{table}" as select * from alerts."{table}"')
        con.execute("commit")


def restore_alert_state(settings: Settings, db_path: Path) -> bool:
    """Put back the alert state an unfinished evaluation kept aside; whether there was one.

    The tables keep their definitions (keys included): their rows are replaced by the kept ones.
    """
    with connect_writer(settings, db_path) as con:
        if not con.execute(
            "select 1 from information_schema.schemata where catalog_name = current_database() "
            "and schema_name = ?",
            [ALERTS_KEPT],
        ).fetchall():
            return False
        kept = _tables(con, ALERTS_KEPT)
        con.execute("begin transaction")
        if not kept:  # there was no alert state before it
            con.execute("drop schema if exists alerts cascade")
        for table in _tables(con, "alerts"):
            con.execute(f'delete from alerts."{table}"')
            if table in kept:
                con.execute(f'insert into alerts."{table}" by name select * from {ALERTS_KEPT}."{table}"')
            else:
                con.execute(f'drop table alerts."{table}"')
        con.execute(f"drop schema {ALERTS_KEPT} cascade")
        con.execute("commit")
    log.warning("put back the alert state of before an evaluation that did not finish")
    return True


def _reminder_due(settings: Settings, db_path: Path) -> bool:
    """An open alert nobody acknowledged whose rule's reminder interval has passed since it was last
    notified (``alerts.state.step``): the evaluation sends the reminder, changed data or not."""
    from alerts.rules import load_rules

    hours = {r.id: r.reminder_hours for r in load_rules(rules_dir(settings)) if r.reminder_hours > 0}
    if not hours:
        return False
    with _alert_state(settings, db_path) as con:
        if not relation_exists(con, "alerts", "alert_instances"):
            return False
        rows = con.execute(
            "select rule_id, last_notified_at from alerts.alert_instances "
            "where state = 'open' and last_notified_at is not null"
        ).fetchall()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return any(rule in hours and now - at >= dt.timedelta(hours=hours[rule]) for rule, at in rows)


def _alert_state(settings: Settings, db_path: Path) -> Any:
    """A connection to where the alert state lives: the work database, or the PostgreSQL server."""
    if settings.on_postgres:
        from medtower.pg import PostgresReader

        return PostgresReader(settings).connect()
    return connect_writer(settings, db_path)


def _mail_to_retry(settings: Settings) -> bool:
    """A digest (alerts, the weekly review) the mail server has not taken yet: the evaluation retries it."""
    from alerts import outbox

    return any(d["status"] == "pending" for d in outbox.list_digests(settings, limit=1000))


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 25) -> str:
    text = (proc.stdout or "") + (proc.stderr or "")
    return "\n".join(text.strip().splitlines()[-lines:])


# --- entry points -----------------------------------------------------------------------------


# Told (step, "running" | "succeeded" | "failed") as each step starts and ends, the publish of the work
# database being the last step ("publish"); a step left out is not told. None says nothing.
Progress = Callable[[str, str], None] | None
# A step: (work database, run id, its state) -> its result, or None when there was nothing to do.
Step = Callable[[Path, str, WorkState], dict[str, Any] | None]


def _run_steps(
    settings: Settings,
    kind: str,
    steps: list[tuple[str, Step]],
    extra: dict[str, Any] | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    record: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "started_at": _now(),
        "steps": [],
        **(extra or {}),
    }
    tell = progress or (lambda step, state: None)

    def on_locked(removed: list[Path]) -> None:
        # Only the lock holder writes a start line, so a start line with a dead process is a killed run.
        record["cleaned"] = [str(p) for p in removed]
        record["interrupted_runs"] = close_interrupted_runs(settings, run_id, removed)
        append_run_log(settings, {**record, **start_marks()})

    try:
        with _stop_on_sigterm(), work_database(settings, on_locked) as work:
            if work.seeded_from is not None:
                record["seeded_from"] = str(work.seeded_from)
            state = WorkState.load(settings, work.path)
            if restore_alert_state(settings, work.path):  # the last run was killed mid-evaluation
                record["restored_alert_state"] = True
            state.dirty = True  # until this run succeeds: a failure or a kill makes the next run redo all
            state.save(settings, work.path)
            for name, step in steps:
                _run_step(settings, record, name, step, work.path, state, tell)
            _publish_step(settings, record, work, state, tell)
            state.dirty = False
            state.save(settings, work.path)
        record["outcome"] = "succeeded"
    except (StepFailed, DiskSpaceError) as exc:
        record["outcome"] = "failed"
        record["error"] = str(exc)
        if isinstance(exc, DiskSpaceError):  # checked before any step: shown as the run's first
            record["steps"].append(
                {"step": "disk", "outcome": "failed", "seconds": 0.0, "detail": str(exc), "result": None}
            )
        log.error("%s run %s failed: %s (the published warehouse is unchanged)", kind, run_id, exc)
    except Exception as exc:
        record["outcome"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        append_run_log(settings, {**record, "running_step": None, "ended_at": _now()})
        raise
    except (KeyboardInterrupt, SystemExit) as exc:
        stopped = "SIGINT (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"exit {exc.code}"
        record["outcome"] = "interrupted"
        record["error"] = (
            f"stopped by {stopped}: the published warehouse unchanged, the next run builds again"
        )
        log.error("%s run %s %s", kind, run_id, record["error"])
        append_run_log(settings, {**record, "running_step": None, "ended_at": _now()})
        raise
    record["ended_at"] = _now()
    append_run_log(settings, {**record, "running_step": None})
    return record


def _run_step(
    settings: Settings,
    record: dict[str, Any],
    name: str,
    step: Step,
    db_path: Path,
    state: WorkState,
    tell: Callable[[str, str], None],
) -> None:
    tell(name, "running")
    append_run_log(settings, {"run_id": record["run_id"], "running_step": name})
    began = time.monotonic()
    try:
        result = step(db_path, record["run_id"], state)
    except StepFailed as exc:
        tell(name, "failed")
        record["steps"].append(
            {
                "step": name,
                "outcome": "failed",
                "seconds": time.monotonic() - began,
                "detail": exc.detail,
                "result": _compact(exc.result),
            }
        )
        raise
    if result is None:
        record["steps"].append(
            {"step": name, "outcome": "skipped", "seconds": time.monotonic() - began, "detail": SKIPPED}
        )
        return
    record["steps"].append(
        {
            "step": name,
            "outcome": "succeeded",
            "seconds": time.monotonic() - began,
            "detail": _describe(name, result),
            "result": _compact(result),
        }
    )
    tell(name, "succeeded")


def _publish_step(
    settings: Settings, record: dict[str, Any], work: Work, state: WorkState, tell: Callable[[str, str], None]
) -> None:
    """Publish what changed; on record as ``publish`` (not a step: ``steps`` are what the run did to data)."""
    if state.published:
        record["publish"] = {"outcome": "skipped", "detail": SKIPPED}
        return
    tell("publish", "running")
    append_run_log(settings, {"run_id": record["run_id"], "running_step": "publish"})
    before = _published_version(settings)
    if settings.on_postgres:  # the marts and alert state are on the server already; meta goes there too
        from medtower.pg_sync import publish as publish_pg

        with connect_writer(settings, work.path) as con:
            published = publish_pg(settings, con, record["run_id"])
    else:
        rebuilt = (
            state.marts_rebuilt if state.marts_rebuilt is None or "*" not in state.marts_rebuilt else None
        )
        published = work.publish(marts_unchanged=state.marts_published, marts_rebuilt=rebuilt)
    state.published = state.marts_published = True
    state.marts_rebuilt = []
    state.save(settings, work.path)
    record["publish"] = {"outcome": "succeeded", **published}
    audit.record_quietly(
        settings,
        audit.SYSTEM,
        "publish",
        "warehouse",
        str(published.get("version") or settings.dbt_target),
        {"version": before},
        {k: published.get(k) for k in ("version", "tables", "bytes", "marts_of", "marts_written")},
        reason=f"run {record['run_id']} ({record.get('kind')})",
        source="pipeline",
    )
    tell("publish", "succeeded")


class Stopped(SystemExit):
    """SIGTERM during a run, raised in the main thread so the run unwinds as it does on Ctrl-C."""


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into ``Stopped`` while a run is on, where nothing else handles SIGTERM already."""
    mine = threading.current_thread() is threading.main_thread()
    if not mine or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise Stopped(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _compact(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {k: v for k, v in result.items() if k != "results"}


def _describe(step: str, result: dict[str, Any]) -> str:
    if step == "sources":
        pulled = ", ".join(
            f"{p['source']} {p['rows_loaded']:,} loaded"
            + (f", {p['rows_rejected']:,} quarantined" if p["rows_rejected"] else "")
            + ("" if p["outcome"] == "succeeded" else f" (FAILED: {p['error']})")
            for p in result.get("sources", [])
        )
        return pulled or "no source configured"
    if step == "ingest":
        loaded = sum(e["rows_loaded"] for e in result.get("entities", []))
        return f"{loaded:,} rows loaded, {result.get('rejected_total', 0):,} quarantined"
    if step == "build":
        return f"{result['passed']} passed, {result['warned']} warned, {result['failed']} failed"
    if step == "alerts":
        return str(result.get("summary", ""))
    return ""


def _nothing_to_load(settings: Settings, drop_dir: Path) -> dict[str, Any] | None:
    """An existing drop folder without one entity file: a warning on record, and no new warehouse.

    Publishing would only stamp a new warehouse and run over an unchanged feed; an empty delivery is
    more likely a transfer that has not arrived than news.
    """
    from ingest.contract import load_contract
    from ingest.dropfolder import scan_folder

    if not drop_dir.is_dir():
        return None
    scan = scan_folder(drop_dir, load_contract())
    if scan.files:
        return None
    ignored = f" (ignored: {', '.join(scan.ignored[:8])}{' ...' if len(scan.ignored) > 8 else ''})"
    warning = (
        f"drop folder {drop_dir} holds no entity file (<entity>.csv or .xlsx, e.g. sales_orders.csv)"
        f"{ignored if scan.ignored else ''}: nothing loaded, the published warehouse is unchanged"
    )
    log.warning(warning)
    run_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    at = _now()
    record = {"run_id": run_id, "kind": "ingest", "started_at": at, "ended_at": at, "steps": []}
    record.update(drop_dir=str(drop_dir), outcome="skipped", warning=warning)
    append_run_log(settings, record)
    return {
        "run_id": run_id,
        "outcome": "skipped",
        "warning": warning,
        "entities": [],
        "ignored_files": scan.ignored,
        "rejected_total": 0,
        "failed_files": [],
    }


def ingest(settings: Settings, drop_dir: Path, *, progress: Progress = None) -> dict[str, Any]:
    """`medtower ingest`: load a drop folder and publish; the ingest result is returned.

    An empty drop folder publishes nothing (outcome ``skipped``, with a warning).
    """
    empty = _nothing_to_load(settings, drop_dir)
    if empty is not None:
        return empty
    record = _run_steps(
        settings,
        "ingest",
        [("ingest", lambda db, run_id, state: _ingest_step(settings, db, state, drop_dir))],
        {"drop_dir": str(drop_dir)},
        progress,
    )
    step = record["steps"][-1] if record["steps"] else {}
    result = dict(step.get("result") or {})
    result.setdefault("run_id", record["run_id"])
    result.setdefault("entities", [])
    result["outcome"] = record["outcome"]
    if record["outcome"] != "succeeded":
        result["error"] = record.get("error")
    return result


def build(
    settings: Settings,
    *,
    select: str | None = None,
    as_of: dt.date | None = None,
    full_refresh: bool = False,
    progress: Progress = None,
) -> dict[str, Any]:
    """`medtower build`: run `dbt build` on the work database and publish it if dbt succeeds; ``full_refresh``
    rebuilds the incremental facts from scratch instead of adding what was loaded since the last build.

    Always builds (``select``: those nodes only, else everything); a failed build is rebuilt whole by the
    next run."""
    record = _run_steps(
        settings,
        "build",
        [
            (
                "build",
                lambda db, run_id, state: _build_step(
                    settings,
                    db,
                    run_id,
                    state,
                    select=select,
                    as_of=as_of,
                    full_refresh=full_refresh,
                    settles=select is None,
                ),
            )
        ],
        progress=progress,
    )
    step = record["steps"][-1] if record["steps"] else {}
    result = dict(step.get("result") or {"passed": 0, "warned": 0, "failed": 0})
    result["outcome"] = record["outcome"]
    result["run_id"] = record["run_id"]
    if record["outcome"] != "succeeded":
        result["error"] = record.get("error")
    return result


def pull(settings: Settings, names: list[str], *, progress: Progress = None) -> dict[str, Any]:
    """`medtower sources pull NAME`: pull sources into the work database, publish; then `medtower build`."""
    configured_sources(settings, names)  # an unknown name fails before the run starts
    return _run_steps(
        settings,
        "pull",
        [("sources", lambda db, run_id, state: _sources_step(settings, db, state, names))],
        {"sources": names},
        progress,
    )


def pipeline_steps(
    settings: Settings,
    drop_dir: Path | None,
    as_of: dt.date | None,
    sources: list[str] | None = None,
    *,
    full_refresh: bool = False,
) -> list[tuple[str, Step]]:
    """Ingest the drop folder, pull the sources (``sources``: these only; default all), build what changed,
    alerts if the marts or the rules changed."""
    steps: list[tuple[str, Step]] = []
    if drop_dir is not None:
        steps.append(("ingest", lambda db, run_id, state: _ingest_step(settings, db, state, drop_dir)))
    if settings.sources is not None:
        steps.append(("sources", lambda db, run_id, state: _sources_step(settings, db, state, sources)))
    steps.append(
        (
            "build",
            lambda db, run_id, state: _changed_build_step(
                settings, db, run_id, state, as_of=as_of, full_refresh=full_refresh
            ),
        )
    )
    steps.append(("alerts", lambda db, run_id, state: _alerts_step(settings, db, run_id, state, as_of)))
    return steps


def run_once(
    settings: Settings,
    drop_dir: Path | None,
    *,
    as_of: dt.date | None = None,
    progress: Progress = None,
    sources: list[str] | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """`medtower run`: ingest, pull the sources, build and alerts on the work database, published at the end.

    What did not change is left out (see the module docstring); ``full_refresh`` builds everything,
    the incremental facts from scratch."""
    extra = {"drop_dir": str(drop_dir) if drop_dir else None, "as_of": as_of.isoformat() if as_of else None}
    if sources:
        extra["sources"] = ",".join(sources)
    steps = pipeline_steps(settings, drop_dir, as_of, sources, full_refresh=full_refresh)
    return _run_steps(settings, "run", steps, extra, progress)


def run_alerts(settings: Settings, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """`medtower alerts run`: evaluate on the work database and publish it.

    The evaluation refuses an as-of the marts were not built for (``alerts.engine.check_as_of``).
    """
    if not settings.on_postgres and not settings.warehouse_path.exists():
        raise WarehouseMissingError(
            f"no warehouse at {settings.warehouse_path}: run `medtower run DROP_DIR` first"
        )
    return _run_steps(
        settings,
        "alerts",
        [("alerts", lambda db, run_id, state: _alerts_step(settings, db, run_id, state, as_of, always=True))],
        {"as_of": as_of.isoformat() if as_of else None},
    )
