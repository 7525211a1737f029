"""Drill-down pages through Dash's own callback endpoint, on the pump maker of
tests/alerts/test_shortage_plan.py built by dbt for real, with a few rows more.
Every expected number is worked out here from the rows.

Added to the pump maker (site P1, A = 2026-06-30):
    BOX   packaging kept without lots: receipt 500 on 06-01, issue 120 on 06-15 (no lot id) -> 380 on hand,
          a third movement on 07-02 (after A) that must not count.
    WO-P0 PUMP 2, completed 06-20, output lot LP0 (no stock movement: nothing on hand); it consumed
          2 CASE from LC1 and 4 SEAL from LS2 (lot_consumption only, so no stock moves and the netting of
          the pump maker stays as its docstring works it out).
    NCR-1 major, open since 06-18, on LMH (MAG, SUP1); NCR-0 minor on LM1, closed 06-12.
    INS2 incoming pass on LM1 (06-11), INS3 incoming fail on LS1 (06-12), both SUP1 lots.
    SH-1  2 PUMP of LP0 to CUST2 on 06-25 for SO2/1 (5 ordered -> 3 open).
    GREASE raw, kept without lots: receipt 100 on 06-01. WO-P1 issues (it is open: no consumption reported):
          3 CASE of LC1 on 06-25, 6 GREASE (no lot) on 06-26; after A, 1 more of LC1 on 07-03.

From the pump maker's docstring (BOM PUMP = 1 MOTOR + 1 CASE + 2 SEAL; MOTOR = 4 MAG):
    MAG stock at A: released LM1 15, quarantine LMQ 10, on hold LMH 8.
    MAG balance: A lot LM1 +15 -> 15; 07-05 WO-M1 needs 10 x 4 = 40 -> -25; 08-05 PO-1/1 +30 -> 30;
        08-10 WO-M2 needs 5 x 4 = 20 -> 10.
    WO-P1 (10 PUMP): MOTOR 10 x 1 = 10, CASE 10 x 1 = 10, SEAL 10 x 2 = 20; issued by A: CASE 3; available
        at P1: MOTOR 0, CASE 100 - 3 = 97 (LC1), SEAL 30 + 10 = 40 (LS1, LS2 released, unexpired at A);
        short: SEAL 10
        (exception). It serves SO1/1 of CUST1 (St. James's Hospital) directly.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
from typing import Any

import duckdb
import numpy as np
import pytest

from tests.alerts.test_shortage_plan import AS_OF, ROWS, _material, _ts
from tests.conftest import build_plant
from tests.served_app import grids, plain_tables
from tests.signin import add_user, signed_in_client

pytestmark = pytest.mark.e2e

D = dt.date.fromisoformat
FILTERS = {"site": None, "as_of": AS_OF.isoformat(), "period_days": 30}


def _rows() -> dict[str, list[dict[str, Any]]]:
    rows = copy.deepcopy(ROWS)
    box = _material("BOX", "packaging")
    box["lot_controlled"] = False
    rows["materials"].append(box)
    rows["inventory_movements"] += [
        {
            "movement_id": f"M-BOX-{i}",
            "moved_at": _ts(day),
            "site_id": "P1",
            "material_id": "BOX",
            "qty": qty,
            "movement_type": kind,
            "reference_type": "po" if kind == "receipt" else "adjustment",
            "reference_id": "PX",
            "reference_line": 1,
        }
        for i, (day, qty, kind) in enumerate(
            [("2026-06-01", 500, "receipt"), ("2026-06-15", -120, "issue"), ("2026-07-02", -50, "issue")]
        )
    ]
    grease = _material("GREASE", "raw")
    grease["lot_controlled"] = False
    rows["materials"].append(grease)
    rows["inventory_movements"] += [
        {
            "movement_id": f"M-WOP1-{i}",
            "moved_at": _ts(day, 10),
            "site_id": "P1",
            "material_id": material,
            "lot_id": lot,
            "qty": qty,
            "movement_type": "issue",
            "reference_type": "wo",
            "reference_id": "WO-P1",
        }
        for i, (day, material, lot, qty) in enumerate(
            [
                ("2026-06-01", "GREASE", None, 100),
                ("2026-06-25", "CASE", "LC1", -3),
                ("2026-06-26", "GREASE", None, -6),
                ("2026-07-03", "CASE", "LC1", -1),
            ]
        )
    ]
    rows["inventory_movements"][-4].update(movement_type="receipt", reference_type="po", reference_id="PX")
    rows["lots"].append(
        {
            "lot_id": "LP0",
            "material_id": "PUMP",
            "site_id": "P1",
            "origin": "produced",
            "status": "released",
            "status_changed_at": _ts("2026-06-21", 9),
            "manufacture_date": D("2026-06-20"),
        }
    )
    rows["work_orders"].append(
        {
            "wo_id": "WO-P0",
            "material_id": "PUMP",
            "site_id": "P1",
            "qty_planned": 2,
            "qty_completed": 2,
            "status": "completed",
            "planned_start": _ts("2026-06-18"),
            "planned_end": _ts("2026-06-20", 16),
            "actual_start": _ts("2026-06-18", 9),
            "actual_end": _ts("2026-06-20", 15),
            "output_lot_id": "LP0",
        }
    )
    rows["lot_consumption"] = [
        {
            "wo_id": "WO-P0",
            "component_lot_id": lot,
            "component_material_id": material,
            "qty": qty,
            "consumed_at": _ts("2026-06-18", 10),
        }
        for lot, material, qty in (("LC1", "CASE", 2), ("LS2", "SEAL", 4))
    ]
    rows["nonconformances"] = [
        {
            "ncr_id": "NCR-1",
            "opened_at": _ts("2026-06-18", 11),
            "source": "incoming",
            "material_id": "MAG",
            "lot_id": "LMH",
            "supplier_id": "SUP1",
            "defect_code": "DIM",
            "severity": "major",
            "qty_affected": 8,
            "status": "open",
        },
        {
            "ncr_id": "NCR-0",
            "opened_at": _ts("2026-06-05", 11),
            "closed_at": _ts("2026-06-12", 11),
            "source": "incoming",
            "material_id": "MAG",
            "lot_id": "LM1",
            "supplier_id": "SUP1",
            "defect_code": "COS",
            "severity": "minor",
            "qty_affected": 1,
            "status": "closed",
        },
    ]
    rows["inspections"] += [
        {
            "inspection_id": ins,
            "lot_id": lot,
            "material_id": material,
            "inspection_type": "incoming",
            "started_at": _ts(day),
            "completed_at": _ts(day, 15),
            "result": result,
        }
        for ins, lot, material, day, result in (
            ("INS2", "LM1", "MAG", "2026-06-11", "pass"),
            ("INS3", "LS1", "SEAL", "2026-06-12", "fail"),
        )
    ]
    rows["shipments"] = [
        {
            "shipment_id": "SH-1",
            "so_id": "SO2",
            "so_line": 1,
            "customer_id": "CUST2",
            "material_id": "PUMP",
            "lot_id": "LP0",
            "qty": 2,
            "shipped_at": _ts("2026-06-25", 14),
        }
    ]
    return rows


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from alerts.engine import evaluate
    from alerts.rules import load_rules
    from dashboards.app import create_app
    from medtower.settings import Settings

    root = tmp_path_factory.mktemp("drill_plant")
    db_path, _ = build_plant(root, _rows(), AS_OF)
    settings = Settings(data_dir=root, planner_emails=[], qa_emails=[], management_emails=[])
    with duckdb.connect(str(db_path)) as con:
        rules = [r for r in load_rules() if r.id == "material_shortage"]
        evaluate(
            con,
            settings,
            run_id="t1",
            as_of=AS_OF,
            now=dt.datetime(2026, 6, 30, 23),
            rules=rules,
            deliver=False,
        )
    add_user(root)
    app = create_app(settings)
    client = signed_in_client(app)
    assert client.get("/").status_code == 200  # registers the pages' callbacks
    client.dash_app = app  # type: ignore[attr-defined]  # to look up a callback's output key
    return client


def _post_body(client: Any, body_id: str, inputs: list[dict[str, Any]]) -> list[Any]:
    """A page body's callback as the browser calls it on a first render (nothing held yet): the whole tree.

    The body's callback also writes its fingerprint store (dashboards/in_place.py), so both are outputs.
    """
    held = f"{body_id}-held"
    body = {
        "output": f"..{body_id}.children...{held}.data..",
        "outputs": [{"id": body_id, "property": "children"}, {"id": held, "property": "data"}],
        "inputs": inputs,
        "state": [{"id": held, "property": "data", "value": None}],
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[-3000:]
    return resp.get_json()["response"][body_id]["children"]


def _render(client: Any, slug: str, ident: str, filters: dict[str, Any] | None = None) -> list[Any]:
    return _post_body(
        client,
        f"{slug}-body",
        [
            {"id": f"{slug}-id", "property": "data", "value": ident},
            {"id": "filters", "property": "data", "value": filters or FILTERS},
        ],
    )


def _walk(node: Any) -> Any:
    if isinstance(node, list):
        for n in node:
            yield from _walk(n)
    elif isinstance(node, dict):
        yield node
        yield from _walk(node.get("props", {}).get("children"))


def _grid(tree: list[Any], name: str) -> list[dict[str, Any]]:
    """A table's rows: an AG Grid's or a short plain table's (tests/served_app.grids)."""
    found = grids(tree)
    if name not in found:
        raise AssertionError(f"no grid {name!r} on the page")
    return found[name]


