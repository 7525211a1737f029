"""Queries and figure builders as plain functions, on a tiny hand-made marts schema."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards import components, figures, kpi_view
from dashboards.data import base, delivery, health, inventory, lots, quality, shell, shortages, suppliers, wip
from dashboards.filters import Filters
from dashboards.warehouse_reader import WarehouseReader
from medtower.warehouse import WarehouseMissingError

A = dt.date(2025, 6, 30)


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("create schema marts")
    c.execute("""create table marts.dim_materials as select * from (values
        ('M1', 'Catheter', 'EA'), ('M2', 'Tubing', 'M')) t(material_id, description, uom)""")
    c.execute("""create table marts.dim_lots as select * from (values
        ('L1', 'M1', 'S1', 'produced', null, date '2025-07-10', date '2025-06-01',
         timestamp '2025-06-01 10:00'),
        ('L2', 'M1', 'S1', 'produced', null, date '2025-12-31', date '2025-06-20',
         timestamp '2025-06-20 10:00'),
        ('L3', 'M2', 'S2', 'received', 'SUP1', date '2025-06-01', null, timestamp '2025-05-01 10:00'))
        t(lot_id, material_id, site_id, origin, supplier_id, expiry_date, manufacture_date,
          status_changed_at)""")
    c.execute("""create table marts.fct_lot_state_history as select * from (values
        ('L1', date '2025-06-01', date '2025-06-15', 'quarantine', 100.0),
        ('L1', date '2025-06-15', null, 'released', 80.0),
        ('L2', date '2025-06-20', null, 'quarantine', 50.0),
        ('L3', date '2025-05-01', null, 'on_hold', 7.0))
        t(lot_id, valid_from_date, valid_to_date, status, on_hand_qty)""")
    c.execute("""create table marts.fct_nonconformances as select * from (values
        ('N1', 'S1', timestamp '2025-06-10 08:00', null, date '2025-06-10', null, 'D-01', 'major', 'L3'),
        ('N2', 'S1', timestamp '2025-06-12 08:00', timestamp '2025-06-20 08:00', date '2025-06-12',
         date '2025-06-20', 'D-01', 'minor', null),
        ('N3', 'S2', timestamp '2025-03-01 08:00', null, date '2025-03-01', null, 'D-02', 'critical', null))
        t(ncr_id, site_id, opened_at, closed_at, opened_date, closed_date, defect_code, severity, lot_id)""")
    return c


def test_stock_by_status_at_as_of_and_site(con: duckdb.DuckDBPyConnection) -> None:
    df = inventory.by_status(inventory.stock(con, Filters(as_of=A)))
    got = {(r.material_id, r.status): r.on_hand_qty for r in df.itertuples()}
    assert got == {("M1", "released"): 80.0, ("M1", "quarantine"): 50.0, ("M2", "on_hold"): 7.0}
    # Before L1's release it was in quarantine with 100.
    early = inventory.by_status(inventory.stock(con, Filters(as_of=dt.date(2025, 6, 10))))
    assert {(r.material_id, r.status): r.on_hand_qty for r in early.itertuples()} == {
        ("M1", "quarantine"): 100.0,
        ("M2", "on_hold"): 7.0,
    }
    s2 = inventory.by_status(inventory.stock(con, Filters(as_of=A, site="S2")))
    assert list(s2["material_id"]) == ["M2"]


def test_expiry_horizon_buckets(con: duckdb.DuckDBPyConnection) -> None:
    df = inventory.expiry_horizon(inventory.stock(con, Filters(as_of=A)))
    by = {str(r.bucket): r.lots for r in df.itertuples()}
    assert by == {"expired": 1, "< 30 days": 1, ">= 90 days": 1}


def test_release_queue_and_on_hold_reason(con: duckdb.DuckDBPyConnection) -> None:
    queue = lots.release_queue(con, Filters(as_of=A))
    assert list(queue["lot_id"]) == ["L2"]
    assert int(queue["age_days"].iloc[0]) == 10
    held = lots.lots_on_hold(con, Filters(as_of=A))
    assert list(held["lot_id"]) == ["L3"]
    assert "N1 D-01 (major)" in held["why"].iloc[0]


def test_ncr_open_at_as_of_and_pareto_window(con: duckdb.DuckDBPyConnection) -> None:
    open_ = quality.ncr_open_by_severity_age(con, Filters(as_of=A))
    assert int(open_["ncrs"].sum()) == 2  # N2 closed on 2025-06-20
    assert set(open_["severity"]) == {"major", "critical"}
    pareto = quality.ncr_pareto(con, Filters(as_of=A, period_days=30))
    assert pareto.to_dict("records") == [{"defect_code": "D-01", "ncrs": 2}]


def test_missing_mart_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(base.MartMissingError):
        shortages.shortage_exceptions(con, Filters(as_of=A))


def test_patient_reference_is_masked() -> None:
    assert quality.mask_reference("PAT-12345") == "•••••••45"
    assert quality.mask_reference(None) is None


def test_filters_round_trip_through_the_url() -> None:
    f = Filters(as_of=A, period_days=90, site="S1")
    assert Filters.from_query_string(f.query_string(), dt.date(2000, 1, 1)) == f
    assert Filters.from_query_string("?period=abc", A) == Filters(as_of=A)
    assert f.previous.as_of == dt.date(2025, 4, 1)


def test_rag_against_target_and_direction() -> None:
    up = kpi_view.KpiSpec("x", "X", "ratio", 0.95, True, None, "/")
    assert kpi_view.rag(0.96, up) == "green"
    assert kpi_view.rag(0.90, up) == "amber"
    assert kpi_view.rag(0.50, up) == "red"
    assert kpi_view.rag(None, up) is None
    down = kpi_view.KpiSpec("y", "Y", "count", 0, False, None, "/")
    assert kpi_view.rag(0, down) == "green"
    assert kpi_view.rag(5, down) == "red"


def test_figures_carry_the_data(con: duckdb.DuckDBPyConnection) -> None:
    fig = figures.stock_status_bar(inventory.by_status(inventory.stock(con, Filters(as_of=A))))
    assert isinstance(fig, go.Figure)
    assert {t.name for t in fig.data} == {"released", "quarantine", "on hold"}
    par = figures.pareto(quality.ncr_pareto(con, Filters(as_of=A)), "defect_code", "ncrs")
    assert list(par.data[0].y) == [2]
    assert list(par.data[1].y) == [100.0]
    empty = figures.pareto(quality.ncr_pareto(con, Filters(as_of=dt.date(2020, 1, 1))), "defect_code", "ncrs")
    assert empty.layout.annotations[0].text.startswith("No NCRs")
    import pandas as pd

    g = figures.genealogy_graph(
        pd.DataFrame({"parent_lot_id": ["C1", "C2"], "child_lot_id": ["P", "P"]}), "P"
    )
    xs = dict(zip(g.data[1].text, g.data[1].x, strict=True))
    assert xs["P"] == 0 and xs["C1"] == -1 and xs["C2"] == -1


def test_reader_follows_an_atomic_publish(tmp_path) -> None:
    path = tmp_path / "warehouse.duckdb"
    reader = WarehouseReader(path)
    with pytest.raises(WarehouseMissingError), reader.connect():
        pass
    for value, name in ((1, "a.duckdb"), (2, "b.duckdb")):
        c = duckdb.connect(str(tmp_path / name))
        c.execute(f"create table t as select {value} as x")
        c.close()
    os.replace(tmp_path / "a.duckdb", path)
    with reader.connect() as cur:
        assert cur.execute("select x from t").fetchone() == (1,)
        os.replace(tmp_path / "b.duckdb", path)  # publish while a request still reads
        assert cur.execute("select x from t").fetchone() == (1,)
    with reader.connect() as cur:
        assert cur.execute("select x from t").fetchone() == (2,)


# --- supply, planning and delivery marts -----------------------------------------------------


@pytest.fixture()
def planning_con(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The hand-made marts plus planning and delivery snapshots at A = 2025-06-30, in the shape of the
    netting marts (fct_shortages: one row per net requirement; fct_projected_balance: one per event).

    M2 (tubing, metres) at S1, in netting order: lot 10 on A (balance 10), PO +2 on 07-02 (12), WO1 needs 6
    on 07-02 (6), WO2 needs 11 on 07-05 (-5: short 5, inside M2's 14-day lead time: an exception), SO4
    needs 3 on 07-30 (max(-5, 0) - 3 = -3: short 3, beyond the 20-day lead time: an action). M1 at S2 is
    made in house: 40 EA short for SO3 on 08-01 (an action). WO8 needs 12.5 M of M2 on 08-20 (an action).
    Work orders open at A: WO1, WO2, WO5 (S1), WO3 (S2); WO4 is cancelled; WO5 (planned end 06-25) is late.
    SO1 is past due 3 days; SO2 is due later but made by WO2, which is short of M2; SO3 is fine.
    """
    c = con
    c.execute("""create table marts.fct_shortages as select * from (values
        ('X1', 'M2', 'S1', date '2025-07-05', 5.0, 'exception', 14, date '2025-06-21', 5, 'buy',
         'work_order', 'WO2', 'SO2', null, null),
        ('A3', 'M2', 'S1', date '2025-07-30', 3.0, 'action', 20, date '2025-07-10', 30, 'buy',
         'sales_order', null, 'SO4', 1, 'C2'),
        ('A2', 'M1', 'S2', date '2025-08-01', 40.0, 'action', 10, date '2025-07-22', 32, 'make',
         'sales_order', null, 'SO3', 1, 'C1'),
        ('A1', 'M2', 'S1', date '2025-08-20', 12.5, 'action', 14, date '2025-08-06', 51, 'buy',
         'work_order', 'WO8', null, null, null))
        t(shortage_id, material_id, site_id, need_date, shortage_qty, kind, lead_time_days, order_by,
          days_to_need, replenishment, demand_type, wo_id, so_id, so_line, customer_id)""")
    c.execute("alter table marts.fct_shortages add column as_of_date date default date '2025-06-30'")
    c.execute("""create table marts.fct_projected_balance as select * from (values
        ('M2', 'S1', 1, 'lot', date '2025-06-30', 10.0, null, null, null, null, 'L9', null),
        ('M2', 'S1', 2, 'purchase_order_line', date '2025-07-02', 12.0, 'PO1', 1, null, null, null, null),
        ('M2', 'S1', 3, 'work_order_component', date '2025-07-02', 6.0, null, null, 'WO1', null, null, null),
        ('M2', 'S1', 4, 'work_order_component', date '2025-07-05', -5.0, null, null, 'WO2', null, null, null),
        ('M2', 'S1', 5, 'sales_order_line', date '2025-07-30', -3.0, null, null, null, 'SO4', null, 1),
        ('M1', 'S2', 1, 'sales_order_line', date '2025-08-01', -40.0, null, null, null, 'SO3', null, 1))
        t(material_id, site_id, event_seq, event_type, netting_date, projected_balance, po_id, po_line,
          wo_id, so_id, lot_id, so_line)""")
    c.execute("""create table marts.fct_work_orders as select * from (values
        ('WO1', 'M1', 'S1', 'SO9', false, date '2025-07-03', null),
        ('WO2', 'M1', 'S1', 'SO2', false, date '2025-07-06', null),
        ('WO3', 'M1', 'S2', null, false, date '2025-07-02', null),
        ('WO4', 'M1', 'S1', null, true, date '2025-06-20', null),
        ('WO5', 'M1', 'S1', null, false, date '2025-06-25', null),
        ('WO6', 'M1', 'S1', null, false, date '2025-06-20', date '2025-06-29'))
        t(wo_id, material_id, site_id, so_id, is_cancelled, planned_end_date, actual_end_date)""")
    c.execute("""create table marts.fct_sales_order_lines as select * from (values
        ('SO1', 1, 'C1', 'M1', 'S1', 5.0, date '2025-06-27', 3, 5.0, true, true, false, false, true),
        ('SO2', 1, 'C2', 'M1', 'S1', 8.0, date '2025-07-20', 0, 8.0, true, false, false, true, true),
        ('SO3', 1, 'C1', 'M1', 'S2', 4.0, date '2025-07-20', 0, 4.0, true, false, false, false, false))
        t(so_id, so_line, customer_id, material_id, site_id, qty, due_date, days_late, open_qty, is_open,
          is_past_due, has_late_dependent_wo, has_short_dependent_wo, is_at_risk)""")
    c.execute("alter table marts.fct_sales_order_lines add column n_dependent_wos integer default 0")
    c.execute("alter table marts.fct_sales_order_lines add column as_of_date date default date '2025-06-30'")
    return c


