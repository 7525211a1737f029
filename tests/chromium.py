"""The Chromium the browser tests drive: Debian's /usr/bin/chromium through Playwright, never a download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Headless as root on a closed network: no sandbox, no GPU, no background calls home.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    """Skip without Chromium locally; on CI (``CI`` set) its absence is a failure."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: install chromium")
        pytest.skip(f"{CHROMIUM} not installed")
