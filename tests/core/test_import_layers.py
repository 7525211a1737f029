"""The layers, checked over every import (function-level ones too), run by `make lint`.

- bottom: ``medtower.settings``, ``medtower.warehouse``, ``medtower.kpis``, ``medtower.trace`` (and any
  other ``medtower`` module not named as top): warehouse access and mart queries, used by all; imports
  only the bottom layer;
- middle: ``ingest``, ``alerts``, ``dashboards``, side by side: each imports itself and the bottom, never
  another middle package and never the top;
- top: ``medtower.pipeline``, ``medtower.scheduler``, ``medtower.cli``, ``medtower.__main__``: the only code
  that calls across the middle packages.

A known offence is listed in ``KNOWN`` with its reason until its file is fixed; a listed one that is gone
fails the check too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("medtower", "ingest", "alerts", "dashboards")
MIDDLE = ("ingest", "alerts", "dashboards")
TOP = {"medtower.pipeline", "medtower.scheduler", "medtower.cli", "medtower.__main__"}

# (file, imported module): why it is still there. Fix the file, then delete the line. None today.
KNOWN: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> tuple[str, str]:
    """(layer, package) of a first-party module: ('top'|'middle'|'bottom', top-level package)."""
    package = module.split(".")[0]
    if package in MIDDLE:
        return "middle", package
    if module in TOP or any(module.startswith(t + ".") for t in TOP):
        return "top", package
    return "bottom", package


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every first-party module a file imports, anywhere in it, with the line (relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # "from alerts import outbox" imports the module alerts.outbox: judge it by its package anyway.
            found.append((node.lineno, target))
    return sorted((line, name) for line, name in found if name.split(".")[0] in PACKAGES)


def allowed(source: str, target: str) -> bool:
    src_layer, src_pkg = layer(source)
    dst_layer, dst_pkg = layer(target)
    if src_layer == "top":
        return True
    if dst_layer == "top":
        return False
    if src_layer == "bottom":
        return dst_layer == "bottom"
    return dst_layer == "bottom" or dst_pkg == src_pkg


def offences(root: Path = ROOT) -> list[tuple[str, int, str, str]]:
    """(file, line, importing module, imported module) for every import across the layers."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = module_name(path, root)
            for line, target in imports_of(path, root):
                if not allowed(source, target):
                    rel = path.relative_to(root).as_posix()
                    out.append((rel, line, source, target))
    return out


def _known(rel: str, target: str) -> bool:
    return any(rel == f and (target == m or target.startswith(m + ".")) for f, m in KNOWN)


def test_every_import_respects_the_layers() -> None:
    found = offences()
    new = [o for o in found if not _known(o[0], o[3])]
    report = "\n".join(
        f"{rel}:{line}: {source} ({layer(source)[0]}) imports {target} ({layer(target)[0]})"
        for rel, line, source, target in new
    )
    assert not new, "imports across the layers (see tests/core/test_import_layers.py):\n" + report
    used = {(o[0], m) for o in found for f, m in KNOWN if o[0] == f and (o[3] + ".").startswith(m + ".")}
    gone = sorted(set(KNOWN) - used)
    assert not gone, f"fixed, so take them out of KNOWN: {gone}"


def test_the_check_catches_function_level_and_relative_imports(tmp_path: Path) -> None:
    """A bottom module importing alerts inside a function, and a middle package importing another."""
    assert not allowed("medtower.kpis", "alerts.engine")
    assert not allowed("alerts.engine", "medtower.pipeline")
    assert not allowed("ingest.load", "dashboards.data")
    assert not allowed("alerts.engine", "dashboards")
    assert allowed("alerts.engine", "medtower.kpis") and allowed("alerts.engine", "alerts.plans.common")
    assert allowed("medtower.pipeline", "alerts.engine") and allowed("medtower.cli", "dashboards.server")
    assert not allowed("medtower.newthing", "ingest.load")  # an unnamed medtower module is bottom

    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "__init__.py").write_text("")
    (tmp_path / "alerts" / "probe.py").write_text(
        "import json\n"
        "def f():\n"
        "    from medtower.pipeline import run_once\n"
        "    return run_once\n"
        "from .engine import evaluate\n"
        "from . import outbox\n"
        "import dashboards.data\n",
        encoding="utf-8",
    )
    assert imports_of(tmp_path / "alerts" / "probe.py", tmp_path) == [
        (3, "medtower.pipeline"),
        (5, "alerts.engine"),
        (6, "alerts"),
        (7, "dashboards.data"),
    ]
    assert offences(tmp_path) == [
        ("alerts/probe.py", 3, "alerts.probe", "medtower.pipeline"),
        ("alerts/probe.py", 7, "alerts.probe", "dashboards.data"),
    ]
