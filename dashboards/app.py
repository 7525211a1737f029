"""The app factory: pages, navigation, global filters synced to the URL, the "data as of" stamp."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dash
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, callback, clientside_callback, dcc, html

from dashboards.filters import DEFAULT_PERIOD, FILTER_RULES, PERIOD_CHOICES
from dashboards.warehouse_reader import WarehouseReader
from medtower.settings import Settings

if TYPE_CHECKING:
    from medtower.pg import PostgresReader

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def nav_pages(registry: Any = None) -> list[tuple[str, str]]:
    """(path, name) of the pages in the navigation: every page with a fixed path, by its ``order``.

    Why from the registry: a page added to dashboards/pages/ shows up in the navigation by registering
    itself; drill-downs (path templates such as /lot/<lot_id>) are reached from tables and tiles instead.
    """
    pages = [p for p in (registry or dash.page_registry).values() if not p.get("path_template")]
    pages.sort(key=lambda p: (p.get("order") is None, p.get("order") or 0, p["module"]))
    return [(p["path"], p["name"]) for p in pages]


def create_app(settings: Settings) -> Dash:
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="MedTower control tower",
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # None: keep the page title while updating
    )
    app.server.config["MEDTOWER_SETTINGS"] = settings
    app.server.config["MEDTOWER_READER"] = make_reader(settings)
    app.layout = _shell
    from dashboards import auth

    auth.install(app, settings)  # sign-in and the guard on every request and callback
    return app


def make_reader(settings: Settings) -> WarehouseReader | PostgresReader:
    """The published DuckDB file's reader, or the PostgreSQL warehouse's (MEDTOWER_DBT_TARGET=postgres)."""
    if settings.on_postgres:
        from medtower.pg import PostgresReader

        return PostgresReader(settings)
    return WarehouseReader(settings.warehouse_path, cache_bytes=settings.query_cache_mb << 20)


def _reader() -> Any:  # either reader: both give cursors that take DuckDB SQL
    from flask import current_app

    return current_app.config["MEDTOWER_READER"]


def _defaults() -> tuple[list[dict[str, str]], dt.date | None]:
    """Site options and the warehouse's as-of date; empty when there is no warehouse yet."""
    from dashboards.data import shell

    try:
        with _reader().connect() as con:
            sites = shell.sites(con)
            as_of = shell.data_as_of(con)
    except Exception as exc:
        log.info("shell without warehouse data: %s", exc)
        return [], None
    from dashboards import auth
    from medtower.roles import site_allowed

    user = auth.signed_in()
    granted = user.sites if user else []
    options = [
        {"label": f"{r.site_id} · {r.name}", "value": r.site_id}
        for r in sites.itertuples()
        if site_allowed(granted, r.site_id)
    ]
    return options, as_of


def _shell() -> html.Div:
    from dashboards import auth
    from medtower.roles import view

    site_options, as_of = _defaults()
    nav = [
        dcc.Link(label, href=path, id={"type": "nav", "path": path}, className="nav-link")
        for path, label in nav_pages()
        if auth.can(view(path))  # only the pages the role may view (the server refuses the others)
    ]
    return html.Div(
        className="app",
        children=[
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="filters"),
            dcc.Store(id="filter-rules", data=FILTER_RULES),
            dcc.Store(id="data-as-of", data=as_of.isoformat() if as_of else None),
            html.Header(
                className="topbar",
                children=[
                    html.Div(
                        className="brand",
                        children=[
                            html.Span("MedTower", className="brand-name"),
                            html.Span("supply-chain control tower", className="brand-sub"),
                        ],
                    ),
                    html.Div(
                        className="filters",
                        children=[
                            html.Label(
                                [
                                    "Site",
                                    dcc.Dropdown(
                                        id="f-site",
                                        options=site_options,
                                        placeholder="All sites",
                                        clearable=True,
                                        className="filter-site",
                                    ),
                                ]
                            ),
                            html.Label(
                                [
                                    "As of",
                                    dcc.DatePickerSingle(
                                        id="f-asof",
                                        date=as_of.isoformat() if as_of else dt.date.today().isoformat(),
                                        display_format="YYYY-MM-DD",
                                        # Nothing is known after the build date: not offered (a URL
                                        # with a later date gets the page's notice instead).
                                        max_date_allowed=as_of.isoformat() if as_of else None,
                                        className="filter-date",
                                    ),
                                ]
                            ),
                            html.Label(
                                [
                                    "Period",
                                    dcc.Dropdown(
                                        id="f-period",
                                        options=[{"label": f"{d} days", "value": d} for d in PERIOD_CHOICES],
                                        value=DEFAULT_PERIOD,
                                        clearable=False,
                                        className="filter-period",
                                    ),
                                ]
                            ),
                        ],
                    ),
                    html.Div(id="stamp", className="stamp"),
                    _session_box(),
                ],
            ),
            html.Nav(className="nav", children=nav),
            html.Main(className="content", children=[dash.page_container]),
        ],
    )


def _session_box() -> html.Div:
    """Who is signed in, with which role, and the sign-out button (a POST with the CSRF token)."""
    from flask_wtf.csrf import generate_csrf

    from dashboards import auth

    user = auth.signed_in()
    if user is None:
        return html.Div(className="session")
    return html.Div(
        className="session",
        children=[
            html.Span(user.name, id="session-user", className="session-user"),
            html.Span(f" ({user.role})", className="session-role"),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf_token", value=generate_csrf(), id="sign-out-csrf"),
                    html.Button("Sign out", type="submit", id="sign-out", className="btn-small"),
                ],
                method="POST",
                action="/logout",
                style={"display": "inline", "marginLeft": "0.6em"},
            ),
        ],
    )


# The URL's query string and the filter controls mirror each other in the browser (assets/filters.js):
# a filter change reaches the pages' callbacks, which read the "filters" store, in one round trip.
clientside_callback(
    ClientsideFunction(namespace="medtower", function_name="syncFilters"),
    Output("url", "search"),
    Output("f-site", "value"),
    Output("f-asof", "date"),
    Output("f-period", "value"),
    Output("filters", "data"),
    Input("url", "search"),
    Input("f-site", "value"),
    Input("f-asof", "date"),
    Input("f-period", "value"),
    State("filter-rules", "data"),
    State("data-as-of", "data"),
    State("filters", "data"),
    State("f-site", "options"),
)


clientside_callback(
    ClientsideFunction(namespace="medtower", function_name="navLinks"),
    Output({"type": "nav", "path": ALL}, "href"),
    Output({"type": "nav", "path": ALL}, "className"),
    Input("filters", "data"),
    Input("url", "pathname"),
    State({"type": "nav", "path": ALL}, "id"),
    State("filter-rules", "data"),
)


@callback(Output("stamp", "children"), Input("filters", "data"))
def stamp(filters: dict[str, Any] | None) -> Any:
    from dashboards.data import shell

    reader = _reader()
    published = reader.published_at()
    if published is None:
        return html.Span("no warehouse yet: run `medtower run DIR`", className="stamp-missing")
    try:
        with reader.connect() as con:
            as_of = shell.data_as_of(con)
    except Exception:
        as_of = None
    return [
        html.Span("Data as of ", className="stamp-label"),
        html.Strong(as_of.isoformat() if as_of else "unknown", id="data-as-of-date"),
        html.Span(f" · published {published:%Y-%m-%d %H:%M} UTC", className="stamp-published"),
    ]
