"""A generated mix of scanner payloads: every carrier and form, valid, and every kind of invalid.

Written independently of medtower.barcodes (the check digits are computed here) for the test that holds
the fast validity check to the full reader, and for comparing ingests before and after a change.
"""

from __future__ import annotations

import random

GS = "\x1d"
HIBC_SET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


def mod10(body: str) -> str:
    total = sum(int(ch) * (3 if pos % 2 == 1 else 1) for pos, ch in enumerate(reversed(body), start=1))
    return str((10 - total % 10) % 10)


def mod43(data: str) -> str:
    return HIBC_SET[sum(HIBC_SET.index(c) for c in data) % 43]


def gtin14(rng: random.Random, indicator: str = "0") -> str:
    body = indicator + "".join(rng.choice("0123456789") for _ in range(12))
    return body + mod10(body)


def wrong_check(gtin: str) -> str:
    return gtin[:-1] + str((int(gtin[-1]) + 3) % 10)


def yymmdd(rng: random.Random) -> str:
    return f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.choice([0, 1, 15, 28, 30, 31]):02d}"


def lot(rng: random.Random, n: int | None = None) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./_"
    return "".join(rng.choice(alphabet) for _ in range(n or rng.randint(1, 20)))


def _elements(rng: random.Random) -> list[tuple[str, str]]:
    """AI/value pairs of a UDI: GTIN first, then some of expiry, production date, lot, serial, quantity."""
    pairs = [("01", gtin14(rng, rng.choice("0013")))]
    for ai, make in (
        ("17", yymmdd),
        ("11", yymmdd),
        ("10", lot),
        ("21", lot),
        ("30", lambda r: str(r.randint(1, 99999))),
        ("240", lot),
        ("7003", lambda r: yymmdd(r) + f"{r.randint(0, 23):02d}{r.randint(0, 59):02d}"),
    ):
        if rng.random() < 0.5:
            pairs.append((ai, make(rng)))
    rng.shuffle(pairs)
    return pairs


_FIXED = {"01", "02", "11", "17", "00"}


def element_string(pairs: list[tuple[str, str]], *, gs_after_last: bool = False) -> str:
    out = ""
    for i, (ai, value) in enumerate(pairs):
        out += ai + value
        if ai not in _FIXED and (i < len(pairs) - 1 or gs_after_last):
            out += GS
    return out


def hri(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"({ai}){value.replace('(', chr(92) + '(')}" for ai, value in pairs)


def digital_link(pairs: list[tuple[str, str]], host: str = "https://id.gs1.org") -> str:
    d = dict(pairs)
    path = f"{host}/01/{d['01']}"
    for ai in ("10", "21"):
        if ai in d:
            path += f"/{ai}/{d[ai]}"
    query = "&".join(f"{ai}={v}" for ai, v in pairs if ai not in ("01", "10", "21"))
    return path + ("?" + query if query else "")


