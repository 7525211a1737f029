{#-
    Root-cause net requirements (kpi-definitions.md `shortage`, "Shortages"): one row per demand event of
    fct_projected_balance that the projected balance does not cover, per material and site.

    Lead time (calendar days): for a material made in house (it is the parent of a BOM line), its
    materials.planned_lead_time_days; for a purchased one, the shortest planned_lead_time_days of its orderable
    approved suppliers (dim_approved_suppliers.is_orderable), else materials.planned_lead_time_days. A material
    with no lead time on record is taken as 0 days (its future needs are actions, never alerts).
    Class: need_date <= A + lead time is an `exception` (ordinary ordering can no longer cover it: the shortage
    alert); a later one is an `action`: order (buy) or plan a work order (make) for shortage_qty by
    order_by = need_date - lead time.
    Root causes only: a work order short of a component still counts as supply of its own output
    (int_planning_events), so its parents are not short because of it; the impact upwards is
    fct_shortage_pegging.
-#}
with

balance as (

    select * from {{ ref('fct_projected_balance') }}

),

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

lead_times as (

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

),

requirements as (

    select
        balance.*,
        coalesce(lead_times.lead_time_days, 0) as lead_time_days,
        coalesce(lead_times.is_made, false) as is_made
    from balance
    left join lead_times
        on balance.material_id = lead_times.material_id
    where balance.net_requirement_qty > 0

),

final as (

    select
        {{ dbt.concat([
            'material_id', "'|'", 'site_id', "'|'",
            "coalesce(wo_id, " ~ dbt.concat(['so_id', "'/'", 'cast(so_line as ' ~ dbt.type_string() ~ ')']) ~ ")"
        ]) }} as shortage_id,
        material_id,
        site_id,
        event_date as need_date,
        net_requirement_qty as shortage_qty,
        demand_qty,
        projected_balance,
        case
            when {{ dbt.datediff(as_of_date(), 'event_date', 'day') }} <= lead_time_days then 'exception'
            else 'action'
        end as kind,
        lead_time_days,
        cast({{ dbt.dateadd('day', '-1 * lead_time_days', 'event_date') }} as date) as order_by,
        {{ dbt.datediff(as_of_date(), 'event_date', 'day') }} as days_to_need,
        case when is_made then 'make' else 'buy' end as replenishment,
        case when event_type = 'work_order_component' then 'work_order' else 'sales_order' end as demand_type,
        wo_id,
        so_id,
        so_line,
        customer_id,
        event_seq,
        as_of_date
    from requirements

)

select * from final
