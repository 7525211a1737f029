"""Signing in, for every test that talks to the app: a user in the test's own users store, then the real
sign-in form (Chromium, httpx against the served app, or Flask's test client), CSRF token and all.

One place, so a browser test says ``page = signed_in_page(browser, url)`` and never repeats the form.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TEST_USER = "tester"
TEST_PASSWORD = "correct horse battery staple"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(
    data_dir: Path,
    name: str = TEST_USER,
    role: str = "admin",
    sites: list[str] | None = None,
    password: str = TEST_PASSWORD,
) -> str:
    """A user with a chosen password (no change needed) in ``data_dir``'s users store; the name."""
    from medtower import users
    from medtower.settings import Settings

    settings = Settings(data_dir=data_dir)
    if users.get(settings, name) is None:
        users.add(settings, name, role, sites=sites, password=password, must_change=False)
    return name


def csrf_field(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found, "no CSRF token on the sign-in form"
    return found.group(1)


# --- Chromium -----------------------------------------------------------------------------------------


def sign_in(page: Any, url: str, name: str = TEST_USER, password: str = TEST_PASSWORD) -> None:
    """Through the sign-in form, as a person does; the page ends on the overview."""
    page.goto(url + "/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_selector(".app, #react-entry-point", timeout=30000)


def signed_in_page(
    browser: Any, url: str, name: str = TEST_USER, password: str = TEST_PASSWORD, **context: Any
) -> Any:
    """A new browser context (its own cookies) signed in as ``name``; its page."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    sign_in(page, url, name, password)
    return page


# --- raw HTTP -----------------------------------------------------------------------------------------


def http_client(url: str, name: str = TEST_USER, password: str = TEST_PASSWORD) -> Any:
    """An httpx client signed in against the served app; callback POSTs send X-CSRFToken themselves."""
    import httpx

    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    form = client.get("/login")
    resp = client.post(
        "/login",
        data={"csrf_token": csrf_field(form.text), "username": name, "password": password, "next": "/"},
    )
    assert resp.status_code == 302, f"sign-in as {name} failed: {resp.status_code} {resp.text[:300]}"
    client.get("/")  # sets the _csrf_token cookie Dash's renderer (and csrf_headers) read
    return client


def csrf_headers(client: Any) -> dict[str, str]:
    """The header Dash's renderer sends with each callback: the _csrf_token cookie's value."""
    token = client.cookies.get("_csrf_token")
    return {"X-CSRFToken": token} if token else {}


# --- Flask's test client ------------------------------------------------------------------------------


def signed_in_client(app: Any, name: str = TEST_USER, password: str = TEST_PASSWORD) -> Any:
    """Flask's test client of ``app`` (a Dash app) signed in as ``name``, with the CSRF header set."""
    client = app.server.test_client()
    form = client.get("/login")
    resp = client.post(
        "/login",
        data={"csrf_token": csrf_field(form.get_data(as_text=True)), "username": name, "password": password},
    )
    assert resp.status_code == 302, f"sign-in as {name} failed: {resp.status_code}"
    client.get("/")
    cookie = client.get_cookie("_csrf_token")
    client.environ_base["HTTP_X_CSRFTOKEN"] = cookie.value if cookie else ""
    return client