def _values(array: Any) -> list[float]:
    """A figure's array as Plotly sends it: a list, or a typed array {'dtype', 'bdata'} in base64."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _text(tree: list[Any]) -> str:
    parts = []
    for node in _walk(tree):
        child = node.get("props", {}).get("children")
        if isinstance(child, str):
            parts.append(child)
    return " | ".join(parts)


def _facts(tree: list[Any]) -> dict[str, str]:
    out = {}
    for node in _walk(tree):
        if node.get("type") == "Div" and node["props"].get("className") == "fact":
            dt_, dd = node["props"]["children"]
            out[dt_["props"]["children"]] = dd["props"]["children"]
    return out


# --- material -----------------------------------------------------------------------------------------------


def test_material_stock_by_status_and_lots(app_client: Any) -> None:
    page = _render(app_client, "material", "MAG")
    stock = {(r["status"], r["lots"], r["on_hand_qty"]) for r in _grid(page, "material-status")}
    assert stock == {("released", 1, 15), ("quarantine", 1, 10), ("on_hold", 1, 8)}
    lots = [(r["lot_id"], r["status"]) for r in _grid(page, "material-lots")]
    assert sorted(lots) == [("LM1", "released"), ("LMH", "on_hold"), ("LMQ", "quarantine")]
    assert lots[-1] == ("LM1", "released")  # blocked first
    assert "3 lots; blocked and soon-expiring first" in _text(page)
    facts = _facts(page)
    assert (facts["Material"], facts["Unit"], facts["Lot controlled"]) == ("MAG", "EA", "yes")


def test_stock_kept_without_lots_is_its_own_row_up_to_the_chosen_date(app_client: Any) -> None:
    """500 received - 120 issued by A; the 50 issued on 07-02 is after A."""
    page = _render(app_client, "material", "BOX")
    assert [(r["site_id"], r["status"], r["on_hand_qty"]) for r in _grid(page, "material-status")] == [
        ("P1", "no lot", 380)
    ]
    early = _render(app_client, "material", "BOX", {**FILTERS, "as_of": "2026-06-10"})
    assert [r["on_hand_qty"] for r in _grid(early, "material-status")] == [500]


def test_material_time_phased_balance(app_client: Any) -> None:
    page = _render(app_client, "material", "MAG")
    rows = [
        (
            r["netting_date"],
            r["event_type"],
            r["reference"],
            r["supply_qty"],
            r["demand_qty"],
            r["projected_balance"],
        )
        for r in _grid(page, "material-balance")
    ]
    assert rows == [
        ("2026-06-30", "lot", "LM1", 15, 0, 15),
        ("2026-07-05", "work_order_component", "WO-M1", 0, 40, -25),
        ("2026-08-05", "purchase_order_line", "PO-1/1", 30, 0, 30),
        ("2026-08-10", "work_order_component", "WO-M2", 0, 20, 10),
    ]
    assert "4 events;" in _text(page)
    (graph,) = [n for n in _walk(page) if n.get("type") == "Graph"]
    (trace,) = graph["props"]["figure"]["data"]
    assert _values(trace["y"]) == [15, -25, 30, 10]


def test_material_bom_supply_substitutes_and_alert(app_client: Any) -> None:
    motor = _render(app_client, "material", "MOTOR")
    assert [
        (r["material_id"], r["qty_per"], r["open_work_orders"], r["qty_outstanding"])
        for r in _grid(motor, "material-components")
    ] == [("MAG", 4, 2, 60)]  # 10 x 4 + 5 x 4
    seal = _render(app_client, "material", "SEAL")
    # PUMP needs 2 SEAL; open WO-P1 10, WO-P2 5, WO-P3 30 -> (10 + 5 + 30) x 2 = 90
    assert [
        (r["material_id"], r["qty_per"], r["open_work_orders"], r["qty_outstanding"], r["first_need_date"])
        for r in _grid(seal, "material-where-used")
    ] == [("PUMP", 2, 3, 90, "2026-07-15")]
    mag = _render(app_client, "material", "MAG")
    assert [(r["supplier_id"], r["planned_lead_time_days"]) for r in _grid(mag, "material-suppliers")] == [
        ("SUP1", 20)
    ]
    # PX (received) is not open; PO-1 is.
    assert [(r["purchase_order"], r["open_qty"], r["due_date"]) for r in _grid(mag, "material-pos")] == [
        ("PO-1", 30, "2026-08-05")
    ]
    subs = {
        (r["other_material_id"], r["for_product"], r["available_qty"])
        for r in _grid(mag, "material-substitutes")
    }
    assert subs == {("MAG2", "MOTOR", 12), ("MAG3", "PUMP", 100)}  # MAG2: LM2 7 + LM2B 5 released
    short = [
        (r["kind"], r["need_date"], r["shortage_qty"], r["wo_id"]) for r in _grid(mag, "material-shortages")
    ]
    assert short == [("exception", "2026-07-05", 25, "WO-M1")]
    links = [
        n["props"]["href"] for n in _walk(mag) if n.get("type") == "Link" and "/alerts" in n["props"]["href"]
    ]
    assert len(links) == 1 and links[0].endswith(
        "&alert=material_shortage%3Amaterial_id%3DMAG%2Csite_id%3DP1"
    ), links


@pytest.mark.parametrize(
    ("slug", "ident", "want"),
    [
        (
            "material",
            "MAG",
            [
                ("Stock", ["Stock by status", "Lots on hand"]),
                ("Supply and demand", ["Supply, demand and projected balance"]),
                ("Net requirements", ["Net requirements"]),
                ("BOM", ["Components", "Where used"]),
                (
                    "Suppliers and substitutes",
                    ["Approved suppliers", "Open purchase order lines", "Substitutes"],
                ),
                ("Work orders", ["Work orders making it"]),
            ],
        ),
        (
            "customer",
            "CUST1",
            [("Open orders", ["Open order lines"]), ("Shipments by lot", ["Shipments by lot"])],
        ),
        (
            "supplier",
            "SUP1",
            [
                ("Open orders", ["Open purchase order lines", "ASNs in transit"]),
                ("Three-way match", ["Three-way match"]),
                ("Lots and quality", ["Lots received and incoming inspection", "Nonconformances"]),
                ("Lead times", ["Lead time by material"]),
            ],
        ),
    ],
)
def test_a_drill_down_sends_every_tab_with_its_sections(
    app_client: Any, slug: str, ident: str, want: list[tuple[str, list[str]]]
) -> None:
    """Every tab's sections come in the one answer (a tab's click asks the server nothing), each under its
    own tab; above the tabs only the facts and what a person needs first; the first tab is selected."""
    page = _render(app_client, slug, ident)
    (tabs,) = [n for n in page if n.get("type") == "Tabs"]

    def titles(tree: Any) -> list[str]:
        return [n["props"]["children"] for n in _walk(tree) if n.get("type") == "H3"]

    got = [(t["props"]["label"], titles(t["props"]["children"])) for t in tabs["props"]["children"]]
    assert got == want
    assert tabs["props"]["value"] == tabs["props"]["children"][0]["props"]["value"]
    above = {
        "material": ["Material", "Open alerts"],
        "customer": ["Customer"],
        "supplier": ["Supplier", "Scorecard"],
    }[slug]
    assert [t.split(",")[0] for t in titles([n for n in page if n is not tabs])] == above


def test_unknown_material_says_so(app_client: Any) -> None:
    assert "No material NOPE in the warehouse." in _text(_render(app_client, "material", "NOPE"))


# --- work order ---------------------------------------------------------------------------------------------


def test_work_order_components_required_issued_available_short(app_client: Any) -> None:
    page = _render(app_client, "work-order", "WO-P1")
    comps = {
        r["material_id"]: (r["qty_required"], r["qty_issued"], r["available_qty"], r["short_qty"])
        for r in _grid(page, "wo-components")
    }
    assert comps == {"MOTOR": (10, 0, 0, 0), "CASE": (10, 3, 97, 0), "SEAL": (20, 0, 40, 10)}
    assert _grid(page, "wo-components")[0]["material_id"] == "SEAL"  # the short one first
    orders = [(r["sales_order"], r["line"], r["customer"], r["peg_level"]) for r in _grid(page, "wo-orders")]
    assert orders == [("SO1", 1, "St. James's Hospital", 1)]


def test_an_open_work_order_names_the_lots_issued_to_it_until_the_mes_reports_consumption(
    app_client: Any,
) -> None:
    page = _render(app_client, "work-order", "WO-P1")
    issued = [(r["lot_id"], r["material_id"], r["qty"]) for r in _grid(page, "wo-lots-issued")]
    assert issued == [("LC1", "CASE", 3), (None, "GREASE", 6)]  # by material; the 07-03 issue is after A
    assert "Lots consumed" not in _text(page) and "no consumption" in _text(page)
    assert "2 rows; issued to it by the warehouse up to 2026-06-30" in _text(page)  # GREASE's is no lot
    early = _render(app_client, "work-order", "WO-P1", {**FILTERS, "as_of": "2026-06-20"})
    assert "wo-lots-issued" not in grids(early)  # nothing issued yet: neither source has a lot
    assert "No lot issued to this work order yet." in _text(early)
    # WO-P0 reported its consumption: that is what the page shows, not issues.
    assert "wo-lots-issued" not in grids(_render(app_client, "work-order", "WO-P0"))


def test_work_order_serves_the_customer_through_the_parent_order(app_client: Any) -> None:
    """WO-M1's MOTOR covers WO-P1, whose PUMP covers SO1/1: level 2."""
    page = _render(app_client, "work-order", "WO-M1")
    assert [(r["sales_order"], r["customer_id"], r["peg_level"]) for r in _grid(page, "wo-orders")] == [
        ("SO1", "CUST1", 2)
    ]
    assert {r["material_id"]: r["short_qty"] for r in _grid(page, "wo-components")} == {"MAG": 25}


