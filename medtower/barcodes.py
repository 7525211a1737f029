"""Barcode payloads from scanners: every UDI carrier a hospital or warehouse scanner sends.

GS1 element strings (raw, GS / FNC1 separated, bracketed HRI, the ``^`` FNC1 data-string form, with or
without an AIM symbology identifier) and GS1 Digital Link URIs are read by biip; HIBC (primary, secondary,
both in one symbol joined by ``/``, or separate symbols read as one string with the link character) is
ours, with every mod-43 check character verified.

``read_scan`` never raises on bad data: its ``Scan`` says what was read, whether it can be trusted and,
when not, why. ``parse_scan`` is the same reading for callers that want an error instead (the trace);
``scan_reasons`` gives only its reasons, fast for the common GS1 forms (ingest's payload check). The
two-digit-year and HIBC MMYY policies are in ingest/README.md, "Scans".
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from biip import EncodeError, ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.symbology import GS1Symbology, SymbologyIdentifier

# HIBC character set (Code 39 set); the index of a character is its check value (mod 43).
HIBC_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_HIBC_VALUE = {ch: i for i, ch in enumerate(HIBC_CHARSET)}
_GS = "\x1d"

Syntax = Literal["auto", "element_string", "hri", "caret", "digital_link"]
"""How to read a payload: ``auto`` tells the carrier from the payload (what a scanner sends); the others
are declared forms: a raw element string, bracketed ``(AI)value`` HRI, gs1-syntax-engine's ``^`` data
string (``^`` = FNC1, so it must start with one) or a Digital Link URI."""
SYNTAXES: tuple[str, ...] = get_args(Syntax)


class BarcodeError(ValueError):
    """The payload is not a barcode we can trust; the message says why."""


@dataclass(frozen=True)
class Scan:
    """What one scan reads as: carrier, fields, and whether it can be trusted (``reasons`` when not)."""

    payload: str
    carrier: str | None = None  # 'gs1' | 'gs1_digital_link' | 'hibc'; None when not recognised
    symbology_identifier: str | None = None  # AIM / ISO 15424 prefix such as ']d2'
    symbology: str | None = None  # what the identifier names, e.g. 'gs1_datamatrix'
    valid: bool = False
    reasons: tuple[str, ...] = ()  # why it is not valid, each naming what and where
    warnings: tuple[str, ...] = ()  # valid, but something the reader should know
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry_date: dt.date | None = None
    expiry_hour: int | None = None  # HIBC YYMMDDHH / YYJJJHH
    expiry_precision: str | None = None  # 'month' (MMYY: last day of the month), 'day' or 'hour'
    production_date: dt.date | None = None
    quantity: int | None = None
    sscc: str | None = None
    ndc: str | None = None  # US NDC / NHRIC inside a GTIN whose company prefix starts with 03
    # GS1: every element string in order, the normalised forms
    elements: tuple[tuple[str, str], ...] = ()
    element_string: str | None = None  # AI + value, GS after variable-length fields (FNC1)
    hri: str | None = None
    digital_link: str | None = None
    # HIBC
    labeler: str | None = None  # LIC, labeler identification code
    product: str | None = None  # product or catalog number (PCN)
    unit_of_measure: int | None = None
    hibc_form: str | None = None  # 'primary' | 'secondary' | 'concatenated' (one symbol) | 'linked'
    link_character: str | None = None  # on a secondary symbol: the primary's check character
    check_characters: tuple[str, ...] = ()  # one per HIBC symbol read, in order

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings (expiry with its hour when there is one), tuples as lists."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        if self.expiry_date is not None and self.expiry_hour is not None:
            out["expiry_date"] = f"{self.expiry_date.isoformat()}T{self.expiry_hour:02d}:00"
        return out


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


def two_digit_year(yy: int, today: dt.date | None = None) -> int:
    """The full year of a two-digit year: GS1 General Specifications 7.12, within -49 / +50 years of today.

    biip applies the same window to GS1 dates; HIBC dates use this one so that both carriers agree.
    """
    current = (today or dt.datetime.now(tz=dt.UTC).date()).year
    year = current - current % 100 + yy
    if year - current > 50:
        return year - 100
    if current - year > 49:
        return year + 100
    return year


def gs1_date(value: str, ai: str = "17") -> dt.date:
    """A bare YYMMDD value of a date AI (11, 13, 15, 16, 17): day 00 is the last day of the month."""
    try:
        element = GS1ElementString.parse(ai + value)
    except ParseError as exc:
        raise BarcodeError(f"AI ({ai}) date {value!r}: {exc}") from exc
    if element.date is None:
        raise BarcodeError(f"AI ({ai}) is not a date AI")
    return element.date


def read_scan(payload: str | None, *, syntax: Syntax = "auto", separators: Iterable[str] = (_GS,)) -> Scan:
    """Read one scan. ``separators`` are the characters that end a variable-length GS1 field (FNC1)."""
    if syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {', '.join(SYNTAXES)}, got {syntax!r}")
    raw = "" if payload is None else str(payload)
    text = raw.lstrip().rstrip("\r\n")  # a trailing space may be an HIBC check character
    if not text.strip():
        return Scan(payload=raw, reasons=("empty barcode payload",))
    scan = Scan(payload=raw)
    if text.startswith("]"):
        symbology = _symbology_identifier(text)
        if symbology is None:
            return replace(scan, reasons=(f"unknown symbology identifier {text[:3]!r} at the start",))
        scan = replace(scan, symbology_identifier=text[:3], symbology=symbology)
        text = text[3:]
    if text.startswith("*") and text.endswith("*") and len(text) > 2:
        text = text[1:-1]  # Code 39 scanners may pass the start/stop '*' through
    try:
        if syntax == "auto" and text.startswith("+"):
            return _finish(_read_hibc(scan, text))
        return _finish(_read_gs1(scan, text, syntax, tuple(separators)))
    except (IndexError, ValueError, KeyError) as exc:
        # A payload no reader expected (e.g. a Digital Link whose host is not a host) is one bad scan,
        # quarantined with its reason, never an error that stops a whole delivery.
        return replace(scan, reasons=(f"barcode payload could not be read ({type(exc).__name__}: {exc})",))


def parse_scan(payload: str | None) -> Scan:
    """``read_scan``, raising ``BarcodeError`` (every reason, joined) when the scan cannot be trusted."""
    scan = read_scan(payload)
    if not scan.valid:
        raise BarcodeError("; ".join(scan.reasons))
    return scan


def _finish(scan: Scan) -> Scan:
    return replace(scan, valid=not scan.reasons)


# AIM symbology identifiers biip does not know yet (ISO/IEC 15424 'J' = DotCode; ]J1 carries GS1 data).
_EXTRA_SYMBOLOGIES = {"]J1": "gs1_dotcode"}
_GS1_DATA_SYMBOLOGIES = {s.name.lower() for s in GS1Symbology.with_gs1_messages()}
_GTIN_SYMBOLOGIES = {s.name.lower() for s in GS1Symbology.with_gtin()}


def _symbology_identifier(text: str) -> str | None:
    if text[:3] in _EXTRA_SYMBOLOGIES:
        return _EXTRA_SYMBOLOGIES[text[:3]]
    try:
        ident = SymbologyIdentifier.extract(text)
    except (ParseError, IndexError):  # biip indexes past a lone "]"
        return None
    if len(ident) != 3:
        return None
    return (ident.gs1_symbology or ident.iso_symbology).name.lower()


# --------------------------------------------------------------------------- GS1

_HRI_AI = re.compile(r"(?<!\\)\((\d*)\)")
# GS1 Syntax Dictionary (gs1/gs1-syntax-engine, Apache-2.0) rules for the AIs of UDI carriers.
# "ex": never together. "req": each group needs one of its AIs somewhere on the item; the dictionary
# evaluates this over all carriers marking the item, so one scan missing it is a warning, not an error.
_GS1_EXCLUDES = {"01": ("02", "255", "37"), "21": ("235",), "420": ("421",), "422": ("426",)}
_ITEM_KEYS = ("01", "02", "8006", "8026")
_GS1_REQUIRES: dict[str, tuple[tuple[str, ...], ...]] = {
    **{ai: (_ITEM_KEYS,) for ai in ("10", "11", "13", "15", "16", "20", "240", "241", "242", "422")},
    "17": (("01", "02", "255", "8006", "8026"),),
    "21": (("01", "8006"),),
    "22": (("01",),),
    "235": (("01",),),
    "250": (("01", "8006"), ("21",)),
    "251": (("01", "8006"),),
    "30": (("01", "02"),),
    "37": (("00",), ("02", "8026")),
}
_PRICE_QUANTITY = ("30", "31", "32", "35", "36")  # 392n / 393n need a count or a measure


def _requires(ai: str) -> tuple[tuple[str, ...], ...]:
    if ai[:3] in ("392", "393"):
        return (("01",), _PRICE_QUANTITY) if ai[:3] == "392" else (_PRICE_QUANTITY,)
    return _GS1_REQUIRES.get(ai, ())


def _read_gs1(scan: Scan, text: str, syntax: Syntax, separators: tuple[str, ...]) -> Scan:
    config = ParseConfig(separator_chars=separators)
    symbology = scan.symbology
    is_link = text.startswith(("http://", "https://", "HTTP://", "HTTPS://"))
    try:
        if syntax == "digital_link" or (syntax == "auto" and is_link):
            uri = GS1DigitalLinkURI.parse(text, config=config)
            scan = replace(scan, carrier="gs1_digital_link")
            return _gs1_fields(scan, uri.as_gs1_message().element_strings)
        if syntax == "hri" or (syntax == "auto" and text.startswith("(")):
            return _gs1_fields(replace(scan, carrier="gs1"), _hri_element_strings(text, config))
        if syntax == "caret" or (syntax == "auto" and text.startswith("^")):
            if not text.startswith("^"):
                raise BarcodeError(
                    f"an FNC1 data string must start with '^' (FNC1 in first position): {text!r}"
                )
            text = text[1:].replace("^", _GS)
        elif "^" in text:
            where = text.index("^")
            raise BarcodeError(f"'^' at position {where + 1} is not a GS1 character (outside CSET 82)")
        bare = syntax == "auto" and symbology is None and text.isdigit() and len(text) in (8, 12, 13, 14)
        if symbology in _GTIN_SYMBOLOGIES or (bare and gtin_is_valid(text)):
            # EAN/UPC/ITF-14 (or bare digits of a GTIN's length and check digit): a GTIN and nothing else
            gtin = Gtin.parse(text, config=config).as_gtin_14()
            only = GS1ElementStrings([GS1ElementString.parse("01" + gtin, config=config)])
            return _gs1_fields(replace(scan, carrier="gs1"), only)
        if symbology is not None and symbology not in _GS1_DATA_SYMBOLOGIES:
            raise BarcodeError(
                f"symbology {scan.symbology_identifier} ({symbology}) carries neither GS1 (FNC1) data"
                " nor HIBC"
            )
        if not text.strip(_GS + "".join(separators)):
            raise BarcodeError("no GS1 data after the symbology identifier")
        try:
            message = GS1Message.parse(text, config=config)
        except ParseError:
            if bare:  # not an element string: say what is wrong with it as a GTIN
                Gtin.parse(text, config=config)
            raise
    except (ParseError, BarcodeError) as exc:
        return replace(scan, carrier=scan.carrier or "gs1", reasons=(f"GS1 data: {exc}",))
    return _gs1_fields(replace(scan, carrier="gs1"), message.element_strings)


def _hri_element_strings(text: str, config: ParseConfig) -> GS1ElementStrings:
    """Bracketed ``(AI)value`` text; ``\\(`` is a '(' inside a value (gs1-syntax-engine's escape)."""
    if not text.startswith("("):
        raise BarcodeError(f"bracketed GS1 data must start with '(AI)': {text[:20]!r}")
    parts = _HRI_AI.split(text)
    if parts[0]:
        raise BarcodeError(f"bracketed GS1 data must start with '(AI)': {text[:20]!r}")
    out = GS1ElementStrings()
    for ai, value in zip(parts[1::2], parts[2::2], strict=True):
        try:
            known = GS1ApplicationIdentifier.extract(ai).ai == ai
        except ParseError:
            known = False
        if not known:
            raise BarcodeError(f"unknown GS1 Application Identifier ({ai})")
        if not value:
            raise BarcodeError(f"AI ({ai}) has an empty value")
        out.append(GS1ElementString.parse(ai + value.replace("\\(", "("), config=config))
    return out


def _gs1_fields(scan: Scan, elements: GS1ElementStrings) -> Scan:
    reasons: list[str] = []
    warnings: list[str] = []
    if not elements:
        reasons.append("no GS1 element strings")
    seen: dict[str, str] = {}
    for element in elements:
        ai = element.ai.ai
        for error in (element.gtin_error, element.sscc_error, element.gln_error):
            if error:
                reasons.append(f"AI ({ai}): {error}")
        if ai in seen and seen[ai] != element.value:
            reasons.append(
                f"AI ({ai}) appears twice with different values: {seen[ai]!r} and {element.value!r}"
            )
        seen.setdefault(ai, element.value)
    present = set(seen)
    for ai in sorted(present):
        for other in _GS1_EXCLUDES.get(ai, ()):
            if other in present:
                reasons.append(f"AIs ({ai}) and ({other}) are mutually exclusive")
        for group in _requires(ai):
            if not any(
                p == need or (len(need) == 2 and len(p) == 4 and p.startswith(need))
                for need in group
                for p in present
            ):
                warnings.append(
                    f"AI ({ai}) needs ({') or ('.join(group)}) on the same item, not in this scan"
                )

    def value(*ais: str) -> str | None:
        return next((seen[ai] for ai in ais if ai in seen), None)

    def date(ai: str) -> dt.date | None:
        element = elements.get(ai=ai)
        return element.date if element is not None else None

    gtin = value("01", "02")
    message = GS1Message.from_element_strings(elements)
    try:
        link = message.as_gs1_digital_link_uri().as_uri() if elements else None
    except (EncodeError, ParseError):
        link = None  # no primary key (GTIN, SSCC...) to build a Digital Link on
    quantity = value("30")
    expiry = date("17")
    return replace(
        scan,
        reasons=scan.reasons + tuple(reasons),
        warnings=tuple(warnings),
        gtin=gtin,
        lot=value("10"),
        serial=value("21"),
        expiry_date=expiry,
        expiry_precision=None if expiry is None else "month" if seen["17"].endswith("00") else "day",
        production_date=date("11"),
        quantity=int(quantity) if quantity and quantity.isdigit() else None,
        sscc=value("00"),
        ndc=gtin[3:13] if gtin and gtin[1:3] == "03" else None,
        elements=tuple((e.ai.ai, e.value) for e in elements),
        element_string=message.value,
        hri=message.as_hri(),
        digital_link=link,
    )


# --------------------------------------------------------------------------- HIBC


class _Bad(Exception):
    """An HIBC reading that does not hold together (the message says where)."""


@dataclass
class _Reading:
    """One way of cutting an HIBC string into symbols: fields, structural errors, check errors."""

    form: str
    fields: dict[str, Any] = field(default_factory=dict)
    checks: tuple[str, ...] = ()
    link: str | None = None
    structure: list[str] = field(default_factory=list)
    check_errors: list[str] = field(default_factory=list)


def _hibc_date(fmt: str, digits: str) -> tuple[dt.date, int | None]:
    """A date of an HIBC format; MMYY is the last day of the month (see ingest/README.md, "Scans")."""
    hour = None
    try:
        if fmt == "MMYY":
            month, year = int(digits[0:2]), two_digit_year(int(digits[2:4]))
            if not 1 <= month <= 12:
                raise ValueError("month out of range")
            return dt.date(year, month, calendar.monthrange(year, month)[1]), None
        if fmt.endswith("HH"):
            hour = int(digits[-2:])
            if hour > 23:
                raise ValueError("hour out of range")
        if fmt == "MMDDYY":
            return dt.date(two_digit_year(int(digits[4:6])), int(digits[0:2]), int(digits[2:4])), None
        if fmt in ("YYMMDD", "YYMMDDHH"):
            return dt.date(two_digit_year(int(digits[0:2])), int(digits[2:4]), int(digits[4:6])), hour
        if fmt in ("YYJJJ", "YYJJJHH"):
            day = int(digits[2:5])
            start = dt.date(two_digit_year(int(digits[0:2])), 1, 1)
            if not 1 <= day <= (366 if calendar.isleap(start.year) else 365):
                raise ValueError("day of year out of range")
            return start + dt.timedelta(days=day - 1), hour
        if fmt == "YYYYMMDD":
            return dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8])), None
    except ValueError as exc:
        raise _Bad(f"HIBC date {digits!r} is not a valid {fmt} date") from exc
    raise _Bad(f"unknown HIBC date format {fmt}")  # pragma: no cover - formats come from the table


