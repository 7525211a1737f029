"""Source connectors: one core data model, many ports.

A plant's data lives in an ERP database, MES / QMS REST APIs, supplier EDI and scanners. Each of them
is a *source* in ``sources.yaml`` (path from ``MEDTOWER_SOURCES``): its kind, its connection (secrets only
through the environment variables it names), and per contract entity how the source's fields map onto
the entity's columns, the incremental cursor and the load mode. Every connector kind implements
:class:`Connector` and yields :class:`Batch` es of contract-shaped records; ``ingest.sources.runner``
loads them through the same validation and quarantine as the drop folder (``ingest.load.load_read``)
and keeps the watermark of each source and entity in the warehouse, committed with the data it
covers, so a pull that fails part-way resumes from the last committed batch.

The kinds (:data:`KINDS`) are imported only when a source of that kind is used, so the drop folder
never needs an HTTP client or a database driver.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from ingest.contract import Contract, load_contract

# kind -> "module:Class"; the registry of connector kinds.
KINDS: dict[str, str] = {
    "sql": "ingest.sources.sql:SqlConnector",
    "rest": "ingest.sources.rest:RestConnector",
    "x12": "ingest.sources.x12:X12Connector",
    "epcis": "ingest.sources.epcis:EpcisConnector",
    "snapshot": "ingest.sources.snapshot:SnapshotConnector",
}
MODES = ("merge", "replace", "append", "patch", "reconcile")
# Connection settings that are secrets: never in the file, only through `<name>_env: VARIABLE`.
SECRET_NAMES = frozenset({"password", "token", "bearer_token", "api_key", "secret", "client_secret"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class SourceConfigError(ValueError):
    """``sources.yaml`` cannot be used: the message says which source, which key and why."""


class SourceError(RuntimeError):
    """A source could not be reached or read; the message says which and why."""


@dataclass(frozen=True)
class StreamConfig:
    """One contract entity pulled from a source."""

    entity: str
    columns: Mapping[str, str]  # contract column -> source field (dotted path for nested JSON)
    key: tuple[str, ...]
    cursor: str | None = None  # source field that only grows (updated_at, a sequence)
    mode: str = "merge"
    deleted_flag: str | None = None  # source field: true means the record is deleted at the source
    reconcile_keys: bool = False  # compare the source's full key list with the stored rows, drop the gone
    options: Mapping[str, Any] = field(default_factory=dict)  # kind-specific: table, query, path, ...

    def source_field(self, column: str) -> str:
        return self.columns.get(column, column)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    every_minutes: int
    connection: Mapping[str, Any]  # secrets resolved from the environment
    streams: tuple[StreamConfig, ...]
    options: Mapping[str, Any] = field(default_factory=dict)  # kind-specific, e.g. the inbound folder
    base_dir: Path = Path(".")  # relative paths in options are relative to sources.yaml

    def stream(self, entity: str) -> StreamConfig:
        for s in self.streams:
            if s.entity == entity:
                return s
        raise KeyError(f"source {self.name} has no entity {entity}")

    def path(self, key: str) -> Path:
        """A folder or file option, relative to the sources file."""
        value = self.options.get(key)
        if not value:
            raise SourceConfigError(f"source {self.name}: option {key!r} (a folder or file path) is required")
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else self.base_dir / p


@dataclass
class Batch:
    """Records of one entity, as the contract names them, from one unit of a source.

    ``cursor`` is the watermark once this batch is committed (connectors yield batches in cursor
    order); ``item`` marks a unit (an EDI interchange, an EPCIS document) as done once committed.
    ``file_error`` refuses the whole unit (``raw_text`` keeps it as received, for the quarantine).
    """

    entity: str
    records: list[dict[str, Any]]
    label: str
    cursor: str | None = None
    mode: str | None = None  # None: the stream's mode
    deleted_keys: list[dict[str, Any]] = field(default_factory=list)
    all_keys: list[dict[str, Any]] | None = None
    item: tuple[str, str] | None = None  # (item id, digest)
    file_error: str | None = None
    raw_text: str | None = None
    mapped: bool = False  # records already carry contract column names (EDI, EPCIS)


class PullState(Protocol):
    def watermark(self, entity: str) -> str | None: ...

    def seen(self, item: str, digest: str) -> bool: ...


class Connector(Protocol):
    """One kind of source. ``check`` reaches it; ``pull`` yields what is new since the state."""

    def __init__(self, source: SourceConfig) -> None: ...

    def check(self) -> str: ...

    def pull(self, state: PullState) -> Iterator[Batch]: ...


def connector(source: SourceConfig) -> Connector:
    module, _, cls = KINDS[source.kind].partition(":")
    return getattr(importlib.import_module(module), cls)(source)  # type: ignore[no-any-return]


# --- sources.yaml ------------------------------------------------------------------------------------


def _resolve_connection(name: str, spec: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (spec or {}).items():
        key = str(key)
        if key.endswith("_env"):
            var = str(value)
            if var not in env:
                raise SourceConfigError(
                    f"source {name}: connection.{key} names the environment variable {var}, which is not set"
                )
            out[key.removesuffix("_env")] = env[var]
            continue
        if key in SECRET_NAMES:
            raise SourceConfigError(
                f"source {name}: connection.{key} is a secret; put it in an environment variable and write "
                f"`{key}_env: VARIABLE` instead"
            )
        if key == "url" and isinstance(value, str) and urlsplit(value).password:
            raise SourceConfigError(
                f"source {name}: connection.url carries a password; put the URL in an environment variable "
                "and write `url_env: VARIABLE` instead"
            )
        out[key] = value
    return out


def _stream(source: str, entity: str, spec: Mapping[str, Any], contract: Contract) -> StreamConfig:
    where = f"source {source}, entity {entity}"
    if entity not in contract.entities:
        raise SourceConfigError(
            f"{where}: not an entity of the contract (entities: {', '.join(contract.entities)})"
        )
    ent = contract[entity]
    spec = dict(spec or {})
    columns = {str(k): str(v) for k, v in (spec.pop("columns", None) or {}).items()}
    unknown = [c for c in columns if c not in ent.column_names]
    if unknown:
        raise SourceConfigError(
            f"{where}: columns {', '.join(unknown)} are not columns of {entity} "
            f"(columns: {', '.join(ent.column_names)})"
        )
    mode = str(spec.pop("mode", "merge"))
    if mode not in MODES:
        raise SourceConfigError(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
    key = tuple(spec.pop("key", None) or ent.key)
    if any(k not in ent.column_names for k in key):
        raise SourceConfigError(f"{where}: key {list(key)} must name columns of {entity}")
    return StreamConfig(
        entity=entity,
        columns=columns,
        key=key,
        cursor=spec.pop("cursor", None),
        mode=mode,
        deleted_flag=spec.pop("deleted_flag", None),
        reconcile_keys=bool(spec.pop("reconcile_keys", False)),
        options=spec,
    )


def load_sources(
    path: Path | str, *, env: Mapping[str, str] | None = None, contract: Contract | None = None
) -> list[SourceConfig]:
    """Read and check ``sources.yaml``; a bad file fails here, naming the source and key."""
    path = Path(path)
    env = os.environ if env is None else env
    contract = contract or load_contract()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SourceConfigError(f"sources file {path} does not exist (MEDTOWER_SOURCES)") from None
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"sources file {path} is not valid YAML: {exc}") from None
    raw = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise SourceConfigError(f"{path}: expected a mapping `sources:` of source name -> settings")
    out = []
    for name, spec in raw.items():
        name = str(name)
        if not _NAME_RE.match(name):
            raise SourceConfigError(f"{path}: source name {name!r}: use lower-case letters, digits, - and _")
        spec = dict(spec or {})
        kind = str(spec.pop("kind", ""))
        if kind not in KINDS:
            raise SourceConfigError(f"source {name}: kind {kind!r} is not one of {', '.join(KINDS)}")
        every = spec.pop("every_minutes", 60)
        if not isinstance(every, int) or every < 1:
            raise SourceConfigError(f"source {name}: every_minutes must be a whole number of minutes >= 1")
        entities = spec.pop("entities", None) or {}
        if not isinstance(entities, dict):
            raise SourceConfigError(f"source {name}: `entities` must map entity names to their settings")
        out.append(
            SourceConfig(
                name=name,
                kind=kind,
                every_minutes=every,
                connection=_resolve_connection(name, spec.pop("connection", None) or {}, env),
                streams=tuple(_stream(name, str(e), s, contract) for e, s in entities.items()),
                options=spec,
                base_dir=path.resolve().parent,
            )
        )
    return out


# --- records ------------------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A source value as the contract's text: ISO dates, true/false, JSON for nested values."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(decimal.Decimal(repr(value)), "f")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON objects as dotted field names ({"a": {"b": 1}} -> {"a.b": 1}); lists stay values."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def map_record(stream: StreamConfig, record: Mapping[str, Any]) -> dict[str, str | None]:
    """A source record under contract column names; fields the mapping does not name are kept as extras."""
    flat = flatten(record)
    out: dict[str, str | None] = {}
    used = set()
    for column, source_field in stream.columns.items():
        out[column] = text(flat.get(source_field))
        used.add(source_field)
    for name, value in flat.items():
        if name not in used and name not in out:
            out[name] = text(value)
    return out
