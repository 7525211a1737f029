"""Quality page: nonconformances, CAPAs, incoming rejects by supplier, complaints (patient data masked
for a role without ``pii.unmasked``: medtower/pii.py)."""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters
from medtower import pii
from medtower.pii import mask as mask_reference  # noqa: F401 - the old name, kept for its callers


def ncr_open_by_severity_age(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    site_sql, params = site_clause(f)
    return query(
        con,
        f"""
        select severity,
               case when age < 30 then '< 30 d' when age < 90 then '30-90 d' else '>= 90 d' end as age_band,
               count(*) as ncrs
        from (
            select severity, datediff('day', cast(opened_at as date), cast(? as date)) as age
            from marts.fct_nonconformances
            where cast(opened_at as date) <= cast(? as date)
              and (closed_at is null or cast(closed_at as date) > cast(? as date)) {site_sql}
        ) group by all
        order by severity, age_band
        """,
        [f.as_of, f.as_of, f.as_of, *params],
    )


def open_without_site(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Open NCRs and CAPAs at A with no site (no lot, or NCRs at several sites): in no site's figures.

    Why: with a site filter they are not shown, so the page says how many are left out instead of
    letting them vanish; they are in the all-sites view and in the review's "no site" column.
    """
    row = con.execute(
        """
        select
          (select count(*) from marts.fct_nonconformances
           where site_id is null and opened_date <= cast($a as date)
             and (closed_date is null or closed_date > cast($a as date))),
          (select count(*) from marts.fct_capas
           where site_id is null and opened_date <= cast($a as date)
             and (closed_date is null or closed_date > cast($a as date)))
        """,
        {"a": f.as_of},
    ).fetchone()
    ncrs, capas = row if row is not None else (0, 0)
    return {"ncrs": int(ncrs or 0), "capas": int(capas or 0)}


def ncr_pareto(con: duckdb.DuckDBPyConnection, f: Filters, top: int = 15) -> pd.DataFrame:
    site_sql, params = site_clause(f)
    return query(
        con,
        f"""
        select defect_code, count(*) as ncrs
        from marts.fct_nonconformances
        where cast(opened_at as date) between cast(? as date) and cast(? as date) {site_sql}
        group by defect_code order by ncrs desc, defect_code limit {int(top)}
        """,
        [f.period_start, f.as_of, *params],
    )


def capas_open(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    """CAPAs open at A at the chosen site, overdue first."""
    site_sql, params = site_clause(f)
    return query(
        con,
        f"""
        select capa_id, site_id, source, owner, status, opened_date as opened, due_date,
               due_date < cast(? as date) as is_overdue,
               datediff('day', due_date, cast(? as date)) as days_overdue
        from marts.fct_capas
        where cast(opened_at as date) <= cast(? as date)
          and (closed_at is null or cast(closed_at as date) > cast(? as date)) {site_sql}
        order by is_overdue desc, due_date
        limit {int(limit)}
        """,
        [f.as_of, f.as_of, f.as_of, f.as_of, *params],
    )


def incoming_reject_rate_by_supplier(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    site_sql, params = site_clause(f, "l.site_id")
    return query(
        con,
        f"""
        select l.supplier_id, s.name as supplier,
               count(*) filter (where i.result = 'fail') as fails,
               count(*) as inspections,
               count(*) filter (where i.result = 'fail') / count(*) as reject_rate
        from marts.fct_inspections i
        join marts.dim_lots l using (lot_id)
        left join marts.dim_suppliers s on s.supplier_id = l.supplier_id
        where i.inspection_type = 'incoming' and i.result in ('pass', 'fail')
          and cast(i.completed_at as date) between cast(? as date) and cast(? as date) {site_sql}
        group by all
        order by reject_rate desc, inspections desc, l.supplier_id
        """,
        [f.period_start, f.as_of, *params],
    )


def complaints(
    con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT, *, unmasked: bool = False
) -> pd.DataFrame:
    """Complaints, open first. ``patient_reference``: masked (fct_complaints only says whether there is
    one) unless ``unmasked``, when it is read from its own mart (the caller checks the right and records
    the view: medtower/pii.py)."""
    site_sql, params = site_clause(f, "c.site_id")
    reference = (
        "r.patient_reference"
        if unmasked
        else f"case when c.has_patient_reference then '{pii.MASK * 6}' end as patient_reference"
    )
    joined = (
        "left join marts.fct_complaint_patient_references r on r.complaint_id = c.complaint_id"
        if unmasked
        else ""
    )
    return query(
        con,
        f"""
        select c.complaint_id, c.received_date as received, c.customer_id, c.material_id, c.lot_id,
               c.status, c.patient_involved, c.reportable, {reference}
        from marts.fct_complaints c {joined}
        where c.received_date <= cast(? as date) {site_sql}
        order by (c.status <> 'closed') desc, c.received_at desc
        limit {int(limit)}
        """,
        [f.as_of, *params],
    )
