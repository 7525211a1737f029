{#-
    expiring_released_lots_90d: status released, on hand > 0 at A and expiry_date in (A, A + 90]
    <=> A in [expiry_date - 90, expiry_date). Each released, in-stock state interval of fct_lot_state_history
    is intersected with that window.
-#}
with

states as (

    select * from {{ ref('fct_lot_state_history') }}

),

lots as (

    select * from {{ ref('dim_lots') }}

),

released_in_stock as (

    select
        states.lot_id,
        lots.site_id,
        states.valid_from_date,
        states.valid_to_date,
        lots.expiry_date,
        cast({{ dbt.dateadd('day', -90, 'lots.expiry_date') }} as date) as window_start_date
    from states
    inner join lots
        on states.lot_id = lots.lot_id
    where states.status = 'released'
      and states.on_hand_qty > 0
      and lots.expiry_date is not null

),

intersected as (

    select
        lot_id,
        site_id,
        case
            when window_start_date > valid_from_date then window_start_date
            else valid_from_date
        end as start_date,
        case
            when valid_to_date is not null and valid_to_date < expiry_date then valid_to_date
            else expiry_date
        end as end_date
    from released_in_stock

),

final as (

    select
        cast('expiring_released_lots_90d' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(lot_id as {{ dbt.type_string() }}) as subject_id,
        cast(null as {{ dbt.type_string() }}) as category,
        start_date,
        end_date,
        cast(1 as {{ type_double() }}) as amount
    from intersected
    where end_date > start_date

)

select * from final
