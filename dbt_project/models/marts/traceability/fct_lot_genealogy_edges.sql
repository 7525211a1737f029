{#- One edge per component lot consumed by a work order that produced a lot: parent (component) -> child (produced). -#}
{#- Stored in parent_lot_id order: a forward trace looks edges up by parent, and on DuckDB the row groups' min/max
    then skip all but the few that hold those parents (an incremental batch is appended in the same order);
    on PostgreSQL an index does it (macros/lot_genealogy_index.sql). The backward trace reads
    fct_lot_genealogy_edges_by_child. -#}
{#- Incremental (macros/incremental_facts.sql), keyed by (wo_id, parent_lot_id): a changed work order rewrites
    its edges; an edge goes when its consumption goes, its work order goes or no longer names an output lot. -#}
{{ config(
    materialized=fact_materialization(),
    unique_key=['wo_id', 'parent_lot_id'],
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook=["{{ delete_vanished_rows(['wo_id', 'parent_lot_id'],
        'select consumptions.wo_id, consumptions.component_lot_id as parent_lot_id from '
        ~ ref('stg_feed__lot_consumptions') ~ ' as consumptions inner join ' ~ ref('stg_feed__work_orders')
        ~ ' as work_orders on consumptions.wo_id = work_orders.wo_id where work_orders.output_lot_id is not null') }}",
        "{{ lot_genealogy_index('parent_lot_id') }}"]
) }}

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
        cast(consumptions.consumed_at as date) as consumed_date,
        {{ source_loaded_at(['consumptions.loaded_at', 'work_orders.loaded_at']) }} as source_loaded_at
    from consumptions
    inner join work_orders
        on consumptions.wo_id = work_orders.wo_id
    where work_orders.output_lot_id is not null
        and {{ loaded_since_last_build(['consumptions.loaded_at', 'work_orders.loaded_at']) }}

)

select * from final
order by parent_lot_id, child_lot_id, wo_id
