{#-
    late_wo_count: not cancelled, planned_end before A and not finished at A, "at A" = end of local day A.
    planned_end < end of day A <=> planned_end_date <= A; not finished at A <=> actual_end null or
    actual_end_date > A. Interval [planned_end_date, actual_end_date); a work order finished on or before
    its planned end date is never late and gives an empty interval, dropped.
-#}
with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

final as (

    select
        cast('late_wo_count' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(wo_id as {{ dbt.type_string() }}) as subject_id,
        cast(null as {{ dbt.type_string() }}) as category,
        planned_end_date as start_date,
        actual_end_date as end_date,
        cast(1 as {{ type_double() }}) as amount
    from work_orders
    where not is_cancelled
      and planned_end_date is not null
      and (actual_end_date is null or actual_end_date > planned_end_date)

)

select * from final
