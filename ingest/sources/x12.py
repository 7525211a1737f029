"""Supplier EDI X12 from an inbound folder: 850 / 855 / 856 / 810 in, a 997 (or TA1) out for each interchange.

A small tokenizer of our own (ingest/README.md, "EDI X12", says why no library serves): the delimiters are
read from the fixed-width ISA (element separator at position 4, component separator at 105, segment
terminator at 106, a newline terminator included); the envelope is checked (ISA/IEA, GS/GE, ST/SE control
numbers and counts). Each file is one unit: all its batches commit together, a file already loaded (same
sha256) is skipped, and a broken interchange is refused whole (one ``file_error`` batch with the text as
received and every fault found) and answered with a TA1 (envelope faults) or a 997 rejecting it.

What lands where: 855 -> ``purchase_orders`` in mode patch (acknowledged_at, confirmed_date, status
cancelled for a rejected line); 856 -> ``asn`` (one line per item HL, lot and expiry where sent); 810 ->
``supplier_invoices``; 850 (a copy of our own PO) -> ``purchase_orders`` in mode reconcile: never written,
every line we do not hold or that differs from the stored PO is quarantined with the reason.

The folder is read without following links or leaving it; an SFTP inbound is the same design with the one
listing and the one read per file (``_listing``, ``_read``) on an SFTP client, see ingest/README.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.sources import Batch, PullState, SourceConfig, SourceConfigError, SourceError, text

log = logging.getLogger(__name__)

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)  # ISA01..ISA16 (X12.5)
ISA_LENGTH = 106
# TA1 interchange note codes (TA105) for a bad ISA01..ISA16
ISA_NOTE = [
    "010",
    "011",
    "012",
    "013",
    "005",
    "006",
    "007",
    "008",
    "014",
    "015",
    "016",
    "017",
    "018",
    "019",
    "020",
    "027",
]
SET_ENTITY = {"850": "purchase_orders", "855": "purchase_orders", "856": "asn", "810": "supplier_invoices"}
SET_MODE = {"850": "reconcile", "855": "patch", "856": "merge", "810": "merge"}
# ACK01 line item status codes that mean the supplier will not deliver the line
REJECTED_LINE = {"IR", "ID", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
DELIVERY_DATES = ("067", "069", "017")  # current schedule delivery, promised for delivery, estimated delivery
SHIP_DATE = "068"  # current schedule ship
SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
DEFAULTS: dict[str, Any] = {
    "max_bytes": 20_000_000,
    "max_segment_length": 4096,
    "material_qualifiers": ["BP", "IN", "CB"],
    "partners": {},
}


# --- reading an interchange ---------------------------------------------------------------------------------


@dataclass
class TxSet:
    id: str
    control: str
    position: int  # segment number of ST in the interchange (ISA = 1)
    segments: list[list[str]] = field(default_factory=list)  # ST .. SE, each as its elements (id first)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (AK5 syntax error code, why)
    closed: bool = False


@dataclass
class Group:
    elements: list[str]
    sets: list[TxSet] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (AK9 syntax error code, why)
    closed: bool = False

    def el(self, i: int) -> str:
        return self.elements[i] if i < len(self.elements) else ""


@dataclass
class Interchange:
    isa: list[str]  # ISA01..ISA16 as sent (index 0 = ISA01)
    element: str
    component: str
    terminator: str
    groups: list[Group] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (TA1 note code, why)

    @property
    def control(self) -> str:
        return self.isa[12].strip() if len(self.isa) > 12 else ""

    def faults(self) -> list[str]:
        out = [why for _, why in self.errors]
        for g in self.groups:
            out += [why for _, why in g.errors]
            for s in g.sets:
                out += [why for _, why in s.errors]
        return out


def _delimiter_fault(element: str, component: str, terminator: str) -> tuple[str, str] | None:
    named = {"element separator": element, "component separator": component, "segment terminator": terminator}
    for what, ch in named.items():
        if ch.isalnum() or (ch.isspace() and not (what == "segment terminator" and ch in "\r\n")):
            code = {"element separator": "026", "component separator": "027"}.get(what, "004")
            return (
                code,
                f"the ISA gives {ch!r} as the {what}: a delimiter must not be a letter, digit or space",
            )
    if len({element, component, terminator}) < 3:
        return "026", (
            f"the ISA gives the same character for two delimiters (element {element!r}, component "
            f"{component!r}, segment {terminator!r})"
        )
    return None


def _read_isa(text: str, pos: int, where: str) -> tuple[Interchange | None, int]:
    """The ISA at ``pos``: fixed width, else read by its separators (to name every fault) where that works."""
    es = text[pos + 3] if len(text) > pos + 3 else ""
    strict = text[pos : pos + ISA_LENGTH - 1].split(es) if es else []
    if len(strict) == 17 and all(len(v) == w for v, w in zip(strict[1:], ISA_WIDTHS, strict=True)):
        ic = Interchange(strict[1:], es, text[pos + 104], text[pos + 105] if len(text) > pos + 105 else "")
        end = pos + ISA_LENGTH
    else:
        # loose: sixteen element separators, then the component separator and the segment terminator
        cut: list[int] = []
        i = pos + 3
        while es and len(cut) < 16:
            i = text.find(es, i)
            if i < 0 or i - pos > 4 * ISA_LENGTH:
                break
            cut.append(i)
            i += 1
        if len(cut) < 16 or len(text) < cut[-1] + 3:
            return None, pos
        fields = text[pos : cut[-1] + 2].split(es)[1:]
        ic = Interchange(fields, es, text[cut[-1] + 1], text[cut[-1] + 2])
        end = cut[-1] + 3
        # a value padded past its width (ISA08 'RECEIVER' + 8 spaces) is read, as stupidedi does; a field
        # short
        # of its width, or a value longer than it, is the fault X12.5 forbids
        bad = [
            (n, len(v), w)
            for n, (v, w) in enumerate(zip(fields, ISA_WIDTHS, strict=True), 1)
            if len(v) < w or len(v.rstrip(" ")) > w
        ]
        broken = [n for n, v in enumerate(fields, 1) if "\n" in v or "\r" in v]
        if broken:
            ic.errors.append(
                (ISA_NOTE[broken[0] - 1], f"{where}: a line break inside the ISA (in ISA{broken[0]:02d})")
            )
        if bad:
            listed = ", ".join(f"ISA{n:02d} is {got} characters ({w} required)" for n, got, w in bad[:4])
            ic.errors.append(
                (
                    ISA_NOTE[bad[0][0] - 1],
                    f"{where}: the ISA is not fixed width: {listed} (X12.5: the ISA is 106 characters, its "
                    "delimiters are read from positions 4, 105 and 106)",
                )
            )
    fault = _delimiter_fault(ic.element, ic.component, ic.terminator)
    if fault:
        ic.errors.append((fault[0], f"{where}: {fault[1]}"))
        return ic, -1
    checks = [(8, r"\d{6}", "014"), (9, r"\d{4}", "015"), (11, r"\d{5}", "017"), (12, r"\d{9}", "018")]
    checks += [(13, r"[01]", "019"), (14, r"[PTI]", "020")]
    for idx, pattern, code in checks:
        if not ic.errors and not re.fullmatch(pattern, ic.isa[idx].strip()):
            ic.errors.append((code, f"{where}: ISA{idx + 1:02d} {ic.isa[idx]!r} is not valid"))
    return ic, end


def _segments(
    text: str, ic: Interchange, start: int, max_len: int, where: str
) -> Iterator[tuple[int, list[str] | None, int]]:
    """(segment number, elements, end offset); elements None where the text ends without a terminator."""
    term, n, i = ic.terminator, 1, start
    newline_term = term in "\r\n"
    while i < len(text):
        if not newline_term:
            while i < len(text) and text[i] in "\r\n":
                i += 1
            if i >= len(text):
                return
        j = text.find(term, i)
        raw = text[i:] if j < 0 else text[i:j]
        end = len(text) if j < 0 else j + 1
        if newline_term:
            raw = raw.strip("\r\n")
            if not raw.strip():
                i = end
                continue
        n += 1
        if j < 0:
            ic.errors.append(("023", f"{where}: the text ends in segment {n} without a segment terminator"))
            yield n, None, end
            return
        if len(raw) > max_len:
            ic.errors.append(
                ("024", f"{where}: segment {n} is {len(raw):,} characters, over the cap of {max_len:,}")
            )
        elements = raw.split(ic.element)
        if not newline_term and ("\n" in raw or "\r" in raw):
            elements.append("\n")  # marks the fault for the envelope walk
        yield n, elements, end
        i = end


def _fault_in_set(s: TxSet | None, ic: Interchange, code: str, why: str) -> None:
    if s is not None:
        s.errors.append((code, why))
    else:
        ic.errors.append(("024", why))


def read_interchanges(text: str, *, max_segment_length: int = 4096) -> list[Interchange]:
    """Every interchange in ``text``, its envelope checked; each fault is recorded on the part it breaks."""
    out: list[Interchange] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        where = f"interchange {len(out) + 1}"
        if text[pos : pos + 3] != "ISA":
            if not out:
                raise ValueError(f"does not begin with an ISA segment (found {text[pos : pos + 20]!r})")
            out[-1].errors.append(
                ("022", f"text after the IEA that is not another interchange: {text[pos : pos + 20]!r}")
            )
            break
        ic, after = _read_isa(text, pos, where)
        if ic is None:
            raise ValueError(
                f"{where}: the ISA does not have 16 elements separated by {text[pos + 3 : pos + 4]!r}"
            )
        out.append(ic)
        if after < 0:
            break
        pos = _walk(text, ic, after, max_segment_length, where)
        if pos < 0:
            break
    return out


def _walk(text: str, ic: Interchange, start: int, max_len: int, where: str) -> int:
    """Tokenize the segments after the ISA up to the IEA; returns where the next interchange may start."""
    group: Group | None = None
    tset: TxSet | None = None
    for n, elements, end in _segments(text, ic, start, max_len, where):
        if elements is None:
            return -1
        sid = elements[0]
        at = f"{where}, segment {n} ({sid[:3]})"
        if elements[-1] == "\n":
            elements.pop()
            _fault_in_set(
                tset,
                ic,
                "5",
                f"{at}: a line break inside the segment (the segment terminator is {ic.terminator!r})",
            )
        if not SEGMENT_ID.match(sid):
            _fault_in_set(tset, ic, "5", f"{at}: {sid[:20]!r} is not a segment id")
            continue
        if tset is not None and sid in ("GS", "GE", "IEA", "ST"):
            tset.errors.append(("2", f"{where}: transaction set {tset.id} {tset.control} has no SE"))
            tset = None
        if sid == "GS":
            if group is not None and not group.closed:
                group.errors.append(("3", f"{where}: functional group {group.el(6)} has no GE"))
            group = Group(elements)
            ic.groups.append(group)
        elif sid == "ST":
            if group is None or group.closed:
                ic.errors.append(("024", f"{at}: ST outside a functional group"))
                group = Group(["GS"])
                ic.groups.append(group)
            tset = TxSet(
                id=_el(elements, 1) or "", control=_el(elements, 2) or "", position=n, segments=[elements]
            )
            if any(s.control == tset.control for s in group.sets):
                tset.errors.append(("23", f"{at}: ST02 {tset.control} is used twice in the functional group"))
            group.sets.append(tset)
        elif sid == "SE":
            if tset is None:
                ic.errors.append(("024", f"{at}: SE without ST"))
                continue
            tset.segments.append(elements)
            count = len(tset.segments)
            if _el(elements, 1) != str(count):
                tset.errors.append(
                    (
                        "4",
                        f"{where}: transaction set {tset.id} {tset.control}: SE01 says {_el(elements, 1)} "
                        f"segments, ST to SE has {count}",
                    )
                )
            if _el(elements, 2) != tset.control:
                tset.errors.append(
                    ("3", f"{at}: SE02 {_el(elements, 2)} is not the ST02 {tset.control} of the set")
                )
            tset.closed = True
            tset = None
        elif sid == "GE":
            if group is None or group.closed:
                ic.errors.append(("024", f"{at}: GE without GS"))
                continue
            group.closed = True
            if _el(elements, 1) != str(len(group.sets)):
                group.errors.append(
                    (
                        "5",
                        f"{at}: GE01 says {_el(elements, 1)} transaction sets, the group has "
                        f"{len(group.sets)}",
                    )
                )
            if _el(elements, 2) != group.el(6):
                group.errors.append(("4", f"{at}: GE02 {_el(elements, 2)} is not the GS06 {group.el(6)}"))
        elif sid == "IEA":
            if group is not None and not group.closed:
                group.errors.append(("3", f"{where}: functional group {group.el(6)} has no GE"))
            if _el(elements, 1) != str(len(ic.groups)):
                ic.errors.append(
                    (
                        "021",
                        f"{at}: IEA01 says {_el(elements, 1)} functional groups, the interchange has "
                        f"{len(ic.groups)}",
                    )
                )
            if _el(elements, 2) != ic.control:
                ic.errors.append(("001", f"{at}: IEA02 {_el(elements, 2)} is not the ISA13 {ic.control}"))
            return end
        elif tset is not None:
            tset.segments.append(elements)
        else:
            ic.errors.append(("024", f"{at}: a segment outside a transaction set"))
    ic.errors.append(("023", f"{where}: the text ends without an IEA"))
    return -1


def _el(seg: list[str], i: int) -> str | None:
    """Element ``i`` of a segment (1 = the first after the id), None when absent or empty."""
    v = seg[i].strip() if i < len(seg) else ""
    return v or None


# --- what the transaction sets say --------------------------------------------------------------------------


def _date(value: str | None) -> str | None:
    """CCYYMMDD or YYMMDD (before version 4010) as ISO; anything else as sent, for the contract to refuse."""
    if value and value.isdigit() and len(value) in (6, 8):
        if len(value) == 6:
            value = ("20" if int(value[:2]) < 50 else "19") + value
        try:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])).isoformat()
        except ValueError:
            return value
    return value


def _timestamp(date: str | None, time: str | None) -> str | None:
    d = _date(date)
    if d is None or len(d) != 10:
        return d
    t = (time or "0000").ljust(4, "0")
    if not t[:6].isdigit():
        return f"{d}T{t}"
    return f"{d}T{t[:2]}:{t[2:4]}:{t[4:6] or '00'}"


def _product_ids(seg: list[str], first: int) -> dict[str, str]:
    """Qualifier -> value of the (qualifier, id) pairs of a PO1 / IT1 / LIN from element ``first`` on."""
    out: dict[str, str] = {}
    for i in range(first, len(seg) - 1, 2):
        q, v = _el(seg, i), _el(seg, i + 1)
        if q and v and q not in out:
            out[q] = v
    return out


def _ids_text(ids: Mapping[str, str]) -> str | None:
    """Every product id of a line, kept as an extra column: "VN:AB3542;CB:065322-117"."""
    return ";".join(f"{k}:{v}" for k, v in ids.items()) or None


def _seg(segments: list[list[str]], sid: str) -> list[str]:
    """The first segment ``sid`` of ``segments``, or an empty one."""
    return next((seg for seg in segments if seg[0] == sid), [])


def _line_number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@dataclass
class _Context:
    supplier_id: str | None
    material_qualifiers: tuple[str, ...]
    terminator: str
    group_date: str | None
    group_time: str | None

    def material(self, ids: Mapping[str, str]) -> str | None:
        return next((ids[q] for q in self.material_qualifiers if q in ids), None)

    def raw(self, segments: list[list[str]], element: str) -> str:
        return "".join(element.join(s) + self.terminator for s in segments)


def _units(
    segments: list[list[str]], starts: tuple[str, ...]
) -> tuple[list[list[str]], list[list[list[str]]]]:
    """The header segments before the first ``starts`` segment, and each unit from one such segment on."""
    header: list[list[str]] = []
    units: list[list[list[str]]] = []
    for seg in segments:
        if seg[0] in starts:
            units.append([seg])
        elif seg[0] in ("CTT", "SE", "TDS", "AMT") and units:
            break
        elif units:
            units[-1].append(seg)
        else:
            header.append(seg)
    return header, units


def _dtm(segments: list[list[str]], qualifiers: tuple[str, ...]) -> str | None:
    for q in qualifiers:
        for seg in segments:
            if seg[0] == "DTM" and _el(seg, 1) == q:
                return _date(_el(seg, 2))
    return None


def _po_850(s: TxSet, ctx: _Context, es: str) -> list[dict[str, Any]]:
    beg = _seg(s.segments, "BEG")
    header, lines = _units(s.segments[1:], ("PO1",))
    requested = _dtm(header, ("002",))
    out = []
    for seq, unit in enumerate(lines, 1):
        po1 = unit[0]
        ids = _product_ids(po1, 6)
        out.append(
            {
                "po_id": _el(beg, 3),
                "po_line": _line_number(_el(po1, 1)) or seq,
                "supplier_id": ctx.supplier_id,
                "material_id": ctx.material(ids),
                "qty_ordered": _el(po1, 2),
                "order_date": _date(_el(beg, 5)),
                "requested_date": _dtm(unit, ("002",)) or requested,
                "uom": _el(po1, 3),
                "unit_price": _el(po1, 4),
                "product_ids": _ids_text(ids),
                "_raw": ctx.raw(unit, es),
            }
        )
    return out


def _po_855(s: TxSet, ctx: _Context, es: str) -> list[dict[str, Any]]:
    bak = _seg(s.segments, "BAK")
    header, lines = _units(s.segments[1:], ("PO1",))
    acked = _timestamp(_el(bak, 9), None) if _el(bak, 9) else _timestamp(ctx.group_date, ctx.group_time)
    out = []
    for seq, unit in enumerate(lines, 1):
        po1 = unit[0]
        dates: dict[str, str] = {}
        codes: list[str] = []
        for seg in unit[1:]:
            if seg[0] == "ACK":
                codes.append(_el(seg, 1) or "")
                if _el(seg, 4) and _el(seg, 5):
                    dates.setdefault(_el(seg, 4) or "", _date(_el(seg, 5)) or "")
            elif seg[0] == "SCH" and _el(seg, 5) and _el(seg, 6):
                dates.setdefault(_el(seg, 5) or "", _date(_el(seg, 6)) or "")
            elif seg[0] == "DTM" and _el(seg, 1) and _el(seg, 2):
                dates.setdefault(_el(seg, 1) or "", _date(_el(seg, 2)) or "")
        for seg in header:
            if seg[0] == "DTM" and _el(seg, 1) and _el(seg, 2):
                dates.setdefault(_el(seg, 1) or "", _date(_el(seg, 2)) or "")
        rejected = bool(codes) and all(c in REJECTED_LINE for c in codes)
        out.append(
            {
                "po_id": _el(bak, 3),
                "po_line": _line_number(_el(po1, 1)) or seq,
                "acknowledged_at": acked,
                "confirmed_date": next((dates[q] for q in DELIVERY_DATES if q in dates), None),
                "status": "cancelled" if rejected else None,
                "ack_type": _el(bak, 2),
                "ack_status": ",".join(codes) or None,
                "confirmed_ship_date": dates.get(SHIP_DATE),
                "_raw": ctx.raw(unit, es),
            }
        )
    return out


def _asn_856(s: TxSet, ctx: _Context, es: str) -> list[dict[str, Any]]:
    bsn = _seg(s.segments, "BSN")
    levels: dict[
        str, tuple[str | None, str | None, list[list[str]]]
    ] = {}  # HL01 -> (parent, level, segments)
    order: list[str] = []
    current: list[list[str]] | None = None
    before: list[list[str]] = []
    for seg in s.segments[1:]:
        if seg[0] == "HL":
            current = [seg]
            hl = _el(seg, 1) or str(len(order) + 1)
            levels[hl] = (_el(seg, 2), _el(seg, 3), current)
            order.append(hl)
        elif seg[0] in ("CTT", "SE"):
            current = None
        elif current is not None:
            current.append(seg)
        else:
            before.append(seg)

    def ancestors(hl: str) -> Iterator[list[list[str]]]:
        seen: set[str] = set()
        parent = levels[hl][0]
        while parent in levels and parent not in seen:
            seen.add(parent)
            yield levels[parent][2]
            parent = levels[parent][0]

    shipment = before + [seg for hl in order if levels[hl][1] == "S" for seg in levels[hl][2]]
    shipped = next((seg for seg in shipment if seg[0] == "DTM" and _el(seg, 1) == "011"), None)
    shipped_at = (
        _timestamp(_el(shipped, 2), _el(shipped, 3)) if shipped else _timestamp(_el(bsn, 3), _el(bsn, 4))
    )
    expected = _dtm(shipment, ("017", "067"))
    out: list[dict[str, Any]] = []
    for hl in order:
        _, level, segs = levels[hl]
        if level != "I":
            continue
        lin = _seg(segs, "LIN")
        ids = _product_ids(lin, 2)
        sn1 = _seg(segs, "SN1")
        refs = {(_el(seg, 1) or ""): _el(seg, 2) for seg in segs if seg[0] == "REF"}
        po_id = _el(_seg(segs, "PRF"), 1)
        for up in ancestors(hl):
            po_id = po_id or _el(_seg(up, "PRF"), 1)
        out.append(
            {
                "asn_id": _el(bsn, 2),
                "asn_line": len(out) + 1,
                "supplier_id": ctx.supplier_id,
                "po_id": po_id or ids.get("PO") or ids.get("ON"),
                "po_line": _line_number(ids.get("PL")) or _line_number(_el(lin, 1)),
                "material_id": ctx.material(ids),
                "qty_shipped": _el(sn1, 2),
                "supplier_lot": ids.get("LT") or refs.get("LT"),
                "expiry_date": _dtm(segs, ("036",)),
                "shipped_at": shipped_at,
                "expected_delivery": expected,
                "hl": hl,
                "uom": _el(sn1, 3),
                "product_ids": _ids_text(ids),
                "_raw": ctx.raw(segs, es),
            }
        )
    return out


def _invoice_810(s: TxSet, ctx: _Context, es: str) -> list[dict[str, Any]]:
    big = _seg(s.segments, "BIG")
    header, lines = _units(s.segments[1:], ("IT1",))
    cur = _seg(header, "CUR")
    tds = _seg(s.segments, "TDS")
    total = _el(tds, 1)
    if total and total.lstrip("-").isdigit():  # N2: two implied decimals
        total = f"{int(total) / 100:.2f}"
    out = []
    for seq, unit in enumerate(lines, 1):
        it1 = unit[0]
        ids = _product_ids(it1, 6)
        out.append(
            {
                "invoice_id": _el(big, 2),
                "invoice_line": seq,
                "supplier_id": ctx.supplier_id,
                "po_id": _el(big, 4),
                "po_line": _line_number(_el(it1, 1)),
                "material_id": ctx.material(ids),
                "qty": _el(it1, 2),
                "uom": _el(it1, 3),
                "unit_price": _el(it1, 4),
                "currency": _el(cur, 2),
                "invoice_date": _date(_el(big, 1)),
                "invoice_total": total,
                "product_ids": _ids_text(ids),
                "_raw": ctx.raw(unit, es),
            }
        )
    return out


READERS = {"850": _po_850, "855": _po_855, "856": _asn_856, "810": _invoice_810}


# --- the 997 and TA1 we send back ---------------------------------------------------------------------------


def acknowledgment(ic: Interchange, refused: bool, now: dt.datetime) -> str:
    """The interchange we answer ``ic`` with: a TA1 when its envelope is broken or ISA14 asks for one, a 997
    for each functional group when the envelope could be read. Delimiters, version and control number mirror
    the inbound interchange (ours is unique per partner as theirs is)."""
    es, cs, term = ic.element, ic.component, ic.terminator
    if _delimiter_fault(es, cs, term):
        es, cs, term = "*", ">", "~"
    isa = [(v.strip() if i < len(ic.isa) else "") for i, v in enumerate(ic.isa + [""] * 16)][:16]
    control = isa[12] if re.fullmatch(r"\d{9}", isa[12]) else "000000000"
    version = isa[11] if re.fullmatch(r"\d{5}", isa[11]) else "00401"
    rep = isa[10] if len(isa[10]) == 1 and isa[10] not in (es, cs, term) else "U"
    fields = [
        "00",
        "",
        "00",
        "",
        isa[6] or "ZZ",
        isa[7],
        isa[4] or "ZZ",
        isa[5],
        f"{now:%y%m%d}",
        f"{now:%H%M}",
    ]
    fields += [rep, version, control, "0", isa[14] if isa[14] in ("P", "T") else "P", cs]
    header = "ISA" + "".join(es + v[:w].ljust(w) for v, w in zip(fields, ISA_WIDTHS, strict=True))
    segs: list[list[str]] = []
    if ic.errors or isa[13] == "1":
        note = ic.errors[0][0] if ic.errors else "000"
        segs.append(["TA1", control, isa[8][:6], isa[9][:4], "R" if ic.errors else "A", note])
    groups = [] if ic.errors else ic.groups
    for g_no, g in enumerate(groups, 1):
        ctrl = g.el(6) if g.el(6).isdigit() else str(g_no)
        body: list[list[str]] = [["ST", "997", f"{g_no:04d}"], ["AK1", g.el(1), g.el(6)]]
        accepted = 0
        for s in g.sets:
            body.append(["AK2", s.id, s.control])
            if not refused:
                body.append(["AK5", "A"])
                accepted += 1
            else:
                body.append(["AK5", "R", *[code for code, _ in s.errors][:5]])
        status = "A" if not refused else "R"
        n_sets = str(len(g.sets))
        body.append(["AK9", status, n_sets, n_sets, str(accepted), *[code for code, _ in g.errors][:5]])
        body.append(["SE", str(len(body) + 1), f"{g_no:04d}"])
        segs.append(
            ["GS", "FA", g.el(3), g.el(2), f"{now:%Y%m%d}", f"{now:%H%M}", ctrl, "X", g.el(8) or "004010"]
        )
        segs += body
        segs.append(["GE", "1", ctrl])
    segs.append(["IEA", str(len(groups)), control])
    return header + term + "".join(es.join(s) + term for s in segs)


# --- the connector ------------------------------------------------------------------------------------------


@dataclass
class Reading:
    """What one inbound file says: its interchanges, the records per (entity, mode), and why it is refused."""

    interchanges: list[Interchange]
    records: list[tuple[str, str, list[dict[str, Any]]]]  # (entity, mode, records) per transaction set
    faults: list[str]
    first_entity: str | None = None


def read_x12(data: bytes, options: Mapping[str, Any] | None = None) -> Reading:
    """One inbound file as received, read; never raises for bad input: the faults say what and where."""
    opts = {**DEFAULTS, **(options or {})}
    if b"\x00" in data:
        first = data.index(b"\x00")
        return Reading([], [], [f"contains a NUL byte (first at byte {first:,}): not X12 text"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reading(
            [], [], [f"is not UTF-8 text (byte {exc.start:,}): X12 uses its basic or extended character set"]
        )
    try:
        interchanges = read_interchanges(text, max_segment_length=int(opts["max_segment_length"]))
    except ValueError as exc:
        return Reading([], [], [str(exc)])
    partners = {str(k).strip(): str(v) for k, v in (opts.get("partners") or {}).items()}
    qualifiers = tuple(str(q) for q in opts["material_qualifiers"])
    records: list[tuple[str, str, list[dict[str, Any]]]] = []
    faults: list[str] = []
    first_entity = None
    for ic in interchanges:
        for g in ic.groups:
            for s in g.sets:
                first_entity = first_entity or SET_ENTITY.get(s.id)
                reader = READERS.get(s.id)
                if reader is None:
                    s.errors.append(
                        (
                            "1",
                            f"transaction set {s.id} {s.control}: not one this source reads "
                            "(850, 855, 856, 810)",
                        )
                    )
                    continue
                # our PO (850) goes to the supplier: the partner is the receiver; the others come from it
                side = (6, 7) if s.id == "850" else (4, 5)
                qual, ident = (ic.isa[i].strip() if len(ic.isa) > i else "" for i in side)
                supplier = partners.get(f"{qual}:{ident}") or partners.get(ident) or ident or None
                ctx = _Context(supplier, qualifiers, ic.terminator, g.el(4), g.el(5))
                records.append((SET_ENTITY[s.id], SET_MODE[s.id], reader(s, ctx, ic.element)))
        faults += ic.faults()
    return Reading(interchanges, records, faults, first_entity)


def _batches(
    entity: str, mode: str, records: list[dict[str, Any]], label: str, item: tuple[str, str]
) -> Iterator[Batch]:
    """Records as batches; a patch or reconcile delivers only the values it has, grouped by columns set."""
    records = [{k: text(v) for k, v in r.items()} for r in records]
    if mode == "merge":
        yield Batch(entity=entity, records=records, label=label, mode=mode, item=item, mapped=True)
        return
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        kept = {k: v for k, v in r.items() if v is not None}
        by_columns.setdefault(tuple(sorted(kept)), []).append(kept)
    for recs in by_columns.values():
        yield Batch(entity=entity, records=recs, label=label, mode=mode, item=item, mapped=True)


class X12Connector:
    """An inbound folder of X12 files (options path, ack_path, partners, material_qualifiers, max_bytes)."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.options = {**DEFAULTS, **source.options}
        self.folder = source.path("path")
        self.ack_folder = source.path("ack_path") if source.options.get("ack_path") else self.folder / "997"
        if not isinstance(self.options["partners"], Mapping):
            raise SourceConfigError(f"source {source.name}: option partners must map ISA ids to supplier_id")
        configured = {s.entity for s in source.streams}
        missing = sorted(set(SET_ENTITY.values()) - configured)
        if missing:
            raise SourceConfigError(
                f"source {source.name}: an x12 source loads {', '.join(sorted(set(SET_ENTITY.values())))}; "
                f"add {', '.join(missing)} under entities"
            )

    def check(self) -> str:
        if not self.folder.is_dir() or self.folder.is_symlink():
            raise SourceError(
                f"source {self.source.name}: inbound folder {self.folder} does not exist (or is a link)"
            )
        files = [p for p in self._listing() if p.is_file()]
        return f"{self.folder}: {len(files)} inbound files; acknowledgments to {self.ack_folder}"

    def _listing(self) -> list[Path]:
        """The folder's entries but its subfolders (the 997 folder among them), dotfiles and _files."""
        return sorted(
            p for p in self.folder.iterdir() if not p.name.startswith((".", "_")) and not p.is_dir()
        )

    def _read(self, path: Path) -> tuple[bytes | None, str | None]:
        """The bytes of a regular file inside the folder, never through a link; else why not."""
        if path.is_symlink():
            return None, "is a symbolic link: only regular files inside the inbound folder are read"
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            return None, f"cannot be opened: {exc.strerror}"
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None, "is not a regular file"
            limit = int(self.options["max_bytes"])
            if st.st_size > limit:
                return fh.read(
                    65_536
                ), f"is {st.st_size:,} bytes, over the cap of {limit:,} (option max_bytes)"
            return fh.read(), None

    def _write_ack(self, name: str, digest: str, reading: Reading, refused: bool) -> None:
        if not reading.interchanges:
            return  # no ISA to answer to
        self.ack_folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        for i, ic in enumerate(reading.interchanges, 1):
            kind = "ta1" if ic.errors or not ic.groups else "997"
            target = self.ack_folder / f"{name}.{digest[:12]}.{i}.{kind}.edi"
            if target.exists():
                continue  # answered already: a partner gets one acknowledgment per interchange
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(acknowledgment(ic, refused, now), encoding="utf-8")
            os.replace(tmp, target)

    def pull(self, state: PullState) -> Iterator[Batch]:
        if not self.folder.is_dir() or self.folder.is_symlink():
            raise SourceError(
                f"source {self.source.name}: inbound folder {self.folder} does not exist (or is a link)"
            )
        for path in self._listing():
            data, refused_why = self._read(path)
            raw = data or (os.readlink(path).encode() if path.is_symlink() else b"")
            digest = hashlib.sha256(raw).hexdigest()
            item = (path.name, digest)
            if state.seen(*item):
                continue
            label = f"x12:{path.name}"
            reading = read_x12(raw, self.options) if refused_why is None else Reading([], [], [refused_why])
            if reading.faults:
                self._write_ack(path.name, digest, reading, refused=True)
                shown = "; ".join(reading.faults[:10]) + (
                    f"; and {len(reading.faults) - 10} more" if len(reading.faults) > 10 else ""
                )
                entity = reading.first_entity or "asn"
                text = raw.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
                log.warning("x12 %s: refused: %s", path.name, shown)
                yield Batch(
                    entity=entity,
                    records=[],
                    label=label,
                    item=item,
                    file_error=f"{path.name} is refused whole: {shown}",
                    raw_text=text,
                    mapped=True,
                )
                continue
            self._write_ack(path.name, digest, reading, refused=False)
            n = 0
            for entity, mode, records in reading.records:
                for batch in _batches(entity, mode, records, label, item):
                    n += 1
                    yield batch
            if not n:  # nothing to load (a set without lines): the file is still done
                yield Batch(entity="asn", records=[], label=label, item=item, mapped=True)
