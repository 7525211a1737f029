import datetime as dt
import json
import random

import pytest

from medtower.barcodes import BarcodeError, gtin_is_valid, parse_scan, read_scan, scan_reasons, two_digit_year

HIBC_SET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


def mod10(body: str) -> str:
    # GS1: weights 3 and 1 alternate, starting with 3 at the digit next to the check digit
    total = 0
    for pos, ch in enumerate(reversed(body), start=1):
        total += int(ch) * (3 if pos % 2 == 1 else 1)
    return str((10 - total % 10) % 10)


def mod43(data: str) -> str:
    return HIBC_SET[sum(HIBC_SET.index(c) for c in data) % 43]


def test_gtin_check_digits():
    for body in ("0950600013435", "400638133393", "9638507", "00012345600001"[:-1], "12345678901"):
        good = body + mod10(body)
        bad = body + str((int(mod10(body)) + 1) % 10)
        assert gtin_is_valid(good), good
        assert not gtin_is_valid(bad), bad
    assert gtin_is_valid("09506000134352")  # the GS1 example GTIN
    assert not gtin_is_valid("0950600013435X")
    assert not gtin_is_valid("123")
    assert not gtin_is_valid(None)


def test_gs1_with_parentheses():
    gtin = "0950600013435" + mod10("0950600013435")
    s = parse_scan(f"(01){gtin}(17)261200(11)250115(10)LOT-7(21)SN42")
    assert s.carrier == "gs1"
    assert (s.gtin, s.lot, s.serial) == (gtin, "LOT-7", "SN42")
    assert s.expiry_date == dt.date(2026, 12, 31)  # day 00 = last day of the month
    assert s.expiry_precision == "month"
    assert s.production_date == dt.date(2025, 1, 15)


@pytest.mark.parametrize("prefix", ["", "]d2", "]C1", "]Q3"])
def test_gs1_raw_with_gs_separator_and_symbology(prefix):
    gtin = "0400638133393" + mod10("0400638133393")
    s = parse_scan(f"{prefix}01{gtin}17271031" + "10AB12\x1d21XYZ")
    assert (s.gtin, s.lot, s.serial, s.expiry_date) == (gtin, "AB12", "XYZ", dt.date(2027, 10, 31))
    assert s.expiry_precision == "day"


def test_gs1_wrong_check_digit_is_an_error():
    body = "0950600013435"
    wrong = body + str((int(mod10(body)) + 5) % 10)
    with pytest.raises(BarcodeError, match="check digit"):
        parse_scan(f"(01){wrong}(10)A")
    with pytest.raises(BarcodeError, match="check digit"):
        parse_scan(wrong)


def test_not_a_barcode():
    with pytest.raises(BarcodeError):
        parse_scan("hello world")
    with pytest.raises(BarcodeError, match="empty"):
        parse_scan("  ")


def test_hibc_primary_known_vector():
    # the HIBC LIC standard's own example
    s = parse_scan("+A123BJC5D6E71G")
    assert (s.carrier, s.labeler, s.product, s.unit_of_measure) == ("hibc", "A123", "BJC5D6E7", 1)
    assert s.lot is None and s.expiry_date is None


def test_hibc_primary_computed_check():
    data = "+E999PN100234"
    s = parse_scan(data + mod43(data))
    assert (s.labeler, s.product, s.unit_of_measure) == ("E999", "PN10023", 4)


@pytest.mark.parametrize(
    ("secondary", "expiry", "lot", "serial", "qty"),
    [
        ("$LOT99", None, "LOT99", None, None),
        ("$$0926LOT1", dt.date(2026, 9, 30), "LOT1", None, None),  # MMYY: end of month
        ("$$2123125LOT2", dt.date(2025, 12, 31), "LOT2", None, None),  # MMDDYY
        ("$$3261130LOT3", dt.date(2026, 11, 30), "LOT3", None, None),  # YYMMDD
        ("$$426113014LOT4", dt.date(2026, 11, 30), "LOT4", None, None),  # YYMMDDHH
        ("$$526032LOT5", dt.date(2026, 2, 1), "LOT5", None, None),  # YYJJJ: day 32 = Feb 1
        ("$$62603223LOT6", dt.date(2026, 2, 1), "LOT6", None, None),  # YYJJJHH
        ("$$7LOT7", None, "LOT7", None, None),
        ("$+SER1", None, None, "SER1", None),
        ("$$+3270101SER2", dt.date(2027, 1, 1), None, "SER2", None),
        ("$$8057LOT8", None, "LOT8", None, 5),
        ("$$8053270101LOT9", dt.date(2027, 1, 1), "LOT9", None, 5),
        ("26001LOTJ", dt.date(2026, 1, 1), "LOTJ", None, None),  # old Julian YYJJJ format
        ("$LOTS/16D20250102/S777", None, "LOTS", "777", None),
    ],
)
def test_hibc_concatenated_secondary(secondary, expiry, lot, serial, qty):
    data = f"+A999PROD1/{secondary}"
    s = parse_scan(data + mod43(data))
    assert (s.labeler, s.product, s.unit_of_measure) == ("A999", "PROD", 1)
    assert (s.expiry_date, s.lot, s.serial, s.quantity) == (expiry, lot, serial, qty)