def test_completed_work_order_lots_consumed_and_produced(app_client: Any) -> None:
    page = _render(app_client, "work-order", "WO-P0")
    consumed = {(r["lot_id"], r["material_id"], r["qty"]) for r in _grid(page, "wo-lots-consumed")}
    assert consumed == {("LC1", "CASE", 2), ("LS2", "SEAL", 4)}
    assert [r["lot_id"] for r in _grid(page, "wo-lots-produced")] == ["LP0"]
    assert "No component requirement: the work order is not open." in _text(page)


# --- lot, customer, supplier --------------------------------------------------------------------------------


def test_lot_hold_says_why_and_lists_its_ncrs(app_client: Any) -> None:
    page = _render(app_client, "lot", "LMH")
    # Received 06-10 08:00 into quarantine; the lot master put it on hold at 12:00 with no QA decision, and
    # NCR-1 (DIM, major) opened on it 06-18 during that hold; QA held it on 06-20 10:00 for a supplier notice.
    assert [(r["from"], r["to"], r["status"], r["why"]) for r in _grid(page, "lot-history")] == [
        (
            "2026-06-10 08:00",
            "2026-06-10 12:00",
            "quarantine",
            "in quarantine - awaiting incoming inspection",
        ),
        ("2026-06-10 12:00", "2026-06-20 10:00", "on_hold", "on hold - NCR NCR-1 DIM (major)"),
        ("2026-06-20 10:00", None, "on_hold", "on hold - QA: supplier notice (decided by qa1 on 2026-06-20)"),
    ]
    assert [(r["ncr_id"], r["status"], r["severity"]) for r in _grid(page, "lot-ncrs")] == [
        ("NCR-1", "open", "major")
    ]
    hrefs = {n["props"]["href"] for n in _walk(page) if n.get("type") == "Link"}
    assert "/traceability?as_of=2026-06-30&period=30&q=LMH&direction=forward" in hrefs


