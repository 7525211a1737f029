"""Run the MedTower control tower: `python app.py` (host/port from MEDTOWER_HOST / MEDTOWER_PORT)."""

from __future__ import annotations

import logging
import sys

from dashboards.server import serve
from medtower.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"app.py: {exc}")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(settings, host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