def test_hibc_supplemental_production_date():
    data = "+A999PROD1/$LOTS/16D20250102"
    assert parse_scan(data + mod43(data)).production_date == dt.date(2025, 1, 2)


def test_hibc_separate_secondary_symbol_with_link_character():
    primary = "+A999PROD1"
    link = mod43(primary)
    secondary = f"+$$3261130LOTX{link}"
    s = parse_scan(secondary + mod43(secondary))
    assert s.labeler is None
    assert (s.lot, s.expiry_date, s.link_character) == ("LOTX", dt.date(2026, 11, 30), link)


def test_hibc_code39_stars_and_symbology_prefix():
    data = "+A999PROD1/$LOT1"
    full = data + mod43(data)
    assert parse_scan(f"*{full}*").lot == "LOT1"
    assert parse_scan(f"]C0{full}").lot == "LOT1"


def test_hibc_wrong_check_character_is_an_error():
    data = "+A999PROD1/$LOT1"
    right = mod43(data)
    wrong = HIBC_SET[(HIBC_SET.index(right) + 1) % 43]
    with pytest.raises(BarcodeError, match=f"expected '{right}'"):
        parse_scan(data + wrong)


def test_hibc_bad_structure_messages():
    for data, message in [
        ("+A99", "needs LIC"),
        ("+A999PROD1/$$3261399LOT", "not a valid YYMMDD"),
        ("+A999PRODX", "unit of measure"),
    ]:
        with pytest.raises(BarcodeError, match=message):
            parse_scan(data + mod43(data))
    with pytest.raises(BarcodeError, match="outside the HIBC set"):
        parse_scan("+a999prod1x")


def gtin14(body13: str) -> str:
    return body13 + mod10(body13)


def test_two_digit_years_use_the_gs1_window_of_minus_49_plus_50_years():
    in_2026 = dt.date(2026, 6, 1)
    # 2026 + 50 = 2076 is the last year ahead, 2026 - 49 = 1977 the first year back
    assert [two_digit_year(yy, in_2026) for yy in (26, 76, 77, 0, 99)] == [2026, 2076, 1977, 2000, 1999]
    in_2049 = dt.date(2049, 1, 1)  # 2099 is now exactly 50 years ahead; 2000 exactly 49 back
    assert [two_digit_year(yy, in_2049) for yy in (99, 0)] == [2099, 2000]
    assert two_digit_year(0, dt.date(2050, 1, 1)) == 2100  # 2000 would be 50 years back


def test_gs1_and_hibc_read_a_two_digit_year_alike_at_the_window_edges():
    year = dt.datetime.now(tz=dt.UTC).year
    for full in (year + 50, year - 49):
        yy = f"{full % 100:02d}"
        gs1 = parse_scan(f"01{gtin14('0950600013435')}17{yy}0101")
        hibc = "+A999PROD1/$$3" + yy + "0101LOT"
        assert gs1.expiry_date == dt.date(full, 1, 1)
        assert parse_scan(hibc + mod43(hibc)).expiry_date == dt.date(full, 1, 1)


