"""Who may see and do what, checked where it counts: on the server.

The real app (`python app.py`, waitress) on 127.0.0.1 with one user per role in its own users store. Raw
HTTP (httpx, no browser) signs in as each role and walks the whole page x action matrix: every page by
URL, every page's content callback, every page-body callback, and each action's callback (acknowledge,
assign, comment, resolve an alert, widen a hold scope, export); the server answers 200 or refuses with
403 as the hand-written table EXPECTED says. Hand-made POSTs without a session, without the CSRF header
or for an unknown output are refused too. Chromium checks a representative subset as a person sees it.
The expected table is written out by hand here, not read from medtower/roles.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from medtower import alert_actions
from medtower.settings import Settings
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.served_app import callback_key, filters, post, run_app
from tests.signin import TEST_PASSWORD, add_user, csrf_headers, http_client, signed_in_page

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("admin", "management", "planner", "qa", "viewer")
ALERT_KEY = "material_shortage:material_id=M-1,site_id=S1"

# Page (URL) -> roles that may view it. Data health shows quarantined rows as delivered: admin and QA.
# Alerts: everyone who works alerts, not a viewer.
EVERYONE = set(ROLES)
PAGE_ACCESS: dict[str, set[str]] = {
    "/": EVERYONE,
    "/inventory": EVERYONE,
    "/wip": EVERYONE,
    "/lots": EVERYONE,
    "/quality": EVERYONE,
    "/delivery": EVERYONE,
    "/suppliers": EVERYONE,
    "/traceability": EVERYONE,
    "/kpi-review": EVERYONE,
    "/alerts": {"admin", "management", "planner", "qa"},
    "/data-health": {"admin", "qa"},
    "/audit": {"admin", "qa"},  # who did what: QA and the administrator
    "/lot/L-1": EVERYONE,
    "/material/M-1": EVERYONE,
    "/supplier/SUP-1": EVERYONE,
    "/customer/C-1": EVERYONE,
    "/work-order/WO-1": EVERYONE,
}
# The body callback of each page (its output id).
BODIES = {
    "/": "overview-body",
    "/inventory": "inventory-body",
    "/wip": "wip-body",
    "/lots": "lots-body",
    "/quality": "quality-body",
    "/delivery": "delivery-body",
    "/suppliers": "suppliers-body",
    "/kpi-review": "review-body",
    "/data-health": "health-body",
    "/lot/L-1": "lot-body",
    "/material/M-1": "material-body",
    "/supplier/SUP-1": "supplier-body",
    "/customer/C-1": "customer-body",
    "/work-order/WO-1": "work-order-body",
}
# Action -> roles that may take it.
ACTION_ACCESS: dict[str, set[str]] = {
    "acknowledge": {"admin", "management", "planner", "qa"},
    "assign": {"admin", "management", "planner", "qa"},
    "comment": {"admin", "management", "planner", "qa"},
    "resolve": {"admin", "planner", "qa"},
    "widen_scope": {"admin", "qa"},
    "export": {"admin", "management", "planner", "qa"},
    "manage_users": {"admin"},
}
BUTTONS = {
    "acknowledge": "alerts-ack",
    "resolve": "alerts-resolve",
    "assign": "alerts-assign",
    "comment": "alerts-add-comment",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on an empty data folder (no warehouse: pages answer with their notice) and five users."""
    base = tmp_path_factory.mktemp("access")
    data = base / "data"
    for role in ROLES:
        add_user(data, role, role)  # user "planner" has role planner, and so on
    add_user(data, "galway", "planner", sites=["SITE-GAL"])
    with run_app(data, base / "app.log") as app:
        yield {"url": app.url, "data": data, "log": base / "app.log", "env": app.env}


def _body(client: httpx.Client, body_id: str, path: str) -> httpx.Response:
    held = f"{body_id}-held"
    slug = body_id.removesuffix("-body")
    # A drill-down's body also takes its entity id (dashboards/drilldown.py: the "<slug>-id" store).
    key = (
        [{"id": f"{slug}-id", "property": "data", "value": path.rsplit("/", 1)[1]}]
        if path.count("/") > 1
        else []
    )
    return post(
        client,
        [{"id": body_id, "property": "children"}, {"id": held, "property": "data"}],
        [*key, filters()],
        state=[{"id": held, "property": "data", "value": None}],
        changed=["filters.data"],
    )


