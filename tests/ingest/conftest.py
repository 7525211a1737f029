"""Fixtures of the ingest tests: an in-memory warehouse connection and settings in a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from medtower.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def by_entity(result: dict) -> dict:
    """An ingest result's per-entity summaries by entity name."""
    return {e["entity"]: e for e in result["entities"]}
