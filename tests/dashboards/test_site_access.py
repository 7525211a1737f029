"""Per-site access on the drill-downs and the trace, checked on the server with raw HTTP.

Lot and work order belong to one site: refused to a user of another site. Material, supplier and customer
span sites: their tables keep the user's sites' rows. A trace crosses sites: for users with every site.

The real app over a copy of the hand-built plant (tests/small_plant.py): every lot is at S1 (Berlin); WO7
(SA1) is the one thing made at S2 (Suzhou). Users: "berlin" granted S1, "suzhou" granted S2, "both"
granted S1 and S2, and an admin with every site. Expected rows are read off the plant's ROWS by hand:
SA1 is made by WO1 (S1) and WO7 (S2); supplier SUP1 sent lots R1, R3 and R5 (all S1) and NCR N1 (on R3,
S1) is against it; F1's backward trace reaches A1, R1 and R2, all at S1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.served_app import copy_warehouse, drilldown_body, filters, grids, post, serve
from tests.signin import TEST_PASSWORD, add_user, http_client


@pytest.fixture(scope="module")
def app(small_warehouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("site_access")
    data = base / "data"
    copy_warehouse(small_warehouse.path, data)
    add_user(data, "admin", "admin")
    add_user(data, "berlin", "planner", sites=["S1"])
    add_user(data, "suzhou", "planner", sites=["S2"])
    add_user(data, "both", "planner", sites=["S1", "S2"])
    with serve(data, base / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def clients(app: str) -> dict[str, Any]:
    return {name: http_client(app, name, TEST_PASSWORD) for name in ("admin", "berlin", "suzhou", "both")}


def _body(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["response"]


def test_a_lot_or_work_order_of_another_site_is_refused_with_a_notice_and_no_data(clients: dict) -> None:
    # (page, id, its site, a fact of it from ROWS: R1's supplier lot, the work orders' material)
    cases = (
        ("lot", "R1", "S1", "SUPLOT-9"),
        ("work-order", "WO1", "S1", "SA1"),
        ("work-order", "WO7", "S2", "SA1"),
    )
    for slug, key, site, fact in cases:
        owner = "berlin" if site == "S1" else "suzhou"
        other = "suzhou" if site == "S1" else "berlin"
        shown = str(_body(drilldown_body(clients[owner], slug, key)))
        assert "site-refused" not in shown and fact in shown, f"{owner} sees the {slug} {key}"
        # The other site's user, with "all sites" or with their own site in the filter: the notice only.
        for filtered in (None, "S2" if site == "S1" else "S1"):
            refused = _body(drilldown_body(clients[other], slug, key, site=filtered))
            text = str(refused)
            assert "site-refused" in text and f"is at {site}" in text, (other, slug, key, text[:300])
            assert grids(refused) == {}, "no table of the refused page"
            # Nothing of the entity's facts either (R1's supplier lot, a work order's material).
            assert "SUPLOT-9" not in text and "SA1" not in text and "Tube set" not in text
    # A user with every site sees both.
    assert "Tube set" in str(_body(drilldown_body(clients["admin"], "work-order", "WO7")))
    # Typing a site one has no grant for is refused by the guard before any page code runs.
    assert drilldown_body(clients["suzhou"], "lot", "R1", site="S1").status_code == 403


def test_material_supplier_customer_show_only_the_users_sites(clients: dict) -> None:
    def sites_in(tree: Any) -> set[str]:
        return {str(r["site_id"]) for rows in grids(tree).values() for r in rows if r.get("site_id")}

    # "All sites" in the filter: a user granted one site sees the drill-down at that site.
    suzhou = _body(drilldown_body(clients["suzhou"], "material", "SA1"))
    wos = grids(suzhou)["material-wos"]
    assert [r["wo_id"] for r in wos] == ["WO7"]
    assert sites_in(suzhou) == {"S2"}
    berlin = _body(drilldown_body(clients["berlin"], "material", "SA1"))
    assert [r["wo_id"] for r in grids(berlin)["material-wos"]] == ["WO1"]
    assert sites_in(berlin) == {"S1"}
    every = _body(drilldown_body(clients["admin"], "material", "SA1"))
    assert sorted(r["wo_id"] for r in grids(every)["material-wos"]) == ["WO1", "WO7"]

    # The supplier's received lots come from a query without a site filter: the grid keeps S2's (none)
    # and says how many rows of other sites it did not show; the NCR N1 (raised at S1) is not shown.
    sup = _body(drilldown_body(clients["suzhou"], "supplier", "SUP1"))
    text = str(sup)
    for hidden in ("R1", "R3", "R5", "N1", "SUPLOT-9"):
        assert f"'{hidden}'" not in text, hidden
    # One row per lot and incoming inspection: R1 (I1), R3 (I3, I7), R5 (I5); I6 on R3 is a final one.
    assert "(4 at other sites not shown)" in text and "(1 at other sites not shown)" in text
    assert "pool the receipts of every site" in text  # the all-site lead times are not shown
    sup_admin = grids(_body(drilldown_body(clients["admin"], "supplier", "SUP1")))
    assert sorted(r["lot_id"] for r in sup_admin["supplier-lots"]) == ["R1", "R3", "R3", "R5"]
    assert [r["ncr_id"] for r in sup_admin["supplier-ncrs"]] == ["N1"]
    sup_berlin = grids(_body(drilldown_body(clients["berlin"], "supplier", "SUP1")))
    assert sorted(r["lot_id"] for r in sup_berlin["supplier-lots"]) == ["R1", "R3", "R3", "R5"]

    # Customer C1 got F1 from S1: nothing of it for Suzhou, the shipment for Berlin.
    cust = _body(drilldown_body(clients["suzhou"], "customer", "C1"))
    assert "'F1'" not in str(cust)
    assert "F1" in {
        r.get("lot_id")
        for r in grids(_body(drilldown_body(clients["berlin"], "customer", "C1"))).get(
            "customer-shipments", []
        )
    }

    # Granted two sites, "all sites": asked to pick one; with one picked, that site's rows only.
    both = str(_body(drilldown_body(clients["both"], "material", "SA1")))
    assert "You see S1, S2 only: pick one of them" in both and "WO1" not in both
    picked = grids(_body(drilldown_body(clients["both"], "material", "SA1", site="S2")))
    assert {r["site_id"] for rows in picked.values() for r in rows if r.get("site_id")} <= {"S1", "S2"}
    # The work orders making SA1 follow the site picked, as the page's other lists do: WO7 is made at S2,
    # WO1 at S1 (both sites are this user's, so only the filter keeps WO1 out).
    assert [r["wo_id"] for r in picked["material-wos"]] == ["WO7"]
    at_s1 = grids(_body(drilldown_body(clients["both"], "material", "SA1", site="S1")))
    assert [r["wo_id"] for r in at_s1["material-wos"]] == ["WO1"]


def _trace(client: Any, query: str, direction: str, site: str | None) -> Any:
    return post(
        client,
        [{"id": "trace-body", "property": "children"}],
        [
            {"id": "trace-go", "property": "n_clicks", "value": 1},
            {"id": "trace-q", "property": "value", "value": query},
            {"id": "trace-direction", "property": "value", "value": direction},
        ],
        state=[filters(site)],
        changed=["trace-go.n_clicks"],
    )


def _trace_export(client: Any) -> Any:
    return post(
        client,
        [{"id": "trace-download", "property": "data"}],
        [
            {"id": "trace-csv", "property": "n_clicks", "value": 1},
            {"id": "trace-xlsx", "property": "n_clicks", "value": 0},
        ],
        state=[
            {"id": "trace-q", "property": "value", "value": "F1"},
            {"id": "trace-direction", "property": "value", "value": "backward"},
        ],
        changed=["trace-csv.n_clicks"],
    )


def test_a_trace_and_its_export_are_for_users_with_every_site(clients: dict) -> None:
    every = grids(_body(_trace(clients["admin"], "F1", "backward", None)))
    assert {r["lot_id"] for r in every["trace-lots"]} == {"F1", "A1", "R1", "R2"}
    # A user granted some sites gets a notice in place of the trace, even of their own site's lot: the
    # trace's tables carry no site to keep rows by.
    for name, site in (("berlin", "S1"), ("suzhou", "S2")):
        answer = _body(_trace(clients[name], "F1", "backward", site))
        text = str(answer)
        assert "site-refused" in text and "recall scope" in text and grids(answer) == {}
        assert "'A1'" not in text and "R1" not in text and "SUPLOT-9" not in text
    # The recall scope as a file: every site or nothing.
    assert _trace_export(clients["admin"]).status_code == 200
    refused = _trace_export(clients["berlin"])
    assert refused.status_code == 403 and "recall scope" in refused.json()["error"]
