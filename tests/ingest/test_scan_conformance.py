"""The scan reader against the public conformance corpora in ../shared/conformance (nobody here wrote them).

Every case of gs1/cases.json, hibc/cases.json and hibc/placeholder_check_cases.json is one test, named
by its corpus file and index. The expected reading is the corpus' own; where we decide differently the
case is in EXCEPTIONS below with the standard's reason, the same list as ingest/README.md ("Scans"), and
the test then holds our documented reading instead, so an exception can fail too.

The placeholder-check cases are decode-only: their check characters are documentation stand-ins, so the
reading must be invalid (naming the true mod-43 character) while the fields decode as the corpus says.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from medtower.barcodes import BarcodeError, Scan, Syntax, gs1_date, read_scan

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "conformance"
README = ROOT / "ingest" / "README.md"
GS = "\x1d"

# corpus input_format -> the syntax the reader is told (a scanner payload is read with "auto")
SYNTAX_OF_FORMAT: dict[str, Syntax] = {
    "raw": "element_string",
    "raw_gs": "element_string",
    "raw_custom_separator": "element_string",
    "bracketed": "hri",
    "fnc1_caret": "caret",
    "scan_with_aim": "auto",
    "digital_link": "auto",
}

# (corpus file, index) -> (the case's input, our reading where it differs, the standard's reason)
EXCEPTIONS: dict[tuple[str, int], tuple[str, dict[str, Any], str]] = {
    ("gs1/cases.json", 36): (
        "(21)ABC123",
        {"valid": True, "warning": "(21) needs (01) or (8006)"},
        "GS1 Syntax Dictionary: requisite pairings are evaluated over all carriers marking the item; "
        "one scan without (01) is a warning, the GTIN may be on the item's other symbol",
    ),
    ("gs1/cases.json", 40): (
        "(01)12345678901231(3925)12599",
        {"valid": True, "warning": "(3925) needs (30)"},
        "as case 36: the count or measure (3925) requires may be on another carrier of the item",
    ),
    ("gs1/cases.json", 58): (
        "]e00103574661451947110205041799120020BL24040600199T\x1d301\x1d71025862471\x1d9815647\x1d9915489",
        {"valid": False, "reason": "(20)"},
        "AI (20) is N2 (GS1 General Specifications, Syntax Dictionary '20 * N2'): 'BL' is not a variant",
    ),
    ("hibc/cases.json", 18): (
        "+J123AQ3451/$$1125BC34567/S4012L",
        {"valid": True, "expiry_date": "2025-11-30"},
        "HIBC MMYY expiry: the product may be used through the end of the month, so the last day",
    ),
    ("hibc/cases.json", 19): (
        "+J123AQ3451/$$0125BC34567/S4012K",
        {"valid": True, "expiry_date": "2025-01-31"},
        "HIBC MMYY expiry: the last day of the month, as case 18",
    ),
}

# "SEE NOTE" dates in the corpus: 17=991200 read by the GS1 7.12 window (-49/+50 years around today).
WINDOW_DATES = {"17": "1999-12-31"}


def _load(name: str) -> list[dict[str, Any]]:
    path = CORPUS / name
    if not path.exists():
        pytest.fail(f"conformance corpus {path} is missing: shared/ must sit beside the repository")
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return cases


def _cases(name: str) -> list[Any]:
    return [
        pytest.param(name, i, case, id=f"{name.split('/')[0]}-{i:02d}") for i, case in enumerate(_load(name))
    ]


def _ids(text: str) -> str | None:
    match = re.search(r"\]\w\w", text)
    return match.group(0) if match else None


def _gs1_mismatches(case: dict[str, Any], scan: Scan) -> list[str]:
    """What our reading of one GS1 case gets differently from the corpus' expected reading."""
    expect = case["expect"]
    out = []
    if scan.valid != case["valid"]:
        out.append(f"valid {scan.valid} (reasons {scan.reasons}), corpus says {case['valid']}")
    if "ais" in expect and [list(e) for e in scan.elements] != expect["ais"]:
        out.append(f"elements {scan.elements}, corpus {expect['ais']}")
    for ai, iso in expect.get("dates", {}).items():
        iso = WINDOW_DATES[ai] if iso.startswith("SEE NOTE") else iso
        value = dict(scan.elements).get(ai)
        if value is None or gs1_date(value, ai).isoformat() != iso:
            out.append(f"date ({ai}) of {value!r}, corpus {iso}")
        field = {"17": scan.expiry_date, "11": scan.production_date}.get(ai)
        if ai in ("17", "11") and (field is None or field.isoformat() != iso):
            out.append(f"field for ({ai}) is {field}, corpus {iso}")
    if "symbology" in expect and scan.symbology_identifier != _ids(expect["symbology"]):
        out.append(f"symbology identifier {scan.symbology_identifier!r}, corpus {expect['symbology']!r}")
    normal = scan.element_string
    for key, ours in (
        ("fnc1_data", "^" + normal.replace(GS, "^") if normal else None),
        ("raw", normal),
        ("hri", scan.hri),
        ("digital_link", scan.digital_link),
        ("gtin", scan.gtin),
        ("lot", scan.lot),
        ("serial", scan.serial),
        ("ndc_embedded", scan.ndc),
    ):
        if key in expect and ours != expect[key]:
            out.append(f"{key} {ours!r}, corpus {expect[key]!r}")
    if (
        not case["valid"]
        and "bad_ai" in expect
        and not any(f"({expect['bad_ai']})" in r for r in scan.reasons)
    ):
        out.append(f"reasons {scan.reasons} do not name AI ({expect['bad_ai']})")
    return out


