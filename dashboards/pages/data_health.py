"""Data health: ingest runs, pipeline runs, source freshness, dbt results, alert rules, quarantined rows."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from dashboards import auth, personal
from dashboards.components import (
    data_grid,
    filters_from,
    guarded,
    reader,
    section,
    settings,
)
from dashboards.data import health
from dashboards.in_place import register_page
from medtower import pii
from medtower.alert_queries import rule_health, rule_health_summary


def pipeline_runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for run in runs:
        steps = run.get("steps") or []
        rows.append(
            {
                "run_id": run.get("run_id"),
                "kind": run.get("kind"),
                "started_at": run.get("started_at"),
                "ended_at": run.get("ended_at") or run.get("finished_at"),
                "outcome": run.get("outcome"),
                "steps": ", ".join(f"{s.get('step')}: {s.get('outcome')}" for s in steps),
                "detail": "; ".join(
                    str(s.get("detail")) for s in steps if s.get("outcome") != "succeeded" and s.get("detail")
                )
                or run.get("error"),
            }
        )
    return pd.DataFrame(rows)


def alert_rules_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Latest evaluation per alert rule; a failing rule reads as an error, not as a rule with no alerts."""
    cols = [
        "rule_id",
        "status",
        "error",
        "evaluated_at",
        "rows_returned",
        "firing",
        "null_rows",
        "duration_ms",
    ]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


def _record_unmasked(rejected: pd.DataFrame) -> pd.DataFrame:
    """The ``pii.view`` record of quarantined rows shown as delivered, personal data and all; the frame
    without its marker column."""
    shown = rejected[rejected[health.UNMASKED].astype(bool)] if not rejected.empty else rejected
    if not shown.empty:
        pii.reveal(
            settings(),
            auth.actor(),
            "quarantine",
            "data health",
            pii.feed_columns_of(str(e) for e in shown["entity"]),
            "/data-health",
            ids=[f"{r.entity}:{r.file}:{r.line}" for r in shown.itertuples()],
        )
    return rejected.drop(columns=[health.UNMASKED])


@register_page(
    __name__,
    path="/data-health",
    name="Data health",
    order=10,
    heading="Data health",
    subtitle="Is the data behind these pages complete, fresh and tested?",
    body_id="health-body",
)
@guarded
def render(filters: dict[str, Any] | None) -> Any:
    filters_from(filters, check=False)  # health is about the feed and the build, not a site or a date
    from medtower.runlog import read_run_log

    runs = pipeline_runs_frame(read_run_log(settings(), limit=20))
    with reader().connect() as con:
        ingest = health.ingest_runs(con)
        freshness = health.source_freshness(con)
        dbt = health.dbt_results(con)
        dbt_counts = health.dbt_result_counts(con)
        unmasked = personal.unmasked()
        rejected = health.rejects(con, unmasked=unmasked)
        rules = rule_health(con)
    if unmasked:
        rejected = _record_unmasked(rejected)
    failing = health.dbt_problems(dbt)
    summary = ", ".join(f"{r.resource_type} {r.status}: {r.nodes:,}" for r in dbt_counts.itertuples())
    return [
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Pipeline runs",
                    data_grid("pipeline-runs", runs, height=260, empty_text="No pipeline run recorded yet."),
                    note="newest first, from logs/pipeline-runs.jsonl",
                ),
                section(
                    "Ingest runs",
                    data_grid("ingest-runs", ingest, height=260, empty_text="No ingest run recorded yet."),
                    note="meta.ingest_runs",
                ),
            ],
        ),
        html.Div(
            className="grid-2",
            children=[
                section(
                    "Source freshness",
                    data_grid("freshness", freshness, height=300),
                    note="last successful load that brought rows, per feed entity",
                ),
                section(
                    "dbt build results",
                    html.Div(summary or "no dbt results", className="section-note"),
                    data_grid("dbt-results", failing if not failing.empty else dbt, height=270),
                    note="latest build; failures and warnings first",
                ),
            ],
        ),
        section(
            "Alert rules",
            html.Div(
                rule_health_summary(rules),
                className="section-note" + (" notice" if any(r["status"] == "error" for r in rules) else ""),
                id="health-alert-rules-note",
            ),
            data_grid("alert-rules", alert_rules_frame(rules), height=260, empty_text="No evaluation yet."),
            note="latest evaluation of each rule, failing rules first",
            wide=True,
        ),
        section(
            "Quarantined rows",
            data_grid(
                "rejects",
                rejected,
                height=300,
                empty_text="No quarantined rows: every row passed validation.",
            ),
            note="rows the ingest refused, with file, line and reason (meta.rejects); "
            + (
                "as delivered, personal data included: your role may see it, each view is recorded"
                if unmasked
                else "personal data masked"
            ),
            wide=True,
        ),
    ]
