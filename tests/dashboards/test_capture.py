"""POST /capture against the real app (`python app.py`) on 127.0.0.1, over real HTTP with httpx.

The captured document is then pulled by an epcis source whose folder is the data dir's epcis-inbox, into a
warehouse with the master data it needs: the rows the document's events describe load (tests/ingest/
test_epcis.py works them out by hand; here one of each is checked).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from ingest.sources import load_sources
from ingest.sources.runner import pull_source
from medtower.epcis import MAX_DOCUMENT_BYTES
from medtower.settings import Settings
from tests.ingest.test_epcis import DOCUMENT, MASTER, SOURCES, load_master
from tests.served_app import serve

TOKEN = "s3cret-capture-token"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    base = tmp_path_factory.mktemp("capture")
    with serve(base / "data", base / "app.log", MEDTOWER_CAPTURE_TOKEN=TOKEN) as url:
        yield {"url": url, "inbox": base / "data" / "epcis-inbox", "base": base}


def test_without_a_capture_token_set_capture_is_off(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path / "app.log", MEDTOWER_CAPTURE_TOKEN="") as url:  # empty: unset
        r = httpx.post(f"{url}/capture", content=json.dumps(DOCUMENT), headers={"Authorization": "Bearer x"})
    assert r.status_code == 503 and "MEDTOWER_CAPTURE_TOKEN" in r.json()["detail"]
    assert not (tmp_path / "data" / "epcis-inbox").exists()


def _inbox(app: dict) -> list[str]:
    inbox = app["inbox"]
    return sorted(p.name for p in inbox.iterdir()) if inbox.is_dir() else []


def test_without_or_with_a_wrong_token_nothing_is_captured(app) -> None:
    body = json.dumps(DOCUMENT)
    before = _inbox(app)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = httpx.post(f"{app['url']}/capture", content=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["type"] == "epcisException:SecurityException"
    assert httpx.get(f"{app['url']}/capture/abc").status_code == 401
    assert _inbox(app) == before


def test_a_document_that_is_not_epcis_gets_400_with_the_reason(app) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/ld+json"}
    before = _inbox(app)
    r = httpx.post(f"{app['url']}/capture", content=b"{not json", headers=auth)
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    bad = json.loads(json.dumps(DOCUMENT))
    bad["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = "fifty"
    r = httpx.post(f"{app['url']}/capture", content=json.dumps(bad), headers=auth)
    assert r.status_code == 400
    assert r.json()["type"] == "epcisException:ValidationException"
    assert "quantityList[0].quantity: should be a JSON number (got 'fifty')" in r.json()["detail"]
    r = httpx.post(f"{app['url']}/capture", content=b" " * (MAX_DOCUMENT_BYTES + 1), headers=auth)
    assert r.status_code == 413
    assert _inbox(app) == before


def test_a_captured_document_lands_in_the_inbox_and_the_next_pull_loads_it(app) -> None:
    body = json.dumps(DOCUMENT).encode("utf-8")
    r = httpx.post(
        f"{app['url']}/capture",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert r.status_code == 202
    capture_id = r.json()["captureID"]
    assert r.headers["Location"] == f"/capture/{capture_id}"
    (name,) = [n for n in _inbox(app) if capture_id in n]
    assert (app["inbox"] / name).read_bytes() == body  # as received, whole
    job = httpx.get(app["url"] + r.headers["Location"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert job.status_code == 200 and job.json()["document"] == name

    base: Path = app["base"]
    settings = Settings(data_dir=base / "wh")
    con = duckdb.connect(str(base / "wh.duckdb"))
    load_master(con, base / "master", settings, MASTER)
    (base / "sources.yaml").write_text(SOURCES.replace("path: inbox", "path: data/epcis-inbox"), "utf-8")
    (source,) = load_sources(base / "sources.yaml")
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["rows_rejected"] == 0
    assert con.execute("SELECT movement_id, lot_id, qty FROM raw.inventory_movements").fetchall() == [
        ("urn:uuid:e1#1", "R-100", 50)
    ]
    assert con.execute("SELECT count(*) FROM raw.shipments WHERE lot_id = 'F-200'").fetchall() == [(2,)]
