"""Sign-in and the server's guard: every request and every Dash callback is checked on the server.

Flask-Login keeps who is signed in (Dash runs on Flask); passwords are checked by medtower/users.py
(argon2id). The guard runs before anything else on each request: it sends a visitor without a session to
/login, ends a session past its absolute lifetime or idle timeout, refuses a page the role may not view,
and refuses a Dash callback (``POST /_dash-update-component``, also a hand-made one) whose outputs belong
to a page the role may not view or whose outputs or trigger are an action the role may not take
(medtower/roles.py). Flask-WTF's CSRFProtect checks every state-changing request: forms carry the token,
Dash's renderer sends it from the ``_csrf_token`` cookie in the ``X-CSRFToken`` header. Responses carry
the security headers; errors show no stack trace or server path.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dash import Dash
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import HTTPException

from dashboards.capture import bp as capture_bp
from medtower import roles, users
from medtower.settings import Settings

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
CSRF_COOKIE = "_csrf_token"  # the cookie Dash's renderer reads into its X-CSRFToken header
# Paths served without a session: the sign-in page itself, the favicon, and /capture (its own bearer token).
OPEN_PATHS = ("/login", "/_favicon.ico", "/favicon.ico")
OPEN_PREFIXES = ("/capture",)
DASH_CALLBACK = "/_dash-update-component"


def audit(
    settings: Settings, actor: str, action: str, name: str, new: Any = None, reason: str | None = None
) -> None:
    """A sign-in event in the audit trail (medtower/audit.py): the object is the user account."""
    from medtower import audit as trail

    trail.record(settings, actor or "-", action, "user", name or "-", None, new, reason, source="web")


def actor() -> str:
    """The name an action of this request is recorded under: the signed-in user's (never a typed one)."""
    from medtower import audit as trail

    user = signed_in()
    return user.name if user else trail.ANONYMOUS


class SessionUser(UserMixin):  # type: ignore[misc]
    """The signed-in person as Flask-Login holds them: name, role, site grants."""

    def __init__(self, user: users.User) -> None:
        self.user = user
        self.id = user.name
        self.name = user.name
        self.role = user.role
        self.sites = list(user.sites)
        self.must_change = user.must_change

    def can(self, action: str) -> bool:
        return roles.allowed(self.role, action)


def signed_in() -> SessionUser | None:
    """The signed-in user of this request, or None (outside a request too)."""
    try:
        user = current_user._get_current_object()
    except Exception:
        return None
    return user if isinstance(user, SessionUser) and user.is_authenticated else None


def can(action: str) -> bool:
    """Whether the signed-in user may ``action``; callbacks check this too, beside the guard."""
    user = signed_in()
    return user is not None and user.can(action)


def lacks(action: str) -> bool:
    """A signed-in user whose role may not ``action`` (to hide its button); False outside a request."""
    user = signed_in()
    return user is not None and not user.can(action)


def _settings() -> Settings:
    return current_app.config["MEDTOWER_SETTINGS"]


def secret_key(settings: Settings) -> str:
    """MEDTOWER_SECRET_KEY, or a random key kept (mode 0600) in the data folder across restarts."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path: Path = settings.data_dir / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


# The Content-Security-Policy. Scripts only from this server plus Dash's inline scripts by hash (the
# renderer's start and the inline clientside callbacks: Dash.csp_hashes()); no 'unsafe-eval'. Styles
# need 'unsafe-inline': React sets style attributes and Plotly adds <style> elements at run time. Images
# and fonts also from data: (Plotly's and AG Grid's icons), blob: for Plotly's PNG download.
def csp(script_hashes: list[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(script_hashes),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install(app: Dash, settings: Settings) -> None:
    """Sign-in, the guard, CSRF, headers and error pages on the Dash app's Flask server."""
    server: Flask = app.server
    server.secret_key = secret_key(settings)
    server.config.update(
        SESSION_COOKIE_NAME="medtower_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.tls,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.tls,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        WTF_CSRF_TIME_LIMIT=int(settings.session_hours * 3600),
        WTF_CSRF_SSL_STRICT=settings.tls,
        PROPAGATE_EXCEPTIONS=False,
    )
    server.config["MEDTOWER_DASH"] = app
    manager = LoginManager()
    manager.init_app(server)
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.unauthorized_handler(_unauthorized)
    server.register_blueprint(bp)
    # The guard runs first (before Dash's own hooks and before CSRF): Flask runs before_request
    # functions in the order they were added, so it goes to the front of the list.
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
    csrf = CSRFProtect()
    csrf.init_app(server)
    csrf.exempt(capture_bp)  # machine-to-machine, with its own bearer token (dashboards/capture.py)
    server.after_request(_headers)
    server.register_error_handler(CSRFError, _csrf_error)
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(Exception, _server_error)


