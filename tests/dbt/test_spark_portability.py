"""The dbt project stays portable: no DuckDB-only SQL in models, and it compiles for Spark.

Two cheap checks, seconds instead of the minutes of the real Spark build (tests/dbt/test_spark_build.py):
- a scan of the SQL of models, macros and data tests, raw and as compiled for the Spark target, for syntax
  that only DuckDB understands (each finding names the file and line);
- `dbt compile --target spark` (dbt-spark without pyspark: compiling opens no connection, so an empty
  stand-in `pyspark` package satisfies the adapter's import check), with no adapter warning. Without
  dbt-spark the compile tests skip locally and fail under CI, like the PostgreSQL test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DBT_PROJECT

# (pattern, why) : DuckDB-only syntax, or engine-specific spellings a model must take from a dbt macro.
DUCKDB_ONLY: list[tuple[str, str]] = [
    (r"::", "`::` cast: use cast(x as {{ dbt.type_*() }})"),
    (r"\bdate_diff\s*\(", "date_diff(): use dbt.datediff"),
    (r"\bstrftime\s*\(", "strftime(): format dates in Python or with a dispatched macro"),
    (r"\bstrptime\s*\(", "strptime(): use cast(... as date) or a dispatched macro"),
    (r"\blist_\w+\s*\(|\blist_value\b", "list_* functions are DuckDB-only"),
    (r"\bstruct_pack\s*\(", "struct_pack() is DuckDB-only"),
    (r"\bqualify\b", "QUALIFY: filter a window column in an outer select"),
    (r"\bilike\b", "ILIKE: compare lower(x) like lower(y)"),
    (r"\bepoch(_ms|_us|_ns)?\s*\(", "epoch(): use dbt.datediff from a fixed date"),
    (r"\bregexp_matches\s*\(", "regexp_matches(): differs between engines"),
    (r"\btry_cast\s*\(", "try_cast(): use dbt.safe_cast"),
    (r"//", "`//` integer division: use floor(a / b) or cast"),
    (r"\binterval\s*'|\binterval\s+\d", "interval literal: use dbt.dateadd"),
    (r"[+-]\s*interval\b", "interval arithmetic: use dbt.dateadd"),
    (r"\bgroup\s+by\s+all\b|\border\s+by\s+all\b", "GROUP/ORDER BY ALL: name the columns"),
    (r"\bexclude\s*\(", "SELECT * EXCLUDE: name the columns"),
    (r"\barg_(min|max)\s*\(|\bmin_by\s*\(|\bmax_by\s*\(", "arg_min/arg_max: use row_number() over (...)"),
    (r"\bquantile(_cont|_disc)?\s*\(|\bmedian\s*\(", "quantile/median: use the percentile_cont macro"),
    (r"\bcount_if\s*\(", "count_if(): use sum(case when ... then 1 else 0 end)"),
    (r"\bstring_agg\s*\(|\bgroup_concat\s*\(", "string_agg(): use dbt.listagg"),
    (r"\bunnest\s*\(|\bgenerate_series\s*\(", "unnest/generate_series: not on Spark"),
    (r"\btoday\s*\(\s*\)", "today(): use as_of_date()"),
    (r"\bifnull\s*\(", "ifnull(): use coalesce"),
    (
        r"\bas\s+(varchar|text|double\s+precision|real|hugeint|ubigint|uinteger|usmallint|utinyint"
        r"|blob|json|timestamptz|timestamp\s+with\s+time\s+zone)\b",
        "engine-specific type name: use dbt.type_*() or type_double()",
    ),
]

# Only in hand-written SQL: an engine's own spelling of what a cross-database macro provides. The compiled
# SQL for Spark legitimately contains Spark's own datediff(), so these are not checked there.
RAW_ONLY: list[tuple[str, str]] = [
    (r"(?<![.\w])(datediff|dateadd|date_add|date_sub|date_trunc)\s*\(", "use the dbt.* cross-database macro"),
    (r"(?<![.\w])percentile_cont\s*\(\s*[\d.]+\s*\)", "percentile_cont ... within group: use the macro"),
]


def _blank(match: re.Match[str]) -> str:
    """Spaces for everything but newlines, so line numbers survive."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _blank_string_contents(match: re.Match[str]) -> str:
    text = match.group(0)
    return text[0] + re.sub(r"[^\n]", " ", text[1:-1]) + text[-1]


