"""The shipped rules on the demo warehouse, end to end: demo -> ingest -> dbt -> alerts -> real SMTP.

Expected values are read from the demo feed files (CSV) and the manifest, not from the marts the rules use.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from alerts.engine import evaluate_in_pipeline
from medtower.pipeline import run_once
from medtower.settings import Settings

if TYPE_CHECKING:
    from conftest import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    from ingest.demo import generate

    root = tmp_path_factory.mktemp("alertdemo")
    feed = root / "feed"
    generate(feed, seed=7, scale=0.05, as_of=None, clean=False)
    data = root / "data"
    record = run_once(Settings(data_dir=data), feed)
    assert record["outcome"] == "succeeded", record.get("error")
    return feed, data, json.loads((feed / "_demo_manifest.json").read_text())


def _fresh_copy(demo: tuple[Path, Path, dict], tmp_path: Path) -> Path:
    """A private copy of the built warehouse, without the alert state of the build's own evaluation."""
    import duckdb

    target = tmp_path / "w.duckdb"
    shutil.copyfile((demo[1] / "warehouse.duckdb").resolve(), target)
    with duckdb.connect(str(target)) as con:
        con.execute("drop schema if exists alerts cascade")
    return target


def test_planted_expiring_lots_alert_once(demo, tmp_path: Path, smtp_server: SmtpServer) -> None:
    feed, _, manifest = demo
    settings = Settings(
        data_dir=tmp_path / "d",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        planner_emails=["planner@example.test"],
        qa_emails=["qa@example.test"],
        alert_smtp_backoff_seconds=0.01,
    )
    as_of = dt.date.fromisoformat(manifest["as_of"])
    # Independent reading of the feed: released lots with stock whose expiry is in (A, A + 90].
    lots = pd.read_csv(feed / "lots.csv", dtype=str)
    planted = manifest["planted"]["expiring_lots"]
    planted_ids = set(planted["lot_ids"] if isinstance(planted, dict) else planted)
    expiry = dict(zip(lots["lot_id"], pd.to_datetime(lots["expiry_date"]).dt.date, strict=True))
    for lot in planted_ids:
        assert as_of < expiry[lot] <= as_of + dt.timedelta(days=90)

    db = _fresh_copy(demo, tmp_path)
    evaluate_in_pipeline(settings, db, "t1", as_of=as_of)
    subjects = [m["Subject"] for m in smtp_server.handler.messages]
    for lot in planted_ids:
        mine = [s for s in subjects if lot in s]
        assert len(mine) == 1, (lot, subjects)
    sent_first = len(smtp_server.handler.messages)
    evaluate_in_pipeline(settings, db, "t2", as_of=as_of)
    assert len(smtp_server.handler.messages) == sent_first  # second evaluation: nothing new
