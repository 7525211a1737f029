{#- incoming_lot_reject_rate: one row per incoming inspection completed with pass or fail; fail = 1 / 1. -#}
with

inspections as (

    select * from {{ ref('fct_inspections') }}

),

final as (

    select
        cast('incoming_lot_reject_rate' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(completed_at as date) as event_date,
        cast(inspection_id as {{ dbt.type_string() }}) as subject_id,
        cast(case when result = 'fail' then 1 else 0 end as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from inspections
    where inspection_type = 'incoming'
      and completed_at is not null
      and result in ('pass', 'fail')

)

select * from final