def test_exceptions_and_actions_are_separate_lists(planning_con: duckdb.DuckDBPyConnection) -> None:
    exceptions = shortages.shortage_exceptions(planning_con, Filters(as_of=A))
    assert list(exceptions["shortage_id"]) == ["X1"]
    assert float(exceptions["shortage_qty"].iloc[0]) == 5.0
    assert exceptions["uom"].iloc[0] == "M"  # M2 is tubing, in metres
    actions = shortages.shortage_actions(planning_con, Filters(as_of=A))
    assert list(actions["shortage_id"]) == ["A3", "A2", "A1"]  # earliest order-by date first
    assert list(actions["to_do"]) == [
        "order 3 M by 2025-07-10",
        "plan a work order for 40 EA by 2025-07-22",
        "order 12.5 M by 2025-08-06",
    ]
    assert list(shortages.shortage_actions(planning_con, Filters(as_of=A, site="S2"))["shortage_id"]) == [
        "A2"
    ]
    assert shortages.shortage_exceptions(planning_con, Filters(as_of=A, site="S2")).empty


def test_weekly_review_lists_actions_per_material(planning_con: duckdb.DuckDBPyConnection) -> None:
    # M2 at S1 has two actions: 3 M by 07-10 (need 07-30), then 12.5 M (need 08-20); M1 at S2 one: plan
    # 40 EA by 07-22. The next order first, then what follows it; earliest order-by first; capped rows say so.
    actions, total = shortages.planned_actions(planning_con, Filters(as_of=A))
    assert total == 2
    assert [(r.to_do, r.later, r.material_id, int(r.needs)) for r in actions.itertuples()] == [
        ("order 3 M by 2025-07-10", "then 12.5 M for 1 more need until 2025-08-20", "M2", 2),
        ("plan a work order for 40 EA by 2025-07-22", "", "M1", 1),
    ]
    first, total = shortages.planned_actions(planning_con, Filters(as_of=A), limit=1)
    assert (len(first), total) == (1, 2)


