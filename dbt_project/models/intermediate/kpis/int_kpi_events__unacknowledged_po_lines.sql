{#-
    unacknowledged_po_lines (a count over the window): one row per purchase order line not cancelled,
    dated by its order_date, numerator = denominator = 1; it counts at A while it is not acknowledged:
    counted_until_date = the local date of acknowledged_at (null: never acknowledged yet).
-#}
with

po_lines as (

    select * from {{ ref('stg_feed__purchase_orders') }}

),

final as (

    select
        cast('unacknowledged_po_lines' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        order_date as event_date,
        cast({{ dbt.concat(['po_id', "'-'", 'cast(po_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast(1 as {{ type_double() }}) as numerator,
        cast(1 as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(acknowledged_at as date) as counted_until_date
    from po_lines
    where not is_cancelled
      and order_date is not null

)

select * from final
