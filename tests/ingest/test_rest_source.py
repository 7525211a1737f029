"""The MES / QMS REST connector against a real HTTP server on 127.0.0.1 that the test starts.

The server (http.server in a thread) serves the records a test gives it, in the paging style of each
endpoint, checks the Authorization header, logs every request with its time, and answers the faults a
test queues (429 with Retry-After, 503, a response slower than the client's timeout, 400). Expected rows,
requests and counts are worked out by hand from the records each test writes.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import duckdb
import pytest

from ingest.sources import SourceConfig, SourceConfigError, load_sources
from ingest.sources.rest import RestConnector
from ingest.sources.runner import pull_source, source_status
from medtower.settings import Settings


@dataclass
class Fault:
    path: str
    kind: str  # "429", "503", "slow", "400"
    when: dict[str, str] = field(default_factory=dict)  # only on requests with these query parameters


@dataclass
class Endpoint:
    records: list[dict[str, Any]]
    style: str  # cursor / offset / link
    page: int = 2


class Api(ThreadingHTTPServer):
    """A small QMS: endpoints sorted by updated_at, filtered by ?updated_since=, paged per style."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.endpoints: dict[str, Endpoint] = {}
        self.authorization: str | None = None  # the header every request must carry
        self.faults: list[Fault] = []
        self.requests: list[tuple[float, str, dict[str, str], str | None]] = []
        self.slow_seconds = 1.0
        self.link_host = "127.0.0.1"  # the host the Link headers name
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[tuple[str, dict[str, str]]]:
        return [(p, q) for _, p, q, _ in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: Api

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): what a slow server sees

    def do_GET(self) -> None:
        api = self.server
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        with api.lock:
            api.requests.append((time.monotonic(), path, query, self.headers.get("Authorization")))
            fault = next(
                (
                    f
                    for f in api.faults
                    if f.path == path and all(query.get(k) == v for k, v in f.when.items())
                ),
                None,
            )
            if fault:
                api.faults.remove(fault)
        if api.authorization and self.headers.get("Authorization") != api.authorization:
            return self._send(401, {"error": "unauthorized"})
        if fault and fault.kind == "429":
            return self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
        if fault and fault.kind in ("503", "400"):
            return self._send(int(fault.kind), {"error": fault.kind})
        if fault and fault.kind == "slow":
            time.sleep(api.slow_seconds)
        ep = api.endpoints.get(path)
        if ep is None:
            return self._send(404, {"error": f"no endpoint {path}"})
        since = query.get("updated_since")
        rows = sorted(
            (r for r in ep.records if since is None or r["updated_at"] >= since),
            key=lambda r: r["updated_at"],  # stable: equal cursors keep the order the test gave
        )
        if ep.style == "cursor":
            start = int(query.get("cursor", "0"))
            nxt = start + ep.page if start + ep.page < len(rows) else None
            body = {"data": {"items": rows[start : start + ep.page]}, "paging": {"next": nxt and str(nxt)}}
            return self._send(200, body)
        if ep.style == "offset":
            start, limit = int(query["offset"]), int(query["limit"])
            return self._send(200, {"results": rows[start : start + limit], "total": len(rows)})
        page = int(query.get("page", "1"))
        headers = {}
        if page * ep.page < len(rows):
            nxt_query = urlencode({**query, "page": page + 1})
            base = f"http://{api.link_host}:{api.server_address[1]}{path}"
            headers["Link"] = f'<{base}?{nxt_query}>; rel="next", <{base}>; rel="first"'
        return self._send(200, rows[(page - 1) * ep.page : page * ep.page], headers)


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _ncr(n: int, updated: str, severity: str = "major") -> dict[str, Any]:
    return {
        "id": f"NCR-{n}",
        "opened": f"2026-11-0{n}T08:00:00",
        "classification": {"source": "incoming", "severity": severity},
        "defect": {"code": f"D-{n}"},
        "state": "open",
        "updated_at": updated,
    }


NCRS = [
    _ncr(1, "2026-11-01T10:00:00"),
    _ncr(2, "2026-11-02T10:00:00", severity="catastrophic"),  # breaks the contract's enum
    _ncr(3, "2026-11-03T10:00:00"),
    _ncr(4, "2026-11-04T10:00:00"),
    _ncr(5, "2026-11-04T10:00:00"),  # the same cursor as NCR-4: at a page boundary, never skipped
]
CAPAS = [
    {"capa_id": f"CAPA-{n}", "opened_at": "2026-10-01T09:00:00", "due_date": "2026-12-31", "status": "open"}
    | {"updated_at": f"2026-11-0{n}T12:00:00"}
    for n in range(1, 6)
]
CHANGES = [
    {
        "change_id": f"CC-{n}",
        "change_type": "process",
        "opened_at": "2026-09-01T09:00:00",
        "status": "in_review",
        "title": f"Sealing step {n}",
        "updated_at": f"2026-11-1{n}T08:00:00",
    }
    for n in range(1, 4)
]

