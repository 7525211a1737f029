"""Injection probes against the real server: every URL parameter and every form field gets each probe.

SQL (quote breaks, a DROP, a UNION), script (a script tag, an onerror image, a javascript: URL), template
expressions, a path traversal, NUL, CR LF header injection (decoded and double-encoded), 10,000 characters
and a right-to-left override go into each page's path parameter, the global ?site ?as_of ?period, the
Alerts, Traceability and Audit page parameters, the filters store every page body reads, the drill-down
ids, the sign-in and password forms, the alert comment and owner, the trace query and the audit filters.
The server must answer each without a 5xx, a traceback or a server path, set no cookie a probe named,
and change nothing: the warehouse file is byte for byte the same, and the only new audit records are the
ones the probes are entitled to (failed sign-ins, a lockout of a probe-named account, comments and
assignments typed as probes). In Chromium no probe runs a script (no dialog ever opens).

The real app over a copy of the hand-built plant (tests/small_plant.py), one server for the module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import duckdb
import httpx
import pytest

from medtower import alert_actions, audit, users
from medtower.settings import Settings
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.dashboards.test_access import BODIES as ACCESS_BODIES
from tests.served_app import ROOT, callback_key, copy_warehouse, serve
from tests.signin import TEST_PASSWORD, add_user, csrf_field, csrf_headers, http_client, signed_in_page

PROBES = [
    "' OR '1'='1",
    "'; DROP TABLE marts.dim_lots; --",
    "1 UNION SELECT username, password_hash FROM users --",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(document.domain)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "${7*7}",
    "../../etc/passwd",
    "R1\x00' OR 1=1",
    "\r\nSet-Cookie:x=1",
    "%0d%0aSet-Cookie:x=1",
    "A" * 10_000,
    "R1\u202egpj.exe",
]
ALERT_KEY = "material_shortage:material_id=RM1,site_id=S1"
AS_OF = "2026-06-30"
GOOD_FILTERS = {"as_of": AS_OF, "period_days": 30, "site": None}
PAGES = ["/", "/inventory", "/wip", "/lots", "/quality", "/delivery", "/suppliers", "/traceability"]
PAGES += ["/kpi-review", "/alerts", "/data-health", "/audit"]
DRILLDOWNS = ["lot", "material", "supplier", "customer", "work-order"]
PAGE_PARAMS = {
    "/alerts": ["alert", "rule", "severity", "state", "owner", "q"],
    "/traceability": ["q", "direction"],
    "/audit": ["user", "object", "action", "since", "until"],
}
# The pages' body callbacks (test_access's list less the drill-downs, probed below by DRILLDOWNS).
BODIES = {path: body for path, body in ACCESS_BODIES.items() if path.count("/") == 1}


@pytest.fixture(scope="module")
def probed(small_warehouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("probes")
    data = base / "data"
    db = copy_warehouse(small_warehouse.path, data)
    add_user(data, "admin", "admin")
    add_user(data, "pat", "viewer")  # whose password form gets the probes
    before = {"warehouse": _sha(db), "marts": _mart_counts(db)}
    with serve(data, base / "app.log") as url:
        client = http_client(url, "admin", TEST_PASSWORD)
        settings = Settings(data_dir=data)
        before["trail"] = len(audit.read(settings))
        yield {"url": url, "data": data, "db": db, "log": base / "app.log", "admin": client, "before": before}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mart_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        return {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0] for (t,) in tables}
    finally:
        con.close()


def _clean(resp: httpx.Response, what: str, probed: dict[str, Any]) -> None:
    """No server error, no traceback or server path in the answer, no cookie a probe set."""
    assert resp.status_code < 500, (what, resp.status_code, resp.text[:300])
    text = resp.text
    for leak in ("Traceback", 'File "', "site-packages", str(ROOT), str(probed["data"])):
        assert leak not in text, (what, leak, text[:300])
    for name, value in resp.headers.multi_items():
        assert "\r" not in value and "\n" not in value, (what, name)
        if name.lower() == "set-cookie":
            assert not value.lower().startswith("x="), (what, value)
    assert "x" not in resp.cookies, what


def _deps(client: httpx.Client) -> list[dict[str, Any]]:
    return client.get("/_dash-dependencies").json()


def _call(
    client: httpx.Client,
    deps: list[dict[str, Any]],
    output: str,
    values: dict[str, Any],
    changed: str,
    reads: str | None = None,
) -> httpx.Response:
    """The callback whose output string contains ``output`` (and that reads the id ``reads``), with every
    declared input and state given (``values`` by ``id.property``; the rest None, the filters store
    good), as Dash's renderer sends it."""
    dep = next(
        d
        for d in deps
        if output in d["output"]
        and (reads is None or any(i["id"] == reads for i in d["inputs"] + d["state"]))
    )
    names = dep["output"].strip(".").split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = []
    for name in names:
        ident, prop = name.rsplit(".", 1)
        outputs.append({"id": ident, "property": prop.split("@", 1)[0]})

    def filled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            key = f"{item['id']}.{item['property']}"
            default = GOOD_FILTERS if key == "filters.data" else None
            out.append({"id": item["id"], "property": item["property"], "value": values.get(key, default)})
        return out

    body = {
        "output": dep["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": filled(dep["inputs"]),
        "state": filled(dep["state"]),
        "changedPropIds": [changed],
    }
    return client.post("/_dash-update-component", json=body, headers=csrf_headers(client))


def test_probes_in_every_url_path_and_query_parameter(probed: dict[str, Any]) -> None:
    client = probed["admin"]
    deps = _deps(client)
    for probe in PROBES:
        enc = quote(probe, safe="")
        urls = [f"/{slug}/{enc}" for slug in DRILLDOWNS]
        urls += [f"{page}?{urlencode({k: probe for k in ('site', 'as_of', 'period')})}" for page in PAGES]
        urls += [f"{page}?{urlencode({k: probe for k in keys})}" for page, keys in PAGE_PARAMS.items()]
        urls += [f"/{enc}", f"/login?next={enc}"]
        for url in urls:
            _clean(client.get(url), url, probed)
            # The page's layout(**params) runs in the pages callback, from the path and the query.
            path, _, search = url.partition("?")
            content = _call(
                client,
                deps,
                "_pages_content.children",
                {"_pages_location.pathname": path, "_pages_location.search": "?" + search if search else ""},
                "_pages_location.pathname",
            )
            _clean(content, f"layout of {url}", probed)


def test_probes_in_the_filters_every_page_body_reads_and_the_drilldown_ids(probed: dict[str, Any]) -> None:
    client = probed["admin"]
    deps = _deps(client)
    for probe in PROBES:
        # The period is read as an integer (a probe falls back to the default, and the page renders in
        # full): a few probes show it; site and as-of get them all.
        fields = ("site", "as_of", "period_days") if probe in PROBES[:2] + PROBES[-2:] else ("site", "as_of")
        for field in fields:
            store = {**GOOD_FILTERS, field: probe}
            for body in [*BODIES.values(), *(f"{d}-body" for d in DRILLDOWNS)]:
                values = {"filters.data": store, **{f"{d}-id.data": "R1" for d in DRILLDOWNS}}
                resp = _call(client, deps, f"{body}.children", values, "filters.data")
                _clean(resp, f"{body} with {field}={probe[:40]!r}", probed)
        for slug in DRILLDOWNS:
            resp = _call(client, deps, f"{slug}-body.children", {f"{slug}-id.data": probe}, f"{slug}-id.data")
            _clean(resp, f"{slug} id {probe[:40]!r}", probed)
            assert "No " in resp.text, (slug, probe[:40], resp.text[:200])  # "No lot ... in the warehouse"


def test_probes_in_the_trace_alerts_and_audit_fields(probed: dict[str, Any]) -> None:
    client = probed["admin"]
    deps = _deps(client)
    act = callback_key(client, "alerts-action-result.children")
    for probe in PROBES:
        trace = {"trace-q.value": probe, "trace-direction.value": "forward", "trace-go.n_clicks": 1}
        _clean(_call(client, deps, "trace-body.children", trace, "trace-go.n_clicks"), "trace", probed)
        odd = {**trace, "trace-direction.value": probe}
        _clean(_call(client, deps, "trace-body.children", odd, "trace-direction.value"), "direction", probed)
        _clean(
            _call(
                client,
                deps,
                "url.search",
                {**trace, "url.search": "?" + quote(probe)},
                "trace-q.value",
                "trace-q",
            ),
            "trace query to the URL",
            probed,
        )
        export = {**trace, "trace-csv.n_clicks": 1, "trace-xlsx.n_clicks": 0}
        _clean(
            _call(client, deps, "trace-download.data", export, "trace-csv.n_clicks"), "trace export", probed
        )
        for field in ("audit-user.value", "audit-object.value", "audit-action.value"):
            _clean(_call(client, deps, "audit-body.children", {field: probe}, field), field, probed)
        dates = {"audit-days.start_date": probe, "audit-days.end_date": probe}
        _clean(
            _call(client, deps, "audit-body.children", dates, "audit-days.start_date"), "audit days", probed
        )
        for field in ("rule", "severity", "state", "owner", "text"):
            key = f"alerts-f-{field}.value"
            values = {key: [probe] if field in ("severity", "state") else probe}
            dep = next((d for d in deps if any(i["id"] == f"alerts-f-{field}" for i in d["inputs"])), None)
            assert dep is not None, f"no callback reads alerts-f-{field}"
            _clean(_call(client, deps, dep["output"], values, key), key, probed)
        for button, field in (
            ("alerts-add-comment", "alerts-comment.value"),
            ("alerts-assign", "alerts-owner.value"),
        ):
            values = {
                f"{button}.n_clicks": 1,
                "alerts-selected.data": ALERT_KEY,
                "alerts-owner.value": "role:qa",
                "alerts-comment.value": "probe",
                "alerts-version.data": {"n": 1},
                field: probe,
            }
            _clean(_call(client, deps, act, values, f"{button}.n_clicks"), f"{button} {field}", probed)
        # An alert key that is itself a probe.
        values = {
            "alerts-add-comment.n_clicks": 1,
            "alerts-selected.data": probe,
            "alerts-comment.value": "x",
        }
        _clean(_call(client, deps, act, values, "alerts-add-comment.n_clicks"), "alert key", probed)


def test_a_hand_made_request_for_a_clientside_or_unknown_callback_is_refused_not_a_500(
    probed: dict[str, Any],
) -> None:
    client = probed["admin"]
    deps = _deps(client)
    # The filters' URL sync runs in the browser (a clientside callback): the server has no function for it.
    sync = _call(client, deps, "f-site.value", {"url.search": "?site=" + quote(PROBES[0])}, "url.search")
    assert sync.status_code == 400 and "not a server callback" in sync.json()["error"]
    _clean(sync, "clientside callback", probed)
    outputs = [{"id": "overview-body", "property": "children"}]
    body = {"output": "overview-body.children", "outputs": outputs[0], "inputs": [], "changedPropIds": []}
    odd = client.post("/_dash-update-component", json=body, headers=csrf_headers(client))
    assert odd.status_code == 400  # its real key names the held store too
    for output in (None, 7, ["overview-body.children"]):
        resp = client.post(
            "/_dash-update-component", json={**body, "output": output}, headers=csrf_headers(client)
        )
        assert resp.status_code == 400, output


def test_probes_in_the_sign_in_and_password_forms(probed: dict[str, Any]) -> None:
    url = probed["url"]
    for probe in PROBES:
        anonymous = httpx.Client(base_url=url, timeout=60)
        form = anonymous.get("/login?next=" + quote(probe, safe=""))
        _clean(form, "login form next", probed)
        fields = {"username": probe, "password": probe, "next": probe}
        resp = anonymous.post("/login", data={"csrf_token": csrf_field(form.text), **fields})
        _clean(resp, "login", probed)
        assert resp.status_code == 401  # refused, whatever the text
        if "{" in probe:  # a template expression is shown as typed, never evaluated
            assert f'value="{probe}"' in resp.text and 'value="49"' not in resp.text
        if "<" in probe:  # markup is escaped where the form shows the name again
            assert probe not in resp.text and "&lt;" in resp.text
    # A real sign-in whose next= is a probe (or an open redirect): the redirect stays on this server.
    for probe in [*PROBES[4:6], *PROBES[8:12], "//evil.example/x", "https://evil.example/"]:
        anonymous = httpx.Client(base_url=url, timeout=60)
        form = anonymous.get("/login")
        data = {"csrf_token": csrf_field(form.text), "username": "pat", "password": TEST_PASSWORD}
        signed = anonymous.post("/login", data={**data, "next": probe})
        _clean(signed, "login next", probed)
        assert signed.status_code == 302
        location = signed.headers["location"]
        assert location.startswith("/") and not location.startswith("//") and "javascript:" not in location
    settings = Settings(data_dir=probed["data"])
    changed_at = users.get(settings, "pat").password_changed_at
    token = csrf_field(anonymous.get("/password").text)
    for probe in PROBES:
        for fields in (
            {"old": TEST_PASSWORD, "new": probe, "again": probe + "x"},  # the two differ
            {"old": probe, "new": probe, "again": probe},  # wrong current password
        ):
            locked = users.get(settings, "pat").locked()  # type: ignore[union-attr]
            resp = anonymous.post("/password", data={"csrf_token": token, **fields})
            _clean(resp, f"password {list(fields)}", probed)
            # Refused; once the wrong current passwords have locked her account, her session is over too.
            assert resp.status_code == (401 if locked else 400), (probe, fields)
    # Pat's password is still the one she had, and the guesses locked her account.
    assert users.get(settings, "pat").password_changed_at == changed_at
    assert users.get(settings, "pat").locked()  # type: ignore[union-attr]


@pytest.mark.browser
def test_in_chromium_no_probe_runs_a_script(probed: dict[str, Any]) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    url = probed["url"]
    scripts = [p for p in PROBES if "alert(" in p]
    dialogs: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = signed_in_page(browser, url, "admin")
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            for probe in scripts:
                enc = quote(probe, safe="")
                targets = [f"/lot/{enc}", f"/material/{enc}", f"/?site={enc}&as_of={enc}&period={enc}"]
                targets += [
                    f"/traceability?q={enc}&direction={enc}",
                    f"/alerts?alert={enc}&q={enc}&owner={enc}",
                ]
                targets += [f"/audit?user={enc}&object={enc}&action={enc}", f"/login?next={enc}"]
                for target in targets:
                    page.goto(url + target)
                    page.wait_for_load_state("networkidle")
                # Typed into the trace search and sent.
                page.goto(url + "/traceability")
                page.fill("#trace-q", probe)
                page.click("#trace-go")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(300)
            # The probe-named comment recorded above, shown on the Alerts page of its key.
            page.goto(url + "/alerts?alert=" + quote(ALERT_KEY, safe=""))
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)
        finally:
            browser.close()
    assert dialogs == [], dialogs
    assert [e for e in errors if "alert" in e.lower() and "document.domain" in e] == []


