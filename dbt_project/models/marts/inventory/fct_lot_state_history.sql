{#-
    Piecewise-constant state of every lot by local date: from valid_from_date (inclusive)
    to valid_to_date (exclusive; null = still current). The state on a date is the state
    at the end of that local day: the latest status event on or before it and the sum of
    all movements on or before it. Consecutive days with the same state are merged.
-#}
with

status_events as (

    select * from {{ ref('int_lot_status_events') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}
    where lot_id is not null

),

last_event_per_day as (

    select
        lot_id,
        effective_date as state_date,
        status,
        row_number() over (
            partition by lot_id, effective_date
            order by effective_at desc, source_priority desc
        ) as rn
    from status_events

),

day_status as (

    select lot_id, state_date, status
    from last_event_per_day
    where rn = 1

),

day_qty as (

    select
        lot_id,
        cast(moved_at as date) as state_date,
        sum(qty) as qty_moved
    from movements
    group by lot_id, cast(moved_at as date)

),

change_dates as (

    select lot_id, state_date from day_status
    union
    select lot_id, state_date from day_qty

),

daily as (

    select
        change_dates.lot_id,
        change_dates.state_date,
        day_status.status as day_status,
        coalesce(day_qty.qty_moved, 0) as qty_moved
    from change_dates
    left join day_status
        on change_dates.lot_id = day_status.lot_id
        and change_dates.state_date = day_status.state_date
    left join day_qty
        on change_dates.lot_id = day_qty.lot_id
        and change_dates.state_date = day_qty.state_date

),

carried as (

    select
        lot_id,
        state_date,
        day_status,
        count(day_status) over (
            partition by lot_id order by state_date rows between unbounded preceding and current row
        ) as status_group,
        sum(qty_moved) over (
            partition by lot_id order by state_date rows between unbounded preceding and current row
        ) as on_hand_qty
    from daily

),

filled as (

    select
        lot_id,
        state_date,
        max(day_status) over (partition by lot_id, status_group) as status,
        on_hand_qty
    from carried

),

flagged as (

    select
        lot_id,
        state_date,
        status,
        on_hand_qty,
        case
            when lag(state_date) over (partition by lot_id order by state_date) is null then 1
            when status is distinct from lag(status) over (partition by lot_id order by state_date) then 1
            when on_hand_qty <> lag(on_hand_qty) over (partition by lot_id order by state_date) then 1
            else 0
        end as is_change

    from filled

),

islands as (

    select
        lot_id,
        state_date,
        status,
        on_hand_qty,
        sum(is_change) over (
            partition by lot_id order by state_date rows between unbounded preceding and current row
        ) as island_id
    from flagged

),

merged as (

    select
        lot_id,
        island_id,
        min(state_date) as valid_from_date,
        max(status) as status,
        max(on_hand_qty) as on_hand_qty
    from islands
    group by lot_id, island_id

),

final as (

    select
        lot_id,
        valid_from_date,
        lead(valid_from_date) over (partition by lot_id order by valid_from_date) as valid_to_date,
        status,
        on_hand_qty
    from merged

)

select * from final
