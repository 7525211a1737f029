"""EPCIS 2.0 JSON / JSON-LD: what a valid document looks like, and the GS1 identifiers in its events.

In the bottom layer because three parts read the same documents: the epcis connector
(``ingest.sources.epcis``) maps them onto the contract, the capture endpoint (``dashboards.capture``)
refuses a document that is not EPCIS 2.0 before it reaches the inbound folder, and ``medtower trace
--epcis`` (``medtower.epcis_export``) writes one. The structure is checked with pydantic models of the
EPCIS 2.0 JSON binding (the standard's JSON Schema is not an open-source artefact we could ship);
vendor extensions (``prefix:name`` keys) are allowed everywhere, as the standard allows them. EPC URNs
are read with epcpy (GS1 Tag Data Standard), GS1 Digital Link URIs with biip.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from epcpy.utils.common import ConvertException
from epcpy.utils.parsers import epc_pure_identity_to_scheme, get_gs1_key
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

# A document larger than this is refused (the folder reader and the capture endpoint share it).
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "AssociationEvent",
    "TransactionEvent",
)
# the EPCIS inbound folder in the data dir: POST /capture writes into it, an epcis source pulls it
INBOX = "epcis-inbox"
# identifiers MedTower writes for things without a GS1 key (a lot of a material without GTIN, a site)
PRIVATE = "urn:medtower:"


def inbox_folder(data_dir: Path) -> Path:
    """Where captured documents wait for the next pull of the ``epcis`` source whose ``path`` is this."""
    return Path(data_dir) / INBOX


class EpcisError(ValueError):
    """Not a valid EPCIS 2.0 document: the message says where and why."""


# --- the document's structure (EPCIS 2.0 §9, JSON binding) -------------------------------------------

_Number = StrictInt | StrictFloat


class _Open(BaseModel):
    """Extensions (``example:myField``) may stand anywhere; only the standard's own fields are checked."""

    model_config = ConfigDict(extra="allow")


class QuantityElement(_Open):
    epcClass: str
    quantity: _Number | None = None
    uom: str | None = None


class _Ref(_Open):
    id: str


class _BizTransaction(_Open):
    type: str | None = None
    bizTransaction: str


class _Source(_Open):
    type: str
    source: str


class _Destination(_Open):
    type: str
    destination: str


class _ErrorDeclaration(_Open):
    declarationTime: AwareDatetime
    reason: str | None = None
    correctiveEventIDs: list[str] | None = None


class _Event(_Open):
    eventTime: AwareDatetime
    eventTimeZoneOffset: str = Field(pattern=r"^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$")
    eventID: str | None = None
    recordTime: AwareDatetime | None = None
    bizStep: str | None = None
    disposition: str | None = None
    readPoint: _Ref | None = None
    bizLocation: _Ref | None = None
    bizTransactionList: list[_BizTransaction] | None = None
    sourceList: list[_Source] | None = None
    destinationList: list[_Destination] | None = None
    errorDeclaration: _ErrorDeclaration | None = None
    sensorElementList: list[dict[str, Any]] | None = None


_Action = Literal["ADD", "OBSERVE", "DELETE"]


class ObjectEvent(_Event):
    type: Literal["ObjectEvent"]
    action: _Action
    epcList: list[str] = []
    quantityList: list[QuantityElement] = []
    ilmd: dict[str, Any] | None = None


class AggregationEvent(_Event):
    type: Literal["AggregationEvent"]
    action: _Action
    parentID: str | None = None
    childEPCs: list[str] = []
    childQuantityList: list[QuantityElement] = []


class TransformationEvent(_Event):
    type: Literal["TransformationEvent"]
    transformationID: str | None = None
    inputEPCList: list[str] = []
    inputQuantityList: list[QuantityElement] = []
    outputEPCList: list[str] = []
    outputQuantityList: list[QuantityElement] = []
    ilmd: dict[str, Any] | None = None


class AssociationEvent(_Event):
    type: Literal["AssociationEvent"]
    action: _Action
    parentID: str
    childEPCs: list[str] = []
    childQuantityList: list[QuantityElement] = []


