{#-
    Population members of the ratio and sample KPIs, one row per (kpi_id, subject_id).
    value(A, P, site) = sum(numerator) / sum(denominator) over rows with A - P < event_date <= A
    (null without rows); sample KPIs (denominator 1) take percentiles of numerator over the same rows.
    A member counts at A only while counted_from_date <= A < counted_until_date (null: no bound), so a
    past A sees what was known that day (a PO line acknowledged after A was still unacknowledged at A).
    Each KPI's logic lives in its own model intermediate/kpis/int_kpi_events__<source>.sql, one per
    `source` of an event KPI of medtower.kpis.CATALOG (the registry; tests/core/test_kpi_registry.py
    checks that this list and the registry agree).
    as_of_date: the date the build was for; `medtower kpis` refuses a later as-of date.
-#}
{%- set kpi_models = [
    'int_kpi_events__incoming_lot_reject_rate',
    'int_kpi_events__first_pass_yield',
    'int_kpi_events__traceability_completeness',
    'int_kpi_events__lot_release_cycle_time_hours',
    'int_kpi_events__otif_rate',
    'int_kpi_events__supplier_otd_rate',
    'int_kpi_events__inventory_days_on_hand',
    'int_kpi_events__supplier_ack_days',
    'int_kpi_events__unacknowledged_po_lines',
    'int_kpi_events__order_cycle_time_days',
] -%}

with

unioned as (

    {% for kpi_model in kpi_models %}
    select
        kpi_id,
        site_id,
        event_date,
        subject_id,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator,
        cast(counted_from_date as date) as counted_from_date,
        cast(counted_until_date as date) as counted_until_date,
        {{ as_of_date() }} as as_of_date
    from {{ ref(kpi_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
