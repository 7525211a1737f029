"""Demo folders generated once per session (small scales so the suite stays fast)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingest.demo import generate

from .feed import Feed

AS_OF = dt.date(2026, 6, 15)


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    out = tmp_path_factory.mktemp("demo_small")
    return Feed(out, generate(out, seed=7, scale=0.05, as_of=AS_OF))


@pytest.fixture(scope="session")
def mid(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    out = tmp_path_factory.mktemp("demo_mid")
    return Feed(out, generate(out, seed=11, scale=0.2, as_of=dt.date(2025, 12, 31)))


@pytest.fixture(scope="session")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """Scale 2: the smallest demo whose catalogue is wider than the core (growth.py)."""
    out = tmp_path_factory.mktemp("demo_wide")
    return Feed(out, generate(out, seed=5, scale=WIDE_SCALE, as_of=WIDE_AS_OF))


WIDE_SCALE, WIDE_AS_OF = 2.0, dt.date(2026, 9, 30)


@pytest.fixture(scope="session", params=["small", "mid", "wide"])
def feed(request: pytest.FixtureRequest) -> Feed:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    out = tmp_path_factory.mktemp("demo_clean")
    return Feed(out, generate(out, seed=3, scale=0.05, as_of=AS_OF, clean=True))


def path_of(feed: Feed, entity: str) -> Path:
    return feed.dir / f"{entity}.csv"


@pytest.fixture(scope="session")
def scale1(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """The default demo (seed 7, scale 1) on a fixed day: what a new user sees first."""
    out = tmp_path_factory.mktemp("demo_scale1")
    return Feed(out, generate(out, seed=7, scale=1.0, as_of=dt.date(2026, 12, 1)))