def scannable(sql: str, *, strip_jinja_statements: bool) -> str:
    """SQL with comments (Jinja and SQL) and the contents of string literals blanked out."""
    sql = re.sub(r"\{#.*?#\}", _blank, sql, flags=re.S)
    if strip_jinja_statements:
        # {% ... %} holds Jinja (Python-like) code, not SQL; {{ ... }} arguments do become SQL and stay.
        sql = re.sub(r"\{%.*?%\}", _blank, sql, flags=re.S)
    sql = re.sub(r"/\*.*?\*/", _blank, sql, flags=re.S)
    sql = re.sub(r"'(?:[^']|'')*'", _blank_string_contents, sql)
    sql = re.sub(r'"(?:[^"])*"', _blank_string_contents, sql)
    return re.sub(r"--[^\n]*", _blank, sql)


def find_duckdb_only(sql: str, label: str, *, raw: bool) -> list[str]:
    """Findings as `label:line: matched text (why)`."""
    text = scannable(sql, strip_jinja_statements=raw)
    rules = DUCKDB_ONLY + (RAW_ONLY if raw else [])
    findings = []
    for pattern, why in rules:
        for match in re.finditer(pattern, text, flags=re.I):
            line = text.count("\n", 0, match.start()) + 1
            source_line = sql.splitlines()[line - 1].strip()
            findings.append(f"{label}:{line}: {match.group(0)!r} in `{source_line}` ({why})")
    return findings


_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(.*?%\}(.*?)\{%-?\s*endmacro\s*-?%\}", re.S)


def _without_duckdb_implementations(sql: str) -> str:
    """Macro files minus the bodies of `duckdb__*` dispatch targets, which may use DuckDB's spelling."""

    def blank_if_duckdb(match: re.Match[str]) -> str:
        return _blank(match) if match.group(1).startswith("duckdb__") else match.group(0)

    return _MACRO.sub(blank_if_duckdb, sql)


def _project_sql() -> list[Path]:
    files: list[Path] = []
    for folder in ("models", "macros", "tests", "analyses"):
        files.extend(sorted((DBT_PROJECT / folder).rglob("*.sql")))
    return files


def test_raw_sql_has_no_duckdb_only_syntax() -> None:
    files = _project_sql()
    assert len(files) > 60, "the scan found too few SQL files to be looking in the right place"
    findings = []
    for path in files:
        sql = path.read_text()
        if path.is_relative_to(DBT_PROJECT / "macros"):
            sql = _without_duckdb_implementations(sql)
        findings += find_duckdb_only(sql, str(path.relative_to(DBT_PROJECT.parent)), raw=True)
    assert not findings, "DuckDB-only SQL in the dbt project:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select a::date from t", "::"),
        ("select date_diff('day', a, b) from t", "date_diff("),
        ("select * from t qualify row_number() over () = 1", "qualify"),
        ("select * from t where a ILIKE 'x%'", "ILIKE"),
        ("select try_cast(a as int) from t", "try_cast("),
        ("select a // 2 from t", "//"),
        ("select a + interval '1 day' from t", "interval '"),
        ("select a - interval 3 day from t", "- interval"),
        ("select a, count(*) from t group by all", "group by all"),
        ("select * exclude (a) from t", "exclude ("),
        ("select arg_min(a, b) from t", "arg_min("),
        ("select quantile_cont(a, 0.5) from t", "quantile_cont("),
        ("select cast(a as varchar) from t", "as varchar"),
        ("select strftime(a, '%Y') from t", "strftime("),
        ("select datediff('day', a, b) from t", "datediff("),
        ("select date_trunc('week', a) from t", "date_trunc("),
        ("select epoch(a) from t", "epoch("),
        ("select list_value(1, 2)", "list_value"),
    ],
)
def test_the_scan_finds_duckdb_only_syntax(sql: str, expected: str) -> None:
    findings = find_duckdb_only(f"with x as (select 1)\n{sql}\n", "m.sql", raw=True)
    hits = [f for f in findings if f.startswith("m.sql:2:") and expected.lower() in f.lower()]
    assert hits, findings


