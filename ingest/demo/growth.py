"""Catalogue breadth that grows with scale: product families, shared parts, suppliers and customers.

At scale 1 and below the catalogue is the fixed core of ``catalog.py`` (43 materials, 40 suppliers,
68 customers; the manifest counts one more material and customer: the deliberately bad rows) that the
planted situations are built on. Above scale 1, with ``b = sqrt(scale)`` and
every count rounded half up:

- ``round(16 (b - 1))`` new product families of 15 materials each: 3 finished-good variants, each with
  its own body subassembly, one platform subassembly the variants share, one part moulded in house
  from resin, and 7 purchased parts (3 variant-specific, 3 for the family, the IFU leaflet). The BOM
  goes four levels deep: finished good -> body -> platform -> moulded part -> resin;
- ``round(12 (b - 1))`` shared purchased parts (resins, pouches, unit cartons) that families draw on;
- ``round(40 b)`` suppliers and ``round(68 b^1.5)`` customers in all.

Nothing here depends on the demo seed: the same scale always gives the same catalogue, from a fixed
random stream per family. The new parts never use a material or supplier of a planted situation, so
each situation keeps its meaning at every scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ingest.demo.catalog import GAL, SZX, Growth, Part, slug

CATALOGUE_SEED = 20_251  # the catalogue's own random stream, independent of the demo seed
VARIANTS = 3


def half_up(x: float) -> int:
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class Breadth:
    """How many of each thing the catalogue has beyond the core at a scale."""

    families: int
    shared: int
    suppliers: int  # in all, the core's 40 included
    customers: int  # in all, the core's 68 included


def breadth(scale: float) -> Breadth:
    b = math.sqrt(scale) if scale > 1 else 1.0
    return Breadth(
        families=half_up(16 * (b - 1)),
        shared=half_up(12 * (b - 1)),
        suppliers=max(40, half_up(40 * b)),
        customers=max(68, half_up(68 * b**1.5)),
    )


@dataclass(frozen=True)
class Piece:
    """A purchased part of a product line, per parent unit; ``trade`` picks its suppliers."""

    desc: str
    mtype: str
    uom: str
    per: float
    lot: tuple[float, float]
    price: float
    lead: int
    trade: str
    critical: bool = False
    lot_controlled: bool = True


@dataclass(frozen=True)
class Line:
    """A product line: families are series of it, each selling three of its variants."""

    device: str
    variants: tuple[str, ...]
    device_class: str
    shelf: int
    site: str
    fg_lot: tuple[int, int]
    lead: int
    hosp: tuple[int, int]
    dist: tuple[int, int]
    body: str  # level 1, one per variant
    platform: str  # level 2, shared by the variants
    moulded: str  # level 3, moulded from resin
    resin_kg: float
    variant_part: Piece  # in the body, one per variant
    body_part: Piece
    platform_parts: tuple[Piece, Piece]


LINES = [
    Line(
        "Central venous catheter",
        (
            "5Fr single lumen",
            "5Fr double lumen",
            "7Fr double lumen",
            "7Fr triple lumen",
            "8.5Fr triple lumen",
        ),
        "III",
        1095,
        GAL,
        (300, 800),
        12,
        (10, 60),
        (50, 400),
        "CVC catheter body",
        "CVC hub and extension assembly",
        "Moulded CVC junction hub",
        0.006,
        Piece("Polyurethane catheter tubing", "component", "M", 0.25, (800, 2500), 3.2, 35, "tubing", True),
        Piece("Guidewire 0.032 in J-tip", "component", "EA", 1, (2000, 6000), 0.9, 42, "metal", True),
        (
            Piece("Extension line clamp", "component", "EA", 2, (20000, 60000), 0.04, 28, "moulding"),
            Piece("Luer cap, vented", "component", "EA", 2, (20000, 60000), 0.02, 21, "moulding"),
        ),
    ),
    Line(
        "Foley catheter",
        ("12Fr 5 ml", "14Fr 10 ml", "16Fr 10 ml", "18Fr 10 ml", "20Fr 30 ml"),
        "IIa",
        1825,
        SZX,
        (3000, 8000),
        8,
        (50, 400),
        (500, 3000),
        "Foley catheter shaft",
        "Foley balloon valve assembly",
        "Moulded Foley check valve",
        0.003,
        Piece("Silicone shaft tubing", "component", "M", 0.42, (5000, 15000), 0.6, 35, "tubing"),
        Piece("Balloon sleeve, silicone", "component", "EA", 1, (20000, 60000), 0.05, 28, "elastomer"),
        (
            Piece("Valve spring, 302 stainless", "component", "EA", 1, (20000, 60000), 0.02, 35, "metal"),
            Piece("Drainage funnel", "component", "EA", 1, (20000, 60000), 0.03, 28, "moulding"),
        ),
    ),
    Line(
        "Linear cutter reload",
        ("45 mm white", "45 mm blue", "60 mm white", "60 mm blue", "60 mm green"),
        "IIb",
        1825,
        GAL,
        (600, 1500),
        10,
        (20, 150),
        (200, 1200),
        "Reload cartridge",
        "Staple driver assembly",
        "Moulded cartridge housing",
        0.012,
        Piece("Staple strip, titanium", "component", "EA", 1, (4000, 12000), 0.7, 42, "metal", True),
        Piece("Knife blade, stainless", "component", "EA", 1, (4000, 12000), 0.35, 42, "metal", True),
        (
            Piece("Cam spring", "component", "EA", 2, (20000, 60000), 0.03, 35, "metal"),
            Piece("Lockout clip", "component", "EA", 1, (10000, 30000), 0.04, 28, "moulding"),
        ),
    ),
    Line(
        "Blood collection set",
        ("21G 19 mm", "23G 19 mm", "25G 19 mm", "21G 30 cm line", "23G 30 cm line"),
        "IIa",
        1825,
        SZX,
        (3000, 8000),
        8,
        (100, 800),
        (1000, 6000),
        "Needle and tubing assembly",
        "Safety shield assembly",
        "Moulded needle hub",
        0.002,
        Piece("Cannula, stainless", "component", "EA", 1, (20000, 60000), 0.05, 42, "metal", True),
        Piece("PVC tubing 2 mm ID", "component", "M", 0.3, (10000, 30000), 0.08, 28, "tubing"),
        (
            Piece("Shield spring", "component", "EA", 1, (20000, 60000), 0.01, 35, "metal"),
            Piece("Holder adapter", "component", "EA", 1, (20000, 60000), 0.03, 28, "moulding"),
        ),
    ),
    Line(
        "Laparoscopic trocar",
        ("5 mm x 100 mm", "5 mm x 150 mm", "11 mm x 100 mm", "12 mm x 100 mm", "15 mm x 100 mm"),
        "IIa",
        1825,
        GAL,
        (800, 2000),
        10,
        (20, 150),
        (200, 1200),
        "Trocar cannula assembly",
        "Trocar seal and valve assembly",
        "Moulded seal housing",
        0.018,
        Piece("Cannula tube, polycarbonate", "component", "EA", 1, (3000, 8000), 0.9, 35, "moulding"),
        Piece("Obturator tip", "component", "EA", 1, (3000, 8000), 0.4, 28, "moulding"),
        (
            Piece("Duckbill valve, silicone", "component", "EA", 1, (5000, 15000), 0.12, 28, "elastomer"),
            Piece("Insufflation stopcock", "component", "EA", 1, (5000, 15000), 0.25, 28, "moulding"),
        ),
    ),
    Line(
        "Endotracheal tube",
        ("6.0 mm cuffed", "6.5 mm cuffed", "7.0 mm cuffed", "7.5 mm cuffed", "8.0 mm cuffed"),
        "IIa",
        1825,
        SZX,
        (3000, 8000),
        8,
        (50, 300),
        (500, 3000),
        "Endotracheal tube shaft",
        "Cuff and pilot balloon assembly",
        "Moulded 15 mm connector",
        0.004,
        Piece("PVC tube, radiopaque line", "component", "M", 0.33, (8000, 25000), 0.15, 28, "tubing"),
        Piece("Cuff sleeve, PVC", "component", "EA", 1, (20000, 60000), 0.04, 28, "elastomer"),
        (
            Piece("Pilot balloon valve", "component", "EA", 1, (20000, 60000), 0.06, 28, "moulding"),
            Piece("Inflation line 1 mm ID", "component", "M", 0.2, (10000, 30000), 0.05, 28, "tubing"),
        ),
    ),
]
IFU = Piece("IFU leaflet", "packaging", "EA", 1, (10000, 30000), 0.03, 14, "print", lot_controlled=False)
RESINS = [
    "Polypropylene resin, medical grade",
    "ABS resin, medical grade",
    "Polyurethane resin 80A",
    "Polyamide 12 resin",
    "PETG resin",
    "HDPE resin, medical grade",
    "Liquid silicone rubber 50A",
    "Polysulfone resin",
]
SHARED_ROLES = ("resin", "pouch", "carton")
CORE_SHARED = {"resin": "RM-30001", "pouch": "SB-40002", "carton": "PK-50002"}

# supplier trades in the proportion the new parts need them
TRADE_CYCLE = [
    "metal",
    "tubing",
    "moulding",
    "print",
    "metal",
    "tubing",
    "moulding",
    "elastomer",
    "metal",
    "tubing",
    "moulding",
    "print",
    "metal",
    "resin",
    "film",
]
TRADE_WORDS = {
    "metal": ["Precision Wire", "Needle Works", "Spring & Wire", "Surgical Steel", "Micro Stamping"],
    "tubing": ["Extrusions", "Medical Tubing", "FlexTube", "Catheter Extrusion"],
    "moulding": ["Precision Moulding", "Medical Plastics", "Micro Moulding", "Injection Moulders"],
    "print": ["Carton & Print", "Label Print", "Medical Printing"],
    "elastomer": ["Silicone Products", "Elastomers", "LSR Moulding"],
    "resin": ["Polymer Trading", "Resin Supply", "Compounds"],
    "film": ["Medical Films", "Barrier Packaging", "Sterile Pouch"],
}
# core suppliers by trade, used while a trade has no new supplier yet (none of them is in a planted situation)
CORE_TRADE = {
    "metal": ["Sheffield Spring Works", "Jiangsu Steel Wire", "Solingen Instruments"],
    "tubing": ["PolyCath Extrusions", "Connacht Extrusion", "Iberia Tubing SL"],
    "moulding": ["LuerTech Molding", "Shenzhen Luer Parts", "Ningbo Clamp Works"],
    "print": ["Cork Carton Printers", "Shenzhen Carton & Print", "Leinster Label Co."],
    "elastomer": ["SiliconeMed Tubing"],
    "resin": ["Rhine Polycarbonate GmbH", "Midwest Resin Supply"],
    "film": ["SteriSeal Packaging", "Maple Medical Films"],
}
PLACES = [
    ("Tianjin", "CN"),
    ("Tuttlingen", "DE"),
    ("Minneapolis", "US"),
    ("Penang", "MY"),
    ("Limerick", "IE"),
    ("Pune", "IN"),
    ("Eindhoven", "NL"),
    ("Osaka", "JP"),
    ("Brno", "CZ"),
    ("Monterrey", "MX"),
    ("Xiamen", "CN"),
    ("Turin", "IT"),
    ("Lodz", "PL"),
    ("Kaohsiung", "TW"),
    ("Busan", "KR"),
    ("Gothenburg", "SE"),
    ("Lyon", "FR"),
    ("Basel", "CH"),
    ("Salt Lake", "US"),
    ("Suzhou", "CN"),
    ("Chennai", "IN"),
    ("Porto", "PT"),
    ("Izmir", "TR"),
    ("Cluj", "RO"),
    ("Tampere", "FI"),
    ("Ghent", "BE"),
    ("Leeds", "GB"),
    ("Toronto", "CA"),
    ("Haifa", "IL"),
    ("Bangkok", "TH"),
    ("Hanoi", "VN"),
    ("Guadalajara", "MX"),
    ("Dongguan", "CN"),
    ("Nagoya", "JP"),
    ("Stuttgart", "DE"),
    ("Cleveland", "US"),
    ("Galway", "IE"),
]
FORMS = {
    "CN": "Co., Ltd",
    "DE": "GmbH",
    "US": "Inc.",
    "JP": "K.K.",
    "IT": "S.r.l.",
    "FR": "SAS",
    "NL": "B.V.",
}

CUSTOMER_CITIES = [
    ("Belfast", "GB"),
    ("Glasgow", "GB"),
    ("Birmingham", "GB"),
    ("Nantes", "FR"),
    ("Toulouse", "FR"),
    ("Bordeaux", "FR"),
    ("Stuttgart", "DE"),
    ("Leipzig", "DE"),
    ("Frankfurt", "DE"),
    ("Rotterdam", "NL"),
    ("Antwerp", "BE"),
    ("Vienna", "AT"),
    ("Zurich", "CH"),
    ("Turin", "IT"),
    ("Naples", "IT"),
    ("Valencia", "ES"),
    ("Seville", "ES"),
    ("Lisbon", "PT"),
    ("Copenhagen", "DK"),
    ("Stockholm", "SE"),
    ("Oslo", "NO"),
    ("Helsinki", "FI"),
    ("Warsaw", "PL"),
    ("Prague", "CZ"),
    ("Chicago", "US"),
    ("Houston", "US"),
    ("Seattle", "US"),
    ("Atlanta", "US"),
    ("Montreal", "CA"),
    ("Vancouver", "CA"),
    ("Beijing", "CN"),
    ("Chengdu", "CN"),
    ("Wuhan", "CN"),
    ("Taipei", "TW"),
    ("Osaka", "JP"),
    ("Busan", "KR"),
    ("Kuala Lumpur", "MY"),
    ("Bangkok", "TH"),
    ("Melbourne", "AU"),
    ("Auckland", "NZ"),
]
QUALIFIERS = [
    "St. Mary's",
    "St. Vincent's",
    "Mercy",
    "Royal",
    "Children's",
    "Memorial",
    "Sacred Heart",
    "Victoria",
    "Riverside",
    "Northside",
    "Southside",
    "Lakeview",
    "Central",
    "Western",
    "Eastern",
    "Hillcrest",
]
SUFFIXES = [
    ("hospital", "Hospital"),
    ("hospital", "University Hospital"),
    ("hospital", "General Hospital"),
    ("hospital", "Medical Centre"),
    ("hospital", "Regional Hospital"),
    ("clinic", "Day Surgery Clinic"),
    ("clinic", "Outpatient Clinic"),
    ("distributor", "Medical Supply"),
    ("distributor", "Surgical Distributors"),
]
FIRST = ["Niamh", "Conor", "Ling", "Hiro", "Greta", "Marco", "Ines", "Olu", "Priya", "Sven", "Ana", "Kenji"]
LAST = ["Doyle", "Fischer", "Moreau", "Sato", "Costa", "Nowak", "Haddad", "Larsen", "Kim", "Rahman", "Silva"]


def grow(scale: float) -> Growth:
    """What the catalogue has beyond the core at ``scale`` (nothing at scale 1 and below)."""
    size = breadth(scale)
    suppliers = _suppliers(size.suppliers - 40)
    by_trade: dict[str, list[str]] = {}
    for name, _country, _status, trade in suppliers:
        by_trade.setdefault(trade, []).append(name)
    numbers = {"3": 30020, "4": 40003, "PK": 50004, "IFU": 51013, "FG": 10009, "SA": 20008}
    used: dict[str, int] = {}

    def next_id(kind: str, prefix: str) -> str:
        n = numbers[kind]
        numbers[kind] += 1
        return f"{prefix}-{n}"

    def sources(trade: str) -> tuple[tuple[str, float], ...]:
        pool = by_trade.get(trade) or CORE_TRADE[trade]
        k = used.get(trade, 0)
        used[trade] = k + 1
        first = pool[k % len(pool)]
        if k % 5 < 3 and len(pool) > 1:
            return ((first, 0.7), (pool[(k + 1) % len(pool)], 0.3))
        return ((first, 1.0),)

    def buy(piece: Piece, desc: str, price: float, prefix: str, kind: str, shelf: int | None = None) -> Part:
        return Part(
            next_id(kind, prefix),
            desc,
            piece.mtype,
            piece.uom,
            lot_controlled=piece.lot_controlled,
            shelf_life_days=shelf,
            lot_min=piece.lot[0],
            lot_max=piece.lot[1],
            lead_time=piece.lead,
            critical=piece.critical,
            price=round(price, 4),
            sources=sources(piece.trade),
        )

    parts: list[Part] = []
    boms: dict[str, list[tuple[str, float]]] = {}
    fg_site: dict[str, str] = {}
    fg_demand: dict[str, tuple[float, tuple[int, int], tuple[int, int]]] = {}

    shared: dict[str, list[str]] = {role: [CORE_SHARED[role]] for role in SHARED_ROLES}
    for k in range(size.shared):
        role, n = SHARED_ROLES[k % len(SHARED_ROLES)], k // len(SHARED_ROLES)
        if role == "resin":
            grade = f", grade {n // len(RESINS) + 2}" if n >= len(RESINS) else ""
            piece = Piece("", "raw", "KG", 1, (300, 1200), 0, 35, "resin")
            part = buy(piece, RESINS[n % len(RESINS)] + grade, 4.5 + 0.4 * (n % 7), "RM", "3")
        elif role == "pouch":
            piece = Piece("", "sterile_barrier", "EA", 1, (8000, 20000), 0, 28, "film", True)
            desc = f"Tyvek pouch {90 + 10 * (n % 9)}x{220 + 20 * (n // 9)} mm, chevron seal"
            part = buy(piece, desc, 0.18 + 0.01 * (n % 9), "SB", "4", shelf=1825)
        else:
            piece = Piece("", "packaging", "EA", 1, (20000, 60000), 0, 14, "print", lot_controlled=False)
            desc = f"Unit carton, printed, {120 + 10 * (n % 9)}x{60 + 10 * (n // 9)}x40 mm"
            part = buy(piece, desc, 0.07 + 0.005 * (n % 5), "PK", "PK")
        parts.append(part)
        shared[role].append(part.material_id)

    for f in range(size.families):
        line = LINES[f % len(LINES)]
        series = f // len(LINES) + 1
        rng = np.random.default_rng([CATALOGUE_SEED, f])
        variants = [line.variants[(series - 1 + j) % len(line.variants)] for j in range(VARIANTS)]
        fgs = [next_id("FG", "FG") for _ in variants]
        bodies = [next_id("SA", "SA") for _ in variants]
        platform, moulded = next_id("SA", "SA"), next_id("SA", "SA")
        name = f"{line.device} series {series}"
        lo, hi = line.fg_lot
        for fg, v in zip(fgs, variants, strict=True):
            parts.append(
                Part(
                    fg,
                    f"{name}, {v}, sterile",
                    "finished_good",
                    "EA",
                    shelf_life_days=line.shelf,
                    lot_min=lo,
                    lot_max=hi,
                    lead_time=line.lead,
                    device_class=line.device_class,
                )
            )
            fg_site[fg] = line.site
            fg_demand[fg] = (round(float(rng.uniform(0.15, 0.6)), 3), line.hosp, line.dist)
        for body, v in zip(bodies, variants, strict=True):
            parts.append(
                Part(
                    body,
                    f"{line.body} {v}, series {series}",
                    "subassembly",
                    "EA",
                    lot_min=2 * lo,
                    lot_max=2 * hi,
                )
            )
        parts.append(
            Part(
                platform,
                f"{line.platform}, series {series}",
                "subassembly",
                "EA",
                lot_min=3 * lo,
                lot_max=3 * hi,
            )
        )
        parts.append(
            Part(
                moulded,
                f"{line.moulded}, series {series}",
                "subassembly",
                "EA",
                lot_min=3 * lo,
                lot_max=3 * hi,
            )
        )
        vp = line.variant_part
        spread = rng.uniform(0.9, 1.15, VARIANTS + 4)
        v_parts = [
            buy(vp, f"{vp.desc} {v}, series {series}", vp.price * spread[j], "CMP", "3")
            for j, v in enumerate(variants)
        ]
        b_part = buy(
            line.body_part,
            f"{line.body_part.desc}, series {series}",
            line.body_part.price * spread[3],
            "CMP",
            "3",
        )
        p_parts = [
            buy(p, f"{p.desc}, series {series}", p.price * spread[4 + j], "CMP", "3")
            for j, p in enumerate(line.platform_parts)
        ]
        ifu = buy(
            IFU, f"IFU leaflet, {line.device.lower()} series {series}", IFU.price * spread[6], "PK", "IFU"
        )
        parts += [*v_parts, b_part, *p_parts, ifu]
        resin, pouch, carton = (shared[role][f % len(shared[role])] for role in SHARED_ROLES)
        for fg, body, vpart in zip(fgs, bodies, v_parts, strict=True):
            boms[fg] = [
                (body, 1),
                (pouch, 1),
                (carton, 1),
                (ifu.material_id, 1),
                ("PK-50003", 2),
                ("PK-50001", 0.02),
            ]
            boms[body] = [
                (platform, 1),
                (vpart.material_id, vp.per),
                (b_part.material_id, line.body_part.per),
            ]
        boms[platform] = [(moulded, 1)] + [
            (p.material_id, piece.per) for p, piece in zip(p_parts, line.platform_parts, strict=True)
        ]
        boms[moulded] = [(resin, line.resin_kg)]

    customers = _customers(size.customers - 68)
    return Growth(
        parts=parts,
        boms=boms,
        fg_site=fg_site,
        fg_demand=fg_demand,
        suppliers=[(n, c, s) for n, c, s, _t in suppliers],
        customers=customers,
    )


def _suppliers(n: int) -> list[tuple[str, str, str, str]]:
    """(name, country, approval status, trade) of the suppliers beyond the core; every 17th is conditional."""
    out, seen = [], set()
    for k in range(n):
        trade = TRADE_CYCLE[k % len(TRADE_CYCLE)]
        place, country = PLACES[k % len(PLACES)]
        words = TRADE_WORDS[trade]
        name = f"{place} {words[(k // len(TRADE_CYCLE)) % len(words)]} {FORMS.get(country, 'Ltd')}"
        base, i = name, 2
        while name in seen:
            name, i = f"{base} {i}", i + 1
        seen.add(name)
        out.append((name, country, "conditional" if k % 17 == 16 else "approved", trade))
    return out


def _customers(n: int) -> list[dict[str, str]]:
    """Customer rows beyond the core: hospitals, clinics and distributors in more cities."""
    combos = len(CUSTOMER_CITIES) * len(QUALIFIERS) * len(SUFFIXES)
    order = np.random.default_rng([CATALOGUE_SEED, 1_000_000]).permutation(combos)
    rows = []
    for k in range(n):
        c = int(order[k % combos])
        city, country = CUSTOMER_CITIES[c % len(CUSTOMER_CITIES)]
        qualifier = QUALIFIERS[(c // len(CUSTOMER_CITIES)) % len(QUALIFIERS)]
        ctype, suffix = SUFFIXES[c // (len(CUSTOMER_CITIES) * len(QUALIFIERS))]
        name = f"{city} {qualifier} {suffix}" + (f" {k // combos + 1}" if k >= combos else "")
        first, last = FIRST[k % len(FIRST)], LAST[(k // len(FIRST)) % len(LAST)]
        rows.append(
            {
                "name": name,
                "customer_type": ctype,
                "country": country,
                "contact_name": f"{first} {last}",
                "contact_email": f"{first.lower()}.{last.lower()}@{slug(name)}.example",
            }
        )
    return rows