def _load_user(name: str) -> SessionUser | None:
    user = users.get(_settings(), name)
    # Disabled, or locked (e.g. by wrong signature passwords in this very session): the session ends.
    if user is None or user.disabled or user.locked():
        return None
    # A password reset or change ends the sessions signed in before it.
    if session.get("pwv") != user.password_changed_at:
        return None
    return SessionUser(user)


def _unauthorized() -> Any:
    return _refuse(401, "sign in first")


def _wants_json() -> bool:
    return request.path.startswith("/_dash") or request.method != "GET"


def _refuse(status: int, message: str) -> Any:
    if status == 401 and not _wants_json():
        nxt = request.full_path.rstrip("?") if request.path != "/" else "/"
        return redirect(url_for("auth.login", next=nxt))
    if _wants_json():
        return jsonify({"error": message, "status": status}), status
    return render_template_string(_MESSAGE, title="Not allowed", message=message), status


def _end_session() -> None:
    logout_user()
    session.clear()


def _sso_user(settings: Settings) -> SessionUser | None:
    """The proxy's header names an active user: signed in as them (no password: the proxy checked)."""
    if not settings.sso_header:
        return None
    name = request.headers.get(settings.sso_header, "").strip()
    if not name:
        return None
    user = users.get(settings, name)
    # Disabled, or locked (wrong signature passwords): the proxy's word does not sign them in either.
    if user is None or user.disabled or user.locked():
        return None
    return SessionUser(user)


def _guard() -> Any:
    settings = _settings()
    path = request.path
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if settings.sso_header and signed_in() is None:
        sso = _sso_user(settings)
        if sso is not None:
            _start_session(sso.user)
            login_user(sso)
            g._login_user = sso
    user = signed_in()
    if user is None:
        return _refuse(401, "sign in first")
    now = time.time()
    started = float(session.get("started", 0))
    seen = float(session.get("seen", 0))
    if now - started > settings.session_hours * 3600 or now - seen > settings.idle_minutes * 60:
        _end_session()
        return _refuse(401, "the session ended: sign in again")
    session["seen"] = now
    if path == "/logout" or path.startswith("/assets/") or path.startswith("/_dash-component-suites/"):
        return None
    if user.must_change and path != "/password":
        if _wants_json():
            return _refuse(403, "change your one-time password first (/password)")
        return redirect(url_for("auth.password"))
    if path in ("/password",) or (path.startswith("/_dash-") and path != DASH_CALLBACK):
        return None
    if path == DASH_CALLBACK:
        return _check_callback(user)
    if request.method == "GET":
        page = roles.page_for_path(path)
        if page is not None and not user.can(roles.view(page)):
            return _refuse(403, f"your role ({user.role}) may not view {roles.PAGES[page]}")
    return None


def _id_key(ident: Any) -> str:
    if isinstance(ident, dict):
        return str(ident.get("type", ""))
    return str(ident)


def _flat(items: Any) -> list[dict[str, Any]]:
    """Dash's inputs/outputs/state: dicts, or lists of them for pattern-matching ALL/MATCH."""
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, list):
            out.extend(_flat(item))
        elif isinstance(item, dict):
            out.append(item)
    return out


