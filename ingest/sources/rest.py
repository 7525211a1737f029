"""MES / QMS REST APIs as a source: paged JSON through httpx, retries with backoff through tenacity.

``connection``: ``base_url``; ``auth`` ``bearer`` (``token_env``) or ``basic`` (``user`` and
``password_env``) or none; ``timeout`` (seconds per request, default 30); ``retries`` (default 4),
``backoff_seconds`` (first wait, doubling, default 1) and ``max_wait_seconds`` (the longest single wait,
default 60). A 429 or a 5xx answer, a timeout or a dropped connection is retried at most ``retries``
times; a ``Retry-After`` header (seconds or an HTTP date) sets the wait, capped at ``max_wait_seconds``.
Any other answer that is not 2xx fails the pull at once, naming the URL and the status.

Per entity ``options``: ``endpoint`` (path under ``base_url``), ``records`` (dotted path of the record
list in the JSON body; empty: the body is the list), ``params`` (fixed query parameters),
``since_param`` (the query parameter that carries the committed watermark; records are also filtered
``cursor >= watermark`` here, so a server that ignores it costs time, not correctness) and ``paging``:

* ``cursor``: the body holds the next page's cursor at ``next_cursor`` (dotted path), sent back as
  ``cursor_param`` (default ``cursor``); no cursor, or an empty page, ends the list.
* ``offset``: ``offset_param`` / ``limit_param`` (default ``offset`` / ``limit``) with ``limit``
  records a page (default 100); a short page ends the list.
* ``link``: the RFC 8288 ``Link: <...>; rel="next"`` header; it must stay on the origin of ``base_url``
  (the credentials go with it).
* ``none`` (default): one request.

Pages are gathered into batches of at least ``batch_records`` records (a source option, default 5,000; 1:
every page is a batch), each committed with the cursor of its last record, and the next pull asks from
there; so an incremental endpoint must return records in cursor order.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from ingest.sources import Batch, PullState, SourceConfig, SourceConfigError, SourceError, StreamConfig
from ingest.sources.snapshot import PAGE_SIZE, after_watermark, pages

log = logging.getLogger(__name__)

PAGING = ("none", "cursor", "offset", "link")
STREAM_OPTIONS = frozenset(
    {
        "endpoint",
        "records",
        "params",
        "since_param",
        "paging",
        "next_cursor",
        "cursor_param",
        "offset_param",
        "limit_param",
        "limit",
        "max_pages",
    }
)
_MISSING = object()


def _at(body: Any, path: str) -> Any:
    """The value at a dotted path of a JSON body (``""``: the body itself)."""
    node = body
    for part in path.split(".") if path else []:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class RestConnector:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        conn = source.connection
        where = f"source {source.name}"
        self.base_url = str(conn.get("base_url") or "")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise SourceConfigError(f"{where}: connection.base_url must be an http:// or https:// URL")
        self.auth: httpx.Auth | None = None
        self.headers = {"Accept": "application/json"}
        kind = str(conn.get("auth") or "none")
        if kind == "bearer":
            if not conn.get("token"):
                raise SourceConfigError(f"{where}: auth bearer needs connection.token_env: VARIABLE")
            self.headers["Authorization"] = f"Bearer {conn['token']}"
        elif kind == "basic":
            if not conn.get("user") or not conn.get("password"):
                raise SourceConfigError(
                    f"{where}: auth basic needs connection.user and connection.password_env: VARIABLE"
                )
            self.auth = httpx.BasicAuth(str(conn["user"]), str(conn["password"]))
        elif kind != "none":
            raise SourceConfigError(f"{where}: connection.auth {kind!r} is not one of bearer, basic, none")
        self.timeout = self._number(conn, "timeout", 30.0, where)
        self.retries = int(self._number(conn, "retries", 4, where, whole=True, low=0))
        backoff = self._number(conn, "backoff_seconds", 1.0, where, low=0)
        self.max_wait = self._number(conn, "max_wait_seconds", 60.0, where, low=0)
        self.batch_records = int(
            self._number(source.options, "batch_records", PAGE_SIZE, where, whole=True, low=1)
        )
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff, max=self.max_wait, jitter=backoff
        )
        for stream in source.streams:
            self._check_stream(stream)

    def _number(
        self,
        options: Mapping[str, Any],
        key: str,
        default: float,
        where: str,
        *,
        whole: bool = False,
        low: float = 1e-9,
    ) -> float:
        value = options.get(key, default)
        ok = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
        if not ok or value < low:
            kind = "a whole number" if whole else "a number"
            bound = "> 0" if 0 < low < 1 else f">= {low:g}"
            raise SourceConfigError(f"{where}: {key} must be {kind} {bound}, not {value!r}")
        return float(value)

    def _check_stream(self, stream: StreamConfig) -> None:
        where = f"source {self.source.name}, entity {stream.entity}"
        opts = stream.options
        unknown = sorted(set(opts) - STREAM_OPTIONS)
        if unknown:
            raise SourceConfigError(
                f"{where}: unknown option {', '.join(unknown)} (allowed: {', '.join(sorted(STREAM_OPTIONS))})"
            )
        if not opts.get("endpoint"):
            raise SourceConfigError(f"{where}: option endpoint (the path under base_url) is required")
        if opts.get("paging", "none") not in PAGING:
            raise SourceConfigError(f"{where}: paging {opts['paging']!r} is not one of {', '.join(PAGING)}")
        if not isinstance(opts.get("params", {}), dict):
            raise SourceConfigError(f"{where}: option params must map query parameter names to values")
        for key, default in (("limit", 100), ("max_pages", 100_000)):
            self._number(opts, key, default, where, whole=True, low=1)

    # --- HTTP ------------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, auth=self.auth, headers=self.headers, timeout=self.timeout
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            after = _retry_after(outcome.result().headers.get("Retry-After"))
            if after is not None:
                return min(after, self.max_wait)
        return float(self._backoff(state))

    def _get(self, client: httpx.Client, url: str, params: Mapping[str, Any], where: str) -> httpx.Response:
        """GET one page, retrying 429 / 5xx / timeouts; any other answer that is not 2xx fails at once."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(httpx.TransportError)
            | tenacity.retry_if_result(_retryable),
            # out of attempts: hand back the last answer (or raise its error) instead of RetryError
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
        )
        try:
            response: httpx.Response = retrying(client.get, url, params=dict(params) or None)
        except httpx.HTTPError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            asked = client.build_request("GET", url, params=dict(params) or None).url
            raise SourceError(
                f"{where}: GET {asked} failed after {attempts} attempt(s): {type(exc).__name__}: {exc}"
            ) from None
        if not response.is_success:
            attempts = retrying.statistics.get("attempt_number", 1)
            tried = f" (gave up after {attempts} attempts)" if _retryable(response) else ""
            raise SourceError(
                f"{where}: GET {response.url} answered HTTP {response.status_code} "
                f"{response.reason_phrase}{tried}: {response.text[:200]}"
            )
        return response

    # --- paging ----------------------------------------------------------------------------------

    def _pages(
        self, client: httpx.Client, stream: StreamConfig, watermark: str | None
    ) -> Iterator[list[dict[str, Any]]]:
        """The record lists of an endpoint, page by page (bounded by ``max_pages``)."""
        opts = stream.options
        where = f"source {self.source.name}, entity {stream.entity}"
        paging = str(opts.get("paging", "none"))
        params: dict[str, Any] = dict(opts.get("params") or {})
        if opts.get("since_param") and watermark is not None:
            params[str(opts["since_param"])] = watermark
        limit = int(opts.get("limit", 100))
        if paging == "offset":
            params[str(opts.get("limit_param", "limit"))] = limit
        url: str = str(opts["endpoint"])
        offset = 0
        seen: set[str] = set()
        for _ in range(int(opts.get("max_pages", 100_000))):
            if paging == "offset":
                params[str(opts.get("offset_param", "offset"))] = offset
            response = self._get(client, url, params, where)
            try:
                body = response.json()
            except ValueError:
                raise SourceError(
                    f"{where}: GET {response.url} did not answer JSON: {response.text[:200]!r}"
                ) from None
            records = _at(body, str(opts.get("records", "")))
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise SourceError(
                    f"{where}: the JSON of {url} has no list of objects at "
                    f"{opts.get('records') or 'its top level'!r} (option records)"
                )
            yield records
            if not records or paging == "none":
                return
            if paging == "offset":
                if len(records) < limit:
                    return
                offset += len(records)
                continue
            if paging == "cursor":
                nxt = _at(body, str(opts.get("next_cursor", "next_cursor")))
                if nxt is _MISSING or nxt in (None, ""):
                    return
                token = str(nxt)
                params[str(opts.get("cursor_param", "cursor"))] = token
            else:  # link: the next URL carries every parameter
                link = response.links.get("next")
                if not link or not link.get("url"):
                    return
                token = urljoin(str(response.url), link["url"])
                if _origin(token) != _origin(self.base_url):
                    raise SourceError(f"{where}: the next link {token} leaves {self.base_url}; not followed")
                url, params = token, {}  # httpx would replace the query of the link with params
            if token in seen:
                raise SourceError(f"{where}: {url} gave the next page {token!r} twice; stopped")
            seen.add(token)
        raise SourceError(f"{where}: more than {opts.get('max_pages', 100_000)} pages (option max_pages)")

    def check(self) -> str:
        parts = []
        with self._client() as client:
            for stream in self.source.streams:
                first = next(self._pages(client, stream, None))
                parts.append(f"{stream.entity} {len(first)} records on the first page")
        return f"{self.base_url}: {', '.join(parts)}"

    def pull(self, state: PullState) -> Iterator[Batch]:
        with self._client() as client:
            for stream in self.source.streams:
                label = f"{self.source.name}:{stream.entity}"
                watermark = state.watermark(stream.entity) if stream.cursor else None
                if stream.mode == "replace":
                    # replace drops the label's stored rows a delivery no longer holds: deliver it whole
                    whole = [r for page in self._pages(client, stream, None) for r in page]
                    yield Batch(entity=stream.entity, records=whole, label=label)
                    continue
                rows: list[dict[str, Any]] = []
                for page in self._pages(client, stream, watermark):
                    rows += after_watermark(page, stream, watermark)
                    if len(rows) >= self.batch_records:
                        yield from pages(rows, stream, label, size=len(rows))
                        rows = []
                yield from pages(rows, stream, label, size=max(len(rows), 1))