SOURCES = """
sources:
  qms:
    kind: rest
    every_minutes: 15
{batch}
    connection:
      base_url: {base_url}
{auth}
      timeout: 0.3
      retries: {retries}
      backoff_seconds: 0.05
      max_wait_seconds: 2
    entities:
      nonconformances:
        endpoint: /api/ncrs
        records: data.items
        paging: cursor
        next_cursor: paging.next
        since_param: updated_since
        cursor: updated_at
        columns: {{ncr_id: id, opened_at: opened, source: classification.source,
                   severity: classification.severity, defect_code: defect.code, status: state}}
      capas:
        endpoint: /api/capas
        records: results
        paging: offset
        limit: 2
        since_param: updated_since
        cursor: updated_at
      change_controls:
        endpoint: /api/changes
        paging: link
        since_param: updated_since
        cursor: updated_at
"""
BEARER = "      auth: bearer\n      token_env: QMS_TOKEN"
BASIC = "      auth: basic\n      user: qa-bot\n      password_env: QMS_PASSWORD"
ENV = {"QMS_TOKEN": "s3cret-token", "QMS_PASSWORD": "pa55:word"}


def _source(
    tmp_path: Path, api: Api, auth: str = BEARER, retries: int = 3, batch_records: int | None = 1
) -> SourceConfig:
    """The QMS source; ``batch_records`` 1: every page is a batch (None: the default, 5,000)."""
    path = tmp_path / "sources.yaml"
    batch = f"    batch_records: {batch_records}" if batch_records else ""
    body = SOURCES.format(base_url=api.url, auth=auth, retries=retries, batch=batch)
    path.write_text(body, encoding="utf-8")
    (source,) = load_sources(path, env=ENV)
    return source


def _serve(api: Api) -> None:
    api.endpoints["/api/ncrs"] = Endpoint(NCRS, "cursor")
    api.endpoints["/api/capas"] = Endpoint(CAPAS, "offset")
    api.endpoints["/api/changes"] = Endpoint(CHANGES, "link")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Settings]]:
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    yield con, Settings(data_dir=tmp_path / "data")
    con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_three_paging_styles_with_bearer_auth_and_a_second_pull_loads_nothing(
    api: Api, warehouse, tmp_path: Path
) -> None:
    con, settings = warehouse
    _serve(api)
    api.authorization = "Bearer s3cret-token"
    source = _source(tmp_path, api, batch_records=None)
    first = pull_source(con, source, settings)
    assert first["outcome"] == "succeeded", first["error"]
    assert _rows(con, "SELECT ncr_id, source, severity, defect_code FROM raw.nonconformances ORDER BY 1") == [
        ("NCR-1", "incoming", "major", "D-1"),
        ("NCR-3", "incoming", "major", "D-3"),
        ("NCR-4", "incoming", "major", "D-4"),
        ("NCR-5", "incoming", "major", "D-5"),
    ]
    (reason,) = _rows(con, "SELECT reason FROM meta.rejects WHERE file = 'qms:nonconformances'")
    assert "'catastrophic' is not one of" in reason[0]
    assert _rows(con, "SELECT capa_id FROM raw.capas ORDER BY 1") == [(f"CAPA-{n}",) for n in range(1, 6)]
    assert _rows(con, "SELECT change_id, title FROM raw.change_controls ORDER BY 1") == [
        ("CC-1", "Sealing step 1"),
        ("CC-2", "Sealing step 2"),
        ("CC-3", "Sealing step 3"),
    ]
    # ncrs: cursor pages of 2 (0, 2, 4); capas: offsets 0, 2, 4 with limit 2 (the last one short);
    # changes: page 1 and the Link's page 2
    assert api.paths() == [
        ("/api/ncrs", {}),
        ("/api/ncrs", {"cursor": "2"}),
        ("/api/ncrs", {"cursor": "4"}),
        ("/api/capas", {"limit": "2", "offset": "0"}),
        ("/api/capas", {"limit": "2", "offset": "2"}),
        ("/api/capas", {"limit": "2", "offset": "4"}),
        ("/api/changes", {}),
        ("/api/changes", {"page": "2"}),
    ]
    assert {auth for *_, auth in api.requests} == {"Bearer s3cret-token"}
    # the pages of each stream are gathered into one batch (5,000 records a batch by default)
    assert (first["rows_loaded"], first["rows_rejected"], first["batches"]) == (12, 1, 3)
    assert source_status(con, "qms")["watermarks"] == {
        "nonconformances": "2026-11-04T10:00:00",
        "capas": "2026-11-05T12:00:00",
        "change_controls": "2026-11-13T08:00:00",
    }

    api.requests.clear()
    second = pull_source(con, source, settings)
    assert second["outcome"] == "succeeded", second["error"]
    # only the records at each watermark are sent again (NCR-4, NCR-5, CAPA-5, CC-3), all unchanged
    assert (second["rows_read"], second["rows_loaded"]) == (4, 0)
    assert [q.get("updated_since") for _, q in api.paths()] == [
        "2026-11-04T10:00:00",
        "2026-11-05T12:00:00",
        "2026-11-13T08:00:00",
    ]