def callback_actions(body: Any) -> tuple[list[str], list[Any]] | None:
    """The actions a Dash callback request needs and the site filters it carries; None if malformed."""
    if not isinstance(body, dict):
        return None
    outputs = _flat(body.get("outputs"))
    if not outputs:
        return None
    needed: list[str] = []
    for out in outputs:
        key = _id_key(out.get("id"))
        page = roles.output_page(key)
        if page is None:
            needed.append(f"callback:{key}")  # unknown: nobody holds it
            continue
        if page != roles.SHELL:
            needed.append(roles.view(page))
        extra = roles.OUTPUT_ACTIONS.get(f"{key}.{out.get('property')}")
        if extra:
            needed.append(extra)
    inputs = _flat(body.get("inputs")) + _flat(body.get("state"))
    for item in inputs:
        if item.get("id") == "_pages_location" and item.get("property") == "pathname":
            page = roles.page_for_path(str(item.get("value") or "/"))
            if page is not None:
                needed.append(roles.view(page))
    for changed in body.get("changedPropIds") or []:
        action = roles.TRIGGER_ACTIONS.get(str(changed))
        if action:
            needed.append(action)
    sites: list[Any] = []
    for item in inputs:
        if item.get("id") == "filters" and isinstance(item.get("value"), dict):
            sites.append(item["value"].get("site"))
        if item.get("id") == "alerts-version" and isinstance(item.get("value"), dict):
            sites.append(item["value"].get("site"))  # the alerts page's view carries its site too
        if item.get("id") == "f-site" and item.get("property") == "value":
            sites.append(item.get("value"))
    return needed, sites


# Callbacks whose answer spans sites whatever the site filter says: refused to a user granted some sites.
# A trace is a recall scope: it follows lots, shipments and customers to every site they reached, so a
# trace cut to the user's sites would be a wrong recall scope and a whole one shows other sites' lots
# (its tables have no site column to keep rows by, its genealogy graph names every lot). A page body is
# answered with a notice in its place, anything else (the export) with 403.
ALL_SITE_OUTPUTS: dict[str, str] = {
    "trace-body": "a trace follows lots across every site they reached (a recall scope)",
    "trace-download": "a trace export is a recall scope across every site its lots reached",
}


def _check_callback(user: SessionUser) -> Any:
    body = request.get_json(silent=True)
    found = callback_actions(body)
    if found is None:
        return _refuse(400, "not a Dash callback request")
    needed, sites = found
    if user.sites:
        outputs = _flat(body.get("outputs")) if isinstance(body, dict) else []
        for out in outputs:
            key = _id_key(out.get("id"))
            if key in ALL_SITE_OUTPUTS:
                message = (
                    f"You see {', '.join(user.sites)} only, and {ALL_SITE_OUTPUTS[key]}: ask a user with "
                    "access to every site for it. The lot pages of your sites show each lot's "
                    "genealogy one step each way."
                )
                log.warning("refused %s to %s (sites %s)", key, user.name, user.sites)
                if len(outputs) == 1 and out.get("property") == "children":
                    return _notice_answer(key, message)
                return _refuse(403, message)
    for action in needed:
        if not user.can(action):
            log.warning("refused %s to %s (%s)", action, user.name, user.role)
            return _refuse(403, f"your role ({user.role}) may not {roles.describe(action)}")
    for site in sites:
        if site and not roles.site_allowed(user.sites, str(site)):
            return _refuse(403, f"you have no access to site {site}")
    # Only a server callback the app registered: a clientside one's outputs, or an output string no
    # callback has, made Dash raise KeyError (a 500) on a hand-made request.
    known = current_app.config["MEDTOWER_DASH"].callback_map
    target = body.get("output") if isinstance(body, dict) else None
    if known and (not isinstance(target, str) or "callback" not in known.get(target, {})):
        return _refuse(400, "not a server callback of this app")
    return None


def _notice_answer(output_id: str, message: str) -> Response:
    """A Dash callback answer that puts a notice in ``output_id``'s children (instead of running it)."""
    from dash import html
    from dash._utils import to_json

    notice = html.Div(className="notice filter-problem", id="site-refused", children=message)
    answer = {"multi": True, "response": {output_id: {"children": notice}}}
    return Response(to_json(answer), mimetype="application/json")


def _headers(resp: Response) -> Response:
    app: Dash = current_app.config["MEDTOWER_DASH"]
    # Not cached: Dash collects inline scripts (pages' clientside callbacks) up to its first request.
    resp.headers["Content-Security-Policy"] = csp(list(dict.fromkeys(app.csp_hashes())))
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if _settings().tls:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
    static = request.path.startswith(("/assets/", "/_dash-component-suites/"))
    if not static:
        resp.headers["Cache-Control"] = "no-store"
    if signed_in() is not None and not static:
        resp.set_cookie(
            CSRF_COOKIE, generate_csrf(), secure=_settings().tls, httponly=False, samesite="Strict", path="/"
        )
    return resp


def _csrf_error(exc: CSRFError) -> Any:
    return _refuse(400, f"the request was refused ({exc.description}): reload the page and try again")


