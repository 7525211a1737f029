"""Barcode payloads from scanners: GS1 element strings (via biip) and HIBC (our own parser).

A scan row carries the raw payload; ``parse_scan`` turns it into GTIN / lot / serial /
dates, and a payload that cannot be trusted (bad check digit or check character,
unknown structure) raises ``BarcodeError`` with a message that says what is wrong.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import biip
from biip.gs1_messages import GS1Message

# HIBC character set (Code 39 set); the index of a character is its check value (mod 43).
HIBC_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_HIBC_VALUE = {ch: i for i, ch in enumerate(HIBC_CHARSET)}
_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_GS = "\x1d"


class BarcodeError(ValueError):
    """The payload is not a barcode we can trust; the message says why."""


@dataclass(frozen=True)
class ScanData:
    symbology: str  # 'gs1' | 'hibc'
    raw: str
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry_date: dt.date | None = None
    production_date: dt.date | None = None
    quantity: int | None = None
    # HIBC only
    labeler: str | None = None  # LIC, labeler identification code
    product: str | None = None  # product or catalog number
    unit_of_measure: int | None = None
    link_character: str | None = None  # on a separate secondary symbol: the primary's check character


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, ... from the right).

    The one implementation: the scan parser, the demo's GTINs and the tests' plants all use it (the bulk
    check in ingest/validate.py is the same formula in SQL).
    """
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_is_valid(s: str | None) -> bool:
    """GTIN-8/12/13/14 with a correct mod-10 check digit."""
    if s is None:
        return False
    s = s.strip()
    if len(s) not in (8, 12, 13, 14) or not s.isascii() or not s.isdigit():
        return False
    return gs1_check_digit(s[:-1]) == int(s[-1])


def hibc_check_character(data: str) -> str:
    """Mod-43 check character over every character before it (the leading '+' included)."""
    try:
        total = sum(_HIBC_VALUE[ch] for ch in data)
    except KeyError as exc:
        raise BarcodeError(f"character {exc.args[0]!r} is not allowed in HIBC data") from exc
    return HIBC_CHARSET[total % 43]


def parse_scan(payload: str) -> ScanData:
    if payload is None or not str(payload).strip():
        raise BarcodeError("empty barcode payload")
    raw = str(payload)
    text = raw.lstrip().rstrip("\r\n")  # a trailing space may be an HIBC check character
    symbology_id = ""
    match = _SYMBOLOGY_ID.match(text)
    if match:
        symbology_id = match.group(0)
        text = text[3:]
    # Code 39 scanners may pass the start/stop '*' through.
    if text.startswith("*") and text.endswith("*") and len(text) > 2:
        text = text[1:-1]
    if text.startswith("+"):
        return _parse_hibc(text, raw)
    return _parse_gs1(symbology_id + text, raw)


# --------------------------------------------------------------------------- GS1


def _parse_gs1(text: str, raw: str) -> ScanData:
    body = text[3:] if _SYMBOLOGY_ID.match(text) else text
    body = body.lstrip(_GS)  # a leading FNC1 is transmitted as GS by some scanners
    if body.isascii() and body.isdigit() and len(body) in (8, 12, 13, 14):
        # a plain EAN/UPC/ITF-14 read: only a GTIN
        if not gtin_is_valid(body):
            raise BarcodeError(f"GTIN {body} has a wrong check digit")
        return ScanData(symbology="gs1", raw=raw, gtin=body.zfill(14))
    try:
        if body.startswith("("):
            message = GS1Message.parse_hri(body)
        else:
            result = biip.parse(text)
            if result.gs1_message is None:
                raise BarcodeError(
                    f"not a GS1 element string or HIBC code: {result.gs1_message_error or 'unrecognised'}"
                )
            message = result.gs1_message
    except biip.ParseError as exc:
        raise BarcodeError(f"not a GS1 element string: {exc}") from exc

    for element in message.element_strings:
        if element.gtin_error:
            raise BarcodeError(f"AI ({element.ai.ai}): {element.gtin_error}")
        if element.sscc_error:
            raise BarcodeError(f"AI ({element.ai.ai}): {element.sscc_error}")

    def value(ai: str) -> str | None:
        element = message.element_strings.get(ai=ai)
        return element.value if element is not None else None

    def date(ai: str) -> dt.date | None:
        element = message.element_strings.get(ai=ai)
        if element is None:
            return None
        if element.date is None:
            raise BarcodeError(f"AI ({ai}) {element.value!r} is not a valid YYMMDD date")
        return element.date

    gtin = value("01") or value("02")
    if gtin is None and value("00") is None:
        raise BarcodeError("GS1 element string has neither a GTIN (01) nor an SSCC (00)")
    return ScanData(
        symbology="gs1",
        raw=raw,
        gtin=gtin,
        lot=value("10"),
        serial=value("21"),
        expiry_date=date("17"),
        production_date=date("11"),
        quantity=int(qty) if (qty := value("30")) else None,
    )


# --------------------------------------------------------------------------- HIBC


