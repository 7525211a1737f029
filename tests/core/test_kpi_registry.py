"""One KPI registry: every place that lists KPIs agrees with medtower.kpis.CATALOG.

The dbt unions (fct_kpi_events, fct_kpi_intervals) must read exactly the models the registry implies
(``int_kpi_events__<source>`` / ``int_kpi_intervals__<source>``), and their accepted kpi_id values must be
the registry's sources; the definitions file documents every KPI; alert rules and tiles name only KPIs and
pages that exist. So adding a KPI in one place and forgetting another fails here, not in a review meeting.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from medtower import kpis
from tests.conftest import DBT_PROJECT, run_dbt
from tests.served_app import PAGE_FILES, page_path

REPO = DBT_PROJECT.parent


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("kpi_registry_parse")
    proc = run_dbt(root / "parse.duckdb", root / "target", "parse", "--no-partial-parse")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((root / "target" / "manifest.json").read_text())


def _model(manifest: dict, name: str) -> dict:
    return manifest["nodes"][f"model.medtower.{name}"]


def _depends(manifest: dict, name: str) -> list[str]:
    return sorted(n.split(".")[-1] for n in _model(manifest, name)["depends_on"]["nodes"])


def _accepted_kpi_ids(manifest: dict, name: str) -> list[str]:
    uid = f"model.medtower.{name}"
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if (
            node["resource_type"] == "test"
            and node.get("attached_node") == uid
            and node.get("column_name") == "kpi_id"
            and meta.get("name") == "accepted_values"
        ):
            return sorted(meta["kwargs"]["values"])
    raise AssertionError(f"{name}.kpi_id has no accepted_values test")


def test_the_registry_names_the_models_by_their_source() -> None:
    # Worked out from the catalog by hand: the p50 and p90 release cycle times share one model, and
    # inventory_days_on_hand has both an event side (consumption) and an interval side (stock).
    assert "int_kpi_events__lot_release_cycle_time_hours" in kpis.event_models()
    assert len(kpis.event_models()) == 10
    assert kpis.interval_models() == [
        "int_kpi_intervals__expiring_released_lots_90d",
        "int_kpi_intervals__inventory_days_on_hand",
        "int_kpi_intervals__late_wo_count",
        "int_kpi_intervals__open_ncr_count",
        "int_kpi_intervals__overdue_capa_count",
    ]
    assert len({k.id for k in kpis.CATALOG}) == len(kpis.CATALOG) == 15


def test_the_dbt_unions_read_exactly_the_registrys_models(manifest: dict) -> None:
    assert _depends(manifest, "fct_kpi_events") == kpis.event_models()
    assert _depends(manifest, "fct_kpi_intervals") == kpis.interval_models()
    in_folder = sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and n["original_file_path"].startswith("models/intermediate/kpis/")
        and n["name"].startswith("int_kpi_")
    )
    assert in_folder == sorted(kpis.event_models() + kpis.interval_models())


def test_accepted_kpi_ids_are_the_registrys_sources(manifest: dict) -> None:
    events = sorted({k.source for k in kpis.CATALOG if k.aggregation in kpis.EVENT_AGGREGATIONS})
    intervals = sorted({k.source for k in kpis.CATALOG if k.aggregation in kpis.INTERVAL_AGGREGATIONS})
    assert _accepted_kpi_ids(manifest, "fct_kpi_events") == events
    assert _accepted_kpi_ids(manifest, "fct_kpi_intervals") == intervals


def test_every_kpi_is_defined_in_the_definitions_table() -> None:
    text = (DBT_PROJECT / "kpi-definitions.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| `")]
    defined = {m.group(1) for line in table if (m := re.match(r"\| `([a-z0-9_]+)`", line))}
    # the p90 shares the p50's row ("(and `_p90_hours`)"); unacknowledged_po_lines is in the ack row
    defined |= {"lot_release_cycle_time_p90_hours", "unacknowledged_po_lines"}
    assert {k.id for k in kpis.CATALOG} - defined == set()
    assert any("`unacknowledged_po_lines`" in line for line in table)


def test_alert_rules_name_kpis_of_the_registry_with_a_target() -> None:
    named = []
    for path in sorted((REPO / "alerts" / "rules").glob("*.yaml")):
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
        if rule.get("kind") == "kpi":
            named += [(path.name, kpi_id) for kpi_id in rule.get("kpis", [])]
    assert named, "no KPI rule found: the check would be vacuous"
    for where, kpi_id in named:
        assert kpi_id in kpis.KPIS, f"{where}: {kpi_id} is not in medtower.kpis.CATALOG"
        assert kpis.KPIS[kpi_id].target is not None, f"{where}: {kpi_id} has no target to miss"


def test_every_tile_drills_into_a_page_that_exists() -> None:
    paths = {page_path(page) for page in PAGE_FILES.glob("[!_]*.py")}
    assert "/kpi-review" in paths
    for k in kpis.CATALOG:
        assert k.page in paths, f"{k.id}: page {k.page} is not a registered page"


@pytest.mark.parametrize(
    ("value", "kpi_id", "want"),
    [
        # OTIF target 0.95, higher is better: amber down to 0.95 - 0.095 = 0.855
        (0.95, "otif_rate", "green"),
        (0.86, "otif_rate", "amber"),
        (0.85, "otif_rate", "red"),
        # acknowledgment target 2 days, lower is better: amber up to 2.2
        (2.0, "supplier_ack_days_p50", "green"),
        (2.2, "supplier_ack_days_p50", "amber"),
        (3.0, "supplier_ack_days_p50", "red"),
        # overdue CAPAs target 0: a slack of 1
        (1, "overdue_capa_count", "amber"),
        (2, "overdue_capa_count", "red"),
        (None, "otif_rate", None),
        (40.0, "inventory_days_on_hand", None),  # no target
    ],
)
def test_status_colours_against_the_registry_target(value, kpi_id: str, want: str | None) -> None:
    assert kpis.status(value, kpis.KPIS[kpi_id]) == want


def test_marts_built_before_the_new_columns_still_read_and_never_count_zero_unknowns() -> None:
    """KPI marts of the previous build (no counted_from/until, no amount): the old KPIs as before,
    unacknowledged_po_lines n/a (None), never 0, until the next build gives it."""
    import datetime as dt

    import duckdb

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.dim_sites as select 'S1' as site_id")
    con.execute(
        "create table marts.fct_kpi_events (kpi_id varchar, site_id varchar, event_date date,"
        " subject_id varchar, numerator double, denominator double)"
    )
    con.execute(
        "create table marts.fct_kpi_intervals (kpi_id varchar, site_id varchar, subject_id varchar,"
        " category varchar, start_date date, end_date date)"
    )
    day = dt.date(2026, 6, 30)
    # OTIF: 3 of 4 lines on time in the window; one late work order open since 06-20
    con.executemany(
        "insert into marts.fct_kpi_events values ('otif_rate', 'S1', ?, ?, ?, 1)",
        [(day, "a", 1), (day, "b", 1), (day, "c", 1), (day, "d", 0)],
    )
    con.execute(
        "insert into marts.fct_kpi_intervals values ('late_wo_count', 'S1', 'W1', null, ?, null)",
        [dt.date(2026, 6, 20)],
    )
    values = kpis.compute_kpis(con, day, 30)["kpis"]
    assert values["otif_rate"] == pytest.approx(0.75) and values["late_wo_count"] == 1
    assert values["unacknowledged_po_lines"] is None and values["inventory_days_on_hand"] is None
    parts = kpis.kpis_by_site(con, day, 30)
    assert parts["all"]["unacknowledged_po_lines"].value is None
    assert parts["all"]["late_wo_count"].value == 1