def test_basic_auth_and_a_refused_login_fails_at_once(api: Api, warehouse, tmp_path: Path) -> None:
    con, settings = warehouse
    _serve(api)
    api.authorization = "Basic " + base64.b64encode(b"qa-bot:pa55:word").decode()
    source = _source(tmp_path, api, auth=BASIC)
    assert RestConnector(source).check() == (
        f"{api.url}: nonconformances 2 records on the first page, capas 2 records on the first page, "
        "change_controls 2 records on the first page"
    )
    assert pull_source(con, source, settings)["outcome"] == "succeeded"

    api.authorization = "Basic " + base64.b64encode(b"qa-bot:rotated").decode()
    api.requests.clear()
    failed = pull_source(con, source, settings)
    assert failed["outcome"] == "failed"
    assert (
        f"entity nonconformances: GET {api.url}/api/ncrs?updated_since=2026-11-04T10%3A00%3A00 "
        "answered HTTP 401 Unauthorized:" in failed["error"]
    )
    assert len(api.requests) == 1  # a 4xx other than 429 is not retried


def test_429_503_and_a_slow_answer_are_retried_with_backoff(api: Api, warehouse, tmp_path: Path) -> None:
    con, settings = warehouse
    _serve(api)
    api.faults = [Fault("/api/ncrs", "429"), Fault("/api/ncrs", "503"), Fault("/api/capas", "slow")]
    source = _source(tmp_path, api)
    started = time.monotonic()
    result = pull_source(con, source, settings)
    assert result["outcome"] == "succeeded", result["error"]
    assert result["rows_loaded"] == 12
    # 8 pages as in the clean pull, plus the 429, the 503 and the timed-out request
    assert len(api.requests) == 11
    first, second, third = (t for t, *_ in api.requests[:3])
    assert second - first >= 1.0  # Retry-After: 1 honoured
    assert third - second < 1.0  # the 503 waited the short backoff only
    # the slow answer timed out and the same page was asked again
    assert api.paths()[5:7] == [("/api/capas", {"limit": "2", "offset": "0"})] * 2
    assert time.monotonic() - started < 10


def test_a_server_that_stays_down_fails_after_the_retries(api: Api, warehouse, tmp_path: Path) -> None:
    con, settings = warehouse
    _serve(api)
    api.faults = [Fault("/api/ncrs", "503") for _ in range(5)]
    result = pull_source(con, _source(tmp_path, api, retries=2), settings)
    assert result["outcome"] == "failed"
    assert (
        f"GET {api.url}/api/ncrs answered HTTP 503 Service Unavailable (gave up after 3 attempts)"
        in (result["error"])
    )
    assert len(api.requests) == 3


def test_answers_slower_than_the_timeout_every_time_fail_after_the_retries(
    api: Api, warehouse, tmp_path: Path
) -> None:
    con, settings = warehouse
    _serve(api)
    api.slow_seconds = 0.6  # the client's timeout is 0.3 s
    api.faults = [Fault("/api/ncrs", "slow") for _ in range(2)]
    result = pull_source(con, _source(tmp_path, api, retries=1), settings)
    assert result["outcome"] == "failed"
    assert f"GET {api.url}/api/ncrs failed after 2 attempt(s): ReadTimeout" in result["error"]
    assert len(api.requests) == 2


def test_an_unknown_endpoint_fails_with_its_url_and_status_without_retrying(
    api: Api, warehouse, tmp_path: Path
) -> None:
    con, settings = warehouse
    _serve(api)
    del api.endpoints["/api/capas"]
    result = pull_source(con, _source(tmp_path, api), settings)
    assert result["outcome"] == "failed"
    assert (
        f"entity capas: GET {api.url}/api/capas?limit=2&offset=0 answered HTTP 404 Not Found"
        in (result["error"])
    )
    assert [p for p, _ in api.paths()].count("/api/capas") == 1
    # the stream before it was committed
    assert _rows(con, "SELECT count(*) FROM raw.nonconformances") == [(4,)]


