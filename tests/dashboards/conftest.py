"""The demo the browser tests share: a generated drop folder, `medtower run` on it, the real app on it.

Session-scoped: test_browser.py and test_qa_journey.py walk the same demo (generating and building it
takes a minute on two cores); a test that republishes it (the rebuild test) publishes the same feed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import need_chromium
from tests.served_app import run_app
from tests.signin import TEST_PASSWORD, add_user


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    need_chromium()
    base = tmp_path_factory.mktemp("dash")
    env = {**os.environ, "MEDTOWER_DATA_DIR": str(base / "data")}
    exe = str(Path(sys.executable).with_name("medtower"))
    subprocess.run(
        [exe, "demo", "--out", str(base / "feed"), "--scale", "0.1"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run([exe, "run", str(base / "feed")], env=env, check=True, capture_output=True, timeout=600)
    user = add_user(base / "data")  # an admin with a known password, beside the demo's one-time "admin"
    with run_app(base / "data", base / "app.log", base_env=env) as app:
        yield {
            "url": app.url,
            "env": env,
            "feed": base / "feed",
            "db": base / "data" / "warehouse.duckdb",
            "log": base / "app.log",
            "user": user,
            "password": TEST_PASSWORD,
        }