def test_exports_of_both_lists_are_ag_grids_with_csv(planning_con: duckdb.DuckDBPyConnection) -> None:
    for name, frame in (
        ("shortage-actions", shortages.shortage_actions(planning_con, Filters(as_of=A))),
        ("shortage-exceptions", shortages.shortage_exceptions(planning_con, Filters(as_of=A))),
    ):
        # A few rows are a plain table: its rows and the columns it exports ride in its store.
        assert 0 < len(frame) <= components.PLAIN_TABLE_ROWS
        block = components.data_grid(name, frame, hidden=("shortage_id",))
        button = block.children[0].children[-1]
        store = next(c for c in block.children if getattr(c, "data", None) is not None)
        assert button.id == {"type": "table-csv", "name": name} and store.id["name"] == name
        assert "shortage_id" not in [f for f, _ in store.data["columns"]]
        assert len(store.data["rows"]) == len(frame)
        # Many rows are an AG Grid with its own CSV export.
        many = pd.concat([frame] * (components.PLAIN_TABLE_ROWS + 1), ignore_index=True)
        grid = components.data_grid(name, many, hidden=("shortage_id",)).children[1]
        assert grid.csvExportParams["fileName"] == f"medtower-{name}.csv"
        assert grid.csvExportParams["processCellCallback"] == {"function": "mtSafeCell(params)"}
        assert "shortage_id" not in [c["field"] for c in grid.columnDefs]
        assert len(grid.rowData) == len(many)


