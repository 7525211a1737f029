"""The PostgreSQL server the tests talk to (the CI's, started by .ci/postgres.sh): one place to connect.

``pg_connect(env)`` opens an autocommit connection from ``MEDTOWER_PG_*``; ``pg_admin()`` is what a test
module's fixture calls: without ``MEDTOWER_PG_HOST`` (or an unreachable server) the test skips, except under
CI, which must provide the server and fails instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


def pg_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("MEDTOWER_PG_")}


def pg_connect(env: dict[str, str]) -> Any:
    """An autocommit psycopg2 connection to the server of ``MEDTOWER_PG_*``."""
    import psycopg2

    conn = psycopg2.connect(
        host=env.get("MEDTOWER_PG_HOST", "127.0.0.1"),
        port=int(env.get("MEDTOWER_PG_PORT", "5432")),
        user=env.get("MEDTOWER_PG_USER", "medtower"),
        password=env.get("MEDTOWER_PG_PASSWORD", ""),
        dbname=env.get("MEDTOWER_PG_DATABASE", "medtower"),
        connect_timeout=5,
    )
    conn.autocommit = True
    return conn


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide PostgreSQL (.ci/postgres.sh): {why}")
    pytest.skip(f"no PostgreSQL to test on: {why}")


def pg_admin() -> Any:
    """A connection to the test server's maintenance database, or skip (fail under CI) without one."""
    pytest.importorskip("psycopg2")
    if not os.environ.get("MEDTOWER_PG_HOST"):
        _unavailable("MEDTOWER_PG_HOST is not set (.ci/postgres.sh starts a server and prints it)")
    try:
        return pg_connect(pg_env())
    except Exception as exc:  # any connection failure: the server is not there
        _unavailable(str(exc))
        raise  # unreachable: skip and fail raise
