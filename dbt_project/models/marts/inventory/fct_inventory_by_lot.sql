{#-
    One row per lot known at the as-of date A (it has a status event or a movement on or before A):
    its status and on-hand quantity at the end of local day A, and its expiry position.
    A lot is expired at A when expiry_date <= A (kpi-definitions.md counts "expiring" as (A, A + 90]).
-#}
with

lots as (

    select * from {{ ref('dim_lots') }}

),

state_history as (

    select * from {{ ref('fct_lot_state_history') }}

),

state_at_as_of as (

    select
        lot_id,
        status as status_at_as_of,
        on_hand_qty
    from state_history
    where valid_from_date <= {{ as_of_date() }}
      and (valid_to_date is null or valid_to_date > {{ as_of_date() }})

),

joined as (

    select
        lots.lot_id,
        lots.material_id,
        lots.site_id,
        lots.origin,
        state_at_as_of.status_at_as_of,
        state_at_as_of.on_hand_qty,
        lots.expiry_date,
        {{ dbt.datediff(as_of_date(), 'lots.expiry_date', 'day') }} as days_to_expiry
    from lots
    inner join state_at_as_of
        on lots.lot_id = state_at_as_of.lot_id

),

final as (

    select
        lot_id,
        material_id,
        site_id,
        origin,
        status_at_as_of,
        on_hand_qty,
        expiry_date,
        days_to_expiry,
        case
            when expiry_date is null then 'no_expiry'
            when days_to_expiry <= 0 then 'expired'
            when days_to_expiry < 30 then 'lt_30'
            when days_to_expiry < 90 then 'lt_90'
            else 'ge_90'
        end as expiry_bucket,
        coalesce(
            status_at_as_of = 'released'
            and (expiry_date is null or days_to_expiry > 0)
            and on_hand_qty > 0,
            false
        ) as is_available,
        {{ as_of_date() }} as as_of_date
    from joined

)

select * from final