def _hibc_mismatches(expect: dict[str, Any], scan: Scan, check_valid: bool | None) -> list[str]:
    """Field by field: our HIBC reading against the corpus' expected (or lenient) reading."""
    out = []
    if check_valid is not None and scan.valid != check_valid:
        out.append(f"valid {scan.valid} (reasons {scan.reasons}), corpus says {check_valid}")
    ours = scan.to_dict()
    pairs = {
        "labeler_id": "labeler",
        "product_number": "product",
        "unit_of_measure": "unit_of_measure",
        "lot": "lot",
        "serial": "serial",
        "quantity": "quantity",
        "production_date": "production_date",
        "link_char": "link_character",
    }
    for key, name in pairs.items():
        if key in expect and ours[name] != (expect[key] if expect[key] != "" else None):
            out.append(f"{name} {ours[name]!r}, corpus {key} {expect[key]!r}")
    if "expiry" in expect:
        want, got = expect["expiry"], ours["expiry_date"]
        if want is None:
            if got is not None:
                out.append(f"expiry {got!r}, corpus none")
        elif len(want) == 7:  # a month only: MMYY
            if not (got or "").startswith(want) or scan.expiry_precision != "month":
                out.append(f"expiry {got!r} ({scan.expiry_precision}), corpus the month {want}")
        elif not (got or "").startswith(want):
            out.append(f"expiry {got!r}, corpus {want!r}")
    checks = scan.check_characters
    for key, ours_check in (
        ("check_char", checks if len(checks) == 1 else None),
        ("primary_check", checks[:1] or None),
        ("secondary_check", checks[1:2] or None),
    ):
        if key in expect and ours_check != (expect[key],):
            out.append(f"{key} {ours_check}, corpus {expect[key]!r}")
    if "is_2d" in expect and (scan.hibc_form == "concatenated") != expect["is_2d"]:
        out.append(f"form {scan.hibc_form}, corpus is_2d {expect['is_2d']}")
    form = {"Line1": "primary", "Line2": "secondary", "Concatenated": "concatenated"}.get(
        expect.get("type", "")
    )
    if form and scan.hibc_form != form:
        out.append(f"form {scan.hibc_form}, corpus {expect['type']}")
    return out