class TransactionEvent(_Event):
    type: Literal["TransactionEvent"]
    action: _Action
    bizTransactionList: list[_BizTransaction]
    parentID: str | None = None
    epcList: list[str] = []
    quantityList: list[QuantityElement] = []


_AnyEvent = Annotated[
    ObjectEvent | AggregationEvent | TransformationEvent | AssociationEvent | TransactionEvent,
    Field(discriminator="type"),
]


class _Body(_Open):
    eventList: list[_AnyEvent]


class _Document(_Open):
    context: str | list[Any] | dict[str, Any] = Field(alias="@context")
    type: Literal["EPCISDocument"]
    schemaVersion: Literal["2.0"]
    creationDate: AwareDatetime
    epcisBody: _Body


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in EVENT_TYPES or part in ("int", "float", "str"):
            continue  # the union member pydantic tried, not a place in the document
        else:
            out += f".{part}" if out else str(part)
    return out or "the document"


def _describe(exc: ValidationError) -> str:
    seen: dict[str, str] = {}
    for err in exc.errors():
        where = _where(err["loc"])
        if where in seen:
            continue
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        msg = "should be a JSON number" if err["type"] in ("int_type", "float_type") else err["msg"]
        seen[where] = f"{where}: {msg}{shown}"
    lines = list(seen.values())
    more = f"; and {len(lines) - 3} more" if len(lines) > 3 else ""
    return "; ".join(lines[:3]) + more


