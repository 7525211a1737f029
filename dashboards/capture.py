"""EPCIS 2.0 capture interface on the app's server: ``POST /capture`` of an EPCISDocument.

The endpoint checks the bearer token (``MEDTOWER_CAPTURE_TOKEN``, compared in constant time) and that the
body is an EPCIS 2.0 document (``medtower.epcis.parse_document``), then writes it unchanged and atomically
into the EPCIS inbound folder ``<MEDTOWER_DATA_DIR>/epcis-inbox``, the folder the ``epcis`` source pulls:
the next pull loads it (the dashboards never write the warehouse, and never import ``ingest``). As the
capture interface says, the answer is ``202 Accepted`` with the capture job's ``Location``
(``/capture/<id>``); errors are RFC 7807 problem details with the EPCIS exception types.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from medtower.epcis import MAX_DOCUMENT_BYTES, EpcisError, inbox_folder, parse_document
from medtower.settings import Settings

log = logging.getLogger(__name__)

bp = Blueprint("epcis_capture", __name__)


def register_capture(server: Flask) -> None:
    """Add ``/capture`` to the app's Flask server (dashboards/server.py)."""
    server.register_blueprint(bp)


def _problem(status: int, kind: str, title: str, detail: str, **headers: str) -> tuple[Response, int, Any]:
    body = {"type": f"epcisException:{kind}", "title": title, "status": status, "detail": detail}
    resp = jsonify(body)
    resp.mimetype = "application/problem+json"
    return resp, status, headers


def _refused() -> tuple[Response, int, Any] | None:
    """A problem answer when the request may not capture: capture off, or no / a wrong token."""
    settings: Settings = current_app.config["MEDTOWER_SETTINGS"]
    if settings.capture_token is None or not settings.capture_token.get_secret_value():
        return _problem(
            503,
            "ImplementationException",
            "Capture is off",
            "this server takes no EPCIS capture: set MEDTOWER_CAPTURE_TOKEN to turn it on",
        )
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    expected = settings.capture_token.get_secret_value().encode("utf-8")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8"), expected):
        return _problem(
            401,
            "SecurityException",
            "Not authorised",
            "send the capture token as `Authorization: Bearer <MEDTOWER_CAPTURE_TOKEN>`",
            **{"WWW-Authenticate": 'Bearer realm="epcis-capture"'},
        )
    return None


def _write_atomically(folder: Path, name: str, body: bytes) -> Path:
    """The document under its final name only once it is whole on disk: a pull never reads half of it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".capture-", suffix=".tmp", dir=folder)  # hidden: pulls skip it
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        final = folder / name
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


@bp.post("/capture")
def capture() -> Any:
    refused = _refused()
    if refused:
        return refused
    if (request.content_length or 0) > MAX_DOCUMENT_BYTES:
        return _problem(
            413,
            "CaptureLimitExceededException",
            "Document too large",
            f"a capture document may have at most {MAX_DOCUMENT_BYTES:,} bytes",
        )
    body = request.stream.read(MAX_DOCUMENT_BYTES + 1)
    try:
        parse_document(body)
    except EpcisError as exc:
        return _problem(400, "ValidationException", "Not an EPCIS 2.0 document", str(exc))
    settings: Settings = current_app.config["MEDTOWER_SETTINGS"]
    capture_id = uuid.uuid4().hex
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = _write_atomically(inbox_folder(settings.data_dir), f"{stamp}-{capture_id}.jsonld", body)
    log.info("EPCIS capture %s: %d bytes into %s", capture_id, len(body), path)
    resp = jsonify({"captureID": capture_id, "document": path.name})
    return resp, 202, {"Location": f"/capture/{capture_id}"}


@bp.get("/capture/<capture_id>")
def capture_job(capture_id: str) -> Any:
    """The capture job: waiting in the inbound folder for the next pull (whose result says what loaded)."""
    refused = _refused()
    if refused:
        return refused
    settings: Settings = current_app.config["MEDTOWER_SETTINGS"]
    folder = inbox_folder(settings.data_dir)
    found = sorted(folder.glob(f"*-{capture_id}.jsonld")) if capture_id.isalnum() else []
    if not found:
        return _problem(404, "NoSuchResourceException", "No such capture job", f"no capture {capture_id}")
    return jsonify(
        {
            "captureID": capture_id,
            "document": found[0].name,
            "running": False,  # the capture's own work (check, write) is done and succeeded
            "success": True,
            "errors": [],
            "medtower:state": "in the EPCIS inbound folder: the next pull of the epcis source loads it",
        }
    )