def _page_content(client: httpx.Client, path: str) -> httpx.Response:
    return post(
        client,
        [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        changed=["_pages_location.pathname"],
    )


def _act(
    client: httpx.Client, button: str, comment: str, key: str = ALERT_KEY, sign: tuple = (None,) * 3
) -> httpx.Response:
    """One action button's callback; ``sign``: the signature fields (user name, password, meaning)."""
    names = list(BUTTONS.values())
    return post(
        client,
        [
            {"id": "alerts-action-result", "property": "children"},
            {"id": "alerts-version", "property": "data"},
            {"id": "alerts-comment", "property": "value"},
            {"id": "alerts-sign-password", "property": "value"},
        ],
        [{"id": n, "property": "n_clicks", "value": 1 if n == button else 0} for n in names],
        state=[
            {"id": "alerts-selected", "property": "data", "value": key},
            {"id": "alerts-owner", "property": "value", "value": "role:qa"},
            {"id": "alerts-comment", "property": "value", "value": comment},
            {"id": "alerts-version", "property": "data", "value": {"n": 1}},
            *(
                {"id": f"alerts-sign-{field}", "property": "value", "value": value}
                for field, value in zip(("user", "password", "meaning"), sign, strict=True)
            ),
        ],
        changed=[f"{button}.n_clicks"],
        output=callback_key(client, "alerts-action-result.children"),
    )


def _widen(client: httpx.Client) -> httpx.Response:
    ident = {"type": "alerts-scope", "key": ALERT_KEY}
    scopes = [
        {"id": "proposed", "lots_to_hold": ["L-1"], "qs": ""},
        {"id": "wider", "lots_to_hold": ["L-1", "L-2"], "qs": ""},
    ]
    return post(
        client,
        [{"id": {"type": "alerts-scope-view", "key": ALERT_KEY}, "property": "children"}],
        [{"id": ident, "property": "value", "value": "wider"}],
        state=[{"id": {"type": "alerts-scope-data", "key": ALERT_KEY}, "property": "data", "value": scopes}],
        changed=['{"key":"' + ALERT_KEY + '","type":"alerts-scope"}.value'],
        output='{"key":["MATCH"],"type":"alerts-scope-view"}.children',
    )


def _export(client: httpx.Client) -> httpx.Response:
    return post(
        client,
        [{"id": {"type": "grid", "name": "ncrs"}, "property": "exportDataAsCsv"}],
        [{"id": {"type": "grid-csv", "name": "ncrs"}, "property": "n_clicks", "value": 1}],
        changed=['{"name":"ncrs","type":"grid-csv"}.n_clicks'],
        output='{"name":["MATCH"],"type":"grid"}.exportDataAsCsv',
    )


def _table_export(client: httpx.Client) -> httpx.Response:
    """A short table's CSV (components.plain_table): written by the server from the rows sent with it."""
    table = {"columns": [["lot_id", "Lot"]], "rows": [{"lot_id": "L-1"}]}
    return post(
        client,
        [{"id": {"type": "table-file", "name": "ncrs"}, "property": "data"}],
        [{"id": {"type": "table-csv", "name": "ncrs"}, "property": "n_clicks", "value": 1}],
        state=[{"id": {"type": "table-rows", "name": "ncrs"}, "property": "data", "value": table}],
        changed=['{"name":"ncrs","type":"table-csv"}.n_clicks'],
        output='{"name":["MATCH"],"type":"table-file"}.data',
    )


def _status(allowed: bool) -> int:
    return 200 if allowed else 403


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_pages_and_actions_from_the_server(served: dict, role: str) -> None:
    client = http_client(served["url"], role, TEST_PASSWORD)
    settings = Settings(data_dir=served["data"])
    seen: list[tuple[str, int, int]] = []
    for path, who in PAGE_ACCESS.items():
        allowed = role in who
        got = client.get(path)
        content = _page_content(client, path)
        seen.append((path, got.status_code, content.status_code))
        assert got.status_code == _status(allowed), (role, path, got.status_code)
        assert content.status_code == _status(allowed), (role, path, content.text[:200])
        if path in BODIES:
            body = _body(client, BODIES[path], path)
            assert body.status_code == _status(allowed), (role, path, body.text[:200])
        if not allowed:
            assert "may not view" in content.json()["error"]

    for action, button in BUTTONS.items():
        before = len(alert_actions.read_actions(settings))
        resp = _act(client, button, f"{role} does {action}")
        allowed = role in ACTION_ACCESS[action]
        assert resp.status_code == _status(allowed), (role, action, resp.text[:200])
        after = alert_actions.read_actions(settings)
        if allowed:
            assert len(after) == before + 1
            # Recorded under the signed-in user's name; no typed name exists any more.
            assert after[-1]["actor"] == role and after[-1]["alert_key"] == ALERT_KEY
        else:
            assert len(after) == before, "a refused action records nothing"

    widen = _widen(client)
    if role == "viewer":
        assert widen.status_code == 403  # not even the Alerts page
    else:
        assert widen.status_code == 200
        text = widen.text
        if role in ACTION_ACCESS["widen_scope"]:
            assert "L-2" in text and "may not widen" not in text
        else:
            assert "may not widen" in text and "L-2" not in text

    assert _export(client).status_code == _status(role in ACTION_ACCESS["export"])
    table = _table_export(client)
    assert table.status_code == _status(role in ACTION_ACCESS["export"]), table.text[:200]
    if table.status_code == 200:
        sent = table.json()["response"]['{"name":"ncrs","type":"table-file"}']["data"]
        assert (sent["filename"], sent["content"]) == ("medtower-ncrs.csv", "Lot\r\nL-1\r\n")


def test_hand_made_callbacks_without_session_csrf_or_a_known_output_are_refused(served: dict) -> None:
    url = served["url"]
    settings = Settings(data_dir=served["data"])
    before = len(alert_actions.read_actions(settings))
    anonymous = httpx.Client(base_url=url, timeout=30)
    # The probe's curl: resolve a critical alert "by CEO", no cookie.
    probe = {
        "output": "..alerts-action-result.children...alerts-version.data...alerts-comment.value..."
        "alerts-sign-password.value..",
        "outputs": [
            {"id": "alerts-action-result", "property": "children"},
            {"id": "alerts-version", "property": "data"},
            {"id": "alerts-comment", "property": "value"},
            {"id": "alerts-sign-password", "property": "value"},
        ],
        "inputs": [{"id": "alerts-resolve", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "alerts-selected", "property": "data", "value": ALERT_KEY},
            {"id": "alerts-actor", "property": "value", "value": "CEO"},
            {"id": "alerts-comment", "property": "value", "value": "done"},
        ],
        "changedPropIds": ["alerts-resolve.n_clicks"],
    }
    resp = anonymous.post("/_dash-update-component", json=probe)
    assert resp.status_code == 401 and "sign in" in resp.json()["error"]
    assert anonymous.get("/_dash-layout").status_code == 401
    page = anonymous.get("/alerts")
    assert page.status_code == 302 and page.headers["location"].startswith("/login?next=/alerts")

    admin = http_client(url, "admin", TEST_PASSWORD)
    # The act callback's key, as Dash has it.
    probe["output"] = callback_key(admin, "alerts-action-result.children")
    # Signed in but without the CSRF header Dash's renderer sends: refused.
    no_csrf = admin.post("/_dash-update-component", json=probe)
    assert no_csrf.status_code == 400 and "CSRF" in no_csrf.text
    forged = admin.post("/_dash-update-component", json=probe, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    # An output no page registers: refused (fail closed), whoever asks.
    unknown = post(admin, [{"id": "secret-thing", "property": "children"}], [filters()])
    assert unknown.status_code == 403
    malformed = admin.post("/_dash-update-component", content=b"{not json", headers=csrf_headers(admin))
    assert malformed.status_code == 400
    assert len(alert_actions.read_actions(settings)) == before
    # Nothing the server says shows a traceback or a server path.
    no_warehouse = _body(admin, "overview-body", "/")  # "no warehouse yet at <path>" on the server
    assert no_warehouse.status_code == 200 and "warehouse.duckdb" in no_warehouse.text
    for resp in (no_csrf, unknown, malformed, anonymous.get("/nothing-here"), no_warehouse):
        assert "Traceback" not in resp.text
        assert str(ROOT) not in resp.text and str(served["data"]) not in resp.text


def test_a_user_granted_one_site_is_refused_the_others(served: dict) -> None:
    client = http_client(served["url"], "galway", TEST_PASSWORD)
    other = filters("SITE-BOS")
    held = "wip-body-held"
    outputs = [{"id": "wip-body", "property": "children"}, {"id": held, "property": "data"}]
    state = [{"id": held, "property": "data", "value": None}]
    refused = post(client, outputs, [other], state=state)
    assert refused.status_code == 403 and "SITE-BOS" in refused.json()["error"]
    mine = filters("SITE-GAL")
    assert post(client, outputs, [mine], state=state).status_code == 200
    # "All sites" is not theirs either: the page says to pick one of theirs.
    every = post(client, outputs, [filters()], state=state)
    assert every.status_code == 200 and "You see SITE-GAL only" in every.text


def test_served_by_waitress_with_security_headers_and_cookie_flags(served: dict) -> None:
    anonymous = httpx.Client(base_url=served["url"], timeout=30)
    login = anonymous.get("/login")
    assert login.headers["server"] == "medtower"  # waitress's ident, not Werkzeug's development server
    client = httpx.Client(base_url=served["url"], timeout=30)
    form = client.get("/login")
    from tests.signin import csrf_field

    signed = client.post(
        "/login", data={"csrf_token": csrf_field(form.text), "username": "admin", "password": TEST_PASSWORD}
    )
    cookie = signed.headers["set-cookie"].lower()
    assert "medtower_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # no TLS here (MEDTOWER_TLS=true adds it)
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'sha256-" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    # Request size limit: a body over MEDTOWER_MAX_REQUEST_BYTES (40 MiB) is refused unread.
    big = client.post(
        "/_dash-update-component",
        content=b"x" * (41 * 1024 * 1024),
        headers={**csrf_headers(client), "Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_wrong_passwords_lock_the_account_and_reset_unlocks_it(served: dict) -> None:
    add_user(served["data"], "lena", "viewer")
    client = httpx.Client(base_url=served["url"], timeout=30)
    from tests.signin import csrf_field

    def attempt(password: str) -> httpx.Response:
        form = client.get("/login")
        return client.post(
            "/login", data={"csrf_token": csrf_field(form.text), "username": "lena", "password": password}
        )

    for i in range(4):
        bad = attempt(f"wrong password {i}")
        assert bad.status_code == 401 and "wrong user name or password" in bad.text
    fifth = attempt("wrong password 5")
    assert "locked for 15 minutes" in fifth.text
    # Locked: even the right password is refused.
    right = attempt(TEST_PASSWORD)
    assert right.status_code == 401 and "locked" in right.text
    from medtower import audit

    trail = audit.read(Settings(data_dir=served["data"]), object_type="user", object_id="lena")
    assert [r["action"] for r in trail] == ["login_failed"] * 4 + ["lockout", "lockout"]
    exe = str(Path(sys.executable).with_name("medtower"))
    reset = subprocess.run(
        [exe, "users", "reset", "lena", "--user", "admin"],
        env=served["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reset.returncode == 0, reset.stderr
    one_time = reset.stdout.split("one-time password for lena: ")[1].split()[0]
    signed = attempt(one_time)
    assert signed.status_code == 302 and signed.headers["location"] == "/password"
    # A one-time password opens only the password page until it is changed.
    assert client.get("/").headers["location"] == "/password"
    form = client.get("/password")
    weak = client.post(
        "/password",
        data={"csrf_token": csrf_field(form.text), "old": one_time, "new": "short", "again": "short"},
    )
    assert weak.status_code == 400 and "at least 12 characters" in weak.text
    new = "a long phrase she picked"
    changed = client.post(
        "/password", data={"csrf_token": csrf_field(form.text), "old": one_time, "new": new, "again": new}
    )
    assert changed.status_code == 302, changed.text[-400:]
    assert client.get("/").status_code == 200


@pytest.mark.browser
def test_in_chromium_a_viewer_sees_and_reaches_only_their_pages(served: dict) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    url = served["url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        errors: list[str] = []
        # Without a session: the sign-in page, whatever was asked for.
        anon = browser.new_page()
        anon.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        anon.goto(url + "/alerts")
        assert "/login?next=/alerts" in anon.url and anon.is_visible("#login-submit")

        viewer = signed_in_page(browser, url, "viewer")
        viewer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        viewer.wait_for_selector(".nav-link")
        nav = viewer.locator(".nav-link").all_inner_texts()
        assert "Overview" in nav and "Alerts" not in nav and "Data health" not in nav
        assert viewer.inner_text("#session-user") == "viewer"
        assert errors == [], errors  # the CSP blocks nothing Dash, Plotly or AG Grid need
        viewer.goto(url + "/data-health")
        assert "may not view Data health" in viewer.inner_text("#refusal")
        assert [e for e in errors if "status of 403" not in e] == [], errors
        errors.clear()

        # A planner sees the alert buttons of their role: acknowledge and resolve, no wider scope.
        planner = signed_in_page(browser, url, "management")
        planner.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        planner.goto(url + "/alerts")
        planner.wait_for_selector("#alerts-actor")
        assert planner.inner_text("#alerts-actor") == "management"
        assert planner.is_visible("#alerts-ack") and not planner.is_visible("#alerts-resolve")
        # Sign out ends the session: back to the sign-in page, and / asks again.
        planner.click("#sign-out")
        planner.wait_for_selector("#login-submit")
        planner.goto(url + "/")
        assert "/login" in planner.url
        browser.close()
    assert errors == [], errors
