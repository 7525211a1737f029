{#-
    first_pass_yield: one row per work order finished (actual_end), dated by the local date of actual_end;
    qty_completed over qty_completed + qty_scrapped (missing quantities count as 0). Rows with a zero
    denominator carry no yield and are left out, so they cannot make the population non-empty.
-#}
with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

quantities as (

    select
        wo_id,
        site_id,
        actual_end,
        coalesce(qty_completed, 0) as qty_completed,
        coalesce(qty_completed, 0) + coalesce(qty_scrapped, 0) as qty_total
    from work_orders
    where actual_end is not null

),

final as (

    select
        cast('first_pass_yield' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(actual_end as date) as event_date,
        cast(wo_id as {{ dbt.type_string() }}) as subject_id,
        cast(qty_completed as {{ type_double() }}) as numerator,
        cast(qty_total as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from quantities
    where qty_total > 0

)

select * from final
