"""Serve the control tower (used by `python app.py` and `medtower serve`)."""

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
    # Threaded: a slow page never blocks another; each request opens its own read-only cursor.
    app.run(host=host, port=port, debug=debug, threaded=True, use_reloader=False)
