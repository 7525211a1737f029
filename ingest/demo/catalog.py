"""Master data of the demo company: sites, materials, BOMs, suppliers, customers.

The core catalog is fixed (it does not depend on the seed) so that the planted situations always point at
the same, believable parts: the PICC introducer needle that runs short, the Tyvek pouch with a quality
escape, the tubing supplier who is always late. Only volume data depends on the seed. Above scale 1,
``growth.py`` adds product families, suppliers and customers around this core (``Growth``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from ingest.demo.ids import gtin14

GAL, SZX = "SITE-GAL", "SITE-SZX"
SITES = pd.DataFrame(
    [
        {
            "site_id": GAL,
            "name": "Galway Medical Devices Plant",
            "country": "IE",
            "timezone": "Europe/Dublin",
        },
        {"site_id": SZX, "name": "Shenzhen Assembly Plant", "country": "CN", "timezone": "Asia/Shanghai"},
    ]
)
GS1_PREFIX = "5391234"  # an Irish-style GS1 company prefix (demo)

# roles of the planted situations
SHORT_MATERIAL, SHORT_SITE, SUBSTITUTE_MATERIAL = "CMP-30009", GAL, "CMP-30019"
ESCAPE_MATERIAL = "SB-40001"
LATE_MATERIAL = "CMP-30010"
EXPIRING_MATERIAL = "CMP-30018"
REVISED_FG = "FG-10002"  # IFU leaflet revision B replaces A during the year

SUPPLIER_NAMES = [
    ("Kerry Needle Technologies", "IE"),
    ("Nippon Precision Needle", "JP"),
    ("Barrier Pack Solutions", "GB"),
    ("SteriSeal Packaging", "DE"),
    ("Dongguan FlexTube Co.", "CN"),
    ("Suzhou Medical Polymers", "CN"),
    ("Rhine Polycarbonate GmbH", "DE"),
    ("Midwest Resin Supply", "US"),
    ("Sheffield Spring Works", "GB"),
    ("Lombardia Molle SpA", "IT"),
    ("TiClip Components", "US"),
    ("Alpine Titanium AG", "CH"),
    ("PolyCath Extrusions", "US"),
    ("Connacht Extrusion", "IE"),
    ("LuerTech Molding", "US"),
    ("Shenzhen Luer Parts", "CN"),
    ("Hangzhou Drip Systems", "CN"),
    ("Ningbo Clamp Works", "CN"),
    ("SiliconeMed Tubing", "DE"),
    ("Guangzhou Bulb Molding", "CN"),
    ("Solingen Instruments", "DE"),
    ("Sialkot Surgical Steel", "PK"),
    ("Penang Plastic Forceps", "MY"),
    ("CottonCare Swabs", "IN"),
    ("Nordic Medical Adhesives", "SE"),
    ("AdheSil Corp", "US"),
    ("Cork Carton Printers", "IE"),
    ("Shenzhen Carton & Print", "CN"),
    ("Leinster Label Co.", "IE"),
    ("Dongguan Label Print", "CN"),
    ("Eurotherm Sterilization", "NL"),
    ("Pearl River Logistics", "CN"),
    ("Boston Metrology Labs", "US"),
    ("Galway Calibration Services", "IE"),
    ("Baltic Polymer Trading", "LT"),
    ("Vietnam Plastics JSC", "VN"),
    ("Atlas Needle Company", "US"),
    ("Maple Medical Films", "CA"),
    ("Iberia Tubing SL", "ES"),
    ("Jiangsu Steel Wire", "CN"),
]
SUPPLIER_IDS = [f"SUP-{i + 1:03d}" for i in range(len(SUPPLIER_NAMES))]
S = dict(zip([n for n, _ in SUPPLIER_NAMES], SUPPLIER_IDS, strict=True))
SHORT_SUPPLIER, SHORT_ALT_SUPPLIER = S["Kerry Needle Technologies"], S["Nippon Precision Needle"]
ESCAPE_SUPPLIER = S["Barrier Pack Solutions"]
LATE_SUPPLIER = S["Dongguan FlexTube Co."]
CONDITIONAL = {S["Sialkot Surgical Steel"], S["Vietnam Plastics JSC"], S["Baltic Polymer Trading"]}
DISQUALIFIED = S["Atlas Needle Company"]


@dataclass(frozen=True)
class Part:
    """A material with what the generator needs to plan it (lot sizes in its uom)."""

    material_id: str
    description: str
    material_type: str
    uom: str
    lot_controlled: bool = True
    shelf_life_days: int | None = None
    lot_min: float = 1000
    lot_max: float = 5000
    lead_time: int = 21
    device_class: str | None = None
    critical: bool = False
    price: float = 1.0
    sources: tuple[tuple[str, float], ...] = ()  # purchased: (supplier name, share)


FG_PARTS = [
    Part(
        "FG-10001",
        "Skin stapler 35W, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1825,
        lot_min=600,
        lot_max=1500,
        lead_time=10,
        device_class="IIa",
    ),
    Part(
        "FG-10002",
        "PICC catheter 4Fr single lumen, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1095,
        lot_min=300,
        lot_max=800,
        lead_time=12,
        device_class="III",
    ),
    Part(
        "FG-10003",
        "PICC catheter 5Fr dual lumen, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1095,
        lot_min=300,
        lot_max=700,
        lead_time=12,
        device_class="III",
    ),
    Part(
        "FG-10004",
        "Surgical clip applier, medium, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1825,
        lot_min=300,
        lot_max=900,
        lead_time=10,
        device_class="IIb",
    ),
    Part(
        "FG-10005",
        "Infusion set 20 drops/ml, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1825,
        lot_min=3000,
        lot_max=8000,
        lead_time=8,
        device_class="IIa",
    ),
    Part(
        "FG-10006",
        "IV extension set 15 cm, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1825,
        lot_min=3000,
        lot_max=8000,
        lead_time=8,
        device_class="IIa",
    ),
    Part(
        "FG-10007",
        "Closed wound drain 10Fr, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1095,
        lot_min=800,
        lot_max=2000,
        lead_time=10,
        device_class="IIb",
    ),
    Part(
        "FG-10008",
        "Suture removal kit, sterile",
        "finished_good",
        "EA",
        shelf_life_days=1825,
        lot_min=1500,
        lot_max=4000,
        lead_time=8,
        device_class="I",
    ),
]
FG_SITE = {
    "FG-10001": GAL,
    "FG-10002": GAL,
    "FG-10003": GAL,
    "FG-10004": GAL,
    "FG-10005": SZX,
    "FG-10006": SZX,
    "FG-10007": SZX,
    "FG-10008": SZX,
}
# relative share of sales order lines and (hospital, distributor) order quantity ranges
FG_DEMAND = {
    "FG-10001": (1.2, (20, 200), (200, 1500)),
    "FG-10002": (1.0, (10, 60), (50, 400)),
    "FG-10003": (0.7, (10, 50), (50, 300)),
    "FG-10004": (0.8, (10, 80), (100, 600)),
    "FG-10005": (1.6, (100, 800), (1000, 6000)),
    "FG-10006": (1.3, (100, 600), (800, 5000)),
    "FG-10007": (0.8, (20, 150), (200, 1200)),
    "FG-10008": (1.0, (50, 300), (500, 3000)),
}

SA_PARTS = [
    Part("SA-20001", "Stapler mechanism assembly 35W", "subassembly", "EA", lot_min=1500, lot_max=4000),
    Part("SA-20002", "PICC catheter body 4Fr", "subassembly", "EA", lot_min=800, lot_max=2000),
    Part("SA-20003", "PICC catheter body 5Fr dual lumen", "subassembly", "EA", lot_min=700, lot_max=1800),
    Part("SA-20004", "Clip applier jaw assembly", "subassembly", "EA", lot_min=800, lot_max=2000),
    Part("SA-20005", "Infusion line assembly", "subassembly", "EA", lot_min=8000, lot_max=20000),
    Part("SA-20006", "Extension line assembly", "subassembly", "EA", lot_min=8000, lot_max=20000),
    Part("SA-20007", "Drain tube assembly 10Fr", "subassembly", "EA", lot_min=2000, lot_max=5000),
]


def _buy(mid, desc, mtype, uom, lo, hi, sources, *, lot=True, shelf=None, lead=28, critical=False, price=1.0):
    return Part(
        mid,
        desc,
        mtype,
        uom,
        lot_controlled=lot,
        shelf_life_days=shelf,
        lot_min=lo,
        lot_max=hi,
        lead_time=lead,
        critical=critical,
        price=price,
        sources=tuple(sources),
    )


BUY_PARTS = [
    _buy(
        "RM-30001",
        "Polycarbonate resin, medical grade",
        "raw",
        "KG",
        500,
        1500,
        [("Rhine Polycarbonate GmbH", 0.7), ("Midwest Resin Supply", 0.3)],
        lead=35,
        price=6.8,
    ),
    _buy(
        "RM-30002",
        "PVC compound, DEHP-free",
        "raw",
        "KG",
        800,
        2500,
        [("Suzhou Medical Polymers", 1.0)],
        lead=21,
        price=3.1,
    ),
    _buy(
        "CMP-30003",
        "Stainless staple strip, 35 staples",
        "component",
        "EA",
        10000,
        30000,
        [("Jiangsu Steel Wire", 0.6), ("Sheffield Spring Works", 0.4)],
        lead=42,
        critical=True,
        price=0.42,
    ),
    _buy(
        "CMP-30004",
        "Compression spring, 316L",
        "component",
        "EA",
        20000,
        60000,
        [("Sheffield Spring Works", 0.6), ("Lombardia Molle SpA", 0.4)],
        lead=35,
        price=0.05,
    ),
    _buy(
        "CMP-30005",
        "Titanium ligating clip, medium",
        "component",
        "EA",
        100000,
        300000,
        [("TiClip Components", 0.8), ("Alpine Titanium AG", 0.2)],
        lead=49,
        critical=True,
        price=0.18,
    ),
    _buy(
        "CMP-30006",
        "Polyurethane catheter tubing 4Fr",
        "component",
        "M",
        800,
        2500,
        [("PolyCath Extrusions", 0.7), ("Connacht Extrusion", 0.3)],
        lead=35,
        critical=True,
        price=2.4,
    ),
    _buy(
        "CMP-30007",
        "Polyurethane tubing 5Fr dual lumen",
        "component",
        "M",
        600,
        2000,
        [("PolyCath Extrusions", 1.0)],
        lead=35,
        critical=True,
        price=3.9,
    ),
    _buy(
        "CMP-30008",
        "Luer lock hub, polycarbonate",
        "component",
        "EA",
        20000,
        60000,
        [("LuerTech Molding", 0.5), ("Shenzhen Luer Parts", 0.5)],
        lead=28,
        price=0.07,
    ),
    _buy(
        "CMP-30009",
        "Introducer needle 21G, PICC",
        "component",
        "EA",
        1500,
        4000,
        [("Kerry Needle Technologies", 0.85), ("Nippon Precision Needle", 0.15)],
        lead=42,
        critical=True,
        price=1.35,
    ),
    _buy(
        "CMP-30010",
        "PVC tubing 3 mm ID",
        "component",
        "M",
        20000,
        60000,
        [("Dongguan FlexTube Co.", 0.6), ("Iberia Tubing SL", 0.4)],
        lead=28,
        price=0.11,
    ),
    _buy(
        "CMP-30011",
        "Drip chamber with spike",
        "component",
        "EA",
        20000,
        60000,
        [("Hangzhou Drip Systems", 1.0)],
        lead=28,
        price=0.09,
    ),
    _buy(
        "CMP-30012",
        "Roller clamp",
        "component",
        "EA",
        30000,
        90000,
        [("Ningbo Clamp Works", 1.0)],
        lead=21,
        price=0.03,
    ),
    _buy(
        "CMP-30013",
        "Silicone drain tube 10Fr",
        "component",
        "M",
        1500,
        4000,
        [("SiliconeMed Tubing", 1.0)],
        shelf=1460,
        lead=35,
        price=1.9,
    ),
    _buy(
        "CMP-30014",
        "Drain reservoir bulb 100 ml",
        "component",
        "EA",
        3000,
        8000,
        [("Guangzhou Bulb Molding", 1.0)],
        lead=28,
        price=0.65,
    ),
    _buy(
        "CMP-30015",
        "Suture scissors, stainless",
        "component",
        "EA",
        4000,
        10000,
        [("Solingen Instruments", 0.6), ("Sialkot Surgical Steel", 0.4)],
        lead=42,
        price=0.55,
    ),
    _buy(
        "CMP-30016",
        "Plastic forceps",
        "component",
        "EA",
        5000,
        12000,
        [("Penang Plastic Forceps", 1.0)],
        lead=28,
        price=0.12,
    ),
    _buy(
        "CMP-30017",
        "Gauze swab 5x5 cm",
        "component",
        "EA",
        20000,
        60000,
        [("CottonCare Swabs", 1.0)],
        shelf=1095,
        lead=28,
        price=0.02,
    ),
    _buy(
        "CMP-30018",
        "Silicone medical adhesive",
        "component",
        "KG",
        4,
        12,
        [("Nordic Medical Adhesives", 0.7), ("AdheSil Corp", 0.3)],
        shelf=240,
        lead=21,
        price=180.0,
    ),
    _buy(
        "CMP-30019",
        "Introducer needle 21G, alternate bevel",
        "component",
        "EA",
        1500,
        4000,
        [("Nippon Precision Needle", 1.0)],
        lead=42,
        critical=True,
        price=1.52,
    ),
    _buy(
        "SB-40001",
        "Tyvek pouch 100x250 mm, header seal",
        "sterile_barrier",
        "EA",
        8000,
        20000,
        [("Barrier Pack Solutions", 0.8), ("SteriSeal Packaging", 0.2)],
        shelf=1825,
        lead=28,
        critical=True,
        price=0.21,
    ),
    _buy(
        "SB-40002",
        "Tyvek pouch 150x400 mm",
        "sterile_barrier",
        "EA",
        20000,
        50000,
        [("SteriSeal Packaging", 0.6), ("Maple Medical Films", 0.4)],
        shelf=1825,
        lead=28,
        critical=True,
        price=0.26,
    ),
    _buy(
        "PK-50001",
        "Shipper carton, corrugated",
        "packaging",
        "EA",
        2000,
        6000,
        [("Cork Carton Printers", 0.5), ("Shenzhen Carton & Print", 0.5)],
        lot=False,
        lead=14,
        price=0.6,
    ),
    _buy(
        "PK-50002",
        "Unit carton, printed",
        "packaging",
        "EA",
        20000,
        60000,
        [("Cork Carton Printers", 0.5), ("Shenzhen Carton & Print", 0.5)],
        lot=False,
        lead=14,
        price=0.08,
    ),
    _buy(
        "PK-50003",
        "UDI label stock",
        "packaging",
        "EA",
        50000,
        150000,
        [("Leinster Label Co.", 0.5), ("Dongguan Label Print", 0.5)],
        lead=14,
        price=0.01,
    ),
    _buy(
        "PK-51001",
        "IFU leaflet, skin stapler",
        "packaging",
        "EA",
        20000,
        50000,
        [("Cork Carton Printers", 1.0)],
        lot=False,
        lead=14,
        price=0.03,
    ),
    _buy(
        "PK-51002",
        "IFU leaflet, PICC catheter rev A",
        "packaging",
        "EA",
        10000,
        30000,
        [("Cork Carton Printers", 1.0)],
        lot=False,
        lead=14,
        price=0.04,
    ),
    _buy(
        "PK-51012",
        "IFU leaflet, PICC catheter rev B (MR conditional)",
        "packaging",
        "EA",
        10000,
        30000,
        [("Cork Carton Printers", 1.0)],
        lot=False,
        lead=14,
        price=0.04,
    ),
    _buy(
        "PK-51003",
        "IFU leaflet, infusion and extension sets",
        "packaging",
        "EA",
        50000,
        150000,
        [("Shenzhen Carton & Print", 1.0)],
        lot=False,
        lead=14,
        price=0.01,
    ),
]

# parent -> [(component, qty_per)]; FG-10002 has revisions A and B (see bom_frame)
BOMS: dict[str, list[tuple[str, float]]] = {
    "FG-10001": [
        ("SA-20001", 1),
        ("SB-40001", 1),
        ("PK-50002", 1),
        ("PK-51001", 1),
        ("PK-50003", 2),
        ("PK-50001", 0.02),
    ],
    "FG-10002": [
        ("SA-20002", 1),
        ("CMP-30009", 1),
        ("SB-40001", 1),
        ("PK-50002", 1),
        ("PK-51002", 1),
        ("PK-50003", 2),
        ("PK-50001", 0.05),
    ],
    "FG-10003": [
        ("SA-20003", 1),
        ("CMP-30009", 1),
        ("SB-40001", 1),
        ("PK-50002", 1),
        ("PK-51002", 1),
        ("PK-50003", 2),
        ("PK-50001", 0.05),
    ],
    "FG-10004": [
        ("SA-20004", 1),
        ("SB-40001", 1),
        ("PK-50002", 1),
        ("PK-51001", 1),
        ("PK-50003", 2),
        ("PK-50001", 0.05),
    ],
    "FG-10005": [("SA-20005", 1), ("SB-40002", 1), ("PK-51003", 1), ("PK-50003", 1), ("PK-50001", 0.01)],
    "FG-10006": [("SA-20006", 1), ("SB-40002", 1), ("PK-51003", 1), ("PK-50003", 1), ("PK-50001", 0.01)],
    "FG-10007": [("SA-20007", 1), ("SB-40002", 1), ("PK-50002", 1), ("PK-50003", 2), ("PK-50001", 0.02)],
    "FG-10008": [
        ("CMP-30015", 1),
        ("CMP-30016", 1),
        ("CMP-30017", 5),
        ("SB-40002", 1),
        ("PK-50003", 1),
        ("PK-50001", 0.01),
    ],
    "SA-20001": [("RM-30001", 0.045), ("CMP-30003", 1), ("CMP-30004", 2)],
    "SA-20002": [("CMP-30006", 0.6), ("CMP-30008", 1), ("CMP-30018", 0.002)],
    "SA-20003": [("CMP-30007", 0.6), ("CMP-30008", 2), ("CMP-30018", 0.002)],
    "SA-20004": [("RM-30001", 0.06), ("CMP-30004", 1), ("CMP-30005", 20)],
    "SA-20005": [
        ("RM-30002", 0.03),
        ("CMP-30010", 1.8),
        ("CMP-30011", 1),
        ("CMP-30012", 1),
        ("CMP-30008", 1),
    ],
    "SA-20006": [("RM-30002", 0.012), ("CMP-30010", 0.15), ("CMP-30012", 1), ("CMP-30008", 1)],
    "SA-20007": [("CMP-30013", 0.5), ("CMP-30014", 1), ("CMP-30018", 0.003)],
}
ROUTINGS = {
    "finished_good": [
        ("assembly", "WC-ASSY"),
        ("sealing", "WC-SEAL"),
        ("EO sterilization", "WC-EO"),
        ("packaging", "WC-PACK"),
    ],
    "subassembly": [("molding", "WC-MOLD"), ("assembly", "WC-SUBASSY"), ("in-process test", "WC-TEST")],
}


# conversion cost added per unit when a material is made in house (labour, machine, sterilization)
CONVERSION_COST = {"subassembly": 0.85, "finished_good": 3.40}


def standard_cost(
    material_id: str,
    parts: dict[str, Part],
    boms: dict[str, list[tuple[str, float]]] = BOMS,
    memo: dict[str, float] | None = None,
) -> float:
    """Cost per uom: the preferred supplier's price when bought; the current BOM rolled up plus
    conversion when made, so inventory value agrees with what the parts cost."""
    memo = {} if memo is None else memo
    if material_id in memo:
        return memo[material_id]
    part = parts[material_id]
    if material_id not in boms:
        cost = round(part.price, 4)
    else:
        comps = sum(per * standard_cost(comp, parts, boms, memo) for comp, per in boms[material_id])
        cost = round(comps + CONVERSION_COST[part.material_type], 4)
    memo[material_id] = cost
    return cost


@dataclass
class Growth:
    """What the catalogue has beyond the core at a scale above 1 (see growth.py); empty for the core."""

    parts: list[Part] = field(default_factory=list)
    boms: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    fg_site: dict[str, str] = field(default_factory=dict)
    fg_demand: dict[str, tuple[float, tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    suppliers: list[tuple[str, str, str]] = field(default_factory=list)  # (name, country, approval status)
    customers: list[dict[str, str]] = field(default_factory=list)  # customer rows without their id


@dataclass
class Catalog:
    """Master data frames plus the planning attributes the volume generators read."""

    as_of: dt.date
    parts: dict[str, Part] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    bom: pd.DataFrame = field(default_factory=pd.DataFrame)
    revision_cutover: dt.date | None = None
    boms: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # current revision
    fg_site: dict[str, str] = field(default_factory=dict)
    fg_demand: dict[str, tuple[float, tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    supplier_ids: dict[str, str] = field(default_factory=dict)  # supplier name -> id
    bought: list[str] = field(default_factory=list)  # purchased material ids
    level: dict[str, int] = field(default_factory=dict)  # made material -> its lowest BOM level (FG = 0)

    def part(self, material_id: str) -> Part:
        return self.parts[material_id]

    @property
    def depth(self) -> int:
        """The deepest subassembly level: planning goes level by level down to it."""
        return max(self.level.values(), default=0)


def slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:20]


def build_catalog(as_of: dt.date, growth: Growth | None = None) -> Catalog:
    """All master data for a demo year ending at ``as_of``: the core, plus ``growth`` above scale 1."""
    growth = growth or Growth()
    cat = Catalog(as_of=as_of)
    parts = FG_PARTS + SA_PARTS + BUY_PARTS + growth.parts
    cat.parts = {p.material_id: p for p in parts}
    cat.revision_cutover = as_of - dt.timedelta(days=140)
    cat.boms = {**BOMS, **growth.boms}
    cat.fg_site = {**FG_SITE, **growth.fg_site}
    cat.fg_demand = {**FG_DEMAND, **growth.fg_demand}
    bought = [p for p in parts if p.sources]
    cat.bought = [p.material_id for p in bought]
    new_ids = [
        f"SUP-{i + 1:03d}" for i in range(len(SUPPLIER_IDS), len(SUPPLIER_IDS) + len(growth.suppliers))
    ]
    cat.supplier_ids = {
        **S,
        **{name: sid for (name, _, _), sid in zip(growth.suppliers, new_ids, strict=True)},
    }

    cat_parts = cat.parts
    costs: dict[str, float] = {}
    rows = []
    for i, p in enumerate(parts):
        rows.append(
            {
                "material_id": p.material_id,
                "description": p.description,
                "material_type": p.material_type,
                "uom": p.uom,
                "revision": "B" if p.material_id == REVISED_FG else "A",
                "gtin": gtin14(GS1_PREFIX, 10000 + i) if p.material_type == "finished_good" else None,
                "device_class": p.device_class,
                "shelf_life_days": p.shelf_life_days,
                "lot_controlled": p.lot_controlled,
                "serial_controlled": False,
                "safety_stock": float(round(p.lot_min / 2))
                if p.material_type != "finished_good"
                else float(p.lot_min),
                "planned_lead_time_days": p.lead_time,
                "standard_cost": standard_cost(p.material_id, cat_parts, cat.boms, costs),
                "status": "phase_out" if p.material_id == "PK-51002" else "active",
                "erp_plant_code": "IE01" if cat.fg_site.get(p.material_id, GAL) == GAL else "CN02",
            }
        )
    materials = pd.DataFrame(rows)
    materials["shelf_life_days"] = materials["shelf_life_days"].astype("Int64")
    cat.tables["materials"] = materials
    cat.tables["sites"] = SITES.copy()

    sup_rows = []
    critical_suppliers = {cat.supplier_ids[n] for p in bought if p.critical for n, _ in p.sources}
    core = [
        (
            name,
            country,
            "disqualified" if sid == DISQUALIFIED else "conditional" if sid in CONDITIONAL else "approved",
        )
        for sid, (name, country) in zip(SUPPLIER_IDS, SUPPLIER_NAMES, strict=True)
    ]
    for sid, (name, country, status) in zip(SUPPLIER_IDS + new_ids, core + growth.suppliers, strict=True):
        sup_rows.append(
            {
                "supplier_id": sid,
                "name": name,
                "country": country,
                "approval_status": status,
                "critical": sid in critical_suppliers,
                "contact_email": f"orders@{slug(name)}.example",
            }
        )
    cat.tables["suppliers"] = pd.DataFrame(sup_rows)

    asl = []
    for p in bought:
        for rank, (name, _share) in enumerate(p.sources):
            asl.append(
                {
                    "supplier_id": cat.supplier_ids[name],
                    "material_id": p.material_id,
                    "approved": True,
                    "planned_lead_time_days": p.lead_time + 7 * rank,
                    "unit_price": round(p.price * (1 + 0.06 * rank), 4),
                    "currency": "EUR" if cat.fg_site.get(p.material_id) != SZX else "CNY",
                }
            )
    asl.append(
        {
            "supplier_id": DISQUALIFIED,
            "material_id": SHORT_MATERIAL,
            "approved": False,
            "planned_lead_time_days": 56,
            "unit_price": 0.98,
            "currency": "USD",
        }
    )
    cat.tables["approved_suppliers"] = pd.DataFrame(asl)

    customers = _customers()
    extra = pd.DataFrame(growth.customers, columns=[c for c in customers.columns if c != "customer_id"])
    extra.insert(0, "customer_id", [f"CUS-{len(customers) + i + 1:04d}" for i in range(len(extra))])
    cat.tables["customers"] = pd.concat([customers, extra], ignore_index=True) if len(extra) else customers
    cat.bom = _bom(as_of, cat.revision_cutover, cat.boms)
    cat.tables["bom"] = cat.bom
    cat.level = _levels(cat.bom)
    return cat


def _levels(bom: pd.DataFrame) -> dict[str, int]:
    """Low-level code of each made material: the deepest level it is used at (finished goods are 0).

    Planning a level only after every level above it means all of a part's needs are known first.
    """
    children: dict[str, list[str]] = {}
    for parent, comp in zip(bom["parent_material_id"], bom["component_material_id"], strict=True):
        children.setdefault(parent, []).append(comp)
    level = {m: 0 for m in children if m.startswith("FG-")}
    frontier = sorted(level)
    depth = 0
    while frontier:
        depth += 1
        nxt = sorted({c for m in frontier for c in children.get(m, []) if c in children})
        for c in nxt:
            level[c] = depth
        frontier = nxt
    return level


def _bom(as_of: dt.date, cutover: dt.date, boms: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    start = as_of - dt.timedelta(days=900)
    rows: list[tuple[str, str, float, str, dt.date, dt.date | None]] = []
    for parent, lines in boms.items():
        if parent == REVISED_FG:
            for comp, qty in lines:
                rows.append((parent, comp, qty, "A", start, cutover - dt.timedelta(days=1)))
                comp_b = "PK-51012" if comp == "PK-51002" else comp
                rows.append((parent, comp_b, qty, "B", cutover, None))
        else:
            rows += [(parent, comp, qty, "A", start, None) for comp, qty in lines]
    bom = pd.DataFrame(
        rows,
        columns=[
            "parent_material_id",
            "component_material_id",
            "qty_per",
            "revision",
            "effective_from",
            "effective_to",
        ],
    )
    bom["qty_per"] = bom["qty_per"].astype(float)
    for col in ("effective_from", "effective_to"):
        bom[col] = pd.to_datetime(bom[col]).astype("datetime64[s]")
    return bom


FIRST = [
    "Aoife",
    "Liam",
    "Siobhan",
    "Mei",
    "Wei",
    "Anna",
    "Lukas",
    "Claire",
    "Pierre",
    "Sofia",
    "James",
    "Fatima",
    "Jonas",
    "Emma",
    "Ravi",
    "Chen",
    "Maria",
    "Tom",
]
LAST = [
    "Byrne",
    "Walsh",
    "Zhang",
    "Li",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Murphy",
    "Kelly",
    "Jansen",
    "Novak",
    "Garcia",
    "Brown",
    "Wang",
    "Patel",
    "Okafor",
]
CITIES = [
    ("Galway", "IE"),
    ("Dublin", "IE"),
    ("Cork", "IE"),
    ("Limerick", "IE"),
    ("Manchester", "GB"),
    ("Leeds", "GB"),
    ("Bristol", "GB"),
    ("Lyon", "FR"),
    ("Lille", "FR"),
    ("Hamburg", "DE"),
    ("Cologne", "DE"),
    ("Munich", "DE"),
    ("Utrecht", "NL"),
    ("Milan", "IT"),
    ("Madrid", "ES"),
    ("Boston", "US"),
    ("Denver", "US"),
    ("Toronto", "CA"),
    ("Guangzhou", "CN"),
    ("Shanghai", "CN"),
    ("Hong Kong", "HK"),
    ("Singapore", "SG"),
    ("Sydney", "AU"),
    ("Seoul", "KR"),
]


def _customers() -> pd.DataFrame:
    rows = []
    kinds = [("hospital", t) for t in ("University Hospital", "General Hospital", "Regional Hospital")] + [
        ("distributor", "Medical Supply"),
        ("clinic", "Day Surgery Clinic"),
    ]
    n = 0
    for ci, (city, country) in enumerate(CITIES):
        for ki, (ctype, suffix) in enumerate(kinds):
            if ctype == "distributor" and ci % 2:
                continue
            if ctype == "clinic" and ci % 4:
                continue
            if ctype == "hospital" and (ci + ki) % 3 == 2:
                continue
            n += 1
            first, last = FIRST[(ci + ki) % len(FIRST)], LAST[(ci * 3 + ki) % len(LAST)]
            name = f"{city} {suffix}"
            rows.append(
                {
                    "customer_id": f"CUS-{n:04d}",
                    "name": name,
                    "customer_type": ctype,
                    "country": country,
                    "contact_name": f"{first} {last}",
                    "contact_email": f"{first.lower()}.{last.lower()}@{slug(name)}.example",
                }
            )
    for name, country in (("MedAssemble OEM Partners", "US"), ("Rhein OEM Devices", "DE")):
        n += 1
        rows.append(
            {
                "customer_id": f"CUS-{n:04d}",
                "name": name,
                "customer_type": "oem",
                "country": country,
                "contact_name": "Procurement Desk",
                "contact_email": f"procurement@{slug(name)}.example",
            }
        )
    return pd.DataFrame(rows)
