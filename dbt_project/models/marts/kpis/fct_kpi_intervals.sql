{#-
    Members of the count-at-A KPIs as half-open intervals of local dates [start_date, end_date):
    value(A, site) = count of rows with start_date <= A and (end_date is null or end_date > A).
    amount: 1 for a count; the value of stock for inventory_days_on_hand (summed over the rows open at A).
    Each KPI's logic lives in its own model intermediate/kpis/int_kpi_intervals__<source>.sql, one per
    `source` of an interval KPI of medtower.kpis.CATALOG (tests/core/test_kpi_registry.py checks it).
    as_of_date: the date the build was for; an interval still open then says nothing about later days.
-#}
{%- set kpi_models = [
    'int_kpi_intervals__open_ncr_count',
    'int_kpi_intervals__overdue_capa_count',
    'int_kpi_intervals__late_wo_count',
    'int_kpi_intervals__expiring_released_lots_90d',
    'int_kpi_intervals__inventory_days_on_hand',
] -%}

with

unioned as (

    {% for kpi_model in kpi_models %}
    select
        kpi_id,
        site_id,
        subject_id,
        category,
        start_date,
        end_date,
        cast(amount as {{ type_double() }}) as amount,
        {{ as_of_date() }} as as_of_date
    from {{ ref(kpi_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