# date format flag after "$$" (or after the quantity) -> (name, length)
_HIBC_DATE_FORMATS: dict[str, tuple[str | None, int]] = {
    "2": ("MMDDYY", 6),
    "3": ("YYMMDD", 6),
    "4": ("YYMMDDHH", 8),
    "5": ("YYJJJ", 5),
    "6": ("YYJJJHH", 7),
    "7": (None, 0),
}
_PRECISION = {"MMYY": "month", "YYMMDDHH": "hour", "YYJJJHH": "hour"}


def _take_digits(text: str, n: int, what: str) -> tuple[str, str]:
    head = text[:n]
    if len(head) != n or not head.isdigit():
        raise _Bad(f"HIBC {what} needs {n} digits, got {head!r}")
    return head, text[n:]


def _expiry(out: dict[str, Any], fmt: str, digits: str) -> None:
    out["expiry_date"], out["expiry_hour"] = _hibc_date(fmt, digits)
    out["expiry_precision"] = _PRECISION.get(fmt, "day")


def _hibc_expiry_then_rest(text: str, out: dict[str, Any]) -> str:
    """After '$$' (and an optional quantity): an expiry date in one of the flagged formats; the rest."""
    if not text:
        return ""
    flag = text[0]
    if flag in "01":  # no flag: MMYY, the month's first digit
        digits, rest = _take_digits(text, 4, "expiry date MMYY")
        _expiry(out, "MMYY", digits)
        return rest
    if flag in _HIBC_DATE_FORMATS:
        fmt, size = _HIBC_DATE_FORMATS[flag]
        if fmt is None:
            return text[1:]
        digits, rest = _take_digits(text[1:], size, f"expiry date {fmt}")
        _expiry(out, fmt, digits)
        return rest
    raise _Bad(f"HIBC '$$' must be followed by a month (0/1) or a date format flag 2-9, got {flag!r}")


