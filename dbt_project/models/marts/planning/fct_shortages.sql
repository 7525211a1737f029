{#-
    Root-cause net requirements (kpi-definitions.md `shortage`, "Shortages"): one row per demand event of
    fct_projected_balance that the projected balance does not cover, per material and site.

    Lead time: int_material_lead_times (made in house: materials.planned_lead_time_days; purchased: the shortest
    of its orderable approved suppliers, else the material's; none on record: 0).
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

lead_times as (

    select * from {{ ref('int_material_lead_times') }}

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
