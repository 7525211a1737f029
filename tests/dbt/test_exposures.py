"""Exposures: every consumer of the marts is declared in dbt, with the marts its code really reads.

The marts a consumer reads are found in its source, not trusted from the YAML: ``marts.<name>`` in SQL strings
and rule files, the ``dashboards.data`` query functions a page calls (resolved one function at a time), and
the project modules it imports (``medtower.kpis``, ``medtower.trace`` ...). So renaming a mart, or a page
starting to read a new one, breaks a test here rather than a page in production.
"""

from __future__ import annotations

import ast
import glob
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import DBT_PROJECT
from tests.served_app import PAGE_FILES, page_path

REPO = DBT_PROJECT.parent
CONSUMERS = ("dashboards", "alerts", "medtower")
PROJECT_PACKAGES = {"dashboards", "alerts", "medtower", "ingest"}
MART_REF = re.compile(r"\bmarts\.([a-z_][a-z0-9_]*)")
TABLE_NAME = re.compile(r"(fct|dim)_[a-z0-9_]+")


# --- what the code reads ------------------------------------------------------------------------------------
#
# A small call graph over the project's own modules: a top-level function (or constant) of a module reads the
# marts named in its strings plus those of every project function it refers to, directly (`helper()`), through
# a module alias (`data.sites`, `kpis.compute_kpis`) or through `from X import f`, lazy imports included.
# A module object passed around whole (`return kpis`) counts as reading everything that module reads.


def _module_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


@dataclass
class _Module:
    tree: ast.Module
    symbols: dict[str, ast.AST]
    # local name -> (module, attribute); attribute None when the name is the module itself
    aliases: dict[str, tuple[str, str | None]]


@cache
def _parse(module: str) -> _Module:
    path = _module_path(module)
    assert path is not None, module
    tree = ast.parse(path.read_text(), filename=str(path))
    symbols: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            symbols[node.name] = node
        elif isinstance(node, ast.Assign):
            symbols.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            symbols[node.target.id] = node
    aliases: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and _module_path(alias.name):
                    aliases[alias.asname] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                local = alias.asname or alias.name
                sub = f"{node.module}.{alias.name}"
                if _module_path(sub) and sub != node.module:
                    aliases[local] = (sub, None)
                elif _module_path(node.module):
                    aliases[local] = (node.module, alias.name)
    return _Module(tree, symbols, aliases)


def _direct_marts(node: ast.AST) -> set[str]:
    """`marts.<name>` in any string; a bare table name passed as an argument (entity_facts(con, "dim_x"))."""
    marts = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            marts |= set(MART_REF.findall(n.value))
        elif isinstance(n, ast.Call):
            marts |= {
                a.value
                for a in [*n.args, *(k.value for k in n.keywords)]
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and TABLE_NAME.fullmatch(a.value)
            }
    return marts


def _references(node: ast.AST) -> list[tuple[str, str | None]]:
    """(name, attribute) pairs: `f` -> (f, None), `data.sites` -> (data, sites)."""
    refs: list[tuple[str, str | None]] = []

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            refs.append((n.value.id, n.attr))
            return
        if isinstance(n, ast.Name):
            refs.append((n.id, None))
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return refs


_Key = tuple[str, str | None]


@cache
def _edges(module: str, symbol: str | None) -> tuple[frozenset[str], tuple[_Key, ...]]:
    """The marts module.symbol names itself, and the project symbols it refers to (None: the whole module)."""
    mod = _parse(module)
    if symbol is not None and symbol not in mod.symbols:
        return frozenset(), ()  # set at run time, or a re-export: nothing to follow
    node = mod.tree if symbol is None else mod.symbols[symbol]
    targets: list[_Key] = []
    for name, attr in _references(node):
        if name in mod.aliases:
            target, imported = mod.aliases[name]
            # a module alias: module.attr, or the module object itself (attr None)
            targets.append((target, attr) if imported is None else (target, imported))
        elif name in mod.symbols:
            targets.append((module, name))
    return frozenset(_direct_marts(node)), tuple(dict.fromkeys(targets))


def _marts_of(module: str, symbol: str | None) -> set[str]:
    """Marts read by module.symbol and everything it reaches."""
    start: _Key = (module, symbol)
    seen, todo, marts = {start}, [start], set()
    while todo:
        direct, targets = _edges(*todo.pop())
        marts |= direct
        for target in targets:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return marts


def marts_read_by_file(path: Path) -> set[str]:
    """A Python module as a whole (a page, the alerts engine, a CLI module), or the text of a rule file."""
    if path.suffix == ".py":
        return _marts_of(_module_name(path), None)
    return set(MART_REF.findall(path.read_text()))


# --- what the exposures declare -----------------------------------------------------------------------------


@dataclass
class Exposure:
    name: str
    type: str
    url: str | None
    depends_on: set[str]
    code: list[Path] = field(default_factory=list)


def _exposures(manifest: dict) -> dict[str, Exposure]:
    result = {}
    for node in manifest["exposures"].values():
        meta = node.get("meta") or node.get("config", {}).get("meta") or {}
        code: list[Path] = []
        for pattern in meta.get("code", []):
            matches = sorted(Path(p) for p in glob.glob(str(REPO / pattern)))
            assert matches, f"exposure {node['name']}: meta.code {pattern!r} matches no file"
            code.extend(matches)
        result[node["name"]] = Exposure(
            name=node["name"],
            type=node["type"],
            url=node.get("url"),
            depends_on={d.split(".")[-1] for d in node["depends_on"]["nodes"]},
            code=code,
        )
    return result