def parse_document(body: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The document as JSON, once it is known to be an EPCIS 2.0 document; else ``EpcisError`` saying why."""
    size = len(body)
    if size > max_bytes:
        raise EpcisError(f"the document is {size:,} bytes; at most {max_bytes:,} are accepted")
    try:
        doc = json.loads(body)
    except UnicodeDecodeError as exc:
        raise EpcisError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise EpcisError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise EpcisError("not an EPCIS document: the JSON is not an object")
    try:
        _Document.model_validate(doc)
    except ValidationError as exc:
        raise EpcisError(f"not a valid EPCIS 2.0 document: {_describe(exc)}") from None
    return doc


# --- identifiers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Epc:
    """What MedTower reads from one identifier: a trade item (GTIN with lot or serial), a place or party."""

    uri: str
    kind: Literal["item", "class", "pattern", "location", "party", "other"]
    gtin: str | None = None  # GTIN-14
    lot: str | None = None
    serial: str | None = None
    gln: str | None = None  # GLN-13 of a location or party
    extension: str | None = None  # the SGLN extension, None for the GLN itself
    local_id: str | None = None  # a MedTower id (urn:medtower:...): material, site, customer, supplier


def private_uri(kind: str, *parts: str) -> str:
    """``urn:medtower:<kind>:<part>:...`` for a thing without a GS1 key; parts are percent-encoded."""
    return PRIVATE + kind + "".join(":" + quote(p, safe="") for p in parts)


def lot_class_uri(gtin: str | None, material_id: str, lot_id: str) -> str:
    """A lot as an EPC class: GS1 Digital Link with the GTIN, else ``urn:medtower:lot:<material>:<lot>``."""
    if gtin:
        return f"https://id.gs1.org/01/{gtin.zfill(14)}/10/{quote(lot_id, safe='')}"
    return private_uri("lot", material_id, lot_id)


def item_uri(gtin: str | None, material_id: str, lot_id: str, serial: str) -> str:
    """One serialised unit of a lot: Digital Link ``/01/<gtin>/10/<lot>/21/<serial>``, else a MedTower URN."""
    if gtin:
        return f"{lot_class_uri(gtin, material_id, lot_id)}/21/{quote(serial, safe='')}"
    return private_uri("item", material_id, lot_id, serial)


def _private(uri: str) -> Epc:
    kind, *parts = [unquote(p) for p in uri[len(PRIVATE) :].split(":")]
    if kind == "item" and len(parts) == 3:
        return Epc(uri, "item", lot=parts[1], serial=parts[2], local_id=parts[0])
    if kind == "lot" and len(parts) == 2:
        return Epc(uri, "class", lot=parts[1], local_id=parts[0])
    if kind in ("site", "customer", "supplier") and len(parts) == 1:
        return Epc(uri, "location" if kind == "site" else "party", local_id=parts[0])
    return Epc(uri, "other")


def _digital_link(uri: str) -> Epc:
    try:
        link = GS1DigitalLinkURI.parse(uri)
    except ParseError:
        return Epc(uri, "other")
    ais = {e.ai.ai: e.value for e in link.element_strings}
    if "01" in ais:
        gtin = ais["01"].zfill(14)
        if "21" in ais:
            return Epc(uri, "item", gtin=gtin, lot=ais.get("10"), serial=ais["21"])
        if "10" in ais:
            return Epc(uri, "class", gtin=gtin, lot=ais["10"])
        return Epc(uri, "pattern", gtin=gtin)
    if "414" in ais:
        return Epc(uri, "location", gln=ais["414"], extension=ais.get("254"))
    if "417" in ais:
        return Epc(uri, "party", gln=ais["417"])
    return Epc(uri, "other")


@functools.lru_cache(maxsize=65536)  # a document names the same sites, lots and classes again and again
def parse_epc(uri: str) -> Epc:
    """Read an EPC URN, class or pattern, a GS1 Digital Link URI or a MedTower URN; else kind ``other``."""
    uri = uri.strip()
    if uri.startswith(PRIVATE):
        return _private(uri)
    if uri.startswith(("http://", "https://")):
        return _digital_link(uri)
    try:
        if uri.startswith("urn:epc:idpat:sgtin:"):
            return Epc(uri, "pattern", gtin=get_gs1_key(uri))
        if not uri.startswith(("urn:epc:id:", "urn:epc:class:")):
            return Epc(uri, "other")
        scheme = epc_pure_identity_to_scheme(uri)
    except ConvertException:
        return Epc(uri, "other")
    name = type(scheme).__name__
    fields = vars(scheme)
    if name == "SGTIN":
        return Epc(uri, "item", gtin=fields["_gtin"], serial=unquote(fields["_serial"]))
    if name == "LGTIN":
        return Epc(uri, "class", gtin=fields["_gtin"], lot=unquote(fields["_lot"]))
    if name == "SGLN":
        ext = unquote(fields["_serial"])
        return Epc(uri, "location", gln=fields["_gln"], extension=None if ext == "0" else ext)
    if name == "PGLN":
        return Epc(uri, "party", gln=get_gs1_key(uri))
    return Epc(uri, "other")


# --- CBV vocabulary ----------------------------------------------------------------------------------

_CBV_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:",
    "urn:epcglobal:cbv:disp:",
    "urn:epcglobal:cbv:btt:",
    "urn:epcglobal:cbv:sdt:",
    "urn:epcglobal:cbv:er:",
    "https://ref.gs1.org/cbv/BizStep-",
    "https://ref.gs1.org/cbv/Disp-",
    "https://ref.gs1.org/cbv/BTT-",
    "https://ref.gs1.org/cbv/SDT-",
    "https://ref.gs1.org/cbv/ER-",
    "cbv:BizStep-",
    "cbv:Disp-",
    "cbv:BTT-",
    "cbv:SDT-",
)


def cbv_word(value: str | None) -> str | None:
    """A CBV value in its bare form: ``urn:epcglobal:cbv:bizstep:shipping`` and ``shipping`` alike."""
    if value is None:
        return None
    for prefix in _CBV_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def event_key(event: dict[str, Any]) -> str:
    """The event's ``eventID``; for an event without one, a digest of its content.

    The digest is MedTower's own (sha-256 of the event as canonical JSON), not the CBV event hash: it only
    has to name the same event the same way when a document is delivered again.
    """
    if event.get("eventID"):
        return str(event["eventID"])
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "urn:medtower:event:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