@pytest.mark.parametrize(
    "sql",
    [
        "select {{ dbt.datediff('a', 'b', 'day') }} from t",
        "select cast(a as {{ dbt.type_string() }}) from t  -- a::date in a comment",
        "{# date_diff( in a Jinja comment #} select 'http://x//y' as url, 'a::b' as s",
        "{% set d = run_started_at.strftime('%Y') %} select 1 /* group by all */",
        "select sum(a) / count(*) as qualify_rate, interval_start, b - interval_days from t",
        "select least(a, b), greatest(a, b), lag(a) over (order by b), coalesce(a, b) from t",
    ],
)
def test_the_scan_passes_portable_sql(sql: str) -> None:
    assert find_duckdb_only(sql, "m.sql", raw=True) == []


def test_duckdb_dispatch_implementations_are_exempt_but_others_are_not() -> None:
    macros = (
        "{% macro duckdb__p(e) -%} quantile_cont({{ e }}, 0.5) {%- endmacro %}\n"
        "{% macro default__p(e) -%} quantile_cont({{ e }}, 0.5) {%- endmacro %}\n"
    )
    findings = find_duckdb_only(_without_duckdb_implementations(macros), "m.sql", raw=True)
    assert [f.split(":")[1] for f in findings] == ["2"]


# --- Spark: compile for real -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark_compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        reason = "dbt-spark is not installed: pip install 'dbt-spark==1.11.*' (no extras, no pyspark needed)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must compile for Spark; {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("spark_compile")
    stand_in = root / "stand_in" / "pyspark"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('"""Empty: dbt compile imports pyspark, never uses it."""\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(stand_in.parent), os.environ.get("PYTHONPATH", "")]),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).with_name("dbt")
    proc = subprocess.run(
        [
            str(dbt),
            "compile",
            "--target",
            "spark",
            "--no-populate-cache",
            "--no-introspect",
            "--no-partial-parse",
            "--vars",
            '{"as_of": "2026-06-30"}',
            "--profiles-dir",
            str(DBT_PROJECT),
            "--project-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(root / "target"),
            "--log-path",
            str(root / "logs"),
        ],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return root / "target" / "compiled" / "medtower", proc.stdout


def test_the_project_compiles_for_spark_without_adapter_warnings(spark_compiled: tuple[Path, str]) -> None:
    _, log = spark_compiled
    warnings = [
        line
        for line in log.splitlines()
        if re.search(r"not supported|\[WARNING\]|deprecat", line, flags=re.I)
    ]
    assert not warnings, "dbt compile --target spark warned:\n" + "\n".join(warnings)


def test_sql_compiled_for_spark_has_no_duckdb_only_syntax(spark_compiled: tuple[Path, str]) -> None:
    compiled, _ = spark_compiled
    files = sorted((compiled / "models").rglob("*.sql"))
    models = [p for p in files if not p.parent.name.endswith(".yml")]
    assert len(models) >= 60, f"only {len(models)} compiled models under {compiled}"
    findings = []
    for path in files:
        findings += find_duckdb_only(path.read_text(), f"spark:{path.relative_to(compiled)}", raw=False)
    assert not findings, "DuckDB-only SQL compiled for Spark:\n" + "\n".join(findings)