def test_a_pull_failing_mid_paging_resumes_from_the_last_committed_page(
    api: Api, warehouse, tmp_path: Path
) -> None:
    con, settings = warehouse
    _serve(api)
    # the third page of the NCRs is down for longer than one retry
    api.faults = [Fault("/api/ncrs", "503", {"cursor": "4"}) for _ in range(2)]
    source = _source(tmp_path, api, retries=1)
    failed = pull_source(con, source, settings)
    assert failed["outcome"] == "failed"
    assert "/api/ncrs?cursor=4 answered HTTP 503" in failed["error"]
    # pages 1 and 2 (NCR-1..4, NCR-2 quarantined) were committed with the cursor of NCR-4
    assert _rows(con, "SELECT ncr_id FROM raw.nonconformances ORDER BY 1") == [
        ("NCR-1",),
        ("NCR-3",),
        ("NCR-4",),
    ]
    assert source_status(con, "qms")["watermarks"] == {"nonconformances": "2026-11-04T10:00:00"}

    api.requests.clear()
    resumed = pull_source(con, source, settings)
    assert resumed["outcome"] == "succeeded", resumed["error"]
    assert api.paths()[0] == ("/api/ncrs", {"updated_since": "2026-11-04T10:00:00"})
    # NCR-4 (unchanged) and NCR-5 come again from the watermark; then all 5 capas and 3 changes
    assert resumed["rows_loaded"] == 1 + 5 + 3
    assert _rows(con, "SELECT count(*) FROM raw.nonconformances") == [(4,)]


def test_a_next_link_to_another_host_is_not_followed(api: Api, warehouse, tmp_path: Path) -> None:
    con, settings = warehouse
    _serve(api)
    api.link_host = "localhost"  # the same server under another name: the token must not go there
    result = pull_source(con, _source(tmp_path, api), settings)
    assert result["outcome"] == "failed"
    port = api.server_address[1]
    assert (
        f"entity change_controls: the next link http://localhost:{port}/api/changes?page=2 leaves {api.url}; "
        "not followed" in result["error"]
    )
    assert [p for p, _ in api.paths()].count("/api/changes") == 1


@pytest.mark.parametrize(
    ("connection", "stream", "message"),
    [
        (
            "base_url: ftp://127.0.0.1/",
            "endpoint: /x",
            "connection.base_url must be an http:// or https:// URL",
        ),
        (
            "base_url: http://127.0.0.1/\n      auth: bearer",
            "endpoint: /x",
            "auth bearer needs connection.token_env",
        ),
        (
            "base_url: http://127.0.0.1/\n      auth: digest",
            "endpoint: /x",
            "connection.auth 'digest' is not one of",
        ),
        (
            "base_url: http://127.0.0.1/\n      retries: -1",
            "endpoint: /x",
            "retries must be a whole number >= 0",
        ),
        (
            "base_url: http://127.0.0.1/\n      timeout: 0",
            "endpoint: /x",
            "timeout must be a number > 0, not 0",
        ),
        ("base_url: http://127.0.0.1/", "records: items", "entity capas: option endpoint"),
        (
            "base_url: http://127.0.0.1/",
            "endpoint: /x\n        paging: pages",
            "paging 'pages' is not one of",
        ),
        ("base_url: http://127.0.0.1/", "endpoint: /x\n        page_size: 5", "unknown option page_size"),
    ],
)
def test_a_bad_rest_source_says_what_and_where(
    tmp_path: Path, connection: str, stream: str, message: str
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"sources:\n  qms:\n    kind: rest\n    connection:\n      {connection}\n"
        f"    entities:\n      capas:\n        {stream}\n",
        encoding="utf-8",
    )
    (source,) = load_sources(path, env={})
    with pytest.raises(SourceConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RestConnector(source)


def test_replace_mode_reads_every_page_and_drops_what_is_gone(api: Api, warehouse, tmp_path: Path) -> None:
    con, settings = warehouse
    api.endpoints["/api/capas"] = Endpoint(list(CAPAS), "offset")
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
sources:
  qms:
    kind: rest
    batch_records: 1
    connection: {{base_url: "{api.url}"}}
    entities:
      capas: {{endpoint: /api/capas, records: results, paging: offset, limit: 2, mode: replace}}
""",
        encoding="utf-8",
    )
    (source,) = load_sources(path, env={})
    first = pull_source(con, source, settings)
    # one batch although every page could be one: a replace delivery is the whole list
    assert (first["outcome"], first["batches"], first["rows_loaded"]) == ("succeeded", 1, 5)
    api.endpoints["/api/capas"].records.pop(2)  # CAPA-3 is gone at the source
    second = pull_source(con, source, settings)
    assert (second["rows_removed"], second["rows_loaded"]) == (1, 0)
    assert _rows(con, "SELECT capa_id FROM raw.capas ORDER BY 1") == [
        ("CAPA-1",),
        ("CAPA-2",),
        ("CAPA-4",),
        ("CAPA-5",),
    ]