def test_hibc_mmyy_is_the_last_day_of_the_month_and_hours_are_kept():
    data = "+A999PROD1/$$0224LOT"  # February 2024, a leap year
    s = parse_scan(data + mod43(data))
    assert (s.expiry_date, s.expiry_precision) == (dt.date(2024, 2, 29), "month")
    data = "+A999PROD1/$$427031550LOT"  # YYMMDDHH: 15 March 2027, hour 50 is no hour
    assert "not a valid YYMMDDHH" in read_scan(data + mod43(data)).reasons[0]
    data = "+A999PROD1/$$427031517LOT"
    s = parse_scan(data + mod43(data))
    assert (s.expiry_date, s.expiry_hour, s.lot) == (dt.date(2027, 3, 15), 17, "LOT")
    assert s.to_dict()["expiry_date"] == "2027-03-15T17:00"


def test_hibc_separate_symbols_read_as_one_string_check_each_and_the_link():
    primary = "+A999PROD1"
    check = mod43(primary)
    secondary = f"+$$3270131LOTQ{check}"
    s = parse_scan(primary + check + secondary + mod43(secondary))
    assert (s.hibc_form, s.labeler, s.lot, s.expiry_date) == ("linked", "A999", "LOTQ", dt.date(2027, 1, 31))
    assert s.check_characters == (check, mod43(secondary)) and s.link_character == check
    other = HIBC_SET[(HIBC_SET.index(check) + 1) % 43]
    badlink = f"+$$3270131LOTQ{other}"
    r = read_scan(primary + check + badlink + mod43(badlink))
    assert not r.valid and f"link character is {other!r}, expected {check!r}" in r.reasons[0]


def test_a_trailing_space_is_a_check_character_first():
    data = "+A999PROD1/$LOT1"
    s = read_scan(data + mod43(data) + " ")
    assert s.valid and s.lot == "LOT1" and "trailing space" in s.warnings[0]
    assert read_scan(data + "X ").reasons  # a wrong check character stays wrong with a space after it


def test_gs1_requisites_warn_and_exclusions_reject():
    s = parse_scan("(10)ABC(17)270101")  # the second symbol of a two-symbol label
    assert s.gtin is None and s.lot == "ABC" and any("(10) needs (01)" in w for w in s.warnings)
    gtin = gtin14("0950600013435")
    r = read_scan(f"(01){gtin}(02){gtin}")
    assert not r.valid and "AIs (01) and (02) are mutually exclusive" in r.reasons
    r = read_scan(f"(01){gtin}(10)A(10)B")
    assert not r.valid and "appears twice" in r.reasons[0]


def test_gs1_forms_and_symbology_identifiers():
    gtin = gtin14("0950600013435")
    hri = parse_scan(f"(01){gtin}(10)A\\(1)B(21)S1")
    assert (hri.lot, hri.serial) == ("A(1)B", "S1")  # '\(' is a parenthesis inside the value
    assert hri.element_string == f"01{gtin}10A(1)B\x1d21S1"
    caret = parse_scan(f"^01{gtin}10LOT^21S2^")
    assert (caret.gtin, caret.lot, caret.serial) == (gtin, "LOT", "S2")
    dotcode = parse_scan(f"]J101{gtin}10L9")
    assert (dotcode.symbology_identifier, dotcode.symbology, dotcode.lot) == ("]J1", "gs1_dotcode", "L9")
    link = parse_scan(f"https://id.gs1.org/01/{gtin}/10/L7/21/S7?17=270228")
    assert (link.carrier, link.lot, link.serial, link.expiry_date) == (
        "gs1_digital_link",
        "L7",
        "S7",
        dt.date(2027, 2, 28),
    )
    assert parse_scan(f"(01){gtin}(10)L7(21)S7(17)270228").digital_link == (
        f"https://id.gs1.org/01/{gtin}/10/L7/21/S7?17=270228"
    )
    piped = read_scan(f"01{gtin}10L1|21S1", separators=("\x1d", "|"))
    assert (piped.lot, piped.serial) == ("L1", "S1")
    assert not read_scan(f"01{gtin}10L1|21S1").valid  # '|' is no GS1 character unless it is the separator


def test_gs1_bad_input_names_what_and_where():
    gtin = gtin14("0950600013435")
    for payload, syntax, words in [
        (f"(01){gtin}(10)", "auto", "AI (10) has an empty value"),
        (f"(01){gtin}(999)X", "auto", "unknown GS1 Application Identifier (999)"),
        (f"01{gtin}10A^B", "auto", "'^' at position 20"),
        (f"01{gtin}", "caret", "must start with '^'"),
        (f"17{gtin}", "hri", "must start with '(AI)'"),
        ("]d2", "auto", "no GS1 data"),
        ("]W1123", "auto", "unknown symbology identifier ']W1'"),
        ("]d1" + f"01{gtin}", "auto", "]d1 (data_matrix) carries neither GS1"),
    ]:
        r = read_scan(payload, syntax=syntax)
        assert not r.valid and words in r.reasons[0], (payload, r.reasons)
    with pytest.raises(ValueError, match="syntax must be one of"):
        read_scan("x", syntax="json")  # type: ignore[arg-type]


