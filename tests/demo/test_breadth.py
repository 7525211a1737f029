"""The catalogue grows with scale like a plant (ingest/demo/growth.py), coherently, and stays deterministic.

Counts are worked out by hand from the stated formula, with b = sqrt(scale), rounded half up:
families 16 (b - 1), shared parts 12 (b - 1), materials 43 + 15 families + shared, suppliers 40 b,
customers 68 b^1.5 (good rows; the manifest adds the bad material and customer rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from ingest.demo import generate
from ingest.demo.catalog import build_catalog
from ingest.demo.growth import grow

from .conftest import WIDE_AS_OF, WIDE_SCALE
from .feed import Feed

PLANTED_MATERIALS = {"CMP-30009", "CMP-30019", "SB-40001", "CMP-30010", "CMP-30018"}
# short needle and its second source, escape, late, expiring adhesive, disqualified
PLANTED_SUPPLIERS = {"SUP-001", "SUP-002", "SUP-003", "SUP-005", "SUP-025", "SUP-037"}


def _counts(materials: pd.DataFrame, suppliers: pd.DataFrame, customers: pd.DataFrame) -> dict[str, int]:
    kind = materials["material_type"]
    return {
        "materials": len(materials),
        "finished_goods": int((kind == "finished_good").sum()),
        "subassemblies": int((kind == "subassembly").sum()),
        "suppliers": len(suppliers),
        "customers": len(customers),
    }


def _depth(bom: pd.DataFrame) -> int:
    """Longest parent -> component chain starting at a finished good (edges)."""
    children = bom.groupby("parent_material_id")["component_material_id"].agg(set).to_dict()

    def down(m: str) -> int:
        return 1 + max(down(c) for c in children[m]) if m in children else 0

    return max(down(m) for m in children if m.startswith("FG-"))


def test_scale_one_and_below_keep_the_core_catalogue(small: Feed, scale1: Feed) -> None:
    for feed in (small, scale1):
        got = _counts(feed.good("materials"), feed.good("suppliers"), feed.good("customers"))
        assert got == {
            "materials": 43,
            "finished_goods": 8,
            "subassemblies": 7,
            "suppliers": 40,
            "customers": 68,
        }
        assert _depth(feed.good("bom")) == 2


def test_breadth_at_scale_2_is_as_stated(wide: Feed) -> None:
    # b = 1.41421: families round(6.627) = 7, shared round(4.971) = 5, materials 43 + 105 + 5 = 153,
    # finished goods 8 + 7 * 3, subassemblies 7 + 7 * 5, suppliers round(56.57) = 57, customers round(114.36)
    got = _counts(wide.good("materials"), wide.good("suppliers"), wide.good("customers"))
    assert got == {
        "materials": 153,
        "finished_goods": 29,
        "subassemblies": 42,
        "suppliers": 57,
        "customers": 114,
    }
    assert wide.manifest["rows"]["materials"] == 154 and wide.manifest["rows"]["customers"] == 115


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        # b = 3.16228: families round(34.60) = 35, shared round(25.95) = 26; 40 b = 126.5; 68 b^1.5 = 382.4
        (
            10,
            {
                "materials": 594,
                "finished_goods": 113,
                "subassemblies": 182,
                "suppliers": 126,
                "customers": 382,
            },
        ),
        # b = 10: families 144, shared 108, materials 43 + 2160 + 108; 40 b = 400; 68 * 31.623 = 2150.3
        (
            100,
            {
                "materials": 2311,
                "finished_goods": 440,
                "subassemblies": 727,
                "suppliers": 400,
                "customers": 2150,
            },
        ),
    ],
)
def test_breadth_at_large_scales_is_as_stated(scale: float, expected: dict[str, int]) -> None:
    """The catalogue alone (no volumes): the table in ingest/demo/README.md."""
    t = build_catalog(dt.date(2026, 12, 1), grow(scale)).tables
    assert _counts(t["materials"], t["suppliers"], t["customers"]) == expected
    assert not t["materials"]["material_id"].duplicated().any()
    assert not t["customers"]["name"].duplicated().any() and not t["suppliers"]["name"].duplicated().any()


def test_boms_go_at_least_three_levels_deep_and_components_exist(wide: Feed) -> None:
    bom = wide.good("bom")
    materials = wide.good("materials")
    assert _depth(bom) >= 3
    assert set(bom["component_material_id"]) <= set(materials["material_id"])
    made = set(
        materials.loc[materials["material_type"].isin(["finished_good", "subassembly"]), "material_id"]
    )
    assert set(bom["parent_material_id"]) == made
    # every material is sold, goes into something or stands in for something (the alternate needle)
    fgs = set(materials.loc[materials["material_type"] == "finished_good", "material_id"])
    used = set(bom["component_material_id"]) | fgs | set(wide.good("substitutes")["substitute_material_id"])
    assert used == set(materials["material_id"])


def test_every_material_is_planned_bought_stocked_and_costed(wide: Feed) -> None:
    materials = wide.num("materials", "standard_cost", "planned_lead_time_days")
    assert (materials["standard_cost"] > 0).all() and (materials["planned_lead_time_days"] > 0).all()
    made = materials["material_type"].isin(["finished_good", "subassembly"])
    bought = set(materials.loc[~made, "material_id"])
    asl = wide.num("approved_suppliers", "planned_lead_time_days", "unit_price")
    ok = asl[(asl["approved"] == "true") & (asl["planned_lead_time_days"] > 0) & (asl["unit_price"] > 0)]
    assert set(ok["material_id"]) == bought
    assert set(wide.good("purchase_orders")["material_id"]) >= bought
    assert set(wide.good("work_orders")["material_id"]) == set(materials.loc[made, "material_id"])
    fgs = set(materials.loc[materials["material_type"] == "finished_good", "material_id"])
    assert set(wide.good("sales_orders")["material_id"]) == fgs
    assert set(wide.good("inventory_movements")["material_id"]) == set(materials["material_id"])
    # every new supplier supplies something
    new = set(wide.good("suppliers")["supplier_id"]) - {f"SUP-{i:03d}" for i in range(1, 41)}
    assert len(new) == 17 and new <= set(ok["supplier_id"])


def test_the_core_catalogue_is_unchanged_and_the_new_parts_leave_the_planted_ones_alone(
    wide: Feed, scale1: Feed
) -> None:
    for entity in ("materials", "suppliers", "customers", "bom", "approved_suppliers"):
        dated = ["_line", "effective_from", "effective_to"] if entity == "bom" else ["_line"]  # as_of differs
        core = scale1.good(entity).drop(columns=dated)
        rows = wide.good(entity).drop(columns=dated)
        assert core.merge(rows, how="left", indicator=True)["_merge"].eq("both").all(), entity
    new = set(wide.good("materials")["material_id"]) - set(scale1.good("materials")["material_id"])
    assert len(new) == 110
    bom = wide.good("bom")
    new_bom = bom[bom["parent_material_id"].isin(new)]
    assert not set(new_bom["component_material_id"]) & PLANTED_MATERIALS
    asl = wide.good("approved_suppliers")
    assert not set(asl.loc[asl["material_id"].isin(new), "supplier_id"]) & PLANTED_SUPPLIERS


def test_the_planted_situations_stay_on_the_core_catalogue(wide: Feed) -> None:
    p = wide.planted
    assert (
        p["shortage"]["material_id"] == "CMP-30009" and p["shortage"]["substitute_material_id"] == "CMP-30019"
    )
    assert (
        p["quality_escape"]["material_id"] == "SB-40001" and p["late_supplier"]["material_id"] == "CMP-30010"
    )
    lots = wide.good("lots").set_index("lot_id")["material_id"]
    assert set(lots[p["expiring_lots"]]) == {"CMP-30018"}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_wider_demo_is_byte_identical_again(wide: Feed, tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=WIDE_SCALE, as_of=WIDE_AS_OF)
    assert _digests(tmp_path) == _digests(wide.dir)
