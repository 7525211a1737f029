"""The fast validity check ingest uses (``scan_reasons``) against the full reader (``read_scan``).

Ingest keeps a scan's payload and, when it cannot be trusted, the reasons; ``scan_reasons`` must give
exactly ``read_scan``'s reasons (none for a good scan) on every payload: the public conformance corpora,
the ingest fixtures, and a generated mix of every form, valid and every kind of invalid, with random
edits of valid payloads. A payload the full reader raises on must raise the same way.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from biip import ParseConfig
from biip.gs1_messages import GS1Message

from ingest.validate import _payload_reason
from medtower import barcodes
from medtower.barcodes import BarcodeError, parse_scan, read_scan, scan_reasons
from tests.ingest.scan_mix import GS, edge_payloads, gtin14, invalid_payloads, payload_mix, wrong_check

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "conformance"
FIXTURES = Path(__file__).parent / "fixtures"


def _corpus_inputs() -> list[str]:
    out: list[str] = []
    for name in ("gs1/cases.json", "hibc/cases.json", "hibc/placeholder_check_cases.json"):
        path = CORPUS / name
        if not path.exists():
            pytest.fail(f"conformance corpus {path} is missing: shared/ must sit beside the repository")
        out += [case["input"] for case in json.loads(path.read_text(encoding="utf-8"))]
    return out


def _fixture_payloads() -> list[str]:
    out: list[str] = []
    for path in sorted(FIXTURES.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            out += [row["payload"] for row in csv.DictReader(handle) if row.get("payload") is not None]
    return out


def _outcome(fn, payload):  # type: ignore[no-untyped-def]
    """What one reading gives: its reasons, or the kind of exception it raises."""
    try:
        return ("reasons", tuple(fn(payload)))
    except Exception as exc:
        return ("raises", type(exc).__name__)


def _full(payload: str) -> tuple[str, ...]:
    return read_scan(payload).reasons


def _assert_same(payloads: list[str]) -> dict[str, int]:
    counts = {"valid": 0, "invalid": 0, "raises": 0, "fast_pass": 0}
    mismatches = []
    for payload in payloads:
        full = _outcome(_full, payload)
        fast = _outcome(scan_reasons, payload)
        if fast != full:
            mismatches.append((payload, fast, full))
        if full[0] == "raises":
            counts["raises"] += 1
        else:
            counts["valid" if not full[1] else "invalid"] += 1
        counts["fast_pass"] += barcodes._quick_valid(payload) if full[0] != "raises" else 0
    assert not mismatches, mismatches[:10]
    return counts


def test_conformance_corpora_read_the_same() -> None:
    inputs = _corpus_inputs()
    assert len(inputs) == 72 + 29 + 24
    counts = _assert_same(inputs)
    assert counts["valid"] and counts["invalid"]


def test_ingest_fixtures_read_the_same() -> None:
    payloads = _fixture_payloads()
    assert len(payloads) >= 4
    counts = _assert_same(payloads)
    assert counts["valid"] and counts["invalid"]


def test_generated_mix_reads_the_same() -> None:
    mix = payload_mix(seed=7, n_valid=2000, n_mutated=6000)
    counts = _assert_same(mix)
    # the mix is a real test of both sides: many good and bad scans, and most good GS1 ones take the
    # fast path (else the check proves nothing about it)
    assert counts["valid"] > 1500 and counts["invalid"] > 3000, counts
    assert counts["fast_pass"] > 1000, counts


def test_every_invalid_kind_is_invalid_and_every_edge_case_valid_on_both_paths() -> None:
    import random

    for payload in invalid_payloads(random.Random(3)):
        full = _outcome(_full, payload)
        assert _outcome(scan_reasons, payload) == full, payload
        if full[0] == "reasons":
            assert full[1], f"{payload!r} was meant to be invalid"
    for payload in edge_payloads(random.Random(3)):
        assert scan_reasons(payload) == read_scan(payload).reasons == (), payload


def test_fast_path_only_passes_what_it_should() -> None:
    # computed by hand from the GS1 rules (check digits in scan_mix), not by the reader
    good = "0" + "9506000134352"  # GS1's example GTIN-14
    assert barcodes._quick_valid(f"01{good}17261231" + f"10AB{GS}21X")
    assert barcodes._quick_valid(f"]d201{good}10AB")
    assert barcodes._quick_valid(f"(01){good}(17)261200(10)L-1")
    assert scan_reasons(f"(01){good}(17)261200(10)L-1") == ()
    bad = wrong_check(good)
    for payload in (
        f"01{bad}10AB",  # check digit
        f"(01){good}(17)261331",  # month 13
        f"(01){good}(10)A(10)B",  # one AI, two values
        f"(01){good}(02){good}",  # mutually exclusive
        f"01{good}10{'A' * 21}",  # lot longer than 20: the 21st character starts an unknown AI
        "+A123BJC5D6E71G",  # HIBC: the full reader's
        f"https://id.gs1.org/01/{good}",  # Digital Link: the full reader's
        good,  # bare GTIN: the full reader's
    ):
        assert not barcodes._quick_valid(payload), payload
    assert scan_reasons(f"01{bad}10AB") == read_scan(f"01{bad}10AB").reasons != ()


def test_ingest_reason_is_parse_scans_message() -> None:
    import random

    rng = random.Random(11)
    g = gtin14(rng)
    for payload in [f"(01){g}(10)A", f"(01){wrong_check(g)}(10)A", "+A123BJC5D6E71Z", "", "]X9" + g]:
        try:
            parse_scan(payload)
        except BarcodeError as exc:
            expected: str | None = f"barcode payload {payload[:80]!r}: {exc}"
        else:
            expected = None
        assert _payload_reason(payload) == expected


def test_plain_ais_carry_nothing_biip_reads_further() -> None:
    """The AIs the fast path takes on their pattern alone: biip derives no GTIN, date or number from them
    (their value is then all there is to check), in every element string of the corpus and the mix."""
    config = ParseConfig(separator_chars=(GS,))
    seen = 0
    for payload in _corpus_inputs() + payload_mix(seed=5, n_valid=1500, n_mutated=0):
        text = payload[3:] if payload.startswith("]") else payload
        try:
            message = GS1Message.parse(text, config=config)
        except Exception:
            continue
        for element in message.element_strings:
            if barcodes._read_further(element.ai.ai):
                continue
            seen += 1
            derived = (
                element.gtin,
                element.gln,
                element.sscc,
                element.date,
                element.datetime,
                element.decimal,
            )
            assert derived == (None,) * 6, element
            assert (element.gtin_error, element.gln_error, element.sscc_error) == (None, None, None)
    assert seen > 1000
