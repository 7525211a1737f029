"""Bulk validation of one file's records against the contract, in DuckDB SQL.

Every check is set-based: one pass over the file's VARCHAR table yields, per row,
the list of (column, reason) that break the contract; references are anti-joins
against the parent raw table; barcode payloads are parsed once per DISTINCT value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from ingest.contract import Column, Contract, ContractError, Entity, Limits
from ingest.dropfolder import quote_ident
from medtower.barcodes import gtin_is_valid, scan_reasons

INT_RE = r"[+-]?[0-9]+"
DECIMAL_RE = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME_RE = r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
_OFFSET_RE = r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"
# sign, hours and minutes of a numeric offset (groups 3, 4, 5: _TIME_RE has two groups)
TIMESTAMP_RE = DATE_RE + _TIME_RE + _OFFSET_RE + "?"
# a timestamp that carries an offset (anchored after the time, so a date's "-01" is not an offset)
OFFSET_SUFFIX_RE = _TIME_RE + _OFFSET_RE + "$"
_NUMERIC_OFFSET_RE = _TIME_RE + r"([+-])([0-9]{2}):?([0-9]{2})?$"
MAX_OFFSET_MINUTES = 14 * 60  # UTC-12:00 .. UTC+14:00 are the offsets in use; ISO 8601 allows no more
SQL_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "decimal": "DECIMAL(18,6)",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class HeaderMap:
    """How a file's header lines up with the entity's contract columns."""

    source: dict[str, str] = field(default_factory=dict)  # contract column -> src column (c<i>)
    extras: list[tuple[str, str]] = field(default_factory=list)  # (header name, src column)
    raw: list[tuple[str, str]] = field(default_factory=list)  # every (header name, src column)
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # file-level (column, reason)
    untrimmed: set[str] = field(default_factory=set)  # columns whose spaces are data
    patch: bool = False  # an update of stored rows: undelivered columns keep their stored values


def map_header(entity: Entity, header: list[str], file_name: str, *, patch: bool = False) -> HeaderMap:
    """Contract columns match header names case-insensitively; unknown ones are extras.

    ``patch``: an update of stored rows needs only the key columns; the others keep their stored values.
    """
    out = HeaderMap(untrimmed={c.name for c in entity.columns if not c.trim}, patch=patch)
    known = {c.name for c in entity.columns}
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        label = name or f"column_{i + 1}"
        out.raw.append((label, f"c{i}"))
        norm = name.strip().lower()
        if norm in seen:
            out.errors.append((norm, f"column {norm} appears twice in the header of {file_name}"))
            continue
        seen[norm] = i
        if norm in known:
            out.source[norm] = f"c{i}"
        else:
            out.extras.append((label, f"c{i}"))
    for col in entity.columns:
        needed = col.name in entity.key if patch else col.required
        if needed and col.name not in out.source:
            out.errors.append(
                (
                    col.name,
                    f"column {col.name} required by the contract is missing from the header of {file_name}",
                )
            )
    return out


def value_sql(hmap: HeaderMap, column: str) -> str:
    """Normalised VARCHAR value: trimmed, empty -> NULL; NULL when the column is not delivered."""
    src = hmap.source.get(column)
    if not src:
        return "CAST(NULL AS VARCHAR)"
    if column in hmap.untrimmed:
        return f"CASE WHEN trim({quote_ident(src)}) <> '' THEN {quote_ident(src)} END"
    return f"NULLIF(trim({quote_ident(src)}), '')"


def typed_sql(col: Column, v: str) -> str:
    """The typed value of a row that passed validation (timestamps: see load.py)."""
    if col.type == "int":
        return f"CAST({v} AS BIGINT)"
    if col.type == "decimal":
        return f"CAST({v} AS DECIMAL(18,6))"
    if col.type == "bool":
        return f"(lower({v}) IN ('true', '1'))"
    if col.type == "date":
        return f"CAST({v} AS DATE)"
    return v


def _shown(v: str) -> str:
    return f"'''' || left({v}, 80) || ''''"


def _type_check(col: Column, v: str) -> tuple[str, str] | None:
    """(condition that the value is bad, reason SQL) for a non-null value."""
    if col.type == "int":
        return (
            f"NOT (regexp_full_match({v}, '{INT_RE}') AND TRY_CAST({v} AS BIGINT) IS NOT NULL)",
            f"{_shown(v)} || ' is not an integer'",
        )
    if col.type == "decimal":
        return (
            f"NOT (regexp_full_match({v}, '{DECIMAL_RE}') AND TRY_CAST({v} AS DECIMAL(18,6)) IS NOT NULL)",
            f"{_shown(v)} || ' is not a decimal number (digits, optional sign and decimal point)'",
        )
    if col.type == "bool":
        return (
            f"lower({v}) NOT IN ('true', 'false', '1', '0')",
            f"{_shown(v)} || ' is not a boolean (true/false/1/0)'",
        )
    if col.type == "date":
        return (
            f"NOT (regexp_full_match({v}, '{DATE_RE}') AND TRY_CAST({v} AS DATE) IS NOT NULL)",
            f"{_shown(v)} || ' is not a date (YYYY-MM-DD)'",
        )
    if col.type == "timestamp":
        return (
            f"NOT (regexp_full_match({v}, '{TIMESTAMP_RE}') AND TRY_CAST({v} AS TIMESTAMPTZ) IS NOT NULL)",
            f"{_shown(v)} || ' is not an ISO 8601 timestamp (YYYY-MM-DDThh:mm[:ss][offset])'",
        )
    return None


def row_checks(entity: Entity, hmap: HeaderMap) -> list[tuple[str, str, str]]:
    """(column, bad-condition, reason) for every per-row check of the entity."""
    checks: list[tuple[str, str, str]] = []
    for col in entity.columns:
        v = value_sql(hmap, col.name)
        if col.required and (col.name in hmap.source or not hmap.patch):
            checks.append((col.name, f"{v} IS NULL", lit("required value is missing")))
        type_check = _type_check(col, v)
        if type_check:
            cond, reason = type_check
            checks.append((col.name, f"{v} IS NOT NULL AND {cond}", reason))
        if col.enum:
            allowed = ", ".join(col.enum)
            checks.append(
                (
                    col.name,
                    f"{v} IS NOT NULL AND {v} NOT IN ({', '.join(lit(e) for e in col.enum)})",
                    f"{_shown(v)} || {lit(' is not one of: ' + allowed)}",
                )
            )
        if col.min is not None and col.type in ("int", "decimal"):
            checks.append(
                (
                    col.name,
                    f"{v} IS NOT NULL AND TRY_CAST({v} AS DOUBLE) < {col.min!r}",
                    f"{_shown(v)} || {lit(f' is below {col.min:g}, the smallest value the contract allows')}",
                )
            )
        if col.type == "timestamp":
            sign = f"regexp_extract({v}, '{_NUMERIC_OFFSET_RE}', 3)"
            hours, mins = (f"regexp_extract({v}, '{_NUMERIC_OFFSET_RE}', {g})" for g in (4, 5))
            minutes = (
                f"(TRY_CAST({hours} AS INTEGER) * 60 + coalesce(TRY_CAST(NULLIF({mins}, '') AS INTEGER), 0))"
            )
            checks.append(
                (
                    col.name,
                    f"{v} IS NOT NULL AND {sign} <> '' AND {minutes} > {MAX_OFFSET_MINUTES}",
                    f"{_shown(v)} || ' has a UTC offset outside -14:00..+14:00'",
                )
            )
        if col.check in SQL_CHECKS:
            cond, reason = SQL_CHECKS[col.check](v)
            checks.append((col.name, f"{v} IS NOT NULL AND {cond}", reason))
        elif col.check is not None and col.check not in PYTHON_CHECKS:
            raise ContractError(
                f"{entity.name}.{col.name}: check {col.check!r} is not one of "
                f"{', '.join(sorted([*SQL_CHECKS, *PYTHON_CHECKS]))}"
            )
    return checks


def limit_checks(hmap: HeaderMap, limits: Limits) -> list[tuple[str, str, str]]:
    """Every delivered field, contract column or extra: no NUL byte, no longer than the contract's cap."""
    checks = []
    for label, src in hmap.raw:
        c = quote_ident(src)
        checks.append((label, f"strpos({c}, chr(0)) > 0", lit(f"{label} holds a NUL byte (binary data?)")))
        checks.append(
            (
                label,
                f"length({c}) > {limits.field_chars}",
                f"{lit(label + ' is ')} || length({c}) || "
                f"{lit(f' characters long; the contract allows {limits.field_chars:,}')}",
            )
        )
    return checks


