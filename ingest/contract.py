"""The canonical feed contract (``source_contract.yaml``) as typed data.

Everything downstream (reading, validation, raw tables) is driven by this one
declaration, so adding a column or an entity is a YAML change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_CONTRACT_PATH = Path(__file__).resolve().parent / "source_contract.yaml"

TYPES = ("string", "int", "decimal", "bool", "date", "timestamp")


class ContractError(ValueError):
    pass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    ref: str | None = None
    pii: bool = False
    desc: str | None = None
    check: str | None = None  # a named check of ingest.validate.CHECKS (gtin, iana_timezone, udi_payload)
    trim: bool = True  # False: leading and trailing spaces are data
    min: float | None = None  # smallest allowed value of a number (a negative PO quantity is refused)
    site_from: str | None = None  # entity whose site_id gives the row's time zone (for a key that is no ref)


@dataclass(frozen=True)
class Limits:
    """Caps on what one delivery may hold; a longer field or line is quarantined, never loaded."""

    field_chars: int = 65_536
    line_bytes: int = 1 << 20


@dataclass(frozen=True)
class Entity:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    desc: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")


@dataclass(frozen=True)
class Contract:
    version: int
    entities: dict[str, Entity] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)

    def __getitem__(self, name: str) -> Entity:
        return self.entities[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entities.values())

    def __len__(self) -> int:
        return len(self.entities)


def _column(entity: str, name: str, spec: dict) -> Column:
    ctype = spec.get("type", "string")
    if ctype not in TYPES:
        raise ContractError(f"{entity}.{name}: unknown type {ctype!r} (expected one of {', '.join(TYPES)})")
    enum = spec.get("enum")
    unknown = sorted(set(spec) - COLUMN_ATTRIBUTES)
    if unknown:
        raise ContractError(
            f"{entity}.{name}: unknown attribute {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(COLUMN_ATTRIBUTES))})"
        )
    minimum = spec.get("min")
    if minimum is not None and (ctype not in ("int", "decimal") or not isinstance(minimum, int | float)):
        raise ContractError(f"{entity}.{name}: min needs a number on an int or decimal column")
    return Column(
        name=name,
        type=ctype,
        required=bool(spec.get("required", False)),
        enum=tuple(str(v) for v in enum) if enum else None,
        ref=spec.get("ref"),
        pii=bool(spec.get("pii", False)),
        desc=spec.get("desc"),
        check=spec.get("check"),
        trim=bool(spec.get("trim", True)),
        min=float(minimum) if minimum is not None else None,
        site_from=spec.get("site_from"),
    )


COLUMN_ATTRIBUTES = frozenset(
    {"type", "required", "enum", "ref", "pii", "desc", "check", "trim", "min", "site_from"}
)


def load_contract(path: Path | str | None = None) -> Contract:
    """Read and check the contract; a bad contract fails here, not mid-ingest."""
    path = Path(path) if path is not None else DEFAULT_CONTRACT_PATH
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    entities: dict[str, Entity] = {}
    for name, spec in (doc.get("entities") or {}).items():
        columns = tuple(_column(name, col, cspec or {}) for col, cspec in (spec.get("columns") or {}).items())
        key = tuple(spec.get("key") or ())
        names = {c.name for c in columns}
        missing = [k for k in key if k not in names]
        if not key or missing:
            raise ContractError(f"{name}: key {list(key)} must name columns of the entity")
        entities[name] = Entity(name=name, key=key, columns=columns, desc=spec.get("desc"))
    for entity in entities.values():
        for col in entity.columns:
            for target in (col.site_from,):
                if target is not None and "site_id" not in getattr(entities.get(target), "column_names", []):
                    raise ContractError(
                        f"{entity.name}.{col.name}: site_from {target!r} is not an entity with site_id"
                    )
            if col.ref is None:
                continue
            parent = entities.get(col.ref)
            if parent is None:
                raise ContractError(f"{entity.name}.{col.name}: ref {col.ref!r} is not an entity")
            if len(parent.key) != 1:
                raise ContractError(
                    f"{entity.name}.{col.name}: ref {col.ref!r} has a composite key; refs need a single key"
                )
    limits = Limits(**(doc.get("limits") or {}))
    return Contract(version=int(doc.get("version", 1)), entities=entities, limits=limits)


def load_order(contract: Contract | None = None) -> list[Entity]:
    """Entities with every referenced (parent) entity before its children.

    Ties keep the contract's order, so the order is stable between runs.
    """
    contract = contract if contract is not None else load_contract()
    order: list[Entity] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(entity: Entity, path: list[str]) -> None:
        if state.get(entity.name) == 2:
            return
        if state.get(entity.name) == 1:
            raise ContractError(f"reference cycle in the contract: {' -> '.join([*path, entity.name])}")
        state[entity.name] = 1
        for col in entity.columns:
            if col.ref and col.ref != entity.name:
                visit(contract.entities[col.ref], [*path, entity.name])
        state[entity.name] = 2
        order.append(entity)

    for entity in contract.entities.values():
        visit(entity, [])
    return order