def hibc(rng: random.Random) -> str:
    lic = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + "".join(rng.choice("A1B2C3") for _ in range(3))
    product = "".join(rng.choice("0123456789ABC") for _ in range(rng.randint(1, 18)))
    primary = "+" + lic + product + str(rng.randint(0, 9))
    kind = rng.randrange(5)
    if kind == 0:
        return primary + mod43(primary)
    lot_ = "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(1, 12)))
    if kind == 1:
        secondary = f"$${rng.randint(1, 12):02d}{rng.randint(0, 99):02d}{lot_}"
    elif kind == 2:
        secondary = f"$$3{yymmdd(rng)[:4]}{rng.randint(1, 28):02d}{lot_}"
    elif kind == 3:
        secondary = f"$+{lot_}"
    else:
        secondary = (
            f"$$8{rng.randint(1, 99):02d}{lot_}/16D2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        )
    if rng.random() < 0.5:  # one symbol, primary/secondary
        data = primary + "/" + secondary
        return data + mod43(data)
    p = primary + mod43(primary)
    s = "+" + secondary + p[-1]
    return p + s + mod43(s)


def valid_payloads(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        pairs = _elements(rng)
        form = rng.randrange(9)
        if form == 0:
            out.append(element_string(pairs))
        elif form == 1:
            out.append(rng.choice(["]d2", "]C1", "]Q3", "]e0", "]J1"]) + element_string(pairs))
        elif form == 2:
            out.append(hri(pairs))
        elif form == 3:
            out.append(element_string(pairs, gs_after_last=True))
        elif form == 4:
            out.append(digital_link(pairs))
        elif form == 5:
            out.append(hibc(rng))
        elif form == 6:
            out.append("^" + element_string(pairs).replace(GS, "^"))
        elif form == 7:
            out.append(rng.choice(["", "]E0", "]e0"]) + gtin14(rng)[rng.choice([0, 1])])
        else:
            out.append(" " + element_string(pairs) + rng.choice(["\r\n", "\n", ""]))
    return out


def invalid_payloads(rng: random.Random) -> list[str]:
    """One or more of every kind of bad payload the readers tell apart."""
    g = gtin14(rng)
    bad = wrong_check(g)
    out = [
        "",
        "   ",
        "\r\n",
        f"01{bad}17261231",
        f"(01){bad}(10)A",
        bad,
        bad[1:],
        f"01{g}17261331",  # month 13
        f"01{g}17260230",  # 30 February
        f"01{g}17260132",
        f"(17)261331(01){g}",
        f"01{g}10{'A' * 21}",  # lot longer than 20: the rest is read as an AI
        f"(01){g}(10){'A' * 21}",
        f"01{g}10AB CD",
        f"(01){g}(10)AB CD",
        f"01{g}10LOT\u00e9",
        f"(01){g}(10)",
        f"(01){g}(99999)X",
        f"(01){g}(10)A(10)B",
        f"01{g}10A{GS}10B",
        f"(01){g}(02){g}",
        f"01{g}02{g}",
        f"(01){g}(21)S1(235)X",
        f"01{g}9",
        f"01{g[:10]}",
        f"0{g}",
        f"]X901{g}",
        f"]A001{g}",
        f"]d201{g}^10A",
        f"01{g}^10A",
        "^",
        f"]d2{GS}{GS}",
        f"https://id.gs1.org/01/{bad}",
        "https://id.gs1.org/10/ABC",
        f"https://example.com/01/{g}/10/A B",
        "+A123BJC5D6E71X",
        "+A123BJC5D6E71G+2001510X3GX",
        "+",
        "+$$",
        "+a123",
        "+A12",
        "(01)",
        "()",
        f"(01){g}(17)260230",
        f"(01){g}(30)12345678901",
        "(00)123456789012345678",
        f"(414){bad[1:]}",
        "(3103)",
        "(3103)00012",
        f"01{g}3103",
        f"01{g}7003{yymmdd(rng)}2599",
        f"01{g}1725\u0663\u0661\u0662\u0663",  # Arabic-Indic digits match \\d
        "1125010",
        "\x00",
    ]
    return out


def edge_payloads(rng: random.Random) -> list[str]:
    """Payloads that look wrong but are valid: the fast check must not refuse them either."""
    g = gtin14(rng)
    return [
        f"(01){g}(10)A(10)A",  # one AI twice with the same value
        f"01{g}10A{GS}10A",
        f"]E0{g}",  # EAN/UPC symbology: a GTIN and nothing else
        f"^01{g}10A^^",  # FNC1 data string, FNC1s at the end
        f"{GS}01{g}",  # a leading FNC1
        "+A123BJC5D6E71G ",  # HIBC: a keyboard wedge's trailing space
        f"*01{g}*",  # Code 39 start/stop characters passed through
        f"01{g}3012345678901",  # (30) takes 8 digits; '901' is (90) '1'
        f"(01)\u0660{g[1:]}",  # an Arabic-Indic zero: biip's \\d and isdecimal take it
        "11250101",  # 8 digits, not a GTIN-8: (11) production date
    ]


MUTATION_ALPHABET = "0123456789ABCZaz()\\^+$/*- \x1d\r\n\t%\u0663\u00e9]"


def mutate(rng: random.Random, payload: str) -> str:
    """One to three random edits (insert, delete, replace, swap) of a payload."""
    chars = list(payload)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        i = rng.randrange(len(chars) + 1)
        if op == 0 or not chars:
            chars.insert(i, rng.choice(MUTATION_ALPHABET))
        elif op == 1:
            del chars[min(i, len(chars) - 1)]
        elif op == 2:
            chars[min(i, len(chars) - 1)] = rng.choice(MUTATION_ALPHABET)
        else:
            j = rng.randrange(len(chars))
            k = min(i, len(chars) - 1)
            chars[j], chars[k] = chars[k], chars[j]
    return "".join(chars)


def payload_mix(seed: int = 7, n_valid: int = 2000, n_mutated: int = 4000) -> list[str]:
    """Valid payloads of every form, the invalid kinds and random edits of valid ones (deterministic)."""
    rng = random.Random(seed)
    valid = valid_payloads(rng, n_valid)
    return (
        valid
        + invalid_payloads(rng)
        + edge_payloads(rng)
        + [mutate(rng, rng.choice(valid)) for _ in range(n_mutated)]
    )