def _lot_or_serial(out: dict[str, Any], key: str, value: str) -> None:
    if len(value) > 18:
        raise _Bad(f"HIBC {key} {value!r} is longer than 18 characters")
    if value:
        out[key] = value


def _hibc_secondary(data: str) -> dict[str, Any]:
    """Secondary data without the leading '+', link or check character."""
    out: dict[str, Any] = {}
    head, *supplements = data.split("/")
    if head.startswith("$$+"):
        _lot_or_serial(out, "serial", _hibc_expiry_then_rest(head[3:], out))
    elif head.startswith("$+"):
        _lot_or_serial(out, "serial", head[2:])
    elif head.startswith(("$$8", "$$9")):
        qty, rest = _take_digits(head[3:], 2 if head[2] == "8" else 5, "quantity")
        out["quantity"] = int(qty)
        _lot_or_serial(out, "lot", _hibc_expiry_then_rest(rest, out))
    elif head.startswith("$$"):
        if len(head) == 2:
            raise _Bad("HIBC secondary data ends after the '$$' flag")
        _lot_or_serial(out, "lot", _hibc_expiry_then_rest(head[2:], out))
    elif head.startswith("$"):
        _lot_or_serial(out, "lot", head[1:])
    elif head[:5].isdigit() and len(head) >= 5:
        digits, lot = _take_digits(head, 5, "date YYJJJ")
        _expiry(out, "YYJJJ", digits)  # the original format's 5-digit Julian date is an expiry date
        _lot_or_serial(out, "lot", lot)
    elif head.startswith(("S", "Q", "14D", "16D")):
        supplements = [head, *supplements]  # a symbol of supplemental data only
    else:
        raise _Bad(f"HIBC secondary data {head!r} starts with neither '$' nor a Julian date")
    for sup in supplements:
        if sup.startswith("16D"):
            out["production_date"] = _hibc_date("YYYYMMDD", _take_digits(sup[3:], 8, "date 16D")[0])[0]
        elif sup.startswith("14D"):
            _expiry(out, "YYYYMMDD", _take_digits(sup[3:], 8, "date 14D")[0])
        elif sup.startswith("S"):
            _lot_or_serial(out, "serial", sup[1:])
        elif sup.startswith("Q"):
            out["quantity"] = int(_take_digits(sup[1:], len(sup) - 1 or 1, "quantity /Q")[0])
        else:
            raise _Bad(f"unknown HIBC supplemental data field {sup!r}")
    return out


