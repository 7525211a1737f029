"""Personal data: which columns hold it, how it is masked, and the audit record when it is shown unmasked.

Why one module: customer contacts and patient references may leave the warehouse through pages, grid
exports, emails and the CLI; each of them asks here instead of keeping its own list or mask. The source
contract (``ingest/source_contract.yaml``, ``pii: true``) is the registry of which feed columns are personal
data; ``MARTS`` says which mart carries each entity's personal columns (same column names). A ``pii``
column the contract gains without a mart here is refused (``columns``), so nobody forgets to decide.

Who may see them unmasked: a role with ``pii.unmasked`` (medtower/roles.py). Every time unmasked values are
served, ``reveal`` writes a ``pii.view`` record in the audit trail: who, which object, which columns, where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from medtower.settings import Settings

CONTRACT_PATH = Path(__file__).resolve().parents[1] / "ingest" / "source_contract.yaml"
RIGHT = "pii.unmasked"  # the action of medtower/roles.py that lets a role see personal data unmasked
ACTION = "pii.view"  # the audit trail's action for unmasked personal data served
MASK = "•"

# Contract entity -> the one mart that carries its personal columns (under the contract's column names).
# Patient references live in a narrow mart of their own, read only by the unmasked path: fct_complaints
# carries only has_patient_reference.
MARTS: Mapping[str, str] = {
    "customers": "dim_customers",
    "complaints": "fct_complaint_patient_references",
}


@cache
def _contract_pii(path: Path) -> tuple[tuple[str, str], ...]:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle) or {}
    found = []
    for entity, spec in (doc.get("entities") or {}).items():
        for column, cspec in ((spec or {}).get("columns") or {}).items():
            if (cspec or {}).get("pii"):
                found.append((str(entity), str(column)))
    return tuple(found)


def columns(contract_path: Path = CONTRACT_PATH) -> dict[str, tuple[str, ...]]:
    """Mart -> its personal-data columns, from the contract's ``pii: true`` columns.

    Raises ValueError for a ``pii`` column of an entity no mart is declared for in ``MARTS``.
    """
    out: dict[str, list[str]] = {}
    for entity, column in _contract_pii(contract_path):
        mart = MARTS.get(entity)
        if mart is None:
            raise ValueError(
                f"{entity}.{column} is personal data (pii: true in {contract_path.name}) but medtower/pii.py "
                f"names no mart for {entity!r}: add it to pii.MARTS so every reader masks it"
            )
        out.setdefault(mart, []).append(column)
    return {mart: tuple(cols) for mart, cols in out.items()}


def feed_columns(contract_path: Path = CONTRACT_PATH) -> dict[str, tuple[str, ...]]:
    """Contract entity -> its personal-data columns (for rows as the feed delivered them: the quarantine)."""
    out: dict[str, list[str]] = {}
    for entity, column in _contract_pii(contract_path):
        out.setdefault(entity, []).append(column)
    return {entity: tuple(cols) for entity, cols in out.items()}


def feed_columns_of(entities: Iterable[str]) -> list[str]:
    """The personal columns of these feed entities as ``entity.column`` (what a quarantine view shows)."""
    feed = feed_columns()
    return [f"{e}.{c}" for e in sorted(set(entities)) for c in feed.get(e, ())]


def mask(value: object) -> str | None:
    """A personal value masked: bullets and its last two characters (enough to tell two apart on a call
    with the source system, not enough to read it); None for no value."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value)
    if not text:
        return None
    return MASK * max(len(text) - 2, 3) + text[-2:]


def mask_frame(df: pd.DataFrame, mart: str) -> pd.DataFrame:
    """A copy of ``df`` (rows of ``mart``) with the mart's personal-data columns masked.

    By mart, not by column name alone: ``dim_suppliers.contact_email`` is a business address, not personal.
    """
    cols = [c for c in columns().get(mart, ()) if c in df.columns]
    if not cols:
        return df
    out = df.copy()
    for col in cols:
        out[col] = out[col].map(mask).astype(object)
    return out


def reveal(
    settings: Settings,
    actor: str,
    object_type: str,
    object_id: str,
    cols: Sequence[str],
    where: str,
    *,
    ids: Sequence[str] = (),
    site: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The ``pii.view`` audit record of unmasked personal data served: who (``actor``), which object
    (``object_type``/``object_id``; ``ids`` for the rows of a list), which columns, where (page or command).

    Call it before the values leave: a trail that cannot be written raises, so nothing is shown unrecorded.
    """
    from medtower import audit

    new = {"columns": list(cols), "where": where}
    if ids:
        new["ids"] = [str(i) for i in ids]
    return audit.record(settings, actor, ACTION, object_type, object_id, None, new, site=site, source=source)
