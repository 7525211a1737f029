{#- Incremental (macros/incremental_facts.sql): one row per movement, nothing else read. -#}
{{ config(
    materialized=fact_materialization(),
    unique_key='movement_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_vanished_rows(['movement_id'], 'select movement_id from ' ~ ref('stg_feed__inventory_movements')) }}"
) }}

with

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}
    where {{ loaded_since_last_build(['loaded_at']) }}

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
        reference_line,
        {{ source_loaded_at(['loaded_at']) }} as source_loaded_at
    from movements

)

select * from final