def _hibc_primary(data: str) -> dict[str, Any]:
    """Primary data without the leading '+' and check character: LIC (4), PCN (1-18), unit of measure."""
    if len(data) < 6:
        raise _Bad(f"HIBC primary data {data!r} needs LIC (4), product number (1-18) and unit of measure (1)")
    lic, product, uom = data[:4], data[4:-1], data[-1]
    if not (lic[0].isalpha() and lic.isalnum()):
        raise _Bad(f"HIBC labeler code {lic!r} must be a letter then 3 letters/digits")
    if not (1 <= len(product) <= 18 and product.isalnum()):
        raise _Bad(f"HIBC product number {product!r} must be 1-18 letters/digits")
    if not uom.isdigit():
        raise _Bad(f"HIBC unit of measure {uom!r} must be a digit 0-9")
    return {"labeler": lic, "product": product, "unit_of_measure": int(uom)}


def _check(reading: _Reading, symbol: str, what: str) -> None:
    expected = HIBC_CHARSET[sum(_HIBC_VALUE[ch] for ch in symbol[:-1]) % 43]
    if symbol[-1] != expected:
        reading.check_errors.append(f"{what} check character is {symbol[-1]!r}, expected {expected!r}")


def _single_symbol(text: str) -> _Reading:
    """One symbol: '+', data, one check character; primary[/secondary...] or secondary + link."""
    data = text[1:-1]
    primary, slash, secondary = data.partition("/")
    primary_error: _Bad | None = None
    if data[:1].isalpha():
        reading = _Reading(form="concatenated" if slash else "primary", checks=(text[-1],))
        try:
            reading.fields = _hibc_primary(primary)
            if slash:
                reading.fields.update(_hibc_secondary(secondary))
        except _Bad as exc:
            primary_error = exc
        else:
            _check(reading, text, "HIBC")
            return reading
    reading = _Reading(form="secondary", checks=(text[-1],), link=data[-1:] or None)
    try:
        if len(data) < 2:
            raise _Bad("HIBC secondary symbol has no data before its link character")
        reading.fields = _hibc_secondary(data[:-1])
    except _Bad as exc:
        reading.structure.append(str(primary_error or exc))
    _check(reading, text, "HIBC")
    return reading


