{#- Incremental (macros/incremental_facts.sql): one row per inspection; site_id from its lot, so a changed
    lot rewrites its inspections and a lot gone leaves them without a site, as a full build would. -#}
{{ config(
    materialized=fact_materialization(),
    unique_key='inspection_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_vanished_rows(['inspection_id'], 'select inspection_id from ' ~ ref('stg_feed__inspections')) }}"
) }}

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
        inspections.completed_at is not null as is_completed,
        {{ source_loaded_at(['inspections.loaded_at', 'lots.loaded_at']) }} as source_loaded_at
    from inspections
    left join lots
        on inspections.lot_id = lots.lot_id
    where {{ loaded_since_last_build(['inspections.loaded_at', 'lots.loaded_at']) }}
    {%- if reads_only_what_changed() %}
        or (
            lots.lot_id is null
            and inspections.inspection_id in (select inspection_id from {{ this }} where site_id is not null)
        )
    {%- endif %}

)

select * from final
