"""The whole product on a PostgreSQL warehouse (``MEDTOWER_DBT_TARGET=postgres``), end to end on the real
server: one small demo feed through ``medtower run`` into DuckDB and into PostgreSQL, then

- the alerts and their plans, rule by rule, and the CLI's read commands (``--json``) are equal;
- every query function of the pages (dashboards/data/*) gives equal rows on both readers;
- KPIs and a trace equal what tests/e2e/feed_oracle.py reads from the feed's CSV files;
- the app served on PostgreSQL shows every page in Chromium without a failed request or console error.

The PostgreSQL side works in a database of its own, created and dropped here. Without MEDTOWER_PG_HOST it
skips; with it set (CI: .ci/run evals .ci/postgres.sh) a server that does not answer is a failure.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.e2e.feed_oracle import Feed, genealogy, kpis
from tests.pg import pg_admin
from tests.served_app import PAGES, run_app
from tests.signin import add_user, signed_in_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 6, 30)
# The smallest demo whose alerts fire on five of the seven rules (the other two, data freshness and failing
# dbt tests, are evaluated and find nothing on both); its planted situations are what the KPIs test.
SCALE, SEED = "0.05", "11"


def _medtower(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "medtower", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"medtower {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def plants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same feed run into DuckDB and into a fresh PostgreSQL database, at the same time."""
    admin = pg_admin()
    name = f"medtower_e2e_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {name} template template0 lc_collate 'C' lc_ctype 'C'")
    root = tmp_path_factory.mktemp("pg-e2e")
    base = {
        **os.environ,
        "MEDTOWER_PLANNER_EMAILS": "",
        "MEDTOWER_QA_EMAILS": "",
        "MEDTOWER_MANAGEMENT_EMAILS": "",
    }
    duck = {**base, "MEDTOWER_DATA_DIR": str(root / "duck"), "MEDTOWER_DBT_TARGET": "duckdb"}
    pg = {
        **base,
        "MEDTOWER_DATA_DIR": str(root / "pg"),
        "MEDTOWER_DBT_TARGET": "postgres",
        "MEDTOWER_PG_DATABASE": name,
    }
    feed = root / "feed"
    try:
        _medtower(
            duck, "demo", "--out", str(feed), "--scale", SCALE, "--seed", SEED, "--as-of", AS_OF.isoformat()
        )
        began = time.monotonic()
        runs = {
            side: subprocess.Popen(
                [sys.executable, "-m", "medtower", "run", str(feed), "--as-of", AS_OF.isoformat(), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for side, env in (("duck", duck), ("pg", pg))
        }
        records = {}
        for side, proc in runs.items():
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{side} run exited {proc.returncode}:\n{out}\n{err[-4000:]}"
            records[side] = json.loads(out)
            assert records[side]["outcome"] == "succeeded", records[side]
        yield {
            "duck": duck,
            "pg": pg,
            "feed": Feed(feed),
            "records": records,
            "run_seconds": round(time.monotonic() - began, 1),
        }
    finally:
        from medtower import pg as pgmod

        for engine in pgmod._engines.values():
            engine.dispose()
        pgmod._engines.clear()
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


# -- comparing values ------------------------------------------------------------------------------------

# What differs between two runs of one feed by design: when each ran and its run's id.
_RUN_FIELDS = ("run_id", "_at", "seconds", "duration_ms", "published")


def _plain(value: Any, key: str = "") -> Any:
    """A value compared across the two warehouses: floats to 9 significant digits (DuckDB and PostgreSQL
    differ in the last bits of a percentile or an average), run times and ids left out."""
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items() if not any(f in k for f in _RUN_FIELDS)}
    if isinstance(value, list | tuple):
        return [_plain(v, key) for v in value]
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def _where_differs(got: Any, want: Any, path: str = "") -> str | None:
    """The first place two JSON-like values differ, for a message a reader can act on."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            found = _where_differs(got.get(k), want.get(k), f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{path}: {len(got)} items on PostgreSQL, {len(want)} on DuckDB"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            found = _where_differs(g, w, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if got == want else f"{path}: {got!r:.300} on PostgreSQL, {want!r:.300} on DuckDB"


def _first_difference(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str:
    if len(got) != len(want):
        return f"{len(got)} rows on PostgreSQL, {len(want)} on DuckDB"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g != w:
            cols = [c for c in w if g.get(c) != w[c]]
            return f"row {i}: " + ", ".join(f"{c}={g.get(c)!r} (DuckDB {w[c]!r})" for c in cols)
    return "equal"


def _frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return [_plain(r) for r in rows]


def _json(env: dict[str, str], *args: str) -> Any:
    return json.loads(_medtower(env, *args, "--json").stdout)


def _both(plants: dict[str, Any], *args: str) -> tuple[Any, Any]:
    """``medtower ARGS --json`` on DuckDB and on PostgreSQL, run at the same time."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "medtower", *args, "--json"],
            env=plants[side],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for side in ("duck", "pg")
    ]
    outs = []
    for side, proc in zip(("duck", "pg"), procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{side}: medtower {' '.join(args)} exited {proc.returncode}:\n{err}"
        outs.append(json.loads(out))
    return outs[0], outs[1]


# -- alerts, plans and the CLI ---------------------------------------------------------------------------


def test_the_alerts_and_their_plans_are_equal_rule_by_rule(plants) -> None:
    duck, pg = _both(plants, "alerts", "list", "--all")
    by_rule: dict[str, dict[str, list[Any]]] = {}
    for side, alerts in (("duck", duck), ("pg", pg)):
        for alert in alerts:
            by_rule.setdefault(alert["rule_id"], {"duck": [], "pg": []})[side].append(_plain(alert))
    assert len(by_rule) >= 5, f"the feed fires too few rules: {sorted(by_rule)}"
    for rule, sides in sorted(by_rule.items()):
        got, want = (sorted(sides[side], key=lambda a: a["alert_key"]) for side in ("pg", "duck"))
        assert got == want, f"alerts of {rule} differ at {_where_differs(got, want)}"
    plans = [a for a in pg if a.get("plan") and a["plan"].get("sections")]
    assert {a["rule_id"] for a in plans} >= {"material_shortage", "quality_exception"}, "plans missing"


def test_every_rule_was_evaluated_alike(plants) -> None:
    from medtower.alert_queries import rule_health
    from medtower.settings import load_settings
    from medtower.warehouse import connect_readonly

    health = {}
    for side in ("duck", "pg"):
        env = plants[side]
        settings = load_settings(
            data_dir=env["MEDTOWER_DATA_DIR"],
            dbt_target=env["MEDTOWER_DBT_TARGET"],
            pg_database=env.get("MEDTOWER_PG_DATABASE", "medtower"),
        )
        with connect_readonly(settings) as con:
            health[side] = [_plain(r) for r in rule_health(con)]
    assert len(health["pg"]) == len(list((ROOT / "alerts" / "rules").glob("*.yaml")))
    assert all(r["status"] == "ok" for r in health["pg"]), health["pg"]
    assert health["pg"] == health["duck"]


@pytest.mark.parametrize(
    "args",
    [
        ("kpis", "--as-of", AS_OF.isoformat()),
        ("kpis", "--as-of", (AS_OF - dt.timedelta(days=75)).isoformat(), "--period-days", "60"),
        ("shortages",),
        ("rejects",),
        ("alerts", "outbox"),
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_the_cli_reads_the_same(plants, args: tuple[str, ...]) -> None:
    duck, pg = (_plain(out) for out in _both(plants, *args))
    assert pg == duck, _where_differs(pg, duck)
    if args[0] != "alerts":  # the outbox holds only what waits for a recipient; the rest has rows
        assert pg, f"medtower {' '.join(args)} printed nothing to compare"


# -- the feed, read by hand ------------------------------------------------------------------------------


def test_kpis_on_postgres_equal_the_feeds(plants) -> None:
    feed: Feed = plants["feed"]
    got = _json(plants["pg"], "kpis", "--as-of", AS_OF.isoformat(), "--period-days", "30")["kpis"]
    expected = kpis(feed, AS_OF, 30)
    assert expected
    for kpi_id, want in expected.items():
        have = got[kpi_id]
        if want is None:
            assert have is None, f"{kpi_id}: expected null, got {have}"
        else:
            tolerance = 1e-5 if kpi_id.endswith("_hours") else 1e-9
            assert have == pytest.approx(want, rel=1e-9, abs=tolerance), f"{kpi_id}: {have} != {want}"
    # And one by hand from nonconformances.csv: opened on or before A, not closed by A.
    ncr = feed.good("nonconformances")
    opened = pd.to_datetime(ncr["opened_at"].str.slice(0, 10)).dt.date
    closed = pd.to_datetime(ncr["closed_at"].str.slice(0, 10), errors="coerce").dt.date
    still_open = sum(
        1 for o, c in zip(opened, closed, strict=True) if o <= AS_OF and (pd.isna(c) or c > AS_OF)
    )
    assert got["open_ncr_count"] == still_open > 0


def test_a_forward_trace_on_postgres_equals_the_feeds(plants) -> None:
    feed: Feed = plants["feed"]
    lot = feed.manifest["planted"]["quality_escape"]["earlier_lot_ids"][0]
    duck, out = _both(plants, "trace", lot, "--direction", "forward")
    assert _plain(out) == _plain(duck)
    expected = genealogy(feed, lot, "forward")
    assert expected and set(out["lots"]) == expected
    shipments = feed.good("shipments")
    reached = shipments[shipments["lot_id"].isin(expected | {lot})]
    assert set(out["shipments"]) == set(reached["shipment_id"]) and set(out["customers"]) == set(
        reached["customer_id"]
    )


# -- the pages' queries ----------------------------------------------------------------------------------


def _arguments(plants: dict[str, Any]) -> dict[str, Any]:
    """A value for each parameter name of the query functions, taken from the feed."""
    from dashboards.filters import Filters

    feed: Feed = plants["feed"]
    lot = feed.manifest["planted"]["quality_escape"]["earlier_lot_ids"][0]
    shipments = feed.good("shipments")
    work_orders = feed.good("work_orders")
    return {
        "f": Filters(AS_OF, 30, None),
        "lot_id": lot,
        "lots": sorted(genealogy(feed, lot, "forward") | {lot}),
        "supplier_id": sorted(feed.good("suppliers")["supplier_id"])[0],
        "customer_id": sorted(shipments["customer_id"])[0],
        "wo_id": sorted(work_orders["wo_id"])[0],
        "material_id": sorted(work_orders["material_id"])[0],
        "kpi_id": "otif_rate",
        "table": "fct_work_orders",
        "key": "wo_id",
        "value": sorted(work_orders["wo_id"])[0],
        "mart": "fct_shortages",
        "site": None,
        "default": "UTC",
        "now": dt.datetime(2026, 7, 1, 12, 0),
    }


def _query_functions() -> list[tuple[str, Any]]:
    import importlib
    import pkgutil

    import dashboards.data as data

    found = []
    for module in pkgutil.iter_modules(data.__path__):
        mod = importlib.import_module(f"dashboards.data.{module.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            params = list(inspect.signature(fn).parameters)
            if fn.__module__ == mod.__name__ and params[:1] == ["con"] and name != "query" and name[0] != "_":
                found.append((f"{module.name}.{name}", fn))
    return found


# meta tables hold each run's own times and ids: their rows are compared in shape only.
_RUN_RECORDS = {
    "health.ingest_runs",
    "health.ingest_run_entities",
    "health.dbt_results",
    "health.source_freshness",
}


def test_every_page_query_gives_the_same_rows(plants) -> None:
    from medtower.settings import load_settings
    from medtower.warehouse import connect_readonly

    functions = _query_functions()
    assert len(functions) > 40
    arguments = _arguments(plants)
    results: dict[str, dict[str, Any]] = {"duck": {}, "pg": {}}
    for side in ("duck", "pg"):
        env = plants[side]
        settings = load_settings(
            data_dir=env["MEDTOWER_DATA_DIR"],
            dbt_target=env["MEDTOWER_DBT_TARGET"],
            pg_database=env.get("MEDTOWER_PG_DATABASE", "medtower"),
        )
        for sites in (None, "first"):
            with connect_readonly(settings) as con:
                site = None if sites is None else str(sorted(plants["feed"].good("sites")["site_id"])[0])
                from dashboards.filters import Filters

                args = {**arguments, "f": Filters(AS_OF, 30, site)}
                for name, fn in functions:
                    params = inspect.signature(fn).parameters
                    call = {p: args[p] for p, spec in params.items() if p != "con" and p in args}
                    missing = [
                        p for p, s in params.items() if p != "con" and p not in call and s.default is s.empty
                    ]
                    assert not missing, f"{name}: no test value for {missing}"
                    out = fn(con, **call)
                    results[side][f"{name}[{sites}]"] = out
    differ = []
    for key, want in results["duck"].items():
        got = results["pg"][key]
        name = key.split("[")[0]
        if isinstance(want, pd.DataFrame):
            assert list(got.columns) == list(want.columns), key
            if name in _RUN_RECORDS:
                assert len(got) == len(want), key
                continue
            if _frame(got) != _frame(want):
                differ.append(f"{key}: {_first_difference(_frame(got), _frame(want))}")
        elif isinstance(want, tuple) and want and isinstance(want[0], pd.DataFrame):
            if _frame(got[0]) != _frame(want[0]) or _plain(got[1:]) != _plain(want[1:]):
                differ.append(key)
        elif _plain(got) != _plain(want):
            differ.append(key)
    assert differ == [], f"{len(differ)} of {len(results['duck'])} page queries differ: {differ}"
    nonempty = [k for k, v in results["pg"].items() if not (isinstance(v, pd.DataFrame) and v.empty)]
    assert len(nonempty) > len(results["pg"]) * 0.8, "most queries should return rows on this feed"


# -- the app, in Chromium ---------------------------------------------------------------------------------


def test_every_page_on_postgres_in_chromium(plants, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    need_chromium()
    log_path = tmp_path / "app.log"
    data = Path(plants["pg"]["MEDTOWER_DATA_DIR"])
    add_user(data)  # signed in as this admin (tests/signin.py)
    errors: list[str] = []
    failed: list[str] = []
    with run_app(data, log_path, base_env=plants["pg"]) as app:
        url = app.url
        lot = plants["feed"].manifest["planted"]["quality_escape"]["earlier_lot_ids"][0]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = signed_in_page(browser, url, viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            for path in [*PAGES, f"/lot/{lot}"]:
                page.goto(url + path)
                page.wait_for_selector("#data-as-of-date")
                page.wait_for_function("() => !document.body.innerText.includes('Loading…')")
                page.wait_for_timeout(300)
                assert page.inner_text("#data-as-of-date") == AS_OF.isoformat(), path
                body = page.inner_text("body")
                assert "Traceback" not in body and "not built yet" not in body, (path, body[:2000])
            page.goto(url + f"/traceability?as_of={AS_OF}&q={lot}")
            page.wait_for_selector(".drill-link")
            browser.close()
    assert not failed, (failed, log_path.read_text(errors="replace")[-3000:])
    assert not errors, errors
