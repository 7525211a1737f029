{#-
    One row per sales order line with its shipments summed (kpi-definitions.md otif_rate).
    Shipment dates are local dates of shipped_at (raw timestamps are site-local wall time).
    Only shipments on or before the as-of date A count, so a past A shows what was known that day.
    A line is OTIF when the quantity shipped on or before its due date (promised_date, else
    requested_date) is at least the line quantity; in_full_date is the first local date on which the
    cumulative shipped quantity reached the line quantity.
-#}
with

sales_orders as (

    select * from {{ ref('stg_feed__sales_orders') }}

),

shipments as (

    select * from {{ ref('stg_feed__shipments') }}

),

shipments_by_day as (

    select
        so_id,
        so_line,
        cast(shipped_at as date) as shipped_date,
        sum(qty) as qty
    from shipments
    where cast(shipped_at as date) <= {{ as_of_date() }}
    group by so_id, so_line, cast(shipped_at as date)

),

shipments_cumulative as (

    select
        so_id,
        so_line,
        shipped_date,
        qty,
        sum(qty) over (
            partition by so_id, so_line
            order by shipped_date
            rows between unbounded preceding and current row
        ) as cumulative_qty
    from shipments_by_day

),

line_shipments as (

    select
        shipments_cumulative.so_id,
        shipments_cumulative.so_line,
        sum(shipments_cumulative.qty) as qty_shipped_total,
        sum(
            case when shipments_cumulative.shipped_date <= sales_orders.due_date
                then shipments_cumulative.qty else 0 end
        ) as qty_shipped_by_due,
        min(shipments_cumulative.shipped_date) as first_ship_date,
        max(shipments_cumulative.shipped_date) as last_ship_date,
        min(
            case when shipments_cumulative.cumulative_qty >= sales_orders.qty
                then shipments_cumulative.shipped_date end
        ) as in_full_date
    from shipments_cumulative
    inner join sales_orders
        on shipments_cumulative.so_id = sales_orders.so_id
        and shipments_cumulative.so_line = sales_orders.so_line
    group by shipments_cumulative.so_id, shipments_cumulative.so_line

),

final as (

    select
        sales_orders.so_id,
        sales_orders.so_line,
        sales_orders.customer_id,
        sales_orders.material_id,
        sales_orders.site_id,
        sales_orders.qty,
        sales_orders.order_date,
        sales_orders.requested_date,
        sales_orders.promised_date,
        sales_orders.due_date,
        sales_orders.status,
        sales_orders.is_cancelled,
        cast(coalesce(line_shipments.qty_shipped_total, 0) as {{ dbt.type_numeric() }}) as qty_shipped_total,
        cast(coalesce(line_shipments.qty_shipped_by_due, 0) as {{ dbt.type_numeric() }}) as qty_shipped_by_due,
        line_shipments.first_ship_date,
        line_shipments.last_ship_date,
        line_shipments.in_full_date,
        coalesce(line_shipments.qty_shipped_by_due, 0) >= sales_orders.qty as is_otif
    from sales_orders
    left join line_shipments
        on sales_orders.so_id = line_shipments.so_id
        and sales_orders.so_line = line_shipments.so_line

)

select * from final
