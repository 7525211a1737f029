with

inspections as (

    select * from {{ ref('stg_feed__inspections') }}

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

final as (

    select
        inspections.inspection_id,
        inspections.lot_id,
        inspections.material_id,
        lots.site_id,
        inspections.inspection_type,
        inspections.started_at,
        inspections.completed_at,
        cast(inspections.completed_at as date) as completed_date,
        inspections.sample_size,
        inspections.defects_found,
        inspections.result,
        inspections.inspector,
        inspections.completed_at is not null as is_completed
    from inspections
    left join lots
        on inspections.lot_id = lots.lot_id

)

select * from final
