{#-
    The bill of materials, one row per parent, component and revision, with whether the line is in force at
    the as-of date A (effective_from <= A and effective_to, inclusive, null or >= A). Read by the material
    drill-down for components and where-used, whether or not a work order is open for the parent.
-#}
with

bom_lines as (

    select * from {{ ref('stg_feed__bom_lines') }}

),

final as (

    select
        parent_material_id,
        component_material_id,
        revision,
        qty_per,
        effective_from,
        effective_to,
        (
            effective_from <= {{ as_of_date() }}
            and (effective_to is null or effective_to >= {{ as_of_date() }})
        ) as is_effective_at_as_of,
        {{ as_of_date() }} as as_of_date
    from bom_lines

)

select * from final