def _linked_symbols(segments: list[str]) -> _Reading:
    """Separate symbols read as one string: a primary, then secondaries carrying its check as link."""
    primary = segments[0]
    reading = _Reading(form="linked", checks=tuple(s[-1] for s in segments), link=segments[1][-2])
    try:
        if not primary[1:-1].isalnum():
            raise _Bad(f"HIBC primary symbol {primary!r} holds more than letters and digits")
        reading.fields = _hibc_primary(primary[1:-1])
        for segment in segments[1:]:
            if len(segment) < 4:
                raise _Bad(f"HIBC secondary symbol {segment!r} is too short")
            reading.fields.update(_hibc_secondary(segment[1:-2]))
    except _Bad as exc:
        reading.structure.append(str(exc))
    _check(reading, primary, "HIBC primary")
    for n, segment in enumerate(segments[1:], start=1):
        what = "HIBC secondary" if len(segments) == 2 else f"HIBC secondary #{n}"
        if len(segment) >= 3:
            _check(reading, segment, what)
            if segment[-2] != primary[-1]:
                reading.check_errors.append(
                    f"{what} link character is {segment[-2]!r}, expected {primary[-1]!r}"
                    " (the primary's check character)"
                )
    return reading


def _hibc_readings(text: str) -> Iterable[_Reading]:
    yield _single_symbol(text)
    cuts = [i for i, ch in enumerate(text) if ch == "+" and i > 0][:10]
    for k in range(1, len(cuts) + 1):
        for chosen in itertools.combinations(cuts, k):
            bounds = [0, *chosen, len(text)]
            segments = [text[a:b] for a, b in itertools.pairwise(bounds)]
            if len(segments[0]) >= 8 and all(len(s) >= 3 for s in segments[1:]):
                yield _linked_symbols(segments)


