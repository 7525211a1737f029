{#-
    One row per open work order (status planned, released, in_progress, on_hold: firm orders of the netting) and component of the BOM revision
    effective on the work order's need date (local date of planned_start).
    Effective BOM, as in fct_produced_lot_traceability: effective_from <= d and (effective_to is null or
    effective_to >= d), effective_to inclusive; on a hand-over day with two revisions effective, the one with
    the latest effective_from (then the highest revision label) wins.
    qty_issued_to_wo: issue movements of the component that reference the work order (reference_type 'wo'),
    local date <= as-of date, as a positive quantity.
-#}
with

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

bom_lines as (

    select * from {{ ref('stg_feed__bom_lines') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

open_work_orders as (

    select
        wo_id,
        material_id as wo_material_id,
        site_id,
        status as wo_status,
        so_id,
        qty_planned,
        planned_start,
        planned_start_date as need_date
    from work_orders
    where status in ('planned', 'released', 'in_progress', 'on_hold')

),

effective_bom_lines as (

    select
        open_work_orders.wo_id,
        bom_lines.revision as bom_revision,
        bom_lines.component_material_id,
        bom_lines.qty_per,
        dense_rank() over (
            partition by open_work_orders.wo_id
            order by bom_lines.effective_from desc, bom_lines.revision desc
        ) as revision_rank
    from open_work_orders
    inner join bom_lines
        on open_work_orders.wo_material_id = bom_lines.parent_material_id
        and bom_lines.effective_from <= open_work_orders.need_date
        and (bom_lines.effective_to is null or bom_lines.effective_to >= open_work_orders.need_date)

),

components as (

    select
        wo_id,
        bom_revision,
        component_material_id as material_id,
        sum(qty_per) as qty_per
    from effective_bom_lines
    where revision_rank = 1
    group by wo_id, bom_revision, component_material_id

),

issues as (

    select
        reference_id as wo_id,
        material_id,
        -sum(qty) as qty_issued
    from movements
    where movement_type = 'issue'
      and reference_type = 'wo'
      and cast(moved_at as date) <= {{ as_of_date() }}
    group by reference_id, material_id

),

final as (

    select
        open_work_orders.wo_id,
        components.material_id,
        open_work_orders.site_id,
        open_work_orders.wo_material_id,
        open_work_orders.wo_status,
        open_work_orders.so_id,
        components.bom_revision,
        open_work_orders.planned_start,
        open_work_orders.need_date,
        open_work_orders.qty_planned,
        components.qty_per,
        cast(open_work_orders.qty_planned * components.qty_per as {{ dbt.type_numeric() }}) as qty_required,
        cast(coalesce(issues.qty_issued, 0) as {{ dbt.type_numeric() }}) as qty_issued_to_wo,
        cast(
            case
                when open_work_orders.qty_planned * components.qty_per - coalesce(issues.qty_issued, 0) > 0
                    then open_work_orders.qty_planned * components.qty_per - coalesce(issues.qty_issued, 0)
                else 0
            end as {{ dbt.type_numeric() }}) as qty_outstanding,
        {{ as_of_date() }} as as_of_date
    from open_work_orders
    inner join components
        on open_work_orders.wo_id = components.wo_id
    left join issues
        on components.wo_id = issues.wo_id
        and components.material_id = issues.material_id

)

select * from final