def test_lot_inspections_genealogy_and_shipments(app_client: Any) -> None:
    lm1 = _render(app_client, "lot", "LM1")
    assert [(r["inspection_id"], r["result"]) for r in _grid(lm1, "lot-inspections")] == [("INS2", "pass")]
    lp0 = _render(app_client, "lot", "LP0")
    made_from = {(r["link"], r["lot_id"], r["qty"]) for r in _grid(lp0, "lot-genealogy")}
    assert made_from == {("made from", "LC1", 2), ("made from", "LS2", 4)}
    assert [(r["shipment_id"], r["customer"], r["qty"]) for r in _grid(lp0, "lot-shipments")] == [
        ("SH-1", "Cork University Hospital", 2)
    ]
    lc1 = _render(app_client, "lot", "LC1")
    assert [(r["link"], r["lot_id"], r["wo_id"], r["qty"]) for r in _grid(lc1, "lot-genealogy")] == [
        ("went into", "LP0", "WO-P0", 2)
    ]


def test_customer_orders_at_risk_and_shipments_by_lot(app_client: Any) -> None:
    cust1 = _render(app_client, "customer", "CUST1")
    (line,) = _grid(cust1, "customer-orders")
    # SO1/1 is pegged to MAG's shortage (WO-M1 -> WO-P1 -> SO1/1).
    assert (line["sales_order"], line["line"], line["open_qty"], line["at_risk"]) == ("SO1", 1, 10, True)
    assert "pegged to a shortage" in line["why"]
    cust2 = _render(app_client, "customer", "CUST2")
    assert [(r["sales_order"], r["open_qty"]) for r in _grid(cust2, "customer-orders")] == [("SO2", 3)]
    assert [(r["shipment_id"], r["lot_id"], r["qty"]) for r in _grid(cust2, "customer-shipments")] == [
        ("SH-1", "LP0", 2)
    ]
    before = _render(app_client, "customer", "CUST2", {**FILTERS, "as_of": "2026-06-24"})
    assert "Nothing shipped to this customer up to this date." in _text(before)