def _hibc_date(fmt: str, digits: str) -> dt.date:
    try:
        if fmt == "MMYY":
            month, year = int(digits[0:2]), 2000 + int(digits[2:4])
            return dt.date(year, month, calendar.monthrange(year, month)[1])
        if fmt == "MMDDYY":
            return dt.date(2000 + int(digits[4:6]), int(digits[0:2]), int(digits[2:4]))
        if fmt in ("YYMMDD", "YYMMDDHH"):
            return dt.date(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
        if fmt in ("YYJJJ", "YYJJJHH"):
            day = int(digits[2:5])
            start = dt.date(2000 + int(digits[0:2]), 1, 1)
            if not 1 <= day <= (366 if calendar.isleap(start.year) else 365):
                raise ValueError("day of year out of range")
            return start + dt.timedelta(days=day - 1)
        if fmt == "YYYYMMDD":
            return dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise BarcodeError(f"HIBC date {digits!r} is not a valid {fmt} date") from exc
    raise BarcodeError(f"unknown HIBC date format {fmt}")


# date format flag after "$$" (or after the quantity) -> (name, length)
_HIBC_DATE_FORMATS = {
    "2": ("MMDDYY", 6),
    "3": ("YYMMDD", 6),
    "4": ("YYMMDDHH", 8),
    "5": ("YYJJJ", 5),
    "6": ("YYJJJHH", 7),
    "7": (None, 0),
}


def _take_digits(text: str, n: int, what: str) -> tuple[str, str]:
    head = text[:n]
    if len(head) != n or not head.isdigit():
        raise BarcodeError(f"HIBC {what} needs {n} digits, got {head!r}")
    return head, text[n:]


def _hibc_expiry_then_rest(text: str) -> tuple[dt.date | None, str]:
    """After '$$' (and an optional quantity): an expiry date in one of the flagged formats."""
    if not text:
        raise BarcodeError("HIBC secondary data ends after the '$$' flag")
    flag = text[0]
    if flag in "01":  # no flag: MMYY, the month's first digit
        digits, rest = _take_digits(text, 4, "expiry date MMYY")
        return _hibc_date("MMYY", digits), rest
    if flag in _HIBC_DATE_FORMATS:
        fmt, size = _HIBC_DATE_FORMATS[flag]
        if fmt is None:
            return None, text[1:]
        digits, rest = _take_digits(text[1:], size, f"expiry date {fmt}")
        return _hibc_date(fmt, digits), rest
    raise BarcodeError(f"HIBC '$$' must be followed by a month (0/1) or a date format flag 2-9, got {flag!r}")


def _parse_hibc_secondary(data: str) -> dict:
    """Secondary data without leading '+', link or check character."""
    out: dict = {}
    parts = data.split("/")
    head, supplements = parts[0], parts[1:]
    if head.startswith("$$+"):
        expiry, serial = _hibc_expiry_then_rest(head[3:])
        out.update(expiry_date=expiry, serial=serial or None)
    elif head.startswith("$+"):
        out["serial"] = head[2:] or None
    elif head.startswith("$$8") or head.startswith("$$9"):
        qty, rest = _take_digits(head[3:], 2 if head[2] == "8" else 5, "quantity")
        out["quantity"] = int(qty)
        if rest:
            expiry, lot = _hibc_expiry_then_rest(rest)
            out.update(expiry_date=expiry, lot=lot or None)
    elif head.startswith("$$"):
        expiry, lot = _hibc_expiry_then_rest(head[2:])
        out.update(expiry_date=expiry, lot=lot or None)
    elif head.startswith("$"):
        out["lot"] = head[1:] or None
    elif head[:1].isdigit():
        digits, lot = _take_digits(head, 5, "date YYJJJ")
        # the 5-digit Julian date of the original format is an expiry date
        out.update(expiry_date=_hibc_date("YYJJJ", digits), lot=lot or None)
    elif head:
        raise BarcodeError(f"HIBC secondary data {head!r} starts with neither '$' nor a Julian date")
    for sup in supplements:
        if sup.startswith("16D"):
            out["production_date"] = _hibc_date("YYYYMMDD", _take_digits(sup[3:], 8, "date 16D")[0])
        elif sup.startswith("14D"):
            out["expiry_date"] = _hibc_date("YYYYMMDD", _take_digits(sup[3:], 8, "date 14D")[0])
        elif sup.startswith("S"):
            out["serial"] = sup[1:] or None
        elif sup.startswith("Q"):
            out["quantity"] = int(_take_digits(sup[1:], len(sup) - 1, "quantity")[0])
        else:
            raise BarcodeError(f"unknown HIBC supplemental data field {sup!r}")
    return out


def _parse_hibc(text: str, raw: str) -> ScanData:
    if len(text) < 3:
        raise BarcodeError(f"HIBC code {text!r} is too short")
    bad = sorted({ch for ch in text if ch not in _HIBC_VALUE})
    if bad:
        raise BarcodeError(f"HIBC code contains characters outside the HIBC set: {''.join(bad)!r}")
    body, check = text[:-1], text[-1]
    expected = hibc_check_character(body)
    if check != expected:
        raise BarcodeError(f"HIBC check character is {check!r}, expected {expected!r}")
    data = body[1:]
    if data[:1].isalpha():
        primary, _, secondary = data.partition("/")
        if len(primary) < 6:
            raise BarcodeError(
                f"HIBC primary data {primary!r} needs LIC (4), product number (1-18) and unit of measure (1)"
            )
        lic, product, uom = primary[:4], primary[4:-1], primary[-1]
        if not lic.isalnum():
            raise BarcodeError(f"HIBC labeler code {lic!r} must be 4 letters/digits")
        if not (1 <= len(product) <= 18 and product.isalnum()):
            raise BarcodeError(f"HIBC product number {product!r} must be 1-18 letters/digits")
        if not uom.isdigit():
            raise BarcodeError(f"HIBC unit of measure {uom!r} must be a digit 0-9")
        fields = _parse_hibc_secondary(secondary) if secondary else {}
        return ScanData(
            symbology="hibc", raw=raw, labeler=lic, product=product, unit_of_measure=int(uom), **fields
        )
    # separate secondary symbol: data, then the link character (the primary's check character)
    if len(data) < 2:
        raise BarcodeError("HIBC secondary symbol has no data before its link character")
    fields = _parse_hibc_secondary(data[:-1])
    return ScanData(symbology="hibc", raw=raw, link_character=data[-1], **fields)
