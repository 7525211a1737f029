"""A source replayed from files: ``<entity>.json`` (a list of records) or ``<entity>.jsonl`` in a folder.

The file-snapshot twin of every connector kind (as dlt and Meltano taps record one): what a REST page or
an ERP query returned, saved as JSON, pulled with the same mapping, cursor and load mode as the live
source. Also the way to feed MedTower from a system that can only export JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.sources import Batch, PullState, SourceConfig, SourceError, StreamConfig, flatten, text

PAGE_SIZE = 5_000


def cursor_key(value: Any) -> tuple[int, float | str]:
    """Order cursor values: numbers as numbers, everything else (ISO timestamps) as text."""
    t = text(value)
    if t is None:
        return (0, "")
    try:
        return (1, float(t))
    except ValueError:
        return (2, t)


def after_watermark(
    records: list[dict[str, Any]], stream: StreamConfig, watermark: str | None
) -> list[dict[str, Any]]:
    """Records at or after the watermark, in cursor order (at: the boundary is re-read, never skipped)."""
    if not stream.cursor:
        return records
    field = stream.cursor
    keyed = [(cursor_key(flatten(r).get(field)), r) for r in records]
    if watermark is not None:
        mark = cursor_key(watermark)
        keyed = [(k, r) for k, r in keyed if k >= mark]
    keyed.sort(key=lambda kr: kr[0])
    return [r for _, r in keyed]


def pages(
    records: list[dict[str, Any]], stream: StreamConfig, label: str, size: int = PAGE_SIZE
) -> Iterator[Batch]:
    """Cursor-ordered records as batches, each carrying the cursor of its last record."""
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        cursor = text(flatten(chunk[-1]).get(stream.cursor)) if stream.cursor else None
        yield Batch(entity=stream.entity, records=chunk, label=label, cursor=cursor)


class SnapshotConnector:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.folder = source.path("path")

    def _file(self, stream: StreamConfig) -> Path:
        name = str(stream.options.get("file") or stream.entity)
        for suffix in ("", ".json", ".jsonl"):
            p = self.folder / f"{name}{suffix}"
            if p.is_file() and not p.is_symlink():
                return p
        raise SourceError(f"source {self.source.name}: no {name}.json or {name}.jsonl in {self.folder}")

    def check(self) -> str:
        if not self.folder.is_dir():
            raise SourceError(f"source {self.source.name}: folder {self.folder} does not exist")
        files = [self._file(s).name for s in self.source.streams]
        return f"{self.folder}: {', '.join(files)}"

    def _records(self, path: Path) -> list[dict[str, Any]]:
        body = path.read_text(encoding="utf-8")
        try:
            if path.suffix == ".jsonl":
                rows = [json.loads(line) for line in body.splitlines() if line.strip()]
            else:
                rows = json.loads(body)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SourceError(f"{path}: expected a list of JSON objects")
        return rows

    def pull(self, state: PullState) -> Iterator[Batch]:
        for stream in self.source.streams:
            rows = self._records(self._file(stream))
            rows = after_watermark(rows, stream, state.watermark(stream.entity))
            yield from pages(rows, stream, f"{self.source.name}:{stream.entity}")
