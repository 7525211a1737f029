{#- One row per produced lot with the work order that produced it (the latest to finish, if several name it). -#}
with

work_orders as (

    select * from {{ ref('stg_feed__work_orders') }}
    where output_lot_id is not null

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

materials as (

    select * from {{ ref('stg_feed__materials') }}

),

ranked as (

    select
        wo_id,
        output_lot_id as lot_id,
        material_id as wo_material_id,
        site_id as wo_site_id,
        status as wo_status,
        actual_end,
        row_number() over (
            partition by output_lot_id
            order by case when actual_end is null then 1 else 0 end, actual_end desc, wo_id desc
        ) as rn
    from work_orders

),

final as (

    select
        ranked.lot_id,
        ranked.wo_id,
        coalesce(lots.material_id, ranked.wo_material_id) as material_id,
        coalesce(lots.site_id, ranked.wo_site_id) as site_id,
        coalesce(materials.is_finished_good, false) as is_finished_good,
        ranked.wo_status,
        ranked.actual_end,
        cast(ranked.actual_end as date) as production_date
    from ranked
    left join lots
        on ranked.lot_id = lots.lot_id
    left join materials
        on coalesce(lots.material_id, ranked.wo_material_id) = materials.material_id
    where ranked.rn = 1

)

select * from final
