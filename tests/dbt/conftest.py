"""Fixtures shared by the dbt tests."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_dbt


@pytest.fixture(scope="session")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """target/manifest.json of a fresh `dbt parse`, the way dbt_project_evaluator reads a project."""
    root = tmp_path_factory.mktemp("dbt_parse")
    proc = run_dbt(root / "parse.duckdb", root / "target", "parse", "--no-partial-parse")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((root / "target" / "manifest.json").read_text())
