"""Write the demo tables as canonical-feed CSV files.

DuckDB formats and writes each table in one streaming COPY: integer ids become their string form,
timestamps the local ISO form without offset, decimals lose trailing zeros. Formatting in SQL keeps
scale 100 out of Python loops and out of per-row string memory. Bad rows are appended afterwards
with the csv module so their line numbers are known exactly.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from ingest.demo.ids import ID_FORMATS, REFERENCE_FORMATS

CONTRACT_PATH = Path(__file__).resolve().parent.parent / "source_contract.yaml"
TZ_SUFFIX = "__tz"  # companion column: explicit offset ('Z', '+08:00') appended to a timestamp


@cache
def contract() -> dict[str, dict[str, dict]]:
    """Entity -> ordered {column: spec} from the canonical feed contract."""
    with CONTRACT_PATH.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    return {name: dict(spec["columns"]) for name, spec in doc["entities"].items()}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _settled(q: str, zones: tuple[str, ...]) -> str:
    """A local time the clocks skip or repeat at any of the plant's sites moves one hour on.

    The demo makes wall-clock times without daylight saving in mind; ingest rightly refuses a local time
    that does not exist (clocks go forward) or happens twice (clocks go back) at the site, so the demo
    does not write one.
    """
    bad = " OR ".join(
        f"timezone('{z}', timezone('{z}', {q})) <> {q} "
        f"OR timezone('{z}', timezone('{z}', {q}) - INTERVAL 1 HOUR) = {q} "
        f"OR timezone('{z}', timezone('{z}', {q}) + INTERVAL 1 HOUR) = {q}"
        for z in zones
    )
    return f"CASE WHEN {bad} THEN {q} + INTERVAL 1 HOUR ELSE {q} END" if zones else q


def _expr(col: str, ctype: str, dtype: object, present: set[str], zones: tuple[str, ...] = ()) -> str:
    q = _quote(col)
    if col not in present:
        return f"CAST(NULL AS VARCHAR) AS {q}"
    kind = getattr(dtype, "kind", "O")
    if col == "reference_id" and kind in "iu":
        cases = " ".join(
            f"WHEN reference_type = '{rt}' THEN printf('{f}', {q})" for rt, f in REFERENCE_FORMATS.items()
        )
        return f"CASE {cases} END AS {q}"
    if col in ID_FORMATS and kind in "iu":
        return f"printf('{ID_FORMATS[col]}', {q}) AS {q}"
    if ctype in ("timestamp", "date") and kind == "M":
        pattern = "%Y-%m-%dT%H:%M:%S" if ctype == "timestamp" else "%Y-%m-%d"
        value = f"strftime({q}, '{pattern}')"
        if ctype == "timestamp" and zones:
            local = f"strftime({_settled(q, zones)}, '{pattern}')"
            offset = _quote(col + TZ_SUFFIX) if col + TZ_SUFFIX in present else None
            value = local if offset is None else f"CASE WHEN {offset} IS NULL THEN {local} ELSE {value} END"
        if col + TZ_SUFFIX in present:
            value = f"{value} || coalesce({_quote(col + TZ_SUFFIX)}, '')"
        return f"{value} AS {q}"
    if ctype == "decimal" and kind == "f":
        return (
            f"CASE WHEN {q} IS NULL OR isnan({q}) THEN NULL ELSE "
            f"rtrim(rtrim(CAST(CAST(round({q}, 4) AS DECIMAL(18, 4)) AS VARCHAR), '0'), '.') END AS {q}"
        )
    if ctype == "int" and kind == "f":
        return f"CAST(CAST({q} AS BIGINT) AS VARCHAR) AS {q}"
    return f"CAST({q} AS VARCHAR) AS {q}"


def write_table(
    con: duckdb.DuckDBPyConnection, entity: str, df: pd.DataFrame, path: Path, zones: tuple[str, ...] = ()
) -> int:
    """Write one entity file: contract columns in contract order, then any extra columns.

    ``zones``: the sites' time zones; a local time they skip or repeat is written an hour later.
    """
    columns = contract()[entity]
    if not len(df.columns):  # an entity the demo does not make (supplier_invoices): the header only
        df = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    present = set(df.columns)
    extras = [c for c in df.columns if c not in columns and not c.endswith(TZ_SUFFIX)]
    select = [
        _expr(c, spec["type"], df[c].dtype if c in present else None, present, zones)
        for c, spec in columns.items()
    ]
    select += [f"CAST({_quote(c)} AS VARCHAR) AS {_quote(c)}" for c in extras]
    con.register("frame", df)
    try:
        con.execute(
            f"COPY (SELECT {', '.join(select)} FROM frame) TO '{path.as_posix()}' "
            "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"')"
        )
    finally:
        con.unregister("frame")
    return len(df)


def append_rows(path: Path, rows: list[list[str]]) -> None:
    """Append raw text rows (the deliberately bad ones) with RFC 4180 quoting and LF endings."""
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerows(rows)
