{#- traceability_completeness: one row per produced lot whose work order finished; complete = 1 / 1. -#}
with

traceability as (

    select * from {{ ref('fct_produced_lot_traceability') }}

),

final as (

    select
        cast('traceability_completeness' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        production_date as event_date,
        cast(lot_id as {{ dbt.type_string() }}) as subject_id,
        cast(case when is_complete then 1 else 0 end as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from traceability
    where production_date is not null

)

select * from final
