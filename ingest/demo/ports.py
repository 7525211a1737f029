"""The demo through the source connectors (``medtower demo --ports``): the same company, other doors.

A plant's records do not all arrive as CSV files. With ``ports`` the demo writes the records of a few
entities the way their systems deliver them, in ``DIR/_ports/`` (ignored by the drop-folder ingest: it
starts with ``_``), and leaves their CSV files out of the drop folder:

- ``erp.sqlite``: ``purchase_orders`` as the ERP's ``po_lines`` table, ERP column names (kind ``sql``);
- ``edi/``: the last ``EDI_DAYS`` days of ``asn`` as X12 856 interchanges and of ``supplier_invoices`` as
  810s (one file per supplier and month), plus one malformed interchange that is refused whole and
  answered with a 997 rejecting it (kind ``x12``). Older ones stay in ``asn.csv`` and
  ``supplier_invoices.csv`` (the history before EDI): the x12 connector loads each transaction set as a
  batch of its own (0.08-0.4 s each on a shared 2-core machine), so a year of them (about 6,000 sets at
  scale 1) would take a pull 10-40 minutes. An 856 carries one ship time per shipment, so ASNs whose
  lines left at different times stay in ``asn.csv`` too;
- ``epcis/``: ``lot_consumption`` as EPCIS 2.0 TransformationEvents, one document per month (kind ``epcis``).
  An EPCIS time carries its UTC offset, so a local time the site's clocks skip or repeat (daylight saving)
  has none: those rows stay in ``lot_consumption.csv``, where ingest quarantines them as before;
- ``scans/scans.jsonl``: the scanner log, one JSON object per read (kind ``snapshot``);
- ``sources.yaml``: the four sources, paths relative to the file; ``MEDTOWER_SOURCES`` names it.

The records are the CSV rows the demo writes anyway, read back as written, so the ports carry exactly
what the files would have (bad rows included). ``supplier_invoices`` is the one entity only the ports
carry: an invoice per purchase order for its received lines at the agreed price, two lines of them
deliberately off (one price, one quantity) for the three-way match.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sqlite3
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from numpy.random import PCG64, Generator

from ingest.sources.snapshot import PAGE_SIZE
from medtower.epcis import CONTEXT, lot_class_uri, private_uri

PORTS = "_ports"
# the CSV files the ports replace (asn.csv is rewritten with what an 856 cannot carry)
CARRIED = ("purchase_orders", "scans")
EDI_DAYS = 14  # the EDI folder holds the interchanges of the last two weeks
# ERP column -> contract column of purchase_orders
PO_LINES = {
    "po_number": "po_id",
    "line_no": "po_line",
    "vendor_code": "supplier_id",
    "item_code": "material_id",
    "plant": "site_id",
    "qty": "qty_ordered",
    "ordered_on": "order_date",
    "need_by": "requested_date",
    "promised_on": "confirmed_date",
    "acked_at": "acknowledged_at",
    "state": "status",
    "updated_at": "updated_at",
}
# scanner log field -> contract column of scans
SCAN_LOG = {
    "id": "scan_id",
    "ts": "scanned_at",
    "site": "site_id",
    "scanner": "device_id",
    "loc": "location",
    "event": "event",
    "data": "payload",
}
OURS = "MEDTOWER"  # our ISA id as the receiver of supplier EDI
MALFORMED = "856-SUP-BAD-malformed.edi"
PRICE_OFF = Decimal("1.08")  # the price mismatch: 8 % over the agreed price (tolerance 1 %)
QTY_OFF = Decimal("1.05")  # the quantity mismatch: 5 % over the received quantity (tolerance 2 %)


def _read(path: Path, *, header: bool = False) -> list[Any]:
    """A demo CSV as written: values exactly as in the file (csv splits lines on CR/LF only, not on GS).

    ``header``: the rows as lists, the header first.
    """
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh)) if header else list(csv.DictReader(fh))


def _none(value: str | None) -> str | None:
    return value if value else None


def write_ports(out_dir: Path, manifest: dict[str, Any], *, seed: int) -> dict[str, Any]:
    """Move the port entities' records from the CSV files into ``out_dir/_ports``; what each port carries."""
    out_dir = Path(out_dir)
    root = out_dir / PORTS
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    as_of = dt.date.fromisoformat(manifest["as_of"])
    tables = {e: _read(out_dir / f"{e}.csv") for e in ("purchase_orders", "asn", "lot_consumption", "scans")}
    bad = {(b["entity"], b["line"]): b for b in manifest["bad_rows"]}

    erp = _write_erp(root / "erp.sqlite", tables["purchase_orders"], bad)
    since = as_of - dt.timedelta(days=EDI_DAYS - 1)
    asn_csv, asn_edi = _split_asn(tables["asn"], since)
    invoices, mismatches = _invoices(out_dir, tables["purchase_orders"], as_of, since, seed)
    inv_edi = [x for x in invoices if x["invoice_date"] >= since]
    inv_csv = [x for x in invoices if x["invoice_date"] < since]
    edi = _write_edi(root / "edi", asn_edi, inv_edi, _uoms(out_dir), tables["purchase_orders"])
    epcis, consumption_csv = _write_epcis(root / "epcis", out_dir, tables["lot_consumption"], as_of)
    scans = _write_scans(root / "scans" / "scans.jsonl", tables["scans"], bad)
    _write_sources(root / "sources.yaml", root / "erp.sqlite", _gtins(out_dir))

    for entity in CARRIED:
        (out_dir / f"{entity}.csv").unlink()
    _write_csv(out_dir / "asn.csv", list(tables["asn"][0]), asn_csv)
    _write_csv(out_dir / "lot_consumption.csv", list(tables["lot_consumption"][0]), consumption_csv)
    invoice_columns = list(_read(out_dir / "supplier_invoices.csv", header=True)[0])
    totals = _totals(invoices)
    rows = [{**x, "invoice_total": totals[x["invoice_id"]]} for x in inv_csv]
    _write_csv(out_dir / "supplier_invoices.csv", invoice_columns, rows)

    manifest["rows"]["supplier_invoices"] = len(invoices)
    return {
        "sources": f"{PORTS}/sources.yaml",
        "erp": {
            "kind": "sql",
            "file": f"{PORTS}/erp.sqlite",
            "carries": {"purchase_orders": {"table": "po_lines", "rows": erp}},
        },
        "edi": {
            "kind": "x12",
            "folder": f"{PORTS}/edi",
            "carries": {
                "asn": {"transaction_set": "856", "rows": len(asn_edi), "rows_left_in_csv": len(asn_csv)},
                "supplier_invoices": {
                    "transaction_set": "810",
                    "rows": len(inv_edi),
                    "rows_left_in_csv": len(inv_csv),
                },
            },
            "interchanges": edi,
            "since": since.isoformat(),
            "malformed": {
                "file": MALFORMED,
                "why": "SE01 counts a segment too many: the interchange is refused whole, its 997 rejects it",
            },
            "invoice_mismatches": mismatches,
        },
        "epcis": {
            "kind": "epcis",
            "folder": f"{PORTS}/epcis",
            "carries": {
                "lot_consumption": {
                    "event": "TransformationEvent",
                    "rows": len(tables["lot_consumption"]) - len(consumption_csv),
                    "rows_left_in_csv": len(consumption_csv),
                }
            },
            "documents": epcis,
        },
        "scanner": {
            "kind": "snapshot",
            "file": f"{PORTS}/scans/scans.jsonl",
            "carries": {"scans": {"rows": scans}},
        },
    }