def test_supplier_scorecard_follows_the_period(app_client: Any) -> None:
    """SUP1's incoming inspections: INS2 pass 06-11, INS3 fail 06-12 (INS1 pending: not counted)."""
    page = _render(app_client, "supplier", "SUP1")
    facts = _facts(page)
    assert facts["Incoming reject rate"] == "50.0 % (1 of 2 inspections)"
    assert facts["On-time delivery"] == "n/a (0 of 0 lines due)"  # no SUP1 line requested in the window
    assert facts["Contact e-mail"] == "o@mag.example"
    early = _facts(_render(app_client, "supplier", "SUP1", {**FILTERS, "as_of": "2026-06-11"}))
    assert early["Incoming reject rate"] == "0.0 % (0 of 1 inspections)"
    assert {r["po_id"] for r in _grid(page, "supplier-pos")} == {"PO-1", "PO-2"}


def _render_page(client: Any, body_id: str, filters: dict[str, Any]) -> list[Any]:
    return _post_body(client, body_id, [{"id": "filters", "property": "data", "value": filters}])


def test_quality_page_lists_ncrs_open_first_with_their_lot_and_supplier(app_client: Any) -> None:
    """At A: NCR-1 open since 06-18 (age 12 d); NCR-0 opened 06-05, in the 30-day window, closed 06-12
    (7 d)."""
    page = _render_page(app_client, "quality-body", FILTERS)
    rows = [
        (r["ncr_id"], r["open_at"], r["severity"], r["lot_id"], r["supplier"], r["age_days"])
        for r in _grid(page, "ncr-list")
    ]
    assert rows == [
        ("NCR-1", True, "major", "LMH", "Magnetics Ltd", 12),
        ("NCR-0", False, "minor", "LM1", "Magnetics Ltd", 7),
    ]
    # On 06-10 NCR-0 was still open (06-05 to 06-10: 5 days) and NCR-1 not yet raised.
    early = _render_page(app_client, "quality-body", {**FILTERS, "as_of": "2026-06-10"})
    assert [(r["ncr_id"], r["open_at"], r["age_days"]) for r in _grid(early, "ncr-list")] == [
        ("NCR-0", True, 5)
    ]


