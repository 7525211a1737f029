{#-
    lot_release_cycle_time_hours (sample KPI behind _p50_hours and _p90_hours): one row per produced
    finished-good lot with a first `released` decision, dated by the local date of that decision;
    numerator = hours from the producing work order's actual_end, denominator = 1.
-#}
with

releases as (

    select * from {{ ref('fct_lot_releases') }}

),

final as (

    select
        cast('lot_release_cycle_time_hours' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        first_released_date as event_date,
        cast(lot_id as {{ dbt.type_string() }}) as subject_id,
        cast(cycle_time_hours as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from releases
    where first_released_at is not null
      and wo_actual_end is not null

)

select * from final
