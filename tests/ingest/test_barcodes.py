import datetime as dt

import pytest

from medtower.barcodes import BarcodeError, gtin_is_valid, parse_scan

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
    assert s.symbology == "gs1"
    assert (s.gtin, s.lot, s.serial) == (gtin, "LOT-7", "SN42")
    assert s.expiry_date == dt.date(2026, 12, 31)  # day 00 = last day of the month
    assert s.production_date == dt.date(2025, 1, 15)


@pytest.mark.parametrize("prefix", ["", "]d2", "]C1", "]Q3"])
def test_gs1_raw_with_gs_separator_and_symbology(prefix):
    gtin = "0400638133393" + mod10("0400638133393")
    s = parse_scan(f"{prefix}01{gtin}17271031" + "10AB12\x1d21XYZ")
    assert (s.gtin, s.lot, s.serial, s.expiry_date) == (gtin, "AB12", "XYZ", dt.date(2027, 10, 31))


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
    assert (s.symbology, s.labeler, s.product, s.unit_of_measure) == ("hibc", "A123", "BJC5D6E7", 1)
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
