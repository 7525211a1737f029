{#- fct_lot_genealogy_edges again, only the columns a trace reads, stored in child_lot_id order: a backward trace
    looks edges up by child, and on DuckDB the row groups' min/max then skip all but the few that hold those
    children (the edges themselves are stored in parent order, for the forward trace); on PostgreSQL an index
    does it. A table rebuilt whole: built only when its edges are. -#}
{{ config(
    post_hook="{{ lot_genealogy_index('child_lot_id') }}"
) }}

with

edges as (

    select * from {{ ref('fct_lot_genealogy_edges') }}

),

final as (

    select
        child_lot_id,
        parent_lot_id,
        wo_id,
        component_material_id,
        qty,
        consumed_at
    from edges

)

select * from final
order by child_lot_id, parent_lot_id, wo_id
