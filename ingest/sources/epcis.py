"""EPCIS 2.0 JSON / JSON-LD documents from an inbound folder, mapped onto the contract.

Each document in the folder (``path`` option; ``*.json`` / ``*.jsonld``, directly in it) is one unit:
item = file name, digest = sha-256, so a document loads once and a changed one loads again; every row it
yields commits with it. A file that is a symlink, not a regular file or larger than ``max_bytes`` is
never opened past the folder; one that is not EPCIS 2.0 is refused whole (``file_error``) with the
reason, kept as received in the quarantine. The capture endpoint (``POST /capture``) writes into the
same folder. What an event becomes (ingest/README.md, "EPCIS 2.0"):

- ``commissioning`` (ObjectEvent ADD): a produced lot per lot number (LGTIN class, or the ILMD
  ``cbvmda:lotNumber`` of the serials), expiry from ``cbvmda:itemExpirationDate``;
- ``receiving`` / ``accepting``: a receipt movement per EPC or quantity, and the lot (origin received,
  written only when the warehouse does not hold it yet: load mode append);
- ``shipping``: a shipment row per EPC or quantity;
- ``packing`` (and other AggregationEvents): a ``pack`` scan of each child, the parent in ``location``;
- TransformationEvent: a work order per output lot and the input lots consumed into it (the genealogy).

GS1 keys become MedTower ids through the source's options: ``sites`` (GLN or SGLN -> site_id),
``materials`` (GTIN -> material_id), ``customers`` and ``suppliers`` (GLN or PGLN -> id). An id without a
mapping is kept as its GS1 key (GTIN-14, GLN-13), so the reference check quarantines the row with that
key in the reason, and nothing is lost. Events the contract has no place for (sensor data only, an
AssociationEvent, a DELETE) and erroneous events retracted by an ``errorDeclaration`` are listed in
``notes`` (the pull result's ``notes``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ingest.sources import Batch, PullState, SourceConfig, SourceConfigError, SourceError, text
from medtower.epcis import (
    MAX_DOCUMENT_BYTES,
    PRIVATE,
    Epc,
    EpcisError,
    cbv_word,
    event_key,
    parse_document,
    parse_epc,
)

SUFFIXES = (".json", ".jsonld")
# what the contract's entities can hold; an event that yields rows for an entity the source does not
# list under `entities` is noted, not loaded
ENTITIES = ("lots", "work_orders", "inventory_movements", "shipments", "lot_consumption", "scans")
# CBV disposition -> lots.status; a disposition not listed leaves the step's default
DISPOSITION_STATUS = {
    "active": "released",
    "conformant": "released",
    "sellable_accessible": "released",
    "sellable_not_accessible": "released",
    "in_progress": "quarantine",
    "needs_replacement": "on_hold",
    "non_conformant": "on_hold",
    "non_sellable_other": "on_hold",
    "damaged": "on_hold",
    "unavailable": "on_hold",
    "recalled": "recalled",
    "expired": "expired",
    "destroyed": "rejected",
    "disposed": "rejected",
}
RECEIVING = ("receiving", "accepting")
LOT_NUMBER = "cbvmda:lotNumber"
EXPIRY = "cbvmda:itemExpirationDate"
PRODUCED = "cbvmda:productionDate"


@dataclass
class _Item:
    epc: Epc
    qty: Decimal | None
    uom: str | None
    lot: str | None


@dataclass
class Reading:
    """What one document says, as contract rows: ``rows[(entity, mode)]`` (mode None: the stream's)."""

    rows: dict[tuple[str, str | None], list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, entity: str, row: dict[str, Any], event: dict[str, Any], mode: str | None = None) -> None:
        row["_raw"] = json.dumps(event, sort_keys=True)
        self.rows.setdefault((entity, mode), []).append(row)


def _ids(mapping: Any, what: str, source: str) -> dict[tuple[str, str | None], str]:
    """An options mapping of GS1 keys (GTIN, GLN, SGLN, PGLN, Digital Link) -> MedTower id, by parsed key."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise SourceConfigError(f"source {source}: option {what} must map GS1 keys to {what} ids")
    out: dict[tuple[str, str | None], str] = {}
    for key, value in mapping.items():
        k = str(key).strip()
        if k.isdigit():
            out[(k.zfill(14) if what == "materials" else k, None)] = str(value)
            continue
        epc = parse_epc(k)
        if what == "materials" and epc.gtin:
            out[(epc.gtin, None)] = str(value)
        elif epc.gln:
            out[(epc.gln, epc.extension)] = str(value)
        else:
            raise SourceConfigError(
                f"source {source}: option {what}: {k!r} is not a "
                + ("GTIN" if what == "materials" else "GLN, SGLN or PGLN")
            )
    return out


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _private_id(uri: str | None, kind: str) -> list[str] | None:
    """The parts of ``urn:medtower:<kind>:...`` (what ``medtower trace --epcis`` writes), else None."""
    prefix = f"{PRIVATE}{kind}:"
    if uri and uri.startswith(prefix):
        return [unquote(p) for p in uri[len(prefix) :].split(":")]
    return None


def _last_segment(uri: str) -> str:
    """The identifier at the end of a business-transaction URI (``.../po/12345678`` -> ``12345678``)."""
    last = uri.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]
    return unquote(last) if uri.startswith(PRIVATE) else last


class EpcisMapper:
    """EPCIS events -> contract rows, with the source's GS1-key mappings."""

    def __init__(self, options: Mapping[str, Any], source: str = "epcis") -> None:
        self.sites = _ids(options.get("sites"), "sites", source)
        self.materials = _ids(options.get("materials"), "materials", source)
        self.customers = _ids(options.get("customers"), "customers", source)
        self.suppliers = _ids(options.get("suppliers"), "suppliers", source)

    # --- ids -----------------------------------------------------------------------------------------

    def material(self, epc: Epc) -> str | None:
        if epc.local_id:
            return epc.local_id
        if epc.gtin:
            return self.materials.get((epc.gtin, None), epc.gtin)
        return None

    def _party(self, table: dict[tuple[str, str | None], str], uri: str | None) -> str | None:
        if not uri:
            return None
        epc = parse_epc(uri)
        if epc.local_id:
            return epc.local_id
        if epc.gln:
            return table.get((epc.gln, epc.extension)) or table.get((epc.gln, None)) or epc.gln
        return uri

    def site(self, event: dict[str, Any]) -> str | None:
        for where in ("bizLocation", "readPoint"):
            ref = event.get(where) or {}
            if ref.get("id"):
                return self._party(self.sites, ref["id"])
        return None

    # --- the objects of an event ------------------------------------------------------------------------

    def _items(
        self,
        epcs: list[str],
        quantities: list[dict[str, Any]],
        lot_of: Mapping[str, str],
        ilmd_lot: str | None,
    ) -> tuple[list[_Item], list[str]]:
        items, others = [], []
        for uri in epcs:
            epc = parse_epc(uri)
            if epc.kind == "item":
                items.append(_Item(epc, Decimal(1), None, epc.lot or lot_of.get(uri) or ilmd_lot))
            else:
                others.append(uri)
        for q in quantities:
            epc = parse_epc(q["epcClass"])
            if epc.kind in ("class", "pattern"):
                lot = epc.lot or ilmd_lot
                items.append(_Item(epc, _decimal(q.get("quantity")), q.get("uom"), lot))
            else:
                others.append(q["epcClass"])
        return items, others

    # --- the document --------------------------------------------------------------------------------

    def read(self, doc: dict[str, Any]) -> Reading:
        out = Reading()
        events: list[dict[str, Any]] = doc["epcisBody"]["eventList"]
        retracted = {event_key(e) for e in events if e.get("errorDeclaration")}
        lot_of = _serial_lots(events)
        for n, event in enumerate(events):
            where = f"event {n + 1} ({event['type']} {event_key(event)})"
            if event_key(event) in retracted:
                if event.get("errorDeclaration"):
                    fix = event["errorDeclaration"].get("correctiveEventIDs") or []
                    reason = event["errorDeclaration"].get("reason") or "no reason given"
                    out.notes.append(
                        f"{where}: declared erroneous ({cbv_word(reason)}), not loaded"
                        + (f"; corrected by {', '.join(fix)}" if fix else "")
                    )
                else:
                    out.notes.append(
                        f"{where}: retracted by an error declaration in this document, not loaded"
                    )
                continue
            before = sum(len(r) for r in out.rows.values())
            kind = event["type"]
            if kind == "TransformationEvent":
                self._transformation(event, lot_of, out, where)
            elif kind in ("ObjectEvent", "AggregationEvent", "TransactionEvent"):
                self._object(event, lot_of, out, where)
            else:
                out.notes.append(f"{where}: an {kind} has no place in the contract, not loaded")
                continue
            if sum(len(r) for r in out.rows.values()) == before and not any(where in x for x in out.notes):
                step = cbv_word(event.get("bizStep")) or "no bizStep"
                sensors = " (its sensor data is not kept)" if event.get("sensorElementList") else ""
                out.notes.append(f"{where}: {step} maps to no contract entity, not loaded{sensors}")
        return out

    def _object(self, event: dict[str, Any], lot_of: Mapping[str, str], out: Reading, where: str) -> None:
        step = cbv_word(event.get("bizStep"))
        action = event.get("action")
        if event["type"] == "AggregationEvent":
            epcs, quantities = event.get("childEPCs") or [], event.get("childQuantityList") or []
        else:
            epcs, quantities = event.get("epcList") or [], event.get("quantityList") or []
        ilmd = event.get("ilmd") or {}
        items, others = self._items(epcs, quantities, lot_of, text(ilmd.get(LOT_NUMBER)))
        if others:
            out.notes.append(f"{where}: {', '.join(others)}: not a trade item (GTIN), no row")
        if action == "DELETE":
            out.notes.append(f"{where}: action DELETE (decommissioning or unpacking) is not loaded")
            return
        site = self.site(event)
        at = event["eventTime"]
        disposition = DISPOSITION_STATUS.get(cbv_word(event.get("disposition")) or "")
        eid = event_key(event)
        txns = {cbv_word(t.get("type")): t["bizTransaction"] for t in event.get("bizTransactionList") or []}
        extra = {"epcis_event_id": eid}
        if step == "commissioning" and action == "ADD":
            for lot in _lots(items):
                out.add("lots", self._lot(lot, site, "produced", disposition or "released", at, ilmd), event)
        elif step in RECEIVING:
            supplier = self._party(self.suppliers, _party_of(event.get("sourceList"), "source"))
            po = txns.get("po")
            for i, it in enumerate(items, 1):
                if it.lot:
                    lot_row = self._lot(it, site, "received", disposition or "quarantine", at, ilmd)
                    lot_row.update(supplier_id=supplier, supplier_lot=it.lot)
                    out.add("lots", lot_row, event, mode="append")
                if it.qty is None:
                    out.notes.append(f"{where}: {it.epc.uri} received without a quantity: no movement")
                    continue
                row = {
                    "movement_id": f"{eid}#{i}",
                    "moved_at": at,
                    "site_id": site,
                    "material_id": self.material(it.epc),
                    "lot_id": it.lot,
                    "serial": it.epc.serial,
                    "qty": text(it.qty),
                    "movement_type": "receipt",
                    "reference_type": "po" if po else None,
                    "reference_id": _last_segment(po) if po else None,
                    **extra,
                    "epc": it.epc.uri,
                    "uom": it.uom,
                }
                out.add("inventory_movements", row, event)
        elif step == "shipping":
            so = self._so(txns.get("po"))
            shipment = _private_id(txns.get("desadv"), "shipment")
            ship_id = (
                shipment[0] if shipment else _last_segment(txns.get("desadv") or txns.get("bol") or "") or eid
            )
            customer = self._party(self.customers, _party_of(event.get("destinationList"), "destination"))
            for it in items:
                row = {
                    "shipment_id": ship_id,
                    "so_id": so[0] if so else None,
                    "so_line": so[1] if so else None,
                    "customer_id": customer,
                    "material_id": self.material(it.epc),
                    "lot_id": it.lot,
                    "serial": it.epc.serial,
                    "qty": text(it.qty),
                    "shipped_at": at,
                    **extra,
                    "epc": it.epc.uri,
                    "uom": it.uom,
                }
                out.add("shipments", row, event)
        elif event["type"] == "AggregationEvent" and action == "ADD":
            parent = event.get("parentID")
            for i, it in enumerate(items, 1):
                row = {
                    "scan_id": f"{eid}#{i}",
                    "scanned_at": at,
                    "site_id": site,
                    "device_id": (event.get("readPoint") or {}).get("id"),
                    "location": parent,
                    "event": "pack",
                    "payload": _element_string(it),
                    **extra,
                    "epc": it.epc.uri,
                }
                out.add("scans", row, event)

    def _so(self, po: str | None) -> tuple[str, str] | None:
        """(so_id, so_line) of a shipment: the order MedTower wrote, else the po's id on line 1."""
        if not po:
            return None
        parts = _private_id(po, "so")
        if parts and len(parts) == 2:
            return parts[0], parts[1]
        return _last_segment(po), "1"

    def _lot(
        self, it: _Item, site: str | None, origin: str, status: str, at: str, ilmd: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "lot_id": it.lot,
            "material_id": self.material(it.epc),
            "site_id": site,
            "origin": origin,
            "manufacture_date": text(ilmd.get(PRODUCED)) if origin == "produced" else None,
            "expiry_date": text(ilmd.get(EXPIRY)),
            "status": status,
            "status_changed_at": at,
        }

    def _transformation(
        self, event: dict[str, Any], lot_of: Mapping[str, str], out: Reading, where: str
    ) -> None:
        ilmd = event.get("ilmd") or {}
        ilmd_lot = text(ilmd.get(LOT_NUMBER))
        inputs, others = self._items(
            event.get("inputEPCList") or [], event.get("inputQuantityList") or [], lot_of, None
        )
        outputs, more = self._items(
            event.get("outputEPCList") or [], event.get("outputQuantityList") or [], lot_of, ilmd_lot
        )
        if others + more:
            out.notes.append(f"{where}: {', '.join(others + more)}: not a trade item (GTIN), no row")
        site = self.site(event)
        at = event["eventTime"]
        eid = event_key(event)
        private = _private_id(event.get("transformationID"), "wo")
        base = private[0] if private else event.get("transformationID") or eid
        groups: dict[tuple[str | None, str | None], list[_Item]] = {}
        for o in outputs:  # one work order per output lot (a lot-less output: per material)
            groups.setdefault((o.lot, self.material(o.epc)), []).append(o)
        if not any(lot for lot, _ in groups):
            out.notes.append(
                f"{where}: the outputs carry no lot (no LGTIN, no ilmd {LOT_NUMBER}): the work order has no "
                "output lot, so no genealogy edge"
            )
        disposition = DISPOSITION_STATUS.get(cbv_word(event.get("disposition")) or "") or "released"
        if len(groups) > 1:
            out.notes.append(
                f"{where}: {len(groups)} outputs (lots or materials): one work order each ({base}#1 ...), "
                "each consuming every input (EPCIS does not say how the inputs split)"
            )
        for n, group in enumerate(groups.values(), 1):
            output = group[0]
            wo = base if len(groups) == 1 else f"{base}#{n}"
            known = [o.qty for o in group if o.qty is not None]
            qty = sum(known, Decimal(0)) if known else None
            if output.lot:
                out.add("lots", self._lot(output, site, "produced", disposition, at, ilmd), event)
            out.add(
                "work_orders",
                {
                    "wo_id": wo,
                    "material_id": self.material(output.epc),
                    "site_id": site,
                    "qty_planned": text(qty),
                    "qty_completed": text(qty),
                    "status": "completed",
                    "planned_start": at,
                    "planned_end": at,
                    "actual_end": at,
                    "output_lot_id": output.lot,
                    "epcis_event_id": eid,
                },
                event,
            )
            consumed: dict[tuple[str | None, str | None], Decimal | None] = {}
            inputs_by_key: dict[tuple[str | None, str | None], _Item] = {}
            for it in inputs:
                key: tuple[str | None, str | None] = (
                    (it.lot, self.material(it.epc)) if it.lot else (None, it.epc.uri)
                )
                prev = consumed.get(key, Decimal(0))
                consumed[key] = None if prev is None or it.qty is None else prev + it.qty
                inputs_by_key[key] = it
            for key, total in consumed.items():
                it = inputs_by_key[key]
                out.add(
                    "lot_consumption",
                    {
                        "wo_id": wo,
                        "component_lot_id": it.lot,
                        "component_material_id": self.material(it.epc),
                        "qty": text(total),
                        "consumed_at": at,
                        "epcis_event_id": eid,
                        "epc": it.epc.uri,
                        "uom": it.uom,
                    },
                    event,
                )


def _lots(items: list[_Item]) -> list[_Item]:
    """One item per distinct lot, in order."""
    seen: dict[str, _Item] = {}
    for it in items:
        if it.lot and it.lot not in seen:
            seen[it.lot] = it
    return list(seen.values())


def _serial_lots(events: list[dict[str, Any]]) -> dict[str, str]:
    """Serial EPC -> lot number, from the ILMD of the events in the document that commission them."""
    out: dict[str, str] = {}
    for e in events:
        lot = (e.get("ilmd") or {}).get(LOT_NUMBER)
        if not lot or e.get("errorDeclaration"):
            continue
        epcs = e.get("outputEPCList") if e["type"] == "TransformationEvent" else e.get("epcList")
        for uri in epcs or []:
            out.setdefault(uri, str(lot))
    return out


def _party_of(entries: list[dict[str, Any]] | None, key: str) -> str | None:
    """The owning party, else the possessing party, else the location of a source or destination list."""
    by_type = {cbv_word(e.get("type")): e.get(key) for e in entries or []}
    return by_type.get("owning_party") or by_type.get("possessing_party") or by_type.get("location")


def _element_string(it: _Item) -> str:
    """The item as a GS1 element string, as a scanner reads it (``scans.payload``)."""
    gtin = f"(01){it.epc.gtin}" if it.epc.gtin else ""
    if it.epc.serial:
        return f"{gtin}(21){it.epc.serial}"
    return f"{gtin}(10){it.lot}" if it.lot else gtin


class EpcisConnector:
    """The ``epcis`` kind: documents from the inbound folder (``path``), one unit each."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.folder = source.path("path")
        self.max_bytes = int(source.options.get("max_bytes") or MAX_DOCUMENT_BYTES)
        self.mapper = EpcisMapper(source.options, source.name)
        self.notes: list[dict[str, str]] = []
        configured = [s.entity for s in source.streams]
        unknown = [e for e in configured if e not in ENTITIES]
        if unknown or not configured:
            raise SourceConfigError(
                f"source {source.name}: an epcis source loads {', '.join(ENTITIES)}; "
                + (f"not {', '.join(unknown)}" if unknown else "list at least one under `entities`")
            )
        self.streams = configured

    def check(self) -> str:
        if not self.folder.is_dir():
            raise SourceError(f"source {self.source.name}: inbound folder {self.folder} does not exist")
        return f"{self.folder}: {len(list(self._documents()))} EPCIS documents"

    def _note(self, item: str, what: str) -> None:
        self.notes.append({"item": item, "note": what})

    def _documents(self) -> Iterator[os.DirEntry[str]]:
        with os.scandir(self.folder) as entries:
            found = sorted(entries, key=lambda e: e.name)
        for entry in found:
            if entry.name.startswith((".", "_")) or not entry.name.lower().endswith(SUFFIXES):
                continue
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                self._note(entry.name, "a symlink or not a regular file: not read")
                continue
            yield entry

    def _read(self, entry: os.DirEntry[str]) -> bytes:
        """The file's bytes, opened without following a link, at most ``max_bytes`` + 1 of them."""
        fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SourceError(f"{entry.path}: not a regular file")
            with os.fdopen(fd, "rb") as f:
                fd = -1
                return f.read(self.max_bytes + 1)
        finally:
            if fd >= 0:
                os.close(fd)

    def pull(self, state: PullState) -> Iterator[Batch]:
        if not self.folder.is_dir():
            raise SourceError(f"source {self.source.name}: inbound folder {self.folder} does not exist")
        for entry in self._documents():
            body = self._read(entry)
            digest = hashlib.sha256(body).hexdigest()
            if state.seen(entry.name, digest):
                continue
            yield from self.document(entry.name, body, digest)

    def document(self, name: str, body: bytes, digest: str) -> Iterator[Batch]:
        """The batches of one document (all with the same item, so they commit together)."""
        label = f"epcis:{name}"
        item = (name, digest)
        try:
            if len(body) > self.max_bytes:  # read stopped one byte past the limit
                raise EpcisError(f"larger than {self.max_bytes:,} bytes (the source's max_bytes)")
            doc = parse_document(body, max_bytes=self.max_bytes)
        except EpcisError as exc:
            head = body[:65536].decode("utf-8", errors="replace")
            raw: dict[str, Any] = (
                {"document": head} if len(body) <= 65536 else {"document_head": head, "bytes": len(body)}
            )
            yield Batch(
                entity=self.streams[0],
                records=[],
                label=label,
                item=item,
                file_error=f"{name}: {exc}",
                raw_text=json.dumps(raw),
                mapped=True,
            )
            return
        reading = self.mapper.read(doc)
        for note in reading.notes:
            self._note(name, note)
        yielded = False
        for (entity, mode), rows in reading.rows.items():
            if entity not in self.streams:
                self._note(name, f"{len(rows)} {entity} rows not loaded: the source lists no {entity} entity")
                continue
            yielded = True
            yield Batch(entity=entity, records=rows, label=label, item=item, mode=mode, mapped=True)
        if not yielded:  # nothing to load: the empty batch still marks the document done
            yield Batch(entity=self.streams[0], records=[], label=label, item=item, mapped=True)


def read_file(path: Path, options: Mapping[str, Any] | None = None) -> Reading:
    """One document's reading without a warehouse (``EpcisError`` when it is not EPCIS 2.0)."""
    return EpcisMapper(options or {}).read(parse_document(path.read_bytes()))