def test_shortage_profile_is_the_balance_after_each_days_last_event(
    planning_con: duckdb.DuckDBPyConnection,
) -> None:
    profile = shortages.shortage_profile(planning_con, Filters(as_of=A))
    # Only M2 @ S1 has an exception; on 07-02 the PO (12) comes before WO1's need: the day ends at 6.
    assert list(profile["series"].unique()) == ["M2 @ S1"]
    assert [
        (str(d.date()), b) for d, b in zip(profile["need_date"], profile["projected_balance"], strict=True)
    ] == [
        ("2025-06-30", 10.0),
        ("2025-07-02", 6.0),
        ("2025-07-05", -5.0),
        ("2025-07-30", -3.0),
    ]
    assert list(profile["wo_id"]) == ["L9", "WO1", "WO2", "SO4/1"]
    fig = figures.shortage_profile_chart(profile)
    assert [t.name for t in fig.data] == ["M2 @ S1"]
    assert list(fig.data[0].y) == [10.0, 6.0, -5.0, -3.0]


def test_shortage_summary_and_open_work_orders(planning_con: duckdb.DuckDBPyConnection) -> None:
    assert shortages.shortage_summary(planning_con, Filters(as_of=A)) == {
        "exceptions": 1,
        "actions": 3,
        "short_materials": 1,
        "short_work_orders": 1,
        "short_order_lines": 0,
        "open_work_orders": 4,  # WO1, WO2, WO3, WO5
    }
    assert wip.work_order_counts(planning_con, Filters(as_of=A)) == {"open": 4, "late": 1}  # WO5
    assert wip.work_order_counts(planning_con, Filters(as_of=A, site="S2")) == {"open": 1, "late": 0}
    # On 06-28 WO6 (planned end 06-20, finished 06-29) was open too: late are WO5 and WO6.
    assert wip.work_order_counts(planning_con, Filters(as_of=dt.date(2025, 6, 28))) == {"open": 5, "late": 2}


def test_orders_at_risk_say_why_and_name_the_short_component(planning_con: duckdb.DuckDBPyConnection) -> None:
    df = delivery.open_orders_at_risk(planning_con, Filters(as_of=A))
    assert list(df["so_id"]) == ["SO1", "SO2"]  # past due first; SO3 is not at risk
    why = dict(zip(df["so_id"], df["why"], strict=True))
    assert why == {"SO1": "past due", "SO2": "components short"}
    short = dict(zip(df["so_id"], df["short_components"], strict=True))
    assert short["SO2"] == "M2" and pd.isna(short["SO1"])
    assert delivery.order_risk_summary(planning_con, Filters(as_of=A)) == {
        "open_lines": 3,
        "at_risk": 2,
        "past_due": 1,
        "wo_late": 0,
        "short": 1,
    }
    assert delivery.open_orders_at_risk(planning_con, Filters(as_of=A, site="S2")).empty