# --- ERP database -------------------------------------------------------------------------------------


def _write_erp(path: Path, rows: list[dict[str, str]], bad: dict[tuple[str, int], dict[str, Any]]) -> int:
    cols = ", ".join(
        f"{c} {'INTEGER' if c == 'line_no' else 'NUMERIC' if c == 'qty' else 'TEXT'}" for c in PO_LINES
    )
    con = sqlite3.connect(path)
    try:
        con.execute(f"CREATE TABLE po_lines ({cols}, is_deleted INTEGER NOT NULL DEFAULT 0)")
        values = [
            [int(r["po_line"]) if c == "line_no" else _none(r[f]) for c, f in PO_LINES.items()] for r in rows
        ]
        marks = ", ".join("?" for _ in PO_LINES)
        con.executemany(f"INSERT INTO po_lines ({', '.join(PO_LINES)}) VALUES ({marks})", values)
        con.commit()
        # a bad row's place in the pull: the connector reads ORDER BY cursor, key in pages of PAGE_SIZE
        order = [
            po
            for (po,) in con.execute("SELECT po_number FROM po_lines ORDER BY updated_at, po_number, line_no")
        ]
    finally:
        con.close()
    for (entity, line), b in bad.items():
        if entity == "purchase_orders":
            at = order.index(rows[line - 2]["po_id"])
            b.update(file="erp:purchase_orders", line=at % PAGE_SIZE + 1, port="erp")
    return len(rows)


