"""Quality page: nonconformances, CAPAs, incoming rejects by supplier, complaints (patient data masked)."""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboards.data.base import ROW_LIMIT, query, site_clause
from dashboards.filters import Filters


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


def mask_reference(value: object) -> str | None:
    """Mask a patient reference to its last two characters (privacy: patient data stays out of the UI)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value)
    if not text:
        return None
    return "•" * max(len(text) - 2, 3) + text[-2:]


def complaints(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = ROW_LIMIT) -> pd.DataFrame:
    site_sql, params = site_clause(f)
    df = query(
        con,
        f"""
        select complaint_id, received_date as received, customer_id, material_id, lot_id,
               status, patient_involved, reportable,
               case when has_patient_reference then '••••••' end as patient_reference
        from marts.fct_complaints
        where received_date <= cast(? as date) {site_sql}
        order by (status <> 'closed') desc, received_at desc
        limit {int(limit)}
        """,
        [f.as_of, *params],
    )
    # The marts never carry the patient reference itself; mask anything that looks like one anyway.
    if "patient_reference" in df:
        df["patient_reference"] = df["patient_reference"].map(mask_reference).astype(object)
    return df
