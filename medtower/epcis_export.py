"""A lot trace as an EPCIS 2.0 JSON-LD document (``medtower trace LOT --epcis FILE``).

What a regulator's or customer's traceability system reads: for every lot of the trace where it came
from (a receiving ObjectEvent per receipt of a supplier lot, or a commissioning ObjectEvent of a produced
lot no traced work order made), a TransformationEvent per work order (the component lots consumed into
its output lot, with the output lot's ILMD: lot number, expiry, production date), and a shipping
ObjectEvent per shipment and order line of a forward trace. Lots of materials with a GTIN are GS1 Digital
Link URIs (no company-prefix length needed); MedTower's own ids (sites, customers, suppliers, work orders,
orders, lots of materials without a GTIN) are ``urn:medtower:<kind>:<id>`` URNs. The epcis connector reads
such a document back to the same genealogy (tests/ingest/test_epcis_roundtrip.py).

Reads the marts only: the trace result plus ``dim_materials``, ``dim_sites``, ``fct_work_orders`` and
``fct_inventory_movements``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from medtower.epcis import CONTEXT, item_uri, lot_class_uri, private_uri

# lots.status -> CBV disposition (the epcis connector maps them back)
STATUS_DISPOSITION = {
    "released": "active",
    "quarantine": "in_progress",
    "on_hold": "non_conformant",
    "recalled": "recalled",
    "expired": "expired",
    "rejected": "destroyed",
}


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _number(value: Any) -> int | float:
    """A quantity as a JSON number: integral values as integers."""
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d)


class _Clock:
    """Site wall-clock timestamps (as the warehouse keeps them) as EPCIS times with their offset."""

    def __init__(self, con: duckdb.DuckDBPyConnection, default_tz: str) -> None:
        self.zones = dict(con.execute("select site_id, timezone from marts.dim_sites").fetchall())
        self.default = default_tz

    def __call__(self, value: Any, site: str | None) -> tuple[str, str]:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        try:
            zone = ZoneInfo(self.zones.get(site) or self.default)
        except ZoneInfoNotFoundError:
            zone = ZoneInfo("UTC")
        aware = value.replace(tzinfo=zone) if value.tzinfo is None else value
        offset = aware.strftime("%z")
        return aware.isoformat(), f"{offset[:3]}:{offset[3:]}"


def _event_id(*parts: Any) -> str:
    """The same event of the same warehouse gets the same id in every export (a re-import changes nothing)."""
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "medtower:" + ":".join(map(str, parts))))


def trace_document(
    con: duckdb.DuckDBPyConnection,
    trace: dict[str, Any],
    *,
    default_timezone: str = "UTC",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The EPCIS 2.0 document of a ``medtower.trace.trace`` result."""
    clock = _Clock(con, default_timezone)
    lots = {r["lot_id"]: r for r in trace["lot_details"]}
    lot_ids = sorted(lots)
    extra = _query(
        con,
        "select lot_id, site_id, status_changed_at, manufacture_date from marts.dim_lots "
        "where lot_id in (select unnest(?))",
        [lot_ids],
    )
    for row in extra:
        lots[row["lot_id"]].update(row)
    material_ids = sorted({r["material_id"] for r in lots.values()})
    materials = {
        r["material_id"]: r
        for r in _query(
            con,
            "select material_id, gtin, uom from marts.dim_materials where material_id in (select unnest(?))",
            [material_ids],
        )
    }

    def lot_uri(lot_id: str) -> str:
        material = lots[lot_id]["material_id"]
        return lot_class_uri((materials.get(material) or {}).get("gtin"), material, lot_id)

    def quantity(lot_id: str, qty: Any) -> dict[str, Any]:
        q: dict[str, Any] = {"epcClass": lot_uri(lot_id)}
        if qty is not None:
            q["quantity"] = _number(qty)
            uom = (materials.get(lots[lot_id]["material_id"]) or {}).get("uom")
            if uom:
                q["uom"] = uom
        return q

    def where(site: str | None) -> dict[str, Any]:
        if not site:
            return {}
        place = {"id": private_uri("site", site)}
        return {"readPoint": place, "bizLocation": place}

    def timed(value: Any, site: str | None) -> dict[str, str]:
        at, offset = clock(value, site)
        return {"eventTime": at, "eventTimeZoneOffset": offset}

    events: list[dict[str, Any]] = []
    wo_ids = sorted({e["wo_id"] for e in trace["edges"]})
    work_orders = {
        r["wo_id"]: r
        for r in _query(
            con,
            "select wo_id, site_id, material_id, output_lot_id, qty_planned, qty_completed, actual_end "
            "from marts.fct_work_orders where wo_id in (select unnest(?))",
            [wo_ids],
        )
    }
    made_here = {e["child_lot_id"] for e in trace["edges"]}

    # where each lot came from
    receipts: dict[str, list[dict[str, Any]]] = {}
    for r in _query(
        con,
        "select movement_id, lot_id, site_id, qty, moved_at, reference_id from marts.fct_inventory_movements "
        "where movement_type = 'receipt' and lot_id in (select unnest(?)) order by moved_at, movement_id",
        [lot_ids],
    ):
        receipts.setdefault(r["lot_id"], []).append(r)
    for lot_id in lot_ids:
        lot = lots[lot_id]
        disposition = STATUS_DISPOSITION.get(lot.get("status") or "")
        disp = {"disposition": disposition} if disposition else {}
        if lot["origin"] == "received":
            party = (
                {
                    "sourceList": [
                        {"type": "owning_party", "source": private_uri("supplier", lot["supplier_id"])}
                    ]
                }
                if lot.get("supplier_id")
                else {}
            )
            for r in receipts.get(lot_id) or [
                {"movement_id": lot_id, "site_id": lot.get("site_id"), "qty": None, "moved_at": None}
            ]:
                site = r["site_id"]
                txn = (
                    {
                        "bizTransactionList": [
                            {"type": "po", "bizTransaction": private_uri("po", r["reference_id"])}
                        ]
                    }
                    if r.get("reference_id")
                    else {}
                )
                events.append(
                    {
                        "type": "ObjectEvent",
                        "eventID": _event_id("receipt", r["movement_id"]),
                        **timed(r["moved_at"] or lot.get("status_changed_at"), site),
                        "action": "OBSERVE",
                        "bizStep": "receiving",
                        **disp,
                        **where(site),
                        "quantityList": [quantity(lot_id, r["qty"])],
                        **party,
                        **txn,
                    }
                )
        elif lot_id not in made_here:
            site = lot.get("site_id")
            events.append(
                {
                    "type": "ObjectEvent",
                    "eventID": _event_id("commissioning", lot_id),
                    **timed(lot.get("status_changed_at"), site),
                    "action": "ADD",
                    "bizStep": "commissioning",
                    **disp,
                    **where(site),
                    "quantityList": [quantity(lot_id, None)],
                    "ilmd": _ilmd(lot),
                }
            )

    # what each work order consumed into its output lot
    for wo_id in wo_ids:
        edges = [e for e in trace["edges"] if e["wo_id"] == wo_id]
        wo = work_orders.get(wo_id) or {}
        output = wo.get("output_lot_id") or edges[0]["child_lot_id"]
        site = wo.get("site_id") or lots[output].get("site_id")
        at = wo.get("actual_end") or max((e["consumed_at"] for e in edges if e["consumed_at"]), default=None)
        disposition = STATUS_DISPOSITION.get(lots[output].get("status") or "")
        events.append(
            {
                "type": "TransformationEvent",
                "eventID": _event_id("work_order", wo_id),
                **timed(at or lots[output].get("status_changed_at"), site),
                "transformationID": private_uri("wo", wo_id),
                "bizStep": "commissioning",
                **({"disposition": disposition} if disposition else {}),
                **where(site),
                "inputQuantityList": [quantity(e["parent_lot_id"], e["qty"]) for e in edges],
                "outputQuantityList": [quantity(output, wo.get("qty_completed") or wo.get("qty_planned"))],
                "ilmd": _ilmd(lots[output]),
            }
        )

    # where the lots went
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for s in trace.get("shipment_details") or []:
        groups.setdefault((s["shipment_id"], s["so_id"], s["so_line"]), []).append(s)
    for (shipment_id, so_id, so_line), rows in groups.items():
        site = lots[rows[0]["lot_id"]].get("site_id")
        epcs = [
            item_uri(
                (materials.get(r["material_id"]) or {}).get("gtin"),
                r["material_id"],
                r["lot_id"],
                r["serial"],
            )
            for r in rows
            if r["serial"]
        ]
        quantities = [quantity(r["lot_id"], r["qty"]) for r in rows if not r["serial"]]
        events.append(
            {
                "type": "ObjectEvent",
                "eventID": _event_id("shipment", shipment_id, so_id, so_line),
                **timed(rows[0]["shipped_at"], site),
                "action": "OBSERVE",
                "bizStep": "shipping",
                "disposition": "in_transit",
                **where(site),
                **({"epcList": epcs} if epcs else {}),
                **({"quantityList": quantities} if quantities else {}),
                "bizTransactionList": [
                    {"type": "po", "bizTransaction": private_uri("so", str(so_id), str(so_line))},
                    {"type": "desadv", "bizTransaction": private_uri("shipment", str(shipment_id))},
                ],
                "destinationList": [
                    {"type": "owning_party", "destination": private_uri("customer", rows[0]["customer_id"])}
                ],
            }
        )

    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.isoformat().replace("+00:00", "Z"),
        "epcisBody": {"eventList": events},
    }


def _ilmd(lot: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"cbvmda:lotNumber": lot["lot_id"]}
    for key, column in (
        ("cbvmda:itemExpirationDate", "expiry_date"),
        ("cbvmda:productionDate", "manufacture_date"),
    ):
        if lot.get(column):
            value = lot[column]
            out[key] = value if isinstance(value, str) else value.isoformat()[:10]
    return out


def write_document(path: Path, document: dict[str, Any]) -> int:
    """Write the document atomically (a reader of ``path`` never sees half of it); the number of events."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(document["epcisBody"]["eventList"])
