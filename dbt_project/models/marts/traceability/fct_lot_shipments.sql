{#- One row per shipped lot (and serial) of a shipment: the forward end of a trace and the basis of delivery KPIs. -#}
{#- Incremental (macros/incremental_facts.sql), keyed by shipment_lot_key; site_id from its sales order line,
    so a changed line rewrites its shipments and a line gone leaves them without a site, as a full build does. -#}
{{ config(
    materialized=fact_materialization(),
    unique_key='shipment_lot_key',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_vanished_rows(['shipment_lot_key'],
        'select ' ~ shipment_lot_key('shipments') ~ ' as shipment_lot_key from ' ~ ref('stg_feed__shipments') ~ ' as shipments') }}"
) }}

with

shipments as (

    select * from {{ ref('stg_feed__shipments') }}

),

sales_orders as (

    select * from {{ ref('stg_feed__sales_orders') }}

),

final as (

    select
        {{ shipment_lot_key('shipments') }} as shipment_lot_key,
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
        cast(shipments.delivered_at as date) as delivered_date,
        {{ source_loaded_at(['shipments.loaded_at', 'sales_orders.loaded_at']) }} as source_loaded_at
    from shipments
    left join sales_orders
        on shipments.so_id = sales_orders.so_id
        and shipments.so_line = sales_orders.so_line
    where {{ loaded_since_last_build(['shipments.loaded_at', 'sales_orders.loaded_at']) }}
    {%- if reads_only_what_changed() %}
        or (
            sales_orders.so_id is null
            and {{ shipment_lot_key('shipments') }} in (select shipment_lot_key from {{ this }} where site_id is not null)
        )
    {%- endif %}

)

select * from final
