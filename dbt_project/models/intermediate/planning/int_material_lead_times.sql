{#-
    Planned replenishment lead time per material (kpi-definitions.md "Shortages", calendar days): made in house
    (the material is the parent of a BOM line) = materials.planned_lead_time_days; purchased = the shortest
    planned_lead_time_days of its orderable approved suppliers (dim_approved_suppliers.is_orderable), else
    materials.planned_lead_time_days. None on record: 0 (a future need is then an action, never an alert).
-#}
with

materials as (

    select * from {{ ref('dim_materials') }}

),

approved as (

    select * from {{ ref('dim_approved_suppliers') }}

),

bom_lines as (

    select * from {{ ref('stg_feed__bom_lines') }}

),

made as (

    select distinct parent_material_id as material_id
    from bom_lines

),

supplier_lead as (

    select
        material_id,
        min(planned_lead_time_days) as lead_time_days
    from approved
    where is_orderable
      and planned_lead_time_days is not null
    group by material_id

),

final as (

    select
        materials.material_id,
        made.material_id is not null as is_made,
        cast(
            coalesce(
                case
                    when made.material_id is not null then materials.planned_lead_time_days
                    else coalesce(supplier_lead.lead_time_days, materials.planned_lead_time_days)
                end,
                0
            ) as {{ dbt.type_int() }}
        ) as lead_time_days
    from materials
    left join made
        on materials.material_id = made.material_id
    left join supplier_lead
        on materials.material_id = supplier_lead.material_id

)

select * from final