# --- traceability -------------------------------------------------------------------------------------------


def _call(
    client: Any,
    output: str,
    outputs: Any,
    inputs: list[dict[str, Any]],
    state: list[dict[str, Any]],
    changed: str | None = None,
) -> Any:
    body = {
        "output": output,
        "outputs": outputs,
        "inputs": inputs,
        "state": state,
        "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[-3000:]
    return resp.get_json()["response"]


def _trace(client: Any, query: str, direction: str) -> list[Any]:
    return _call(
        client,
        "trace-body.children",
        {"id": "trace-body", "property": "children"},
        [
            {"id": "trace-go", "property": "n_clicks", "value": 1},
            {"id": "trace-q", "property": "value", "value": query},
            {"id": "trace-direction", "property": "value", "value": direction},
        ],
        [{"id": "filters", "property": "data", "value": FILTERS}],
    )["trace-body"]["children"]


def test_trace_several_lots_forward_to_customers_with_names_and_quantities(app_client: Any) -> None:
    """LC1 and LS2 went into WO-P0's LP0 (depth 1), 2 of which went to CUST2 on SH-1."""
    page = _trace(app_client, "LC1,\nLS2", "forward")
    depth = {r["lot_id"]: r["depth"] for r in _grid(page, "trace-lots")}
    assert depth == {"LC1": 0, "LS2": 0, "LP0": 1}
    assert [
        (r["customer_id"], r["customer"], r["material_id"], r["shipments"], r["lots"], r["qty"])
        for r in _grid(page, "trace-parties")
    ] == [("CUST2", "Cork University Hospital", "PUMP", 1, 1, 2)]
    assert "Forward trace of 2 lots" in _text(page)
    back = _trace(app_client, "LP0", "backward")
    assert [r["supplier_id"] for r in _grid(back, "trace-parties")] == ["SUP1"]
    bad = _text(_trace(app_client, "LC1, NOPE", "forward"))
    assert "Cannot trace that." in bad and "item 2 'NOPE'" in bad


def test_trace_query_and_direction_go_into_the_url(app_client: Any) -> None:
    # A duplicate output (allow_duplicate): Dash keys it "url.search@<hash>"; find the one fed by trace-q.
    key = next(
        k
        for k, v in app_client.dash_app.callback_map.items()
        if k.startswith("url.search@") and any(i["id"] == "trace-q" for i in v["inputs"])
    )
    out = _call(
        app_client,
        key,
        {"id": "url", "property": "search"},
        [
            {"id": "trace-go", "property": "n_clicks", "value": 1},
            {"id": "trace-q", "property": "value", "value": "LC1,LS2"},
            {"id": "trace-direction", "property": "value", "value": "forward"},
        ],
        [{"id": "url", "property": "search", "value": "?as_of=2026-06-30&period=30&q=OLD"}],
    )
    assert out["url"]["search"] == "?as_of=2026-06-30&period=30&q=LC1%2CLS2&direction=forward"


def test_trace_scope_exports_as_xlsx(app_client: Any) -> None:
    import openpyxl

    out = _call(
        app_client,
        "trace-download.data",
        {"id": "trace-download", "property": "data"},
        [
            {"id": "trace-csv", "property": "n_clicks", "value": 0},
            {"id": "trace-xlsx", "property": "n_clicks", "value": 1},
        ],
        [
            {"id": "trace-q", "property": "value", "value": "LC1 LS2"},
            {"id": "trace-direction", "property": "value", "value": "forward"},
        ],
        changed="trace-xlsx.n_clicks",
    )["trace-download"]["data"]
    assert out["filename"] == "medtower-trace-forward-LC1-LS2.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(out["content"])))
    assert book.sheetnames == ["query", "lots", "suspects", "shipments", "customers", "suppliers", "edges"]
    rows = list(book["customers"].values)
    assert rows[0] == ("customer_id", "customer", "material_id", "shipments", "lots", "qty")
    assert rows[1:] == [("CUST2", "Cork University Hospital", "PUMP", 1, 1, 2)]
    assert sorted(r[0] for r in list(book["lots"].values)[1:]) == ["LC1", "LP0", "LS2"]


def test_grid_headers_are_words_not_column_names(app_client: Any) -> None:
    page = _render(app_client, "work-order", "WO-P1")
    # One order line: a short table drawn as plain HTML; its header cells and the CSV's columns both.
    orders = plain_tables(page)["wo-orders"]
    headers = dict(orders["columns"])
    assert (headers["sales_order"], headers["customer_id"], headers["customer"], headers["uom"]) == (
        "Sales order",
        "Customer",
        "Customer name",
        "Unit",
    )
    (block,) = [
        n
        for n in _walk(page)
        if n["props"].get("className") == "grid-block" and "wo-orders" in plain_tables(n)
    ]
    (table,) = [n for n in _walk(block) if n.get("type") == "Table"]
    head = [th["props"]["children"] for th in _walk(table) if th.get("type") == "Th"]
    assert head == [h for _, h in orders["columns"]]
    links = [(a["props"]["children"], a["props"]["href"]) for a in _walk(table) if a.get("type") == "A"]
    # customer_id still links (the page adds the filters), so does material_id
    assert links == [("CUST1", "/customer/CUST1"), ("PUMP", "/material/PUMP")]