def _exception_holds(key: tuple[str, int], case: dict[str, Any], scan: Scan) -> list[str]:
    """An exception is our documented reading, checked as strictly as the corpus' would be."""
    text, ours, _ = EXCEPTIONS[key]
    out = (
        []
        if case["input"] == text
        else [f"corpus case changed: {case['input']!r}, exception is for {text!r}"]
    )
    if scan.valid != ours["valid"]:
        out.append(
            f"valid {scan.valid} (reasons {scan.reasons}), our documented reading says {ours['valid']}"
        )
    if "warning" in ours and not any(ours["warning"] in w for w in scan.warnings):
        out.append(f"warnings {scan.warnings} lack {ours['warning']!r}")
    if "reason" in ours and not any(ours["reason"] in r for r in scan.reasons):
        out.append(f"reasons {scan.reasons} do not name {ours['reason']!r}")
    if "expiry_date" in ours and (
        scan.expiry_date is None or scan.expiry_date.isoformat() != ours["expiry_date"]
    ):
        out.append(f"expiry {scan.expiry_date}, our documented reading {ours['expiry_date']}")
    return out


def judge(name: str, index: int, case: dict[str, Any]) -> tuple[str, list[str]]:
    """('agrees' | 'exception', what is wrong): one corpus case through the product."""
    key = (name, index)
    if name == "gs1/cases.json" and case["input_format"] == "date_field_only":
        try:
            gs1_date(case["input"])
            valid = True
        except BarcodeError:
            valid = False
        return "agrees", [] if valid == case["valid"] else [
            f"date field valid {valid}, corpus {case['valid']}"
        ]
    if name == "gs1/cases.json":
        syntax = SYNTAX_OF_FORMAT[case["input_format"]]
        separators = (GS, "|") if case["input_format"] == "raw_custom_separator" else (GS,)
        scan = read_scan(case["input"], syntax=syntax, separators=separators)
    else:
        scan = read_scan(case["input"])
    if key in EXCEPTIONS:
        return "exception", _exception_holds(key, case, scan)
    if name == "gs1/cases.json":
        return "agrees", _gs1_mismatches(case, scan)
    if name == "hibc/cases.json":
        wrong = _hibc_mismatches(case["expect"], scan, case["valid"])
        if (
            "aim_symbology_identifier" in case
            and scan.symbology_identifier != case["aim_symbology_identifier"]
        ):
            wrong.append(f"symbology identifier {scan.symbology_identifier!r}")
        error = case["expect"].get("error", "")
        if (m := re.search(r"expected '(.)'", error)) and not any(
            f"expected {m.group(1)!r}" in r for r in scan.reasons
        ):
            wrong.append(f"reasons {scan.reasons} do not name the expected character {m.group(1)!r}")
        if "Invalid HIBC Character" in error and not any("outside the HIBC set" in r for r in scan.reasons):
            wrong.append(f"reasons {scan.reasons} do not name the characters outside the HIBC set")
        return "agrees", wrong
    # placeholder check characters: decode-only, and the reading must say the check character is wrong
    wrong = _hibc_mismatches(case["lenient_expect"], scan, check_valid=False)
    true_check = case["mod43_computed_by_us"]
    if not any(f"expected {true_check!r}" in r for r in scan.reasons):
        wrong.append(f"reasons {scan.reasons} do not name the true check character {true_check!r}")
    return "agrees", wrong


FILES = ("gs1/cases.json", "hibc/cases.json", "hibc/placeholder_check_cases.json")


@pytest.mark.parametrize(("name", "index", "case"), [p for f in FILES for p in _cases(f)])
def test_corpus_case(name: str, index: int, case: dict[str, Any]) -> None:
    _, wrong = judge(name, index, case)
    assert not wrong, f"{name}[{index}] {case['input']!r}: " + "; ".join(wrong)


