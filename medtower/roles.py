"""Who may see and do what: the one registry of roles, pages, actions and the page x action matrix.

Everything that refuses or allows reads this module: the web server's guard (every request and every Dash
callback, by the callback's output ids), the pages (which buttons they show), and the CLI's writing
commands (``--user NAME``). A page or callback not listed here is refused (fail closed), and a test checks
that every page and callback the app registers is listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

ROLES = ("admin", "management", "planner", "qa", "viewer")

# Every page of the app by its Dash path (or path template), with its name as the navigation shows it.
PAGES: Mapping[str, str] = {
    "/": "Overview",
    "/inventory": "Inventory",
    "/wip": "WIP",
    "/lots": "Lots",
    "/quality": "Quality",
    "/delivery": "Delivery",
    "/suppliers": "Suppliers",
    "/traceability": "Traceability",
    "/kpi-review": "KPI review",
    "/alerts": "Alerts",
    "/data-health": "Data health",
    "/audit": "Audit trail",
    "/lot/<lot_id>": "Lot",
    "/material/<material_id>": "Material",
    "/supplier/<supplier_id>": "Supplier",
    "/customer/<customer_id>": "Customer",
    "/work-order/<wo_id>": "Work order",
}

# What a person can do beyond viewing a page.
ACTIONS: Mapping[str, str] = {
    "alert.acknowledge": "acknowledge an alert",
    "alert.assign": "assign an alert to a person or a role",
    "alert.comment": "comment on an alert",
    "alert.resolve": "resolve an alert",
    "quality.hold_scope": "record (sign) a quality alert's hold scope decision",
    "quality.widen_scope": "widen a quality hold scope beyond the proposed one",
    "export": "export (CSV, XLSX, the review pack)",
    "pii.unmasked": "see unmasked personal data",
    "users.manage": "add, disable and reset users, change roles",
    "rules.manage": "change alert rules and thresholds",
}


def describe(action: str) -> str:
    """An action in words: 'view Data health', 'resolve an alert'."""
    if action.startswith("view:"):
        return f"view {PAGES.get(action[5:], action[5:])}"
    return ACTIONS.get(action, action)


def view(path: str) -> str:
    """The action of viewing a page, e.g. ``view:/quality``."""
    return f"view:{path}"


ALL_VIEWS = frozenset(view(p) for p in PAGES)
_OPERATIONS = frozenset(ALL_VIEWS - {view("/data-health"), view("/audit")})
_ALERT_WORK = frozenset({"alert.acknowledge", "alert.assign", "alert.comment"})

# The matrix. Data health shows quarantined rows as delivered (patient references, customer contacts) and
# the audit trail who did what: only admin and QA see them; a viewer reads the operational pages and the
# alerts nowhere.
GRANTS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(ALL_VIEWS | set(ACTIONS)),
    "qa": frozenset(
        ALL_VIEWS
        | _ALERT_WORK
        | {"alert.resolve", "quality.hold_scope", "quality.widen_scope", "export", "pii.unmasked"}
    ),
    "planner": frozenset(_OPERATIONS | _ALERT_WORK | {"alert.resolve", "export"}),
    "management": frozenset(_OPERATIONS | _ALERT_WORK | {"export"}),
    "viewer": frozenset(_OPERATIONS - {view("/alerts")}),
}


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action`` (``view:<path>`` or one of ACTIONS); unknown: no."""
    return bool(role) and action in GRANTS.get(str(role), frozenset())


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def site_allowed(sites: Iterable[str] | None, site: str | None) -> bool:
    """Per-site access: a user with no grant list sees every site; with one, only those (never 'all')."""
    granted = list(sites or [])
    if not granted:
        return True
    return site is not None and site in granted


# --- Dash callbacks ------------------------------------------------------------------------------
# Every callback the app registers, by the id of its outputs (a string id, or a pattern-matching id's
# "type"), to the page whose view it needs. "*" is the shell around every page: any signed-in user.
SHELL = "*"
CALLBACK_OUTPUTS: Mapping[str, str] = {
    "_pages_content": SHELL,  # Dash pages: checked by the pathname it renders (view:<that page>)
    "_pages_store": SHELL,
    "_pages_dummy": SHELL,
    "url": SHELL,
    "f-site": SHELL,
    "f-asof": SHELL,
    "f-period": SHELL,
    "filters": SHELL,
    "stamp": SHELL,
    "nav": SHELL,
    "grid": SHELL,  # the grids' CSV download: the "export" action, below
    "table-file": SHELL,  # a plain table's CSV download (components.plain_table): "export" too
    "overview-body": "/",
    "inventory-body": "/inventory",
    "wip-body": "/wip",
    "lots-body": "/lots",
    "quality-body": "/quality",
    "delivery-body": "/delivery",
    "suppliers-body": "/suppliers",
    "trace-body": "/traceability",
    "trace-download": "/traceability",
    "trace-sign-result": "/traceability",  # the signed export's answer (its file goes to trace-download)
    "trace-sign-password": "/traceability",
    "review-body": "/kpi-review",
    "review-download": "/kpi-review",
    "review-print": "/kpi-review",
    "health-body": "/data-health",
    "audit-body": "/audit",
    "lot-body": "/lot/<lot_id>",
    "material-body": "/material/<material_id>",
    "supplier-body": "/supplier/<supplier_id>",
    "customer-body": "/customer/<customer_id>",
    "work-order-body": "/work-order/<wo_id>",
}
ALERTS_PREFIX = "alerts-"  # every alerts-* output belongs to the Alerts page

# Outputs whose callback is itself an action (beyond viewing its page).
OUTPUT_ACTIONS: Mapping[str, str] = {
    "grid.exportDataAsCsv": "export",
    "table-file.data": "export",
    "trace-download.data": "export",
    "review-download.data": "export",
    "review-print.title": "export",
}
# The alert workbench's one "act" callback: the action is the button that fired it.
TRIGGER_ACTIONS: Mapping[str, str] = {
    "alerts-ack.n_clicks": "alert.acknowledge",
    "alerts-resolve.n_clicks": "alert.resolve",
    "alerts-assign.n_clicks": "alert.assign",
    "alerts-add-comment.n_clicks": "alert.comment",
    # A hold scope decision (signed); widening is checked against the signer's role as well.
    "alerts-scope-record.n_clicks": "quality.hold_scope",
}


def output_page(output_id: str) -> str | None:
    """The page (path) or SHELL a callback output belongs to; None: unknown (refused)."""
    if output_id.endswith("-body-held"):  # dashboards/in_place.py: the body's "held" store
        output_id = output_id.removesuffix("-held")
    if output_id in CALLBACK_OUTPUTS:
        return CALLBACK_OUTPUTS[output_id]
    if output_id.startswith(ALERTS_PREFIX):
        return "/alerts"
    return None


def page_for_path(pathname: str | None) -> str | None:
    """The registered page (path or template) a URL path shows; None for no page (Dash's 404)."""
    path = (pathname or "/").split("?", 1)[0].rstrip("/") or "/"
    if path in PAGES:
        return path
    for template in PAGES:
        if "<" not in template:
            continue
        head = template.split("<", 1)[0]
        rest = path[len(head) :]
        if path.startswith(head) and rest and "/" not in rest:
            return template
    return None