def _best_hibc(text: str) -> _Reading:
    readings = list(_hibc_readings(text))
    trusted = [r for r in readings if not r.structure and not r.check_errors]
    if trusted:
        return trusted[0]
    decoded = [r for r in readings if not r.structure]
    if decoded:
        return min(decoded, key=lambda r: len(r.check_errors))
    return readings[0]


def _read_hibc(scan: Scan, text: str) -> Scan:
    scan = replace(scan, carrier="hibc")
    bad = [(i, ch) for i, ch in enumerate(text) if ch not in _HIBC_VALUE]
    if bad:
        shown = ", ".join(f"{ch!r} at {i + 1}" for i, ch in bad[:5])
        return replace(scan, reasons=(f"HIBC data holds characters outside the HIBC set: {shown}",))
    if len(text) < 3:
        return replace(scan, reasons=(f"HIBC code {text!r} is too short",))
    reading = _best_hibc(text)
    stripped = text.rstrip(" ")
    if (reading.structure or reading.check_errors) and stripped != text and len(stripped) >= 3:
        # A space is a legal check character, so it is read as one first; a trailing space a keyboard
        # wedge added is dropped only when the reading without it is the one whose checks hold.
        other = _best_hibc(stripped)
        if not other.structure and not other.check_errors:
            reading = other
            scan = replace(scan, warnings=("trailing space after the HIBC check character ignored",))
    return replace(
        scan,
        reasons=tuple(reading.structure + reading.check_errors),
        hibc_form=reading.form,
        link_character=reading.link,
        check_characters=reading.checks,
        **reading.fields,
    )


