"""Sessions on the app itself (Flask's test client, the real app and users store): idle timeout, absolute
lifetime, a disabled, reset or locked user's session ending at once, Secure cookies with TLS, the single
sign-on header off by default and trusted only for an active user when on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from medtower import users
from medtower.settings import Settings
from tests.signin import add_user, signed_in_client


def _app(data: Path, **settings: Any) -> Any:
    from dashboards.app import create_app

    add_user(data)
    return create_app(Settings(data_dir=data, **settings))


def _is_signed_in(client: Any) -> bool:
    return client.get("/_dash-layout").status_code == 200


def test_idle_timeout_and_absolute_lifetime_end_the_session(tmp_path: Path) -> None:
    idle = signed_in_client(_app(tmp_path / "a", idle_minutes=1.5 / 60))  # 1.5 seconds idle
    assert _is_signed_in(idle)
    time.sleep(0.5)
    assert _is_signed_in(idle)  # used within the idle time: still on
    time.sleep(2.0)
    assert not _is_signed_in(idle)
    assert idle.get("/").headers["location"].startswith("/login")

    lifetime = signed_in_client(_app(tmp_path / "b", session_hours=2 / 3600))  # 2 seconds at most
    for _ in range(3):
        assert _is_signed_in(lifetime)
        time.sleep(0.4)
    time.sleep(1.5)
    assert not _is_signed_in(lifetime)  # used all along, but past its lifetime


def test_disable_or_reset_ends_a_signed_in_session(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = _app(data)
    settings = Settings(data_dir=data)
    client = signed_in_client(app)
    assert _is_signed_in(client)
    users.set_disabled(settings, "tester")
    assert not _is_signed_in(client)
    users.set_disabled(settings, "tester", False)
    client = signed_in_client(app)
    users.reset(settings, "tester")
    assert not _is_signed_in(client)


def test_five_wrong_signature_passwords_end_the_signed_in_session(tmp_path: Path) -> None:
    """Someone at an unattended, signed-in screen guessing the signature password locks the account, and
    the lock ends that session too (not only the next sign-in)."""
    from medtower import signatures

    data = tmp_path / "data"
    app = _app(data)
    settings = Settings(data_dir=data)
    client = signed_in_client(app)
    for i in range(5):
        with pytest.raises(signatures.SignatureError):
            signatures.sign(settings, "tester", f"a guess {i}", "approved", "doc", "D-1", {"what": "x"})
        if i < 4:
            assert _is_signed_in(client), f"still signed in after {i + 1} wrong password(s)"
    assert users.get(settings, "tester").locked()  # type: ignore[union-attr]
    assert not _is_signed_in(client)


def test_cookies_are_secure_with_tls(tmp_path: Path) -> None:
    app = _app(tmp_path / "data", tls=True)
    client = app.server.test_client()
    from tests.signin import TEST_PASSWORD, TEST_USER, csrf_field

    form = client.get("/login", base_url="https://medtower.example")
    resp = client.post(
        "/login",
        base_url="https://medtower.example",
        headers={"Referer": "https://medtower.example/login"},
        data={
            "csrf_token": csrf_field(form.get_data(as_text=True)),
            "username": TEST_USER,
            "password": TEST_PASSWORD,
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[-300:]
    (cookie,) = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("medtower_session=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/", base_url="https://medtower.example")
    assert "max-age=" in page.headers["Strict-Transport-Security"]


def test_single_sign_on_header_is_off_by_default_and_needs_an_active_user(tmp_path: Path) -> None:
    plain = _app(tmp_path / "a").server.test_client()
    assert plain.get("/_dash-layout", headers={"X-Remote-User": "tester"}).status_code == 401

    sso = _app(tmp_path / "b", sso_header="X-Remote-User").server.test_client()
    assert sso.get("/_dash-layout", headers={"X-Remote-User": "nobody"}).status_code == 401
    assert sso.get("/_dash-layout", headers={"X-Remote-User": "tester"}).status_code == 200
    users.set_disabled(Settings(data_dir=tmp_path / "b"), "tester")
    fresh = _app(tmp_path / "b", sso_header="X-Remote-User").server.test_client()
    assert fresh.get("/_dash-layout", headers={"X-Remote-User": "tester"}).status_code == 401


def test_every_page_and_callback_of_the_app_is_in_the_roles_registry(tmp_path: Path) -> None:
    """A new page or callback must be given to roles (medtower/roles.py); unlisted ones are refused."""
    import dash

    from medtower import roles

    client = signed_in_client(_app(tmp_path / "data"))
    deps = client.get("/_dash-dependencies").get_json()
    assert len(deps) > 20
    unlisted = []
    for dep in deps:
        for out in dep["output"].strip(".").split("..."):
            ident = out.rsplit(".", 1)[0].split("@")[0]
            key = ident if not ident.startswith("{") else json.loads(ident)["type"]
            if roles.output_page(key) is None:
                unlisted.append(out)
    assert unlisted == []
    registered = {p.get("path_template") or p["path"] for p in dash.page_registry.values()}
    assert registered == set(roles.PAGES)
