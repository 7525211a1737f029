{#- One row per shipped lot (and serial) of a shipment: the forward end of a trace and the basis of delivery KPIs. -#}
with

shipments as (

    select * from {{ ref('stg_feed__shipments') }}

),

sales_orders as (

    select * from {{ ref('stg_feed__sales_orders') }}

),

final as (

    select
        shipments.shipment_id,
        shipments.so_id,
        shipments.so_line,
        shipments.customer_id,
        shipments.material_id,
        shipments.lot_id,
        shipments.serial,
        sales_orders.site_id,
        shipments.qty,
        shipments.shipped_at,
        shipments.delivered_at,
        cast(shipments.shipped_at as date) as shipped_date,
        cast(shipments.delivered_at as date) as delivered_date
    from shipments
    left join sales_orders
        on shipments.so_id = sales_orders.so_id
        and shipments.so_line = sales_orders.so_line

)

select * from final
