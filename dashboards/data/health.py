"""Data health (``meta`` schema): ingest runs, source freshness, dbt results, quarantined rows."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query


def ingest_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return query(con, f"select * from meta.ingest_runs order by 2 desc limit {int(limit)}")


def ingest_run_entities(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pd.DataFrame:
    return query(con, f"select * from meta.ingest_run_entities order by 1 desc limit {int(limit)}")


# dbt statuses that need nobody's attention: models and tests that passed, exposures (always no-op).
DBT_OK_STATUSES = ("pass", "success", "no-op")


def dbt_problems(results: pd.DataFrame) -> pd.DataFrame:
    """The results that need attention: failed, errored, warned or skipped nodes."""
    if results.empty:
        return results
    return results[~results["status"].isin(DBT_OK_STATUSES)]


def dbt_results(con: duckdb.DuckDBPyConnection, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """The latest dbt build's node results: errors and failures, then warnings and skips, then the rest."""
    return query(
        con,
        f"""
        select unique_id, resource_type, status, failures, round(execution_time, 2) as seconds, message,
               recorded_at
        from meta.dbt_results
        where run_id = (select run_id from meta.dbt_results order by recorded_at desc limit 1)
        order by case
            when status in ('error', 'fail', 'runtime error') then 0
            when status in ('pass', 'success', 'no-op') then 2
            else 1
        end, unique_id
        limit {int(limit)}
        """,
    )


def dbt_result_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return query(
        con,
        """
        select resource_type, status, count(*) as nodes
        from meta.dbt_results
        where run_id = (select run_id from meta.dbt_results order by recorded_at desc limit 1)
        group by all order by resource_type, status
        """,
    )


# The column of ``rejects(unmasked=True)`` that says a row's personal data is shown (raw_full differs).
UNMASKED = "_unmasked"


def rejects(
    con: duckdb.DuckDBPyConnection, limit: int = ROW_LIMIT, *, unmasked: bool = False
) -> pd.DataFrame:
    """Quarantined rows. ``raw`` has personal data masked at ingest; ``unmasked``: the row as delivered
    (``raw_full``) instead, with ``UNMASKED`` true where that shows personal data (the caller checks the
    right and records the view: medtower/pii.py). The delivered bytes (``raw_line``) are never read here."""
    raw = (
        f"coalesce(raw_full, raw) as raw, coalesce(raw_full <> raw, false) as {UNMASKED}"
        if unmasked
        else "raw"
    )
    return query(
        con,
        f'select entity, file, line, "column", reason, {raw}, first_run_id, first_seen_at, last_run_id, '
        f"last_seen_at from meta.rejects order by last_seen_at desc, entity, file, line limit {int(limit)}",
    )


def source_freshness(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> pd.DataFrame:
    """Per feed entity: the last ingest run that loaded rows for it, and how long ago that was."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return query(
        con,
        """
        select e.entity,
               max(r.ended_at) filter (where e.rows_loaded > 0) as last_loaded_at,
               max(r.ended_at) as last_seen_at,
               round(datediff('minute', max(r.ended_at) filter (where e.rows_loaded > 0),
                              cast(? as timestamp))
                     / 60.0, 1) as hours_since_load,
               sum(e.rows_loaded) as rows_loaded_total
        from meta.ingest_run_entities e join meta.ingest_runs r using (run_id)
        where r.outcome = 'succeeded'
        group by e.entity
        order by hours_since_load desc nulls first, e.entity
        """,
        [now],
    )
