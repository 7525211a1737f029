"""The real app (`python app.py`, waitress) on 127.0.0.1 over a data folder, and Dash callbacks sent as
raw HTTP the way the renderer sends them: for tests that check what the server answers, not the browser.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.signin import csrf_headers

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-30"
PAGE_FILES = ROOT / "dashboards" / "pages"


def page_path(page: Path) -> str:
    """The path a page file of ``dashboards/pages`` registers (``path=`` or ``path_template=``), read from
    its text: through ``dash.register_page``, the drill-downs' ``drilldown.register_page`` or the
    ``@register_page(...)`` decorator of ``dashboards.in_place``."""
    for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called == "register_page":
            for kw in node.keywords:
                if kw.arg in ("path", "path_template") and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    raise AssertionError(f"{page}: no register_page(path=...)")


# The pages of the navigation that answer the global filters with a body, for the browser sweeps over
# every page (tests/dashboards/test_browser.py, tests/e2e/test_postgres_warehouse.py).
PAGES = [
    "/",
    "/inventory",
    "/wip",
    "/lots",
    "/quality",
    "/delivery",
    "/suppliers",
    "/traceability",
    "/kpi-review",
    "/data-health",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_warehouse(built: Path, data: Path) -> Path:
    """A private copy of a built warehouse as ``data``'s published one (tests may not share its trail)."""
    data.mkdir(parents=True, exist_ok=True)
    target = data / "warehouse.duckdb"
    shutil.copyfile(built, target)
    return target


@dataclass(frozen=True)
class Served:
    """A running app: its URL, port and the environment its process was started with."""

    url: str
    port: int
    env: dict[str, str]


@contextlib.contextmanager
def launch(
    command: list[str],
    log_path: Path,
    env: Mapping[str, str],
    url: str,
    ready: str = "/login",
    seconds: float = 60,
) -> Iterator[None]:
    """``command`` (an app serving ``url``) until the block ends, once ``url + ready`` answers.

    Its output and errors go to ``log_path``: a file, never an unread pipe, whose full buffer would block
    the app's next log write (and so its request) for good. Any HTTP answer counts (an error status too).
    """
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(url + ready, timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # the server is up and answered
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(f"the app exited: {log_path.read_text()[-3000:]}") from None
                if time.monotonic() > deadline:
                    tail = log_path.read_text()[-3000:]
                    raise AssertionError(f"no answer at {url + ready} within {seconds} s: {tail}") from None
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextlib.contextmanager
def run_app(
    data: Path,
    log_path: Path,
    *,
    base_env: Mapping[str, str] | None = None,
    ready: str = "/login",
    seconds: float = 60,
    **env: str,
) -> Iterator[Served]:
    """``python app.py`` on ``data`` at a free port of 127.0.0.1 with these MEDTOWER_* settings (over
    ``base_env``, by default this process's environment) until the block ends."""
    port = free_port()
    full = {
        **(os.environ if base_env is None else base_env),
        "MEDTOWER_DATA_DIR": str(data),
        "MEDTOWER_PORT": str(port),
        **env,
    }
    url = f"http://127.0.0.1:{port}"
    with launch([sys.executable, str(ROOT / "app.py")], log_path, full, url, ready, seconds):
        yield Served(url, port, full)


@contextlib.contextmanager
def serve(data: Path, log_path: Path, **env: str) -> Iterator[str]:
    """The app on ``data`` at a free port until the block ends; its URL."""
    with run_app(data, log_path, **env) as app:
        yield app.url


def post(
    client: Any, outputs: list[dict], inputs: list[dict], state: Any = (), changed: Any = (), output: str = ""
) -> Any:
    """One callback request as Dash's renderer sends it (``output``: the callback's key in Dash)."""
    names = [f"{o['id']}.{o['property']}" for o in outputs]
    body = {
        "output": output or (names[0] if len(names) == 1 else ".." + "...".join(names) + ".."),
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs,
        "state": list(state),
        "changedPropIds": list(changed),
    }
    return client.post("/_dash-update-component", json=body, headers=csrf_headers(client))


def filters(site: str | None = None, as_of: str = AS_OF, period_days: Any = 30) -> dict[str, Any]:
    return {
        "id": "filters",
        "property": "data",
        "value": {"as_of": as_of, "period_days": period_days, "site": site},
    }


def drilldown_body(client: Any, slug: str, key: Any, site: str | None = None, store: Any = None) -> Any:
    """A drill-down page's body callback (dashboards/drilldown.py: ``<slug>-body`` from ``<slug>-id``)."""
    held = f"{slug}-body-held"
    return post(
        client,
        [{"id": f"{slug}-body", "property": "children"}, {"id": held, "property": "data"}],
        [{"id": f"{slug}-id", "property": "data", "value": key}, store or filters(site)],
        state=[{"id": held, "property": "data", "value": None}],
        changed=["filters.data"],
    )


def callback_key(client: Any, fragment: str) -> str:
    """A callback's key as Dash names it (with the @hash of allow_duplicate outputs), from the server."""
    deps = client.get("/_dash-dependencies").json()
    return next(d["output"] for d in deps if fragment in d["output"])


def grid_props(tree: Any) -> list[dict[str, Any]]:
    """The props of every AG Grid in a callback answer (Dash's JSON), in order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "AgGrid" and isinstance(node.get("props"), dict):
                found.append(node["props"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def plain_tables(tree: Any) -> dict[str, dict[str, Any]]:
    """Every short table drawn as plain HTML (components.plain_table) by its name: its store's data
    (``columns``: [field, header] pairs shown; ``rows``: the records, as a grid's rowData)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            ident = props.get("id") if isinstance(props, dict) else None
            if node.get("type") == "Store" and isinstance(ident, dict) and ident.get("type") == "table-rows":
                found[str(ident.get("name"))] = props["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def grids(tree: Any) -> dict[str, list[dict[str, Any]]]:
    """Every table in a callback answer (Dash's JSON) by its name: its rows. An AG Grid's rowData, or the
    rows of a short table drawn as plain HTML."""
    found: dict[str, list[dict[str, Any]]] = {}
    for props in grid_props(tree):
        ident = props.get("id") or {}
        name = ident.get("name") if isinstance(ident, dict) else str(ident)
        found[str(name)] = list(props.get("rowData") or [])
    for name, table in plain_tables(tree).items():
        found[name] = list(table.get("rows") or [])
    return found
