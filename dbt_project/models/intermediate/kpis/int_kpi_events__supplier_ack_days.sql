{#-
    supplier_ack_days (sample KPI behind supplier_ack_days_p50): one row per purchase order line not
    cancelled that the supplier acknowledged, dated by its order_date (the window is on the order date);
    numerator = days from order_date to the local date of acknowledged_at. counted_from_date = that date:
    at an earlier as-of date the line was not acknowledged yet and is in unacknowledged_po_lines instead.
    A cancelled line needs no acknowledgment and is in neither KPI.
-#}
with

po_lines as (

    select * from {{ ref('stg_feed__purchase_orders') }}

),

final as (

    select
        cast('supplier_ack_days' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        order_date as event_date,
        cast({{ dbt.concat(['po_id', "'-'", 'cast(po_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast({{ dbt.datediff('order_date', 'cast(acknowledged_at as date)', 'day') }} as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(acknowledged_at as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from po_lines
    where not is_cancelled
      and acknowledged_at is not null
      and order_date is not null

)

select * from final