# --------------------------------------------------------------------------- validity only (ingest)

# Bounded caches of biip's readings, per AI prefix, AI and value; cleared whole when full.
_CACHE_MAX = 100_000
_AI_BY_PREFIX: dict[str, GS1ApplicationIdentifier | None] = {}
_AI_PATTERN: dict[tuple[str, bool], re.Pattern[str]] = {}
_ELEMENT_HOLDS: dict[tuple[str, str, bool], bool] = {}
_SYMBOLOGY: dict[str, str | None] = {}
_QUICK_CONFIG = ParseConfig(separator_chars=(_GS,))


def scan_reasons(payload: str | None) -> tuple[str, ...]:
    """Why ``read_scan(payload)`` cannot be trusted, ``()`` when it can; the same answer, faster.

    Ingest checks each distinct payload of a delivery and keeps only the payload and, for a bad one, the
    reasons, so it needs neither the ``Scan`` nor its HRI and Digital Link. The common GS1 forms (element
    string with or without a symbology identifier, bracketed HRI) are checked here with biip's own AI
    table, patterns and element parsing, cached per AI and value; every payload this check does not
    pass (bad, or a form it does not cover: HIBC, Digital Link, ``^``, bare GTINs) is read by
    ``read_scan``. A pass is only given where ``read_scan`` finds no reason, so the answer is always its.
    """
    try:
        if _quick_valid(payload):
            return ()
    except Exception:  # anything unexpected: read_scan decides (and raises as it would)
        pass
    return read_scan(payload).reasons


def _cached(cache: dict[Any, Any], key: Any, compute: Callable[..., Any], *args: Any) -> Any:
    """``cache[key]``, computed as ``compute(*args)`` the first time."""
    try:
        return cache[key]
    except KeyError:
        pass
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value = compute(*args)
    return value


def _ai_of(prefix: str) -> GS1ApplicationIdentifier | None:
    """``GS1ApplicationIdentifier.extract`` of a value starting with ``prefix`` (AIs have 2-4 digits)."""
    try:
        return GS1ApplicationIdentifier.extract(prefix)
    except ParseError:
        return None


# The AIs whose values biip reads further once they match the AI's pattern (biip 5
# ``GS1ElementString._with_gln / _with_gtin / _with_sscc / _with_date_and_datetime / _with_decimal``): a
# value of any other AI holds when it matches, so its (often unique: lots, serials) value is not cached.
_BIIP_DATE_AIS = frozenset(
    ("11", "12", "13", "15", "16", "17", "4324", "4325", "4326", "7003", "7006", "7007", "7011", "8008")
)


def _read_further(ai: str) -> bool:
    return (
        ai in ("00", "01", "02", "03")
        or ai in _BIIP_DATE_AIS
        or ai[:2] in ("41", "31", "32", "33", "34", "35", "36")
        or ai[:3] in ("390", "391", "392", "393", "394")
    )