def test_supplier_views_on_the_small_plant(small_con: duckdb.DuckDBPyConnection) -> None:
    """Real dbt marts: every column the supplier, planning and delivery views read exists.

    From tests/small_plant.py: PO1 (SUP1, RM1) ordered 04-01, received in full 05-05 before its
    requested date 06-05: on time, 34 days. PO2 (SUP2, RM2) ordered 05-01, 30 of 50 by its requested
    date 06-10 (first receipt 06-08, the rest 06-12): late, 38 days. Neither is open at A.
    """
    from tests.small_plant import AS_OF

    f = Filters(as_of=AS_OF, period_days=30)
    card = suppliers.supplier_scorecard(small_con, f)
    got = {r.supplier_id: (r.otd_rate_90d, r.median_actual_lead_time_days) for r in card.itertuples()}
    assert got["SUP1"] == (1.0, 34.0)
    assert got["SUP2"] == (0.0, 38.0)
    assert list(card["supplier_id"])[:2] == ["SUP2", "SUP1"]  # worst on-time delivery first
    # Both POs are for S1: with a site filter only suppliers with PO lines there are listed.
    assert set(suppliers.supplier_scorecard(small_con, Filters(as_of=AS_OF, site="S1"))["supplier_id"]) == {
        "SUP1",
        "SUP2",
    }
    assert suppliers.supplier_scorecard(small_con, Filters(as_of=AS_OF, site="S2")).empty
    assert suppliers.supplier_lead_times(small_con, Filters(as_of=AS_OF, site="S2")).empty
    lead = suppliers.supplier_lead_times(small_con, f)
    assert {(r.supplier_id, r.material_id): r.median_actual_lead_time_days for r in lead.itertuples()} == {
        ("SUP1", "RM1"): 34.0,
        ("SUP2", "RM2"): 38.0,
    }
    assert suppliers.open_purchase_order_lines(small_con, f).empty
    assert shell.mart_as_of(small_con, "fct_supplier_performance") == AS_OF
    assert shell.site_zones(small_con) == {"S1": "Europe/Berlin", "S2": "Asia/Shanghai"}
    for query in (
        suppliers.open_asn_lines,
        inventory.days_of_supply,
        shortages.shortage_exceptions,
        shortages.shortage_actions,
        shortages.shortage_profile,
        delivery.open_orders_at_risk,
        delivery.shipments,
        wip.work_orders_open,
    ):
        assert isinstance(query(small_con, f), pd.DataFrame), query.__name__
    fig = figures.lead_time_chart(card)
    actual = dict(zip(fig.data[2].y, fig.data[2].x, strict=True))
    assert actual == {"SUP2": 38.0, "SUP1": 34.0}


def test_kpi_values_from_one_series_match_separate_computations(small_con: duckdb.DuckDBPyConnection) -> None:
    from tests.small_plant import AS_OF

    for f in (Filters(as_of=AS_OF), Filters(as_of=AS_OF, period_days=7, site="S1")):
        values = kpi_view.values(small_con, f)
        assert values.current == kpi_view.compute(small_con, f)
        assert values.previous == kpi_view.compute(small_con, f.previous)
        assert values.current  # not vacuous


# --- time zones, units, empty states ----------------------------------------------------------


def test_site_local_time_names_the_zone_in_force() -> None:
    assert (
        components.site_local_time(pd.Timestamp("2026-03-02 14:05"), "Europe/Berlin")
        == "2026-03-02 14:05 CET"
    )
    assert (
        components.site_local_time(pd.Timestamp("2026-07-02 14:05"), "Europe/Berlin")
        == "2026-07-02 14:05 CEST"
    )
    assert (
        components.site_local_time(pd.Timestamp("2026-07-02 14:05"), "Asia/Shanghai")
        == "2026-07-02 14:05 CST"
    )
    assert components.site_local_time(None, "Europe/Berlin") is None


def test_localize_times_per_row_site_and_dates_untouched() -> None:
    df = pd.DataFrame(
        {
            "site_id": ["S1", "S2"],
            "shipped_at": pd.to_datetime(["2026-01-05 08:30", "2026-01-05 09:45"]),
            "ship_date": pd.to_datetime(["2026-01-05", "2026-01-05"]),
        }
    )
    zones = {"S1": "Europe/Dublin", "S2": "Asia/Shanghai"}
    out = components.localize_times(df, zones)
    assert list(out["shipped_at"]) == ["2026-01-05 08:30 GMT", "2026-01-05 09:45 CST"]
    assert pd.api.types.is_datetime64_any_dtype(out["ship_date"])
    one = components.localize_times(df, zones, site="S1")
    assert list(one["shipped_at"]) == ["2026-01-05 08:30 GMT", "2026-01-05 09:45 GMT"]


def _grid(block):
    return next(c for c in block.children if getattr(c, "rowData", None) is not None)


