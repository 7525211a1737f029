"""Queries and figure builders as plain functions, on a tiny hand-made marts schema."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import plotly.graph_objects as go
import pytest

from dashboards import data, figures, kpi_view
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
    df = data.stock_by_status(con, Filters(as_of=A))
    got = {(r.material_id, r.status): r.on_hand_qty for r in df.itertuples()}
    assert got == {("M1", "released"): 80.0, ("M1", "quarantine"): 50.0, ("M2", "on_hold"): 7.0}
    # Before L1's release it was in quarantine with 100.
    early = data.stock_by_status(con, Filters(as_of=dt.date(2025, 6, 10)))
    assert {(r.material_id, r.status): r.on_hand_qty for r in early.itertuples()} == {
        ("M1", "quarantine"): 100.0,
        ("M2", "on_hold"): 7.0,
    }
    s2 = data.stock_by_status(con, Filters(as_of=A, site="S2"))
    assert list(s2["material_id"]) == ["M2"]


def test_expiry_horizon_buckets(con: duckdb.DuckDBPyConnection) -> None:
    df = data.expiry_horizon(con, Filters(as_of=A))
    by = {str(r.bucket): r.lots for r in df.itertuples()}
    assert by == {"expired": 1, "< 30 days": 1, ">= 90 days": 1}


def test_release_queue_and_on_hold_reason(con: duckdb.DuckDBPyConnection) -> None:
    queue = data.release_queue(con, Filters(as_of=A))
    assert list(queue["lot_id"]) == ["L2"]
    assert int(queue["age_days"].iloc[0]) == 10
    held = data.lots_on_hold(con, Filters(as_of=A))
    assert list(held["lot_id"]) == ["L3"]
    assert "N1 D-01 (major)" in held["why"].iloc[0]


def test_ncr_open_at_as_of_and_pareto_window(con: duckdb.DuckDBPyConnection) -> None:
    open_ = data.ncr_open_by_severity_age(con, Filters(as_of=A))
    assert int(open_["ncrs"].sum()) == 2  # N2 closed on 2025-06-20
    assert set(open_["severity"]) == {"major", "critical"}
    pareto = data.ncr_pareto(con, Filters(as_of=A, period_days=30))
    assert pareto.to_dict("records") == [{"defect_code": "D-01", "ncrs": 2}]


def test_missing_mart_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(data.MartMissingError):
        data.shortages(con, Filters(as_of=A))


def test_patient_reference_is_masked() -> None:
    assert data.mask_reference("PAT-12345") == "•••••••45"
    assert data.mask_reference(None) is None


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
    fig = figures.stock_status_bar(data.stock_by_status(con, Filters(as_of=A)))
    assert isinstance(fig, go.Figure)
    assert {t.name for t in fig.data} == {"released", "quarantine", "on hold"}
    par = figures.pareto(data.ncr_pareto(con, Filters(as_of=A)), "defect_code", "ncrs")
    assert list(par.data[0].y) == [2]
    assert list(par.data[1].y) == [100.0]
    empty = figures.pareto(data.ncr_pareto(con, Filters(as_of=dt.date(2020, 1, 1))), "defect_code", "ncrs")
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
