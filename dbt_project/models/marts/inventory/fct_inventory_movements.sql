with

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

final as (

    select
        movement_id,
        moved_at,
        cast(moved_at as date) as moved_date,
        site_id,
        location,
        material_id,
        lot_id,
        serial,
        movement_type,
        qty,
        case when qty > 0 then qty else 0 end as qty_in,
        case when qty < 0 then -qty else 0 end as qty_out,
        reference_type,
        reference_id,
        reference_line
    from movements

)

select * from final