def test_bare_digits_read_as_a_gtin_unless_declared_an_element_string():
    # 1103020 -> check digit 1: '11030201' is a valid GTIN-8 and a valid (11) production date alike
    assert read_scan("11030201").gtin == "00000011030201"
    declared = read_scan("11030201", syntax="element_string")
    assert (declared.gtin, declared.production_date) == (None, dt.date(2003, 2, 1))


def test_ndc_inside_a_gtin_of_company_prefix_03():
    gtin = gtin14("0031234567890")  # indicator 0, prefix 03, NDC 1234567890
    assert parse_scan(f"01{gtin}10L").ndc == "1234567890"
    assert parse_scan(f"01{gtin14('0950600013435')}10L").ndc is None


def test_parse_scan_raises_with_every_reason():
    primary = "+A999PROD1"
    secondary = "+$LOT1Z"
    with pytest.raises(BarcodeError, match=r"primary check character.*; .*secondary check character"):
        parse_scan(primary + "Q" + secondary + "Q")


def test_an_ean_upc_symbology_identifier_means_a_gtin_only():
    ean = "400638133393" + mod10("400638133393")
    s = parse_scan("]E0" + ean)
    assert (s.symbology, s.gtin, s.hri) == ("ean_13", "0" + ean, f"(01)0{ean}")
    wrong = ean[:-1] + str((int(ean[-1]) + 1) % 10)
    assert "check digit" in read_scan("]E0" + wrong).reasons[0]


def test_read_scan_never_raises_and_valid_means_no_reasons():
    rng = random.Random(7)
    alphabet = HIBC_SET + "()^]\x1d|*ab"
    starts = ["", "+", "(01)", "]d2", "]C1", "]d1+", "^", "https://id.gs1.org/01/", "01", "*+", "+$$"]
    for _ in range(3000):
        payload = rng.choice(starts) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        scan = read_scan(payload)
        assert scan.valid == (not scan.reasons), payload
        json.dumps(scan.to_dict())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("]", "unknown symbology identifier ']' at the start"),
        ("]C", "unknown symbology identifier ']C' at the start"),
        (
            "https://[bad/01/09506000134352",
            "barcode payload could not be read (ValueError: Invalid IPv6 URL)",
        ),
    ],
)
def test_payloads_that_crashed_the_reader_are_one_bad_scan(payload, reason):
    # Found by the fast-path comparison: these raised (IndexError, ValueError) and stopped a whole ingest.
    assert read_scan(payload).reasons == (reason,)
    assert scan_reasons(payload) == (reason,)


def test_hibc_labels_made_by_the_rules_read_back_in_every_form():
    rng = random.Random(11)
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(300):
        lic = rng.choice(alnum[10:]) + "".join(rng.choices(alnum, k=3))
        product = "".join(rng.choices(alnum, k=rng.randint(1, 18)))
        uom = rng.randint(0, 9)
        lot = "".join(rng.choices(alnum, k=rng.randint(1, 18)))
        now = dt.datetime.now(tz=dt.UTC).year  # any year of the two-digit window around now
        year, month, day = rng.randint(now - 49, now + 50), rng.randint(1, 12), rng.randint(1, 28)
        secondary = f"$$3{year % 100:02d}{month:02d}{day:02d}{lot}"
        primary = f"+{lic}{product}{uom}"
        one = f"{primary}/{secondary}"
        linked_secondary = f"+{secondary}{mod43(primary)}"
        for payload, form in (
            (one + mod43(one), "concatenated"),
            (primary + mod43(primary) + linked_secondary + mod43(linked_secondary), "linked"),
        ):
            s = read_scan(payload)
            assert s.valid, (payload, s.reasons)
            assert (s.hibc_form, s.labeler, s.product, s.unit_of_measure, s.lot) == (
                form,
                lic,
                product,
                uom,
                lot,
            )
            assert s.expiry_date == dt.date(year, month, day), payload