def _http_error(exc: HTTPException) -> Any:
    return _refuse(int(exc.code or 500), str(exc.name))


def _server_error(exc: Exception) -> Any:
    ref = secrets.token_hex(4)
    log.exception("server error %s on %s %s", ref, request.method, request.path)
    return _refuse(500, f"something went wrong on the server (reference {ref}); the log has the details")


# --- pages --------------------------------------------------------------------------------------------

_LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MedTower · {{ title }}</title>
<style>body{font-family:system-ui,sans-serif;background:#f4f6f9;color:#1d2733}
main{max-width:24em;margin:8vh auto;background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002}
label{display:block;margin:.8em 0 .2em}input{width:100%;padding:.5em;box-sizing:border-box}
button{margin-top:1.2em;padding:.6em 1.4em;background:#0b5cad;color:#fff;border:0;border-radius:4px}
.error{color:#a4161a}.note{color:#555;font-size:.9em}</style></head><body><main>
<h1>MedTower</h1>{% block body %}{% endblock %}</main></body></html>"""

_MESSAGE = _LAYOUT.replace(
    "{% block body %}{% endblock %}",
    '<h2>{{ title }}</h2><p class="error" id="refusal">{{ message }}</p><p><a href="/">Overview</a> · '
    '<a href="/login">Sign in as someone else</a></p>',
)

_LOGIN = _LAYOUT.replace(
    "{% block body %}{% endblock %}",
    """<h2>Sign in</h2>{% if error %}<p class="error" id="login-error">{{ error }}</p>{% endif %}
<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="next" value="{{ next }}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username"
 value="{{ username }}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit" id="login-submit">Sign in</button></form>
<p class="note">No account? An administrator adds you with <code>medtower users add</code>.</p>""",
)

_PASSWORD = _LAYOUT.replace(
    "{% block body %}{% endblock %}",
    """<h2>Change your password</h2>{% if must %}<p>Your password is a one-time password: pick your own
 to go on.</p>{% endif %}{% if error %}<p class="error" id="password-error">{{ error }}</p>{% endif %}
<form method="post" action="/password"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label for="old">Current password</label><input id="old" name="old" type="password"
 autocomplete="current-password" required>
<label for="new">New password (at least {{ min }} characters)</label><input id="new" name="new"
 type="password" autocomplete="new-password" required>
<label for="again">New password again</label><input id="again" name="again" type="password"
 autocomplete="new-password" required>
<button type="submit" id="password-submit">Change password</button></form>""",
)


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host, no //): an open redirect is refused."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _start_session(user: users.User) -> None:
    session.clear()
    session.permanent = True
    now = time.time()
    session["started"] = now
    session["seen"] = now
    session["pwv"] = user.password_changed_at


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    settings = _settings()
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template_string(_LOGIN, title="Sign in", error=None, next=nxt, username="")
    name = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    try:
        user = users.authenticate(settings, name, password)
    except users.UserError as exc:
        locked = "locked" in str(exc)
        audit(settings, name, "lockout" if locked else "login_failed", name, {"result": "refused"}, str(exc))
        return (
            render_template_string(_LOGIN, title="Sign in", error=str(exc), next=nxt, username=name),
            401,
        )
    _start_session(user)
    login_user(SessionUser(user))
    audit(settings, user.name, "login", user.name, {"result": "succeeded", "role": user.role})
    if user.must_change:
        return redirect(url_for("auth.password"))
    return redirect(nxt)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    user = signed_in()
    if user is not None:
        audit(_settings(), user.name, "logout", user.name)
    _end_session()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    settings = _settings()
    user = signed_in()
    assert user is not None  # the guard let only a signed-in user through
    page = {"title": "Password", "must": user.must_change, "min": settings.password_min_length}
    if request.method == "GET":
        return render_template_string(_PASSWORD, error=None, **page)
    new = request.form.get("new") or ""
    if new != (request.form.get("again") or ""):
        return render_template_string(_PASSWORD, error="the two new passwords differ", **page), 400
    try:
        fresh = users.set_password(settings, user.name, request.form.get("old") or "", new)
    except users.UserError as exc:
        return render_template_string(_PASSWORD, error=str(exc), **page), 400
    audit(settings, user.name, "password_change", user.name, {"must_change": False})
    _start_session(fresh)
    login_user(SessionUser(fresh))
    return redirect("/")