# --- EDI X12 ------------------------------------------------------------------------------------------


def _split_asn(
    rows: list[dict[str, str]], since: dt.date
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(ASN lines left in CSV, ASN lines sent as 856): those shipped since ``since`` in one go.

    An 856 has one ship time and one expected delivery per shipment (its S level).
    """
    times: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        times[r["asn_id"]].add((r["shipped_at"], r["expected_delivery"]))

    def edi(r: dict[str, str]) -> bool:
        return len(times[r["asn_id"]]) == 1 and r["shipped_at"][:10] >= since.isoformat()

    return [r for r in rows if not edi(r)], [r for r in rows if edi(r)]


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Each invoice's total to the cent, as the 810's TDS and the AP export state it."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for x in lines:
        totals[x["invoice_id"]] += x["qty"] * x["unit_price"]
    return {k: v.quantize(Decimal("0.01")) for k, v in totals.items()}


def _uoms(out_dir: Path) -> dict[str, str]:
    return {m["material_id"]: m["uom"] for m in _read(out_dir / "materials.csv")}


def _gtins(out_dir: Path) -> dict[str, str]:
    return {m["material_id"]: m["gtin"] for m in _read(out_dir / "materials.csv") if m["gtin"]}


def _invoices(
    out_dir: Path, po_rows: list[dict[str, str]], as_of: dt.date, since: dt.date, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Invoice lines: every received PO line, billed at the agreed price for what was received.

    One invoice per purchase order, dated 1-6 days after its last receipt (at the latest ``as_of``); the
    demo's own random stream, so the CSV files stay as without ports.
    """
    rng = Generator(PCG64([seed, 810]))
    uoms = _uoms(out_dir)
    asl = {(a["supplier_id"], a["material_id"]): a for a in _read(out_dir / "approved_suppliers.csv")}
    received: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    last: dict[str, str] = {}
    for m in _read(out_dir / "inventory_movements.csv"):
        if m["movement_type"] == "receipt" and m["reference_type"] == "po":
            received[(m["reference_id"], int(m["reference_line"]))] += Decimal(m["qty"])
            last[m["reference_id"]] = max(last.get(m["reference_id"], ""), m["moved_at"][:10])
    lines: list[dict[str, Any]] = []
    by_po: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in po_rows:
        if r["status"] == "received" and received.get((r["po_id"], int(r["po_line"]))):
            by_po[r["po_id"]].append(r)
    for n, po_id in enumerate(sorted(by_po), 1):
        po = sorted(by_po[po_id], key=lambda r: int(r["po_line"]))
        day = dt.date.fromisoformat(last[po_id]) + dt.timedelta(days=int(rng.integers(1, 7)))
        for i, r in enumerate(po, 1):
            price = asl[(r["supplier_id"], r["material_id"])]
            lines.append(
                {
                    "invoice_id": f"INV-{n:06d}",
                    "invoice_line": i,
                    "supplier_id": r["supplier_id"],
                    "po_id": po_id,
                    "po_line": int(r["po_line"]),
                    "material_id": r["material_id"],
                    "qty": received[(po_id, int(r["po_line"]))],
                    "uom": uoms[r["material_id"]],
                    "unit_price": Decimal(price["unit_price"]),
                    "currency": price["currency"],
                    "invoice_date": min(day, as_of),
                    "order_date": r["order_date"],
                }
            )
    # the two mismatches: lines of two different invoices sent by EDI (since ``since``) where there are two
    recent = [i for i, x in enumerate(lines) if x["invoice_date"] >= since]
    pool = recent if len({lines[i]["invoice_id"] for i in recent}) > 1 else list(range(len(lines)))
    first = int(rng.choice(pool))
    second = int(rng.choice([i for i in pool if lines[i]["invoice_id"] != lines[first]["invoice_id"]]))
    price_line, qty_line = lines[first], lines[second]
    agreed, got = price_line["unit_price"], qty_line["qty"]
    price_line["unit_price"] = (agreed * PRICE_OFF).quantize(Decimal("0.0001"))
    qty_line["qty"] = (got * QTY_OFF).quantize(Decimal("1"))
    keys = ("invoice_id", "invoice_line", "supplier_id", "po_id", "po_line")
    mismatches = [
        {"kind": "price", **{k: price_line[k] for k in keys}, "agreed_unit_price": str(agreed)}
        | {"invoiced_unit_price": str(price_line["unit_price"])},
        {"kind": "qty", **{k: qty_line[k] for k in keys}, "qty_received": str(got)}
        | {"qty_invoiced": str(qty_line["qty"])},
    ]
    return lines, mismatches


def _ymd(value: str) -> str:
    return value[:10].replace("-", "")


def _hms(value: str) -> str:
    return value[11:19].replace(":", "")


class _Interchange:
    """One supplier's interchange: ISA/GS/ST envelopes with their control numbers and counts."""

    def __init__(self, supplier: str, control: int, group: str, stamp: str) -> None:
        self.supplier, self.control, self.group, self.stamp = supplier, control, group, stamp
        self.sets: list[list[str]] = []

    def add(self, set_id: str, body: list[str], *, miscount: int = 0) -> None:
        st = f"{len(self.sets) + 1:04d}"
        segs = [f"ST*{set_id}*{st}", *body]
        self.sets.append([*segs, f"SE*{len(segs) + 1 + miscount}*{st}"])

    def text(self) -> str:
        date, time = self.stamp[:8], self.stamp[8:12]
        isa = (
            f"ISA*00*{'':10}*00*{'':10}*ZZ*{self.supplier:<15}*ZZ*{OURS:<15}*{date[2:]}*{time}"
            f"*U*00401*{self.control:09d}*0*P*>"
        )
        segs = [isa, f"GS*{self.group}*{self.supplier}*{OURS}*{date}*{time}*{self.control}*X*004010"]
        segs += [s for st in self.sets for s in st]
        segs += [f"GE*{len(self.sets)}*{self.control}", f"IEA*1*{self.control:09d}"]
        return "".join(f"{s}~\n" for s in segs)


def _asn_set(lines: list[dict[str, str]], uoms: dict[str, str]) -> list[str]:
    head = lines[0]
    body = [
        f"BSN*00*{head['asn_id']}*{_ymd(head['shipped_at'])}*{_hms(head['shipped_at'])}",
        "HL*1**S",
        f"DTM*011*{_ymd(head['shipped_at'])}*{_hms(head['shipped_at'])}",
    ]
    if head["expected_delivery"]:
        body.append(f"DTM*017*{_ymd(head['expected_delivery'])}")
    hl = 1
    for r in sorted(lines, key=lambda r: int(r["asn_line"])):
        order = hl + 1
        hl += 2
        body += [f"HL*{order}*1*O", f"PRF*{r['po_id']}", f"HL*{hl}*{order}*I"]
        lin = f"LIN*{r['asn_line']}*BP*{r['material_id']}*PL*{r['po_line']}"
        body.append(lin + (f"*LT*{r['supplier_lot']}" if r["supplier_lot"] else ""))
        body.append(f"SN1**{r['qty_shipped']}*{uoms.get(r['material_id'], 'EA')}")
        if r["expiry_date"]:
            body.append(f"DTM*036*{_ymd(r['expiry_date'])}")
    return [*body, f"CTT*{len(lines)}"]


def _invoice_set(lines: list[dict[str, Any]], total: Decimal) -> list[str]:
    head = lines[0]
    body = [
        f"BIG*{_ymd(head['invoice_date'].isoformat())}*{head['invoice_id']}*{_ymd(head['order_date'])}"
        f"*{head['po_id']}",
        f"CUR*SE*{head['currency']}",
    ]
    for x in lines:
        body.append(f"IT1*{x['po_line']}*{x['qty']}*{x['uom']}*{x['unit_price']}**BP*{x['material_id']}")
    return [*body, f"TDS*{int(total * 100)}", f"CTT*{len(lines)}"]


def _write_edi(
    folder: Path,
    asn: list[dict[str, str]],
    invoices: list[dict[str, Any]],
    uoms: dict[str, str],
    po_rows: list[dict[str, str]],
) -> int:
    """One 856 and one 810 file per supplier and month; returns how many interchanges."""
    folder.mkdir(parents=True)
    files: dict[tuple[str, str, str], _Interchange] = {}
    control = 0

    def interchange(kind: str, group: str, supplier: str, stamp: str) -> _Interchange:
        nonlocal control
        key = (kind, supplier, stamp[:6])
        if key not in files:
            control += 1
            files[key] = _Interchange(supplier, control, group, stamp)
        return files[key]

    by_asn: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in asn:
        by_asn[r["asn_id"]].append(r)
    for asn_id in sorted(by_asn, key=lambda a: (by_asn[a][0]["shipped_at"], a)):
        head = by_asn[asn_id][0]
        stamp = _ymd(head["shipped_at"]) + _hms(head["shipped_at"])
        interchange("856", "SH", head["supplier_id"], stamp).add("856", _asn_set(by_asn[asn_id], uoms))
    totals = _totals(invoices)
    by_invoice: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in invoices:
        by_invoice[x["invoice_id"]].append(x)
    for inv in sorted(by_invoice, key=lambda i: (by_invoice[i][0]["invoice_date"], i)):
        bill = by_invoice[inv][0]
        stamp = _ymd(bill["invoice_date"].isoformat()) + "0900"
        interchange("810", "IN", bill["supplier_id"], stamp).add(
            "810", _invoice_set(by_invoice[inv], totals[inv])
        )
    for (kind, supplier, month), ic in files.items():
        (folder / f"{kind}-{supplier}-{month}.edi").write_text(ic.text(), encoding="utf-8")

    # the malformed one: an ASN for a real PO line whose SE01 miscounts its segments
    po = next(r for r in po_rows if r["status"] == "open")
    bad = _Interchange(po["supplier_id"], control + 1, "SH", _ymd(po["order_date"]) + "1200")
    line = {
        "asn_id": "ASN-BAD-0001",
        "asn_line": "1",
        "po_id": po["po_id"],
        "po_line": po["po_line"],
        "material_id": po["material_id"],
        "qty_shipped": po["qty_ordered"],
        "supplier_lot": "BAD-LOT-1",
        "expiry_date": "",
        "shipped_at": f"{po['order_date']}T12:00:00",
        "expected_delivery": po["requested_date"],
    }
    bad.add("856", _asn_set([line], uoms), miscount=1)
    (folder / MALFORMED).write_text(bad.text(), encoding="utf-8")
    return len(files) + 1


# --- EPCIS 2.0 ----------------------------------------------------------------------------------------


def _local_time(at: str, zone: ZoneInfo) -> dt.datetime | None:
    """A site's wall-clock time with its offset; None when the clocks skip it or show it twice."""
    naive = dt.datetime.fromisoformat(at)
    first, second = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        return None
    return first


def _write_epcis(
    folder: Path, out_dir: Path, rows: list[dict[str, str]], as_of: dt.date
) -> tuple[list[str], list[dict[str, str]]]:
    """A TransformationEvent per work order and consumption time, one document per month; the document
    names and the rows left for the CSV file (no offset to give)."""
    folder.mkdir(parents=True)
    gtins = _gtins(out_dir)
    uoms = _uoms(out_dir)
    zones = {s["site_id"]: ZoneInfo(s["timezone"]) for s in _read(out_dir / "sites.csv")}
    wos = {w["wo_id"]: w for w in _read(out_dir / "work_orders.csv")}
    events: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        events[(r["wo_id"], r["consumed_at"])].append(r)
    months: dict[str, list[dict[str, Any]]] = defaultdict(list)
    left: list[dict[str, str]] = []
    for (wo_id, at), inputs in sorted(events.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        wo = wos[wo_id]
        local = _local_time(at, zones[wo["site_id"]])
        if local is None:
            left += inputs
            continue
        offset = local.strftime("%z")
        out_lot = wo["output_lot_id"]
        gtin = gtins.get(wo["material_id"])
        output = (
            lot_class_uri(gtin, wo["material_id"], out_lot)
            if out_lot
            else (
                f"https://id.gs1.org/01/{gtin.zfill(14)}"
                if gtin
                else private_uri("lot", wo["material_id"], "")
            )
        )
        place = {"id": private_uri("site", wo["site_id"])}
        months[at[:7]].append(
            {
                "type": "TransformationEvent",
                "eventID": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"medtower-demo:{wo_id}:{at}")),
                "eventTime": local.isoformat(),
                "eventTimeZoneOffset": f"{offset[:3]}:{offset[3:]}",
                "transformationID": private_uri("wo", wo_id),
                "bizStep": "commissioning",
                "readPoint": place,
                "bizLocation": place,
                "inputQuantityList": [
                    {
                        "epcClass": lot_class_uri(
                            gtins.get(r["component_material_id"]),
                            r["component_material_id"],
                            r["component_lot_id"],
                        ),
                        "quantity": _number(r["qty"]),
                        "uom": uoms.get(r["component_material_id"], "EA"),
                    }
                    for r in inputs
                ],
                "outputQuantityList": [{"epcClass": output}],
                **({"ilmd": {"cbvmda:lotNumber": out_lot}} if out_lot else {}),
            }
        )
    names = []
    for month, evs in sorted(months.items()):
        doc = {
            "@context": [CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": f"{as_of.isoformat()}T23:00:00Z",
            "epcisBody": {"eventList": evs},
        }
        name = f"lot-consumption-{month}.json"
        (folder / name).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        names.append(name)
    return names, sorted(left, key=rows.index)


def _number(value: str) -> int | float:
    d = Decimal(value)
    return int(d) if d == d.to_integral_value() else float(d)


# --- scanner log --------------------------------------------------------------------------------------


def _write_scans(path: Path, rows: list[dict[str, str]], bad: dict[tuple[str, int], dict[str, Any]]) -> int:
    """The scanner log in time order, a bad read at its time (never last: the pull re-reads the last read
    at the cursor boundary, and a refused record read again is quarantined again under its new line)."""
    path.parent.mkdir(parents=True)
    bad_lines = sorted(line for entity, line in bad if entity == "scans")
    log = [r for i, r in enumerate(rows, 2) if i not in bad_lines]
    for line in bad_lines:
        r = rows[line - 2]
        at = next((i for i, g in enumerate(log) if g["scanned_at"][:19] > r["scanned_at"][:19]), len(log))
        at = min(at, len(log) - 1)
        log.insert(at, r)
    for line in bad_lines:
        at = next(i for i, r in enumerate(log) if r is rows[line - 2])
        bad[("scans", line)].update(file="scanner:scans", line=at % PAGE_SIZE + 1, port="scanner")
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for seq, r in enumerate(log, 1):
            record = {"seq": seq, **{k: _none(r[c]) for k, c in SCAN_LOG.items()}}
            fh.write(json.dumps(record) + "\n")
    return len(log)


# --- sources.yaml -------------------------------------------------------------------------------------


def _write_sources(path: Path, erp: Path, gtins: dict[str, str]) -> None:
    sources = {
        "erp": {
            "kind": "sql",
            "every_minutes": 15,
            # a relative SQLite path is read relative to this file, so the folder can move (no password:
            # no url_env needed)
            "connection": {"url": f"sqlite:///{erp.name}"},
            "entities": {
                "purchase_orders": {
                    "table": "po_lines",
                    "columns": {c: e for e, c in PO_LINES.items()},
                    "cursor": "updated_at",
                    "mode": "merge",
                    "deleted_flag": "is_deleted",
                }
            },
        },
        "edi": {
            "kind": "x12",
            "every_minutes": 30,
            "path": "edi",
            "entities": {"asn": {}, "supplier_invoices": {}, "purchase_orders": {}},
        },
        "epcis": {
            "kind": "epcis",
            "every_minutes": 30,
            "path": "epcis",
            "materials": {gtin: material for material, gtin in sorted(gtins.items())},
            "entities": {"lot_consumption": {}},
        },
        "scanner": {
            "kind": "snapshot",
            "every_minutes": 5,
            "path": "scans",
            "entities": {
                "scans": {"columns": {c: k for k, c in SCAN_LOG.items()}, "cursor": "seq", "mode": "append"}
            },
        },
    }
    head = (
        "# The demo's source connectors (medtower demo --ports); MEDTOWER_SOURCES names this file.\n"
        "# Paths are relative to this file. medtower sources list shows them, medtower run pulls them.\n"
    )
    path.write_text(head + yaml.safe_dump({"sources": sources}, sort_keys=False), encoding="utf-8")
