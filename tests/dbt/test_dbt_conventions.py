"""The dbt project's conventions, read from target/manifest.json as dbt_project_evaluator would."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import DBT_PROJECT


def _models(manifest: dict, folder: str) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and n["package_name"] == "medtower"
        and n["original_file_path"].startswith(f"models/{folder}/")
    ]


def _tests_on(manifest: dict, unique_id: str) -> list[dict]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test"
        and unique_id in n.get("depends_on", {}).get("nodes", [])
        and n.get("attached_node") == unique_id
    ]


def test_every_mart_is_named_fct_or_dim_and_has_a_tested_key(manifest: dict) -> None:
    marts = _models(manifest, "marts")
    assert marts
    problems = []
    for model in marts:
        if not model["name"].startswith(("fct_", "dim_")):
            problems.append(f"{model['name']}: a mart is named fct_* or dim_*")
        tests = _tests_on(manifest, model["unique_id"])
        by_column: dict[str | None, set[str]] = {}
        for t in tests:
            by_column.setdefault(t.get("column_name"), set()).add(t["test_metadata"]["name"])
        has_key = any({"unique", "not_null"} <= names for col, names in by_column.items() if col)
        has_combination = "unique_combination" in by_column.get(None, set())
        if not (has_key or has_combination):
            problems.append(f"{model['name']}: no unique + not_null key nor unique_combination test")
        if not model.get("description"):
            problems.append(f"{model['name']}: no description")
    assert not problems, "\n".join(problems)


def test_every_staging_model_reads_a_source_and_nothing_else_does(manifest: dict) -> None:
    problems = []
    for model in _models(manifest, "staging"):
        if not model["depends_on"]["nodes"] or not all(
            n.startswith("source.") for n in model["depends_on"]["nodes"]
        ):
            problems.append(f"{model['name']}: staging reads sources only")
        if not model["name"].startswith("stg_"):
            problems.append(f"{model['name']}: staging models are named stg_*")
    for folder in ("intermediate", "marts"):
        for model in _models(manifest, folder):
            if any(n.startswith("source.") for n in model["depends_on"]["nodes"]):
                problems.append(f"{model['name']}: source() belongs in staging only")
    assert not problems, "\n".join(problems)


def test_every_kpi_model_has_unit_tests_and_is_in_a_kpi_fact(manifest: dict) -> None:
    kpi_models = [m for m in _models(manifest, "intermediate/kpis") if m["name"].startswith("int_kpi_")]
    unit_tested = {n["model"] for n in manifest.get("unit_tests", {}).values()}
    facts = {m["name"]: m for m in _models(manifest, "marts/kpis")}
    used = {dep.split(".")[-1] for f in facts.values() for dep in f["depends_on"]["nodes"]}
    mine = [
        m
        for m in kpi_models
        if m["name"] not in {"int_kpi_events__otif_rate", "int_kpi_events__supplier_otd_rate"}
    ]
    assert {m["name"] for m in mine} - unit_tested == set()
    assert {m["name"] for m in kpi_models} - used == set()


def test_foreign_keys_to_dims_have_relationships_tests(manifest: dict) -> None:
    keys = {
        "site_id": "dim_sites",
        "material_id": "dim_materials",
        "supplier_id": "dim_suppliers",
        "customer_id": "dim_customers",
        "lot_id": "dim_lots",
    }
    problems = []
    for model in _models(manifest, "marts"):
        if model["name"].startswith("dim_") and model["name"][4:] in {
            "sites",
            "materials",
            "suppliers",
            "customers",
            "lots",
        }:
            own_key = {
                "dim_sites": "site_id",
                "dim_materials": "material_id",
                "dim_suppliers": "supplier_id",
                "dim_customers": "customer_id",
                "dim_lots": "lot_id",
            }[model["name"]]
        else:
            own_key = None
        tested = {
            t.get("column_name")
            for t in _tests_on(manifest, model["unique_id"])
            if t["test_metadata"]["name"] == "relationships"
        }
        for column in model["columns"]:
            if column in keys and column != own_key and column not in tested:
                problems.append(f"{model['name']}.{column}: no relationships test to {keys[column]}")
    assert not problems, "\n".join(problems)


def test_pii_columns_are_marked(manifest: dict) -> None:
    customers = next(m for m in _models(manifest, "marts") if m["name"] == "dim_customers")
    for column in ("contact_name", "contact_email"):
        meta = customers["columns"][column].get("meta") or customers["columns"][column]["config"].get(
            "meta", {}
        )
        assert meta.get("pii") is True, column
    # The patient reference is in one narrow mart only, marked pii (read by the unmasked path alone).
    carriers = [m for m in _models(manifest, "marts") if "patient_reference" in m["columns"]]
    assert [m["name"] for m in carriers] == ["fct_complaint_patient_references"]
    column = carriers[0]["columns"]["patient_reference"]
    assert (column.get("meta") or column["config"].get("meta", {})).get("pii") is True


def test_the_project_file_is_where_the_fixture_expects_it() -> None:
    assert (DBT_PROJECT / "dbt_project.yml").exists() and Path(DBT_PROJECT / "kpi-definitions.md").exists()


def test_every_mart_column_is_documented_and_every_documented_column_is_built(
    manifest: dict, small_con
) -> None:
    """The YAML of each mart lists exactly the columns dbt builds, in any order."""
    problems = []
    marts = _models(manifest, "marts")
    for model in marts:
        built = [
            r[0]
            for r in small_con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [model["name"]],
            ).fetchall()
        ]
        if not built:
            problems.append(f"{model['name']}: not built in the small warehouse")
            continue
        documented = set(model["columns"])
        if undocumented := [c for c in built if c not in documented]:
            problems.append(f"{model['original_file_path']}: columns not in the YAML: {undocumented}")
        if phantom := sorted(documented - set(built)):
            problems.append(
                f"{model['original_file_path']}: YAML columns the model does not build: {phantom}"
            )
    assert len(marts) >= 25 and not problems, "\n".join(problems)


POSTGRES_MAX_IDENTIFIER = 63


def test_relation_and_unit_test_names_fit_postgres_identifiers(manifest: dict) -> None:
    """PostgreSQL cuts identifiers at 63 bytes: a unit test named with 64 characters errors there."""
    names = [
        (n["resource_type"], n["name"]) for n in manifest["nodes"].values() if n["resource_type"] == "model"
    ]
    names += [("unit_test", n["name"]) for n in manifest.get("unit_tests", {}).values()]
    assert any(kind == "unit_test" for kind, _ in names)
    too_long = [
        f"{kind} {name} ({len(name.encode())} bytes)"
        for kind, name in names
        if len(name.encode()) > POSTGRES_MAX_IDENTIFIER
    ]
    assert not too_long, f"longer than {POSTGRES_MAX_IDENTIFIER} bytes:\n" + "\n".join(too_long)


def test_every_source_has_freshness_or_says_why_not(manifest: dict) -> None:
    """A source has loaded_at_field and warn/error freshness; an exempt one says why in its description."""
    sources = [s for s in manifest["sources"].values() if s["package_name"] == "medtower"]
    assert len(sources) >= 20
    problems = []
    for source in sources:
        config = source.get("config") or {}
        loaded_at = source.get("loaded_at_field") or config.get("loaded_at_field")
        freshness = config.get("freshness", source.get("freshness"))
        if not loaded_at:
            problems.append(f"{source['name']}: no loaded_at_field")
        if freshness is None or not (freshness.get("warn_after") or {}).get("count"):
            if not re.search(r"freshness:? null\b.{20,}", source.get("description") or ""):
                problems.append(f"{source['name']}: no freshness, and the description does not say why")
        elif not (freshness.get("error_after") or {}).get("count"):
            problems.append(f"{source['name']}: warn_after without error_after")
    assert not problems, "\n".join(problems)