def _element_holds(ai: str, value: str, full: bool) -> bool:
    """biip reads ``ai + value`` as one element string with no GTIN, SSCC or GLN error."""
    try:
        element = (GS1ElementString.parse if full else GS1ElementString.extract)(
            ai + value, config=_QUICK_CONFIG
        )
    except ParseError:
        return False
    if element.ai.ai != ai or element.value != value:
        return False
    return not (element.gtin_error or element.sscc_error or element.gln_error)


def _quick_valid(payload: object) -> bool:
    """True only when ``read_scan(payload)`` (auto syntax, GS separator) has no reason; False: not sure."""
    if not isinstance(payload, str):
        return False
    text = payload.lstrip().rstrip("\r\n")
    symbology = None
    if text.startswith("]"):
        if len(text) < 4 or text[1] == "Y":  # ']Y' (system expansion) reads more than three characters
            return False
        symbology = _cached(_SYMBOLOGY, text[:3], _symbology_identifier, text[:3])
        if symbology is None:
            return False
        text = text[3:]
    if not text or not (text[0] == "(" or "0" <= text[0] <= "9"):
        return False  # HIBC, Digital Link, '^' data strings, Code 39 '*': read_scan
    if text[0] == "(":
        pairs = _quick_hri(text)
    else:
        if "^" in text or symbology in _GTIN_SYMBOLOGIES:
            return False
        if symbology is not None and symbology not in _GS1_DATA_SYMBOLOGIES:
            return False
        if symbology is None and text.isdigit() and len(text) in (8, 12, 13, 14):
            return False  # bare digits of a GTIN's length
        pairs = _quick_element_string(text)
    if not pairs:
        return False
    seen: dict[str, str] = {}
    for ai, value in pairs:
        if seen.setdefault(ai, value) != value:
            return False
    return not any(other in seen for ai in seen for other in _GS1_EXCLUDES.get(ai, ()))


def _quick_hri(text: str) -> list[tuple[str, str]] | None:
    """``_hri_element_strings``: (AI, value) pairs when every element string holds, else None."""
    parts = _HRI_AI.split(text)
    if parts[0]:
        return None
    pairs: list[tuple[str, str]] = []
    for ai, raw_value in zip(parts[1::2], parts[2::2], strict=True):
        if not raw_value:
            return None
        value = raw_value.replace("\\(", "(")
        whole = ai + value
        # biip's AI of the whole element string is this AI, so extract(ai) is this AI too: a known AI
        found = _cached(_AI_BY_PREFIX, whole[:4], _ai_of, whole[:4])
        if found is None or found.ai != ai:
            return None
        if _read_further(ai):
            if not _cached(_ELEMENT_HOLDS, (ai, value, True), _element_holds, ai, value, True):
                return None
        else:
            match = _pattern(found, full=True).fullmatch(whole)
            if match is None or "".join(g for g in match.groups() if g is not None) != value:
                return None
        pairs.append((ai, value))
    return pairs


def _pattern(ai: GS1ApplicationIdentifier, *, full: bool) -> re.Pattern[str]:
    """The AI's pattern as biip matches it: whole (``parse``) or as a prefix (``extract``)."""
    key = (ai.ai, full)
    pattern = _AI_PATTERN.get(key)
    if pattern is None:
        pattern = _AI_PATTERN[key] = re.compile(ai.pattern if full else ai.pattern.removesuffix("$"))
    return pattern


def _quick_element_string(text: str) -> list[tuple[str, str]] | None:
    """``GS1Message.parse``: (AI, value) pairs when every element string holds, else None."""
    if not text.strip(_GS):
        return None
    rest = text.strip()
    pairs: list[tuple[str, str]] = []
    for _ in range(len(rest)):  # each element string takes at least one character
        if not rest:
            return pairs
        ai = _cached(_AI_BY_PREFIX, rest[:4], _ai_of, rest[:4])
        if ai is None:
            return None
        match = _pattern(ai, full=False).match(rest.split(_GS, 1)[0])
        if match is None:
            return None
        value = "".join(g for g in match.groups() if g is not None)
        if _read_further(ai.ai) and not _cached(
            _ELEMENT_HOLDS, (ai.ai, value, False), _element_holds, ai.ai, value, False
        ):
            return None
        pairs.append((ai.ai, value))
        rest = rest[len(ai.ai) + len(value) :].lstrip(_GS)
    return pairs if not rest else None