def _gtin_reason(value: str) -> str | None:
    if gtin_is_valid(value):
        return None
    return f"{value[:80]!r} is not a valid GTIN (8, 12, 13 or 14 digits, correct check digit)"


def _payload_reason(value: str) -> str | None:
    # parse_scan's verdict and message (its reasons, joined), without building the Scan of a good one
    reasons = scan_reasons(value)
    return f"barcode payload {value[:80]!r}: {'; '.join(reasons)}" if reasons else None


def _iana_timezone(v: str) -> tuple[str, str]:
    return (
        f"{v} NOT IN (SELECT name FROM pg_timezone_names())",
        f"{_shown(v)} || ' is not an IANA time zone name (e.g. Europe/Berlin)'",
    )


# The named checks a contract column can carry (`check:` in source_contract.yaml): set-based ones in SQL,
# the others in Python once per DISTINCT value (the GS1 check digit and the barcode reader live in
# medtower.barcodes, once).
SQL_CHECKS: dict[str, Callable[[str], tuple[str, str]]] = {"iana_timezone": _iana_timezone}
PYTHON_CHECKS: dict[str, Callable[[str], str | None]] = {"gtin": _gtin_reason, "udi_payload": _payload_reason}


def python_check_reasons(
    con: duckdb.DuckDBPyConnection,
    table: str,
    v: str,
    check: Callable[[str], str | None],
    stored: str | None = None,
) -> str:
    """Run a Python check once per DISTINCT value; return a temp table of (value, reason) for bad ones.

    ``stored`` (``raw.<entity>.<column>``): values the warehouse already holds there passed this check
    when they were loaded, so only the others are checked (a changed file re-reads its old rows too).
    """
    known = ""
    if stored:
        t, c = stored.rsplit(".", 1)
        known = f" AND {v} NOT IN (SELECT {quote_ident(c)} FROM {t} WHERE {quote_ident(c)} IS NOT NULL)"
    values = [
        r[0] for r in con.execute(f"SELECT DISTINCT {v} FROM {table} WHERE {v} IS NOT NULL{known}").fetchall()
    ]
    bad_v: list[str] = []
    bad_r: list[str] = []
    for value in values:
        reason = check(value)
        if reason is not None:
            bad_v.append(value)
            bad_r.append(reason)
    name = "bad_values"
    con.register("_bad_values_view", pa.table({"value": pa.array(bad_v, pa.string()), "reason": bad_r}))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _bad_values_view").fetchall()
    finally:
        con.unregister("_bad_values_view")
    return name