def test_the_probes_changed_nothing(probed: dict[str, Any]) -> None:
    before = probed["before"]
    db: Path = probed["db"]
    assert _sha(db) == before["warehouse"], "the warehouse file changed"
    assert _mart_counts(db) == before["marts"]
    settings = Settings(data_dir=probed["data"])
    added = audit.read(settings)[before["trail"] :]
    # What the probes may leave: failed sign-ins (a probe-named account locked), pat's sign-ins, the
    # comments and assignments typed as probes (kept as typed, as text).
    # An administrator's page showing unmasked personal data records that it did (pii.view).
    allowed = {"login_failed", "lockout", "login", "comment", "assign", "pii.view"}
    assert {r["action"] for r in added} <= allowed, sorted({r["action"] for r in added} - allowed)
    assert {r["actor"] for r in added if r["action"] == "login"} <= {"admin", "pat"}
    typed = {json.dumps(r["new"]) for r in added if r["action"] in ("comment", "assign")}
    assert any("<script>" in t for t in typed)  # kept as the text it was
    assert audit.verify(settings).ok
    actions = alert_actions.read_actions(settings)
    assert {a["action"] for a in actions} <= {"comment", "assign"}
    # Nor did any probe raise inside the server (a handled error would be logged with its traceback).
    log = probed["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 300 :][:2000]
