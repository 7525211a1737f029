{#-
    order_cycle_time_days (sample KPI behind order_cycle_time_days_p50): one row per sales order line not
    cancelled whose shipments reached the line quantity, dated by the local date of the shipment that
    completed it (in_full_date); numerator = days from order_date to that date.
-#}
with

order_lines as (

    select * from {{ ref('fct_sales_order_lines') }}

),

final as (

    select
        cast('order_cycle_time_days' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        in_full_date as event_date,
        cast({{ dbt.concat(['so_id', "'-'", 'cast(so_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast({{ dbt.datediff('order_date', 'in_full_date', 'day') }} as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from order_lines
    where not is_cancelled
      and in_full_date is not null
      and order_date is not null

)

select * from final
