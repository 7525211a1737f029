"""Serve the control tower (used by `python app.py` and `medtower serve`).

Waitress, a production WSGI server (pure Python, no fork, runs the same on Linux and Windows), serves the
app; Dash's development server only with ``debug``. Sign-in, the guard, CSRF and the security headers are
on the app itself (dashboards/auth.py), so both servers enforce them.
"""

from __future__ import annotations

import logging

from dashboards.app import create_app
from dashboards.capture import register_capture
from medtower.settings import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    app = create_app(settings)
    register_capture(app.server)  # POST /capture: EPCIS 2.0 documents into the inbound folder
    log.info("MedTower control tower on http://%s:%s (warehouse %s)", host, port, settings.warehouse_path)
    if debug:
        app.run(host=host, port=port, debug=True, threaded=True, use_reloader=False)
        return
    from waitress import serve as waitress_serve  # type: ignore[import-untyped]

    # Threads: a slow page never blocks another; each request opens its own read-only cursor.
    waitress_serve(
        app.server,
        host=host,
        port=port,
        threads=settings.server_threads,
        max_request_body_size=settings.max_request_bytes,
        ident="medtower",
        # Past this, a client that sends nothing is dropped (slow-loris).
        channel_timeout=60,
    )