def test_conformance_counts_and_the_documented_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    for name in FILES:
        for index, case in enumerate(_load(name)):
            verdict, wrong = judge(name, index, case)
            counts[name, "failed" if wrong else verdict] += 1
    with capsys.disabled():
        for name in FILES:
            total = sum(n for (f, _), n in counts.items() if f == name)
            print(
                f"\n{name}: {counts[name, 'agrees']} / {total} as the corpus reads them, "
                f"{counts[name, 'exception']} documented exceptions, {counts[name, 'failed']} failed"
            )
    assert sum(n for (_, v), n in counts.items() if v == "failed") == 0
    assert dict(counts) == {
        ("gs1/cases.json", "agrees"): 69,
        ("gs1/cases.json", "exception"): 3,
        ("hibc/cases.json", "agrees"): 27,
        ("hibc/cases.json", "exception"): 2,
        ("hibc/placeholder_check_cases.json", "agrees"): 24,
    }
    # the list above is the docs' list: each exception stands in ingest/README.md's "Scans" section
    scans = README.read_text(encoding="utf-8").split("## Scans", 1)[1].split("\n## ", 1)[0]
    for (name, index), (text, _, _) in EXCEPTIONS.items():
        assert f"`{name}` #{index}" in scans, (
            f"ingest/README.md, Scans, does not list {name} #{index} ({text!r})"
        )


def test_the_window_dates_hold_for_the_years_they_were_worked_out_for() -> None:
    # 99 is 1999 while 2099 is more than 50 years ahead, i.e. for reads in 2049 and before; 2000 + 99 - 49
    assert dt.datetime.now(tz=dt.UTC).year <= 2048, "WINDOW_DATES: 17=991200 reads as 2099-12-31 from 2049 on"


def test_the_comparison_catches_a_wrong_reading() -> None:
    """The corpus tests could not fail if the comparison let a wrong field through: each one is caught."""
    gs1 = _load("gs1/cases.json")[54]  # the Motilium pack: GTIN, serial, expiry, lot
    scan = read_scan(gs1["input"], syntax="element_string")
    assert _gs1_mismatches(gs1, scan) == []
    for wrong in (
        {"lot": "1724847"},
        {"serial": None},
        {"expiry_date": dt.date(2021, 3, 30)},
        {"elements": scan.elements[:-1]},
        {"valid": False},
    ):
        assert _gs1_mismatches(gs1, replace(scan, **wrong)), wrong
    hibc = _load("hibc/cases.json")[0]  # linked primary + old-format secondary
    scan = read_scan(hibc["input"])
    assert _hibc_mismatches(hibc["expect"], scan, True) == []
    for wrong_hibc in (
        {"labeler": "A124"},
        {"unit_of_measure": 2},
        {"expiry_date": dt.date(2020, 1, 16)},
        {"check_characters": ("G", "H")},
        {"link_character": "H"},
        {"hibc_form": "concatenated"},
    ):
        assert _hibc_mismatches(hibc["expect"], replace(scan, **wrong_hibc), True), wrong_hibc


def test_read_as_a_scanner_sends_them_the_gs1_cases_read_as_declared_but_four() -> None:
    """With no declared form ("auto"), bare digits of a GTIN's length and check digit are a GTIN (EAN-8),
    and text without '(' or '^' is a raw element string; nothing else reads differently."""
    differ = {}
    for index, case in enumerate(_load("gs1/cases.json")):
        if case["input_format"] == "date_field_only":
            continue
        separators = (GS, "|") if case["input_format"] == "raw_custom_separator" else (GS,)
        syntax = SYNTAX_OF_FORMAT[case["input_format"]]
        declared = read_scan(case["input"], syntax=syntax, separators=separators)
        auto = read_scan(case["input"], separators=separators)
        if (auto.valid, auto.elements) != (declared.valid, declared.elements):
            differ[index] = (case["input"], auto.valid, auto.elements)
    assert differ == {
        10: ("17221231", True, (("17", "221231"),)),  # declared HRI: no '(' so invalid
        16: ("11030201", True, (("01", "00000011030201"),)),  # 1103020 -> check digit 1: an EAN-8
        17: ("11120230", True, (("01", "00000011120230"),)),  # 1112023 -> check digit 0: an EAN-8
        33: ("991234", True, (("99", "1234"),)),  # declared '^' data string: no leading '^'
    }