def test_a_header_names_its_unit_once() -> None:
    assert components._header("duration_hours") == "Duration (h)"
    assert components._header("lead_time_days_p50") == "Lead time p50 (d)"
    assert components._header("days_to_expiry") == "Days to expiry (d)"  # a first word stays
    assert components._header("on_time_pct") == "On time (%)"
    assert components._header("qty_good") == "Qty good"  # a quantity's unit is each row's own


def test_grid_units_rates_and_empty_state() -> None:
    df = pd.DataFrame(
        {
            "supplier_id": ["S"],
            "otd_rate_90d": [0.625],
            "median_delay_days": [4.0],
            "open_qty": [12.5],
            "uom": ["KG"],
        }
    )
    # Nine rows: an AG Grid, formatting in the browser (mtNumber, the row's unit).
    grid = _grid(components.data_grid("t", pd.concat([df] * 9, ignore_index=True)))
    headers = {c["field"]: c["headerName"] for c in grid.columnDefs}
    assert headers["otd_rate_90d"] == "On-time delivery, 90 d (%)"
    assert headers["median_delay_days"] == "Median delay (d)"  # the unit once, not "delay days (d)"
    assert grid.rowData[0]["otd_rate_90d"] == 62.5
    qty = next(c for c in grid.columnDefs if c["field"] == "open_qty")
    assert "params.data.uom" in qty["valueFormatter"]["function"]
    # One row: a plain table, formatted on the server as the grid formats it in the browser.
    table = components.data_grid("t", df).children[1].children
    thead, tbody = table.children
    assert [th.children for th in thead.children.children] == [
        "Supplier",
        "On-time delivery, 90 d (%)",
        "Median delay (d)",
        "Open qty",
        "Unit",
    ]
    (row,) = tbody.children
    link, *cells = row.children
    assert (link.children.children, link.children.href) == ("S", "/supplier/S")
    assert [td.children for td in cells] == ["62.5", "4", "12.5 KG", "KG"]
    assert [getattr(td, "className", None) for td in cells] == ["num", "num", "num", None]
    flags = components.data_grid("t", pd.DataFrame({"lot_id": ["L 1/2", None], "held": [True, False]}))
    rows = flags.children[1].children.children[1].children
    assert [[td.children for td in tr.children][1] for tr in rows] == ["yes", "no"]
    assert rows[0].children[0].children.href == "/lot/L%201%2F2" and rows[1].children[0].children == ""
    empty = components.data_grid("t", df.iloc[0:0], empty_text="Nothing open.", empty_detail="Because.")
    assert "empty-state" in empty.className
    assert [c.children for c in empty.children] == ["Nothing open.", "Because."]


def test_a_tables_own_links_and_quantities_read_alike_in_a_grid_and_a_plain_table() -> None:
    df = pd.DataFrame({"makes": ["FG 1"], "short_in_netting": [1234.5], "uom": ["KG"]})
    opts = {"links": {"makes": "/material/"}, "quantities": ("short_in_netting",), "hidden": ("uom",)}
    grid = _grid(components.data_grid("t", pd.concat([df] * 9, ignore_index=True), **opts))
    defs = {c["field"]: c for c in grid.columnDefs}
    assert defs["makes"]["cellRendererParams"] == {"route": "/material/"}
    assert "params.data.uom" in defs["short_in_netting"]["valueFormatter"]["function"]
    (row,) = components.data_grid("t", df, **opts).children[1].children.children[1].children
    link, qty = row.children
    assert (link.children.children, link.children.href, qty.children) == (
        "FG 1",
        "/material/FG%201",
        "1,234.5 KG",
    )


def test_grid_count_says_row_or_rows() -> None:
    def count(n: int) -> str:
        block = components.data_grid("t", pd.DataFrame({"lot_id": [f"L{i}" for i in range(n)]}))
        toolbar = next(c for c in block.children if getattr(c, "className", None) == "grid-toolbar")
        return next(c for c in toolbar.children if getattr(c, "className", None) == "grid-count").children

    assert (count(1), count(2), count(1200)) == ("1 row", "2 rows", "1,200 rows")


def test_filter_sync_keeps_the_pages_own_parameters() -> None:
    f = Filters(as_of=A, period_days=7, site="S1")
    search = f.merged_query_string("?as_of=2020-01-01&period=90&q=LOT+1&direction=forward")
    assert Filters.from_query_string(search, dt.date(2000, 1, 1)) == f
    assert search.endswith("&q=LOT+1&direction=forward")
    assert f.merged_query_string(None) == f.query_string()


def test_kpi_values_cache_is_keyed_on_the_warehouse_file(small_con: duckdb.DuckDBPyConnection) -> None:
    from tests.small_plant import AS_OF

    f = Filters(as_of=AS_OF)
    first = kpi_view.values(small_con, f, warehouse=("file", 1))
    assert kpi_view.values(small_con, f, warehouse=("file", 1)) is first
    assert kpi_view.values(small_con, f, warehouse=("file", 2)) is not first  # a publish: recompute
    assert kpi_view.values(small_con, f) is not first  # no identity: no cache


