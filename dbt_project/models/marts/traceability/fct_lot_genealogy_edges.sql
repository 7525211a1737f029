{#- One edge per component lot consumed by a work order that produced a lot: parent (component) -> child (produced). -#}
with

consumptions as (

    select * from {{ ref('stg_feed__lot_consumptions') }}

),

work_orders as (

    select * from {{ ref('stg_feed__work_orders') }}

),

final as (

    select
        consumptions.component_lot_id as parent_lot_id,
        work_orders.output_lot_id as child_lot_id,
        consumptions.wo_id,
        work_orders.site_id,
        consumptions.component_material_id,
        work_orders.material_id as child_material_id,
        consumptions.qty,
        consumptions.consumed_at,
        cast(consumptions.consumed_at as date) as consumed_date
    from consumptions
    inner join work_orders
        on consumptions.wo_id = work_orders.wo_id
    where work_orders.output_lot_id is not null

)

select * from final
