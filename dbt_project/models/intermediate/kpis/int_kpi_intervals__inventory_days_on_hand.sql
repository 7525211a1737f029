{#-
    inventory_days_on_hand, the stock side: the value on hand at A as half-open intervals of local dates
    [start_date, end_date), amount = quantity x materials.standard_cost.
    - lots: each state interval of fct_lot_state_history with status released, quarantine or on_hold and
      stock on hand (rejected, consumed, expired ... lots are no stock of value to the plant);
    - materials kept without lots (movements with no lot_id: no status, all of it usable, as days of
      supply and the netting count it): the running balance per material and site from each movement date
      to the next.
    Materials without a standard cost are left out (and out of the consumption side too).
    The member is a site's stock value from one change to the next (one row per site and date of change,
    not per lot state: the KPI only sums the value at A, and a row per lot made this model 250k rows at
    scale 10).
-#}
with

states as (

    select * from {{ ref('fct_lot_state_history') }}

),

lots as (

    select * from {{ ref('dim_lots') }}

),

movements as (

    select * from {{ ref('fct_inventory_movements') }}

),

materials as (

    select * from {{ ref('stg_feed__materials') }}

),

lot_stock as (

    select
        lots.site_id,
        states.lot_id as subject_id,
        states.valid_from_date as start_date,
        states.valid_to_date as end_date,
        states.on_hand_qty * materials.standard_cost as amount
    from states
    inner join lots
        on states.lot_id = lots.lot_id
    inner join materials
        on lots.material_id = materials.material_id
    where states.status in ('released', 'quarantine', 'on_hold')
      and states.on_hand_qty > 0
      and materials.standard_cost is not null
      and (states.valid_to_date is null or states.valid_to_date > states.valid_from_date)

),

lotless_daily as (

    select
        movements.material_id,
        movements.site_id,
        movements.moved_date,
        sum(movements.qty) as net_qty
    from movements
    where movements.lot_id is null
    group by movements.material_id, movements.site_id, movements.moved_date

),

lotless_balance as (

    select
        material_id,
        site_id,
        moved_date as start_date,
        lead(moved_date) over (partition by material_id, site_id order by moved_date) as end_date,
        sum(net_qty) over (
            partition by material_id, site_id order by moved_date rows between unbounded preceding and current row
        ) as balance_qty
    from lotless_daily

),

lotless_stock as (

    select
        lotless_balance.site_id,
        {{ dbt.concat(['lotless_balance.material_id', "'@'", 'lotless_balance.site_id']) }} as subject_id,
        lotless_balance.start_date,
        lotless_balance.end_date,
        lotless_balance.balance_qty * materials.standard_cost as amount
    from lotless_balance
    inner join materials
        on lotless_balance.material_id = materials.material_id
    where lotless_balance.balance_qty > 0
      and materials.standard_cost is not null

),

stock as (

    select * from lot_stock
    union all
    select * from lotless_stock

),

changes as (

    select site_id, start_date as change_date, amount as delta from stock
    union all
    select site_id, end_date as change_date, -amount as delta from stock where end_date is not null

),

daily_changes as (

    select site_id, change_date, sum(delta) as delta
    from changes
    group by site_id, change_date

),

site_value as (

    select
        site_id,
        change_date as start_date,
        lead(change_date) over (partition by site_id order by change_date) as end_date,
        sum(delta) over (
            partition by site_id order by change_date rows between unbounded preceding and current row
        ) as amount
    from daily_changes

),

final as (

    select
        cast('inventory_days_on_hand' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast({{ dbt.concat(['site_id', "'@'", 'cast(start_date as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast(null as {{ dbt.type_string() }}) as category,
        start_date,
        end_date,
        cast(amount as {{ type_double() }}) as amount
    from site_value
    -- a site with no stock of value (the running sum back to 0, up to rounding) adds nothing
    where abs(amount) > 0.000001

)

select * from final
