"""The demo the browser tests share: a generated drop folder, `medtower run` on it, the real app on it.

Session-scoped: test_browser.py and test_qa_journey.py walk the same demo (generating and building it
takes a minute on two cores); a test that republishes it (the rebuild test) publishes the same feed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import need_chromium
from tests.served_app import free_port
from tests.signin import TEST_PASSWORD, add_user

ROOT = Path(__file__).resolve().parents[2]


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=2):  # the sign-in page answers without a session
                return
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    raise AssertionError(f"app did not answer at {url} within {seconds}s")


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
    port = free_port()
    # The app logs every request: into a file, never an unread pipe, whose full buffer would block
    # the app's next log write (and so its request) for good.
    app_log = open(base / "app.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env={**env, "MEDTOWER_PORT": str(port)},
        stdout=app_log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/login")
        yield {
            "url": url,
            "env": env,
            "feed": base / "feed",
            "db": base / "data" / "warehouse.duckdb",
            "log": base / "app.log",
            "user": user,
            "password": TEST_PASSWORD,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        app_log.close()
