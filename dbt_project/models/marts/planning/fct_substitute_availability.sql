{#-
    One row per material, approved substitute and site at the as-of date A: what a planner can switch to
    when the material is short. A substitution counts when its change control is approved or implemented
    (approved_at, when given, on or before A) and it has not ended before A (valid_to null or >= A). One
    that starts after A is kept with is_valid_at_as_of false: a shortage needed later may use it from
    valid_from on (the plan checks validity on its need date). available_qty: on-hand at A of the substitute's available lots at the site
    (fct_inventory_by_lot.is_available: released, unexpired, on hand > 0). available_after_other_demand is
    what can be taken now without making the substitute itself short within its own lead time: the lowest
    projected balance of the substitute (fct_projected_balance) up to A + its lead time
    (int_material_lead_times), floored at 0 and at most available_qty. parent_material_id: the product the
    substitution is validated for (null = every parent); a plan offers it only for work orders making that
    product.
-#}
with

substitutes as (

    select * from {{ ref('stg_feed__substitutes') }}

),

change_controls as (

    select * from {{ ref('stg_feed__change_controls') }}

),

sites as (

    select * from {{ ref('dim_sites') }}

),

inventory as (

    select * from {{ ref('fct_inventory_by_lot') }}

),

requirements as (

    select * from {{ ref('fct_material_requirements') }}

),

balance as (

    select * from {{ ref('fct_projected_balance') }}

),

lead_times as (

    select * from {{ ref('int_material_lead_times') }}

),

valid_substitutes as (

    select
        substitutes.material_id,
        substitutes.substitute_material_id,
        substitutes.parent_material_id,
        substitutes.priority,
        substitutes.change_id,
        change_controls.status as change_status,
        substitutes.valid_from,
        substitutes.valid_to
    from substitutes
    inner join change_controls
        on substitutes.change_id = change_controls.change_id
    where change_controls.status in ('approved', 'implemented')
      and (change_controls.approved_at is null or cast(change_controls.approved_at as date) <= {{ as_of_date() }})
      and (substitutes.valid_to is null or substitutes.valid_to >= {{ as_of_date() }})

),

available_stock as (

    select
        material_id,
        site_id,
        sum(on_hand_qty) as available_qty,
        count(*) as available_lot_count,
        min(expiry_date) as earliest_expiry_date
    from inventory
    where is_available
    group by material_id, site_id

),

other_demand as (

    select
        material_id,
        site_id,
        sum(qty_outstanding) as qty_outstanding
    from requirements
    group by material_id, site_id

),

lowest_balance as (

    select
        balance.material_id,
        balance.site_id,
        min(balance.projected_balance) as lowest_balance
    from balance
    left join lead_times
        on balance.material_id = lead_times.material_id
    where balance.direction in ('demand', 'expiry')
      and {{ dbt.datediff(as_of_date(), 'balance.netting_date', 'day') }} <= coalesce(lead_times.lead_time_days, 0)
    group by balance.material_id, balance.site_id

),

final as (

    select
        valid_substitutes.material_id,
        valid_substitutes.substitute_material_id,
        valid_substitutes.parent_material_id,
        sites.site_id,
        valid_substitutes.priority,
        valid_substitutes.change_id,
        valid_substitutes.change_status,
        valid_substitutes.valid_from,
        valid_substitutes.valid_to,
        case
            when valid_substitutes.valid_from is null or valid_substitutes.valid_from <= {{ as_of_date() }}
                then true
            else false
        end as is_valid_at_as_of,
        cast(coalesce(available_stock.available_qty, 0) as {{ dbt.type_numeric() }}) as available_qty,
        coalesce(available_stock.available_lot_count, 0) as available_lot_count,
        available_stock.earliest_expiry_date,
        cast(coalesce(other_demand.qty_outstanding, 0) as {{ dbt.type_numeric() }}) as substitute_qty_outstanding,
        cast(
            case
                when lowest_balance.lowest_balance is null then coalesce(available_stock.available_qty, 0)
                when lowest_balance.lowest_balance <= 0 then 0
                when lowest_balance.lowest_balance < coalesce(available_stock.available_qty, 0)
                    then lowest_balance.lowest_balance
                else coalesce(available_stock.available_qty, 0)
            end as {{ dbt.type_numeric() }}) as available_after_other_demand,
        {{ as_of_date() }} as as_of_date
    from valid_substitutes
    cross join sites
    left join available_stock
        on valid_substitutes.substitute_material_id = available_stock.material_id
        and sites.site_id = available_stock.site_id
    left join other_demand
        on valid_substitutes.substitute_material_id = other_demand.material_id
        and sites.site_id = other_demand.site_id
    left join lowest_balance
        on valid_substitutes.substitute_material_id = lowest_balance.material_id
        and sites.site_id = lowest_balance.site_id

)

select * from final