def build_reasons(
    con: duckdb.DuckDBPyConnection, entity: Entity, hmap: HeaderMap, src: str, limits: Limits | None = None
) -> str:
    """Temp table ``reasons_<entity>(_line, column, reason)`` of per-row contract violations."""
    out = f"reasons_{entity.name}"
    checks = limit_checks(hmap, limits or Limits()) + row_checks(entity, hmap)
    items = ", ".join(
        f"CASE WHEN {cond} THEN {{'column': {lit(column)}, 'reason': {reason}}} END"
        for column, cond, reason in checks
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
            SELECT _line, r.column AS "column", r.reason AS reason FROM (
                SELECT _line, unnest(list_filter([{items}], lambda x: x IS NOT NULL)) AS r FROM {src}
            )"""
    ).fetchall()
    for col in entity.columns:
        check = PYTHON_CHECKS.get(col.check or "")
        if check is None or col.name not in hmap.source:
            continue
        v = value_sql(hmap, col.name)
        bad = python_check_reasons(con, src, v, check, stored=f"raw.{entity.name}.{col.name}")
        con.execute(
            f"""INSERT INTO {out} SELECT s._line, {lit(col.name)}, b.reason
                FROM {src} s JOIN {bad} b ON b.value = {v}"""
        ).fetchall()
    return out


def ref_reasons(
    con: duckdb.DuckDBPyConnection, contract: Contract, entity: Entity, hmap: HeaderMap, src: str, out: str
) -> None:
    """Append dangling references to ``out``: parents are read from the raw tables, which
    already hold this run's valid parent rows (entities load parents first)."""
    for col in entity.columns:
        if not col.ref or col.name not in hmap.source:
            continue
        parent = contract[col.ref]
        pkey = parent.key[0]
        v = value_sql(hmap, col.name)
        quarantined = f"qkeys_{parent.name}"
        has_q = bool(
            con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [quarantined]
            ).fetchall()[0][0]
        )
        q_join = f"LEFT JOIN (SELECT DISTINCT k FROM {quarantined}) q ON q.k = d.v" if has_q else ""
        q_note = (
            "CASE WHEN q.k IS NOT NULL THEN ' (that row is quarantined in this run)' ELSE '' END"
            if has_q
            else "''"
        )
        con.execute(
            f"""INSERT INTO {out}
                SELECT d._line, {lit(col.name)},
                       {lit(f"dangling reference: {parent.name}.{pkey} ")} || '''' || left(d.v, 80)
                       || ''' does not exist' || {q_note}
                FROM (SELECT s._line, {v} AS v FROM {src} s
                      WHERE {v} IS NOT NULL
                        AND {v} NOT IN (SELECT CAST({quote_ident(pkey)} AS VARCHAR) FROM raw.{parent.name})) d
                {q_join}"""
        ).fetchall()
