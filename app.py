"""Run the MedTower control tower: `python app.py` (host/port from MEDTOWER_HOST / MEDTOWER_PORT)."""

from __future__ import annotations

import logging

from dashboards.server import serve
from medtower.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(settings, host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