def test_trend_line_target_and_axis_title() -> None:
    df = pd.DataFrame({"week": pd.to_datetime(["2025-06-02", "2025-06-09"]), "value": [0.9, 0.97]})
    fig = figures.trend_line(df, "week", "value", y_title="OTIF", percent=True, target=0.95)
    assert [round(v, 6) for v in fig.data[0].y] == [90.0, 97.0]
    assert fig.layout.shapes[0].y0 == 95.0
    assert fig.layout.annotations[0].text == "target 95 %"
    assert fig.layout.yaxis.title.text == "OTIF (%)"


def _bars(barmode: str) -> dict:
    """Two materials' stock as horizontal bars: CMP-30009 6,000 released + 5,000 on hold, SB-1 100."""
    return {
        "data": [
            {"type": "bar", "orientation": "h", "y": ["CMP-30009", "SB-1"], "x": [6000, 100]},
            {"type": "bar", "orientation": "h", "y": ["CMP-30009"], "x": [5000]},
        ],
        "layout": figures._layout(
            barmode=barmode,
            yaxis={"tickfont": {"size": 10}},
            xaxis={"title": {"text": "on-hand quantity"}},
        ),
    }


def test_margins_hold_the_labels_they_are_fitted_to() -> None:
    stacked = figures.fit_margins(_bars("stack"))
    grouped = figures.fit_margins(_bars("group"))
    for fig in (stacked, grouped):
        assert fig["layout"]["xaxis"]["automargin"] is False
        assert fig["layout"]["yaxis"]["automargin"] is False
        # "CMP-30009": 9 characters at 10 px, 0.66 em each (59.4 px), plus 8 px to the axis.
        assert fig["layout"]["margin"]["l"] == 68
        # One line of 11 px ticks (14.85 px) + 8 px + 20 px for the axis title.
        assert fig["layout"]["margin"]["b"] == 43
        assert fig["layout"]["margin"]["t"] == 10
    # The last tick's label is centred on the right edge. Stacked, the axis runs to 11,000: Plotly writes
    # "10k" (4 characters at 11 px: 29 px, half of it + 4). Side by side it runs to 6,000: its 4 digits and
    # one more for a step's decimal point ("12.5" on a shorter axis), 5 characters: 36 px, half + 4.
    assert stacked["layout"]["margin"]["r"] == 19
    assert grouped["layout"]["margin"]["r"] == 23


def test_margins_of_dates_negatives_and_numpy_arrays() -> None:
    days = pd.to_datetime(["2026-12-04", "2026-12-11", "2026-12-18"])
    fig = go.Figure(
        data=[go.Scatter(x=days, y=pd.Series([-2500.0, 0.0, 80000.0]))],
        layout=figures._layout(yaxis={"title": {"text": "projected balance"}}),
    )
    plain = figures.fit_margins(fig.to_plotly_json())  # plotly writes the arrays as typed arrays
    # Dates: two lines (the year under the first day) of 11 px: 29.7 px + 8 px.
    assert plain["layout"]["margin"]["b"] == 38
    # "-80k": 4 characters and the minus at 11 px (36.3 px) + 8 px + the title's 20 px.
    assert plain["layout"]["margin"]["l"] == 65


def test_labels_that_may_turn_and_fixed_axes_keep_their_margins() -> None:
    crowded = {
        "data": [{"type": "bar", "x": [f"DEFECT-CODE-{i:02d}" for i in range(40)], "y": list(range(40))}],
        "layout": figures._layout(),
    }
    out = figures.fit_margins(crowded)
    # 40 labels of 14 characters do not fit side by side in a half-width panel: Plotly turns and measures.
    assert out["layout"]["xaxis"]["automargin"] is True
    assert out["layout"]["margin"]["b"] == 36
    assert out["layout"]["yaxis"]["automargin"] is False  # the counts on y are fitted
    grid = figures.trend_grid([figures.Trend("OTIF", ["2026-11-30"], [0.9], percent=True)])
    assert figures.fit_margins(grid)["layout"]["margin"] == grid["layout"]["margin"]


