"""The pipeline's run log: one JSON line per run under ``$MEDTOWER_DATA_DIR/logs``, whatever its outcome.

Written by the pipeline (top layer), read by the Data health page and `medtower status`: it sits in the
bottom layer so that readers need not import the pipeline.
"""

from __future__ import annotations

import json
from typing import Any

from medtower.settings import Settings


def append_run_log(settings: Settings, record: dict[str, Any]) -> None:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "pipeline-runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")


def read_run_log(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The newest pipeline runs first (for the data-health page and `medtower status`)."""
    path = settings.data_dir / "logs" / "pipeline-runs.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in reversed(lines[-limit:]) if line.strip()]