def _mart_models(manifest: dict) -> set[str]:
    return {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    }


# --- tests --------------------------------------------------------------------------------------------------


def test_every_mart_the_code_names_is_a_model_and_exposed(manifest: dict) -> None:
    marts = _mart_models(manifest)
    exposed = set().union(*(e.depends_on for e in _exposures(manifest).values()))
    problems = []
    files = [p for pkg in CONSUMERS for p in sorted((REPO / pkg).rglob("*")) if p.suffix in {".py", ".yaml"}]
    assert any(p.suffix == ".yaml" for p in files) and len(files) > 20
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for name in MART_REF.findall(line):
                where = f"{path.relative_to(REPO)}:{number}: marts.{name}"
                if name not in marts:
                    problems.append(f"{where} is not a model under dbt_project/models/marts/")
                elif name not in exposed:
                    problems.append(f"{where} is read by the code but no exposure depends on it")
    assert not problems, "\n".join(problems)


def test_every_dashboard_page_is_an_exposure_at_its_url(manifest: dict) -> None:
    exposures = _exposures(manifest)
    pages = sorted(PAGE_FILES.glob("[!_]*.py"))
    assert len(pages) >= 10
    problems = []
    for page in pages:
        owners = [e for e in exposures.values() if page in e.code]
        if len(owners) != 1:
            problems.append(f"{page.relative_to(REPO)}: in meta.code of {len(owners)} exposures, not 1")
            continue
        exposure = owners[0]
        path = urlparse(exposure.url or "").path or "/"
        if exposure.type != "dashboard":
            problems.append(f"{exposure.name}: type {exposure.type}, a page is a dashboard")
        if path != page_path(page):
            problems.append(f"{exposure.name}: url path {path!r}, the page registers {page_path(page)!r}")
    assert not problems, "\n".join(problems)


def test_each_exposure_depends_on_every_mart_its_code_reads(manifest: dict) -> None:
    """Code reads => declared. An exposure may list a mart before its page reads it (page and YAML have
    different owners, so either may land first), but only a mart that some consumer does read."""
    exposures = _exposures(manifest)
    assert {"alerts", "kpi_cli"} <= exposures.keys()
    problems = []
    read_by: dict[str, set[str]] = {}
    for exposure in exposures.values():
        if not exposure.code:
            problems.append(f"{exposure.name}: no meta.code naming the files it is")
            continue
        read_by[exposure.name] = set().union(*(marts_read_by_file(p) for p in exposure.code))
        if missing := read_by[exposure.name] - exposure.depends_on:
            problems.append(f"{exposure.name}: reads {sorted(missing)} but does not depend on them")
    read_anywhere = set().union(*read_by.values())
    for exposure in exposures.values():
        if dead := exposure.depends_on - read_anywhere:
            problems.append(f"{exposure.name}: depends on {sorted(dead)}, which no consumer's code reads")
    assert not problems, "\n".join(problems)


def test_alert_rules_and_plans_are_covered_by_the_alerts_exposure(manifest: dict) -> None:
    alerts = _exposures(manifest)["alerts"]
    assert alerts.type == "application"
    rules = sorted((REPO / "alerts" / "rules").glob("*.yaml"))
    assert rules and set(rules) <= set(alerts.code)
    assert REPO / "alerts" / "engine.py" in alerts.code
    plans = marts_read_by_file(REPO / "alerts" / "plans.py")
    assert "fct_shortages" in plans and plans <= alerts.depends_on, sorted(plans - alerts.depends_on)


# --- the analysis itself, on hand-made modules ------------------------------------------------------------


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway project tree: dashboards.data with two queries, a page, and a helper module."""
    root = tmp_path
    (root / "dashboards" / "pages").mkdir(parents=True)
    (root / "medtower").mkdir()
    (root / "dashboards" / "data.py").write_text(
        '_BASE = "select * from marts.fct_a join marts.dim_b using (k)"\n'
        "def _base():\n    return _BASE\n"
        'def q1(con):\n    return con.execute(_base() + " union select * from marts.fct_c")\n'
        'def q2(con):\n    return con.execute("select * from marts.fct_unused")\n'
        "def facts(con, table):\n    return con.execute(f'select * from marts.{table}')\n"
    )
    (root / "medtower" / "helper.py").write_text('SQL = "select * from marts.fct_helper"\n')
    (root / "dashboards" / "pages" / "p.py").write_text(
        "from dashboards import data\n"
        "def layout(con):\n"
        "    from medtower import helper\n"
        '    return data.q1(con), data.facts(con, "dim_x"), helper.SQL\n'
    )
    monkeypatch.setattr(f"{__name__}.REPO", root)
    _parse.cache_clear()
    _edges.cache_clear()
    yield root
    _parse.cache_clear()
    _edges.cache_clear()


def test_the_analysis_follows_query_functions_helpers_literals_and_imports(fake_package: Path) -> None:
    read = marts_read_by_file(fake_package / "dashboards" / "pages" / "p.py")
    assert read == {"fct_a", "dim_b", "fct_c", "dim_x", "fct_helper"}
