"""The pipeline's run log: JSON lines under ``$MEDTOWER_DATA_DIR/logs``, whatever a run's outcome.

A run writes a line when it starts (outcome ``running``, with its process id and host) and a line when
it ends; later lines of a run update the earlier ones. A run killed outright never writes its end, so
it stays on record as started and not finished: the next writer, under the writer lock, closes it as
``interrupted`` (``close_interrupted_runs``), and a reader shows a ``running`` run whose process is gone
as ``interrupted`` even before that.

Written by the pipeline (top layer), read by the Data health page and `medtower status`: it sits in the
bottom layer so that readers need not import the pipeline.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from medtower.settings import Settings
from medtower.warehouse import process_alive


def _path(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "pipeline-runs.jsonl"


def append_run_log(settings: Settings, record: dict[str, Any]) -> None:
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    _audit_run(settings, record)


def _audit_run(settings: Settings, line: dict[str, Any]) -> None:
    """A run's start and end (or its closing as interrupted) in the audit trail; step lines are not."""
    from medtower import audit

    outcome = line.get("outcome")
    if outcome is None or not line.get("run_id"):
        return
    if outcome == "running":
        old, action = None, "run_started"
        new = {k: line.get(k) for k in ("kind", "started_at", "pid", "host")}
    else:
        steps = {str(s.get("step")): s.get("outcome") for s in line.get("steps") or [] if isinstance(s, dict)}
        publish = line.get("publish")
        publish = publish if isinstance(publish, dict) else {}
        new = {
            "outcome": outcome,
            "kind": line.get("kind"),
            "ended_at": line.get("ended_at"),
            "steps": steps,
            "publish": publish.get("outcome"),
            "error": line.get("error"),
        }
        old, action = {"outcome": "running"}, "run_finished"
    audit.record_quietly(
        settings, audit.SYSTEM, action, "pipeline_run", str(line["run_id"]), old, new, source="pipeline"
    )


def start_marks() -> dict[str, Any]:
    """What a ``running`` line carries so that a reader can tell a live run from a killed one."""
    return {"outcome": "running", "pid": os.getpid(), "host": socket.gethostname()}


def _runs(settings: Settings) -> list[dict[str, Any]]:
    """Every run once, oldest start first, its lines merged (a later line's keys win)."""
    path = _path(settings)
    if not path.exists():
        return []
    runs: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            # A line cut short by a kill mid-write: say where, keep reading the rest.
            record = {"run_id": f"{path.name}:{number}", "outcome": "unreadable", "error": line[:200]}
        key = str(record.get("run_id") or f"{path.name}:{number}")
        runs[key] = {**runs.get(key, {}), **record}
    return list(runs.values())


def _gone(run: dict[str, Any]) -> bool:
    """A ``running`` run whose process on this host no longer exists (on another host: unknown)."""
    if run.get("outcome") != "running" or run.get("host") != socket.gethostname() or not run.get("pid"):
        return False
    return not process_alive(int(run["pid"]))


def _never_finished(run: dict[str, Any]) -> str:
    during = f" (during {run['running_step']})" if run.get("running_step") else ""
    return f"started {run.get('started_at')}, never finished: process {run['pid']} is gone{during}"


def read_run_log(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The newest pipeline runs first (for the data-health page and `medtower status`).

    A run killed before it could log its end reads ``interrupted`` with no ``ended_at``.
    """
    runs = _runs(settings)[-limit:] if limit else []
    for run in runs:
        if _gone(run):
            run["outcome"] = "interrupted"
            run.setdefault("error", _never_finished(run))
    return list(reversed(runs))


def close_interrupted_runs(settings: Settings, by_run: str, removed: list[Path]) -> list[str]:
    """Put the runs that were killed before their end on record as ``interrupted``; their ids.

    Call under the writer lock: no other writer can then be between its start and end line unless
    its process is alive, so a ``running`` run with a dead process was killed.
    """
    closed = []
    for run in _runs(settings):
        if run.get("run_id") == by_run or not _gone(run):
            continue
        left = f"; left {', '.join(p.name for p in removed)}, removed" if removed else ""
        append_run_log(
            settings,
            {
                "run_id": run["run_id"],
                "outcome": "interrupted",
                "error": f"{_never_finished(run)}{left} by run {by_run}",
                "closed_by": by_run,
            },
        )
        closed.append(str(run["run_id"]))
    return closed