def test_dbt_results_of_the_latest_run_with_problems_first() -> None:
    c = duckdb.connect()
    c.execute("create schema meta")
    c.execute(
        """create table meta.dbt_results as select * from (values
        ('old', 'test.a', 'test', 'fail', 3, 0.1, 'old failure', timestamp '2026-01-01 08:00'),
        ('new', 'model.m', 'model', 'success', null, 1.0, null, timestamp '2026-01-02 08:00'),
        ('new', 'exposure.page', 'exposure', 'no-op', null, 0.0, null, timestamp '2026-01-02 08:00'),
        ('new', 'test.w', 'test', 'warn', 2, 0.2, 'two rows', timestamp '2026-01-02 08:00'),
        ('new', 'test.z', 'test', 'fail', 5, 0.2, 'five rows', timestamp '2026-01-02 08:00'),
        ('new', 'test.b', 'test', 'pass', 0, 0.1, null, timestamp '2026-01-02 08:00'))
        t(run_id, unique_id, resource_type, status, failures, execution_time, message, recorded_at)"""
    )
    results = health.dbt_results(c)
    # Only the latest run; the failure first, then the warning, then the rest by id.
    assert list(results["unique_id"]) == ["test.z", "test.w", "exposure.page", "model.m", "test.b"]
    # An exposure's no-op is not a problem; the failure and the warning are.
    assert list(health.dbt_problems(results)["unique_id"]) == ["test.z", "test.w"]


def test_unknown_site_or_a_date_after_the_data_gives_a_notice_not_numbers(tmp_path) -> None:
    """filters_from (every page's first call) refuses them; guarded shows the reason instead of figures."""
    import flask

    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute("create schema marts")
        c.execute(
            "create table marts.dim_sites as select 'S1' as site_id, 'Berlin' as name,"
            " 'Europe/Berlin' as timezone"
        )
        c.execute("create table marts.fct_inventory_by_lot as select date '2025-06-30' as as_of_date")
    app = flask.Flask(__name__)
    app.config["MEDTOWER_READER"] = WarehouseReader(db)

    @components.guarded
    def render(store: dict) -> str:
        components.filters_from(store)
        return "figures"

    with app.app_context():
        assert render({"as_of": "2025-06-30", "site": "S1"}) == "figures"
        assert render({"as_of": "2025-06-01"}) == "figures"  # a past date is fine
        unknown = render({"as_of": "2025-06-30", "site": "XX"})
        assert unknown.className == "notice filter-problem"
        assert "Unknown site 'XX'" in str(unknown.children) and "known sites: S1" in str(unknown.children)
        future = render({"as_of": "2025-07-01"})
        assert future.className == "notice filter-problem"
        assert "after the warehouse's data, which was built as of 2025-06-30" in str(future.children)
        assert components.filters_from({"as_of": "2025-07-01"}, check=False).as_of == dt.date(2025, 7, 1)


def test_operations_of_open_work_orders_by_status_at_the_chosen_date(
    planning_con: duckdb.DuckDBPyConnection,
) -> None:
    """Statuses at A from the timestamps: op 20 started 06-29 is running at A but waiting on 06-28.

    WO6 (finished 06-29) is open on 06-28 only, so its op 10 counts then and not at A; WO4 is cancelled.
    """
    planning_con.execute("""create table marts.fct_wo_operations as select * from (values
        ('WO1', 10, 'mould', 'done', timestamp '2025-06-24 08:00', timestamp '2025-06-25 12:00'),
        ('WO1', 20, 'assemble', 'running', timestamp '2025-06-29 08:00', null),
        ('WO1', 30, 'pack', 'waiting', null, null),
        ('WO1', 40, 'inspect', 'skipped', null, null),
        ('WO6', 10, 'mould', 'done', timestamp '2025-06-27 08:00', timestamp '2025-06-29 09:00'),
        ('WO4', 10, 'mould', 'waiting', null, null))
        t(wo_id, op_seq, operation, status, started_at, completed_at)""")
    planning_con.execute("alter table marts.fct_wo_operations add column work_center varchar")
    planning_con.execute("alter table marts.fct_work_orders add column planned_start timestamp")
    planning_con.execute("alter table marts.fct_work_orders add column planned_end timestamp")
    planning_con.execute("alter table marts.fct_work_orders add column status varchar")

    def by_status(day: dt.date) -> dict[tuple[str, str], int]:
        df = wip.wo_status_by_operation(planning_con, Filters(as_of=day))
        return {(r.operation, r.status): int(r.operations) for r in df.itertuples()}

    assert by_status(A) == {
        ("assemble", "running"): 1,
        ("inspect", "skipped"): 1,
        ("mould", "done"): 1,
        ("pack", "waiting"): 1,
    }
    assert by_status(dt.date(2025, 6, 28)) == {
        ("assemble", "waiting"): 1,
        ("inspect", "skipped"): 1,
        ("mould", "done"): 1,  # WO1's
        ("mould", "running"): 1,  # WO6's, started 06-27, completed 06-29
        ("pack", "waiting"): 1,
    }
    timeline = wip.wo_timeline(planning_con, Filters(as_of=A))
    assert set(timeline["wo_id"]) == {"WO1"}
    assert dict(zip(timeline["operation"], timeline["status"], strict=True))["assemble"] == "running"
