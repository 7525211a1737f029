{#-
    One row per produced finished-good lot: QA release cycle time and release state.
    cycle_time_hours: from the producing work order's actual_end to the lot's first `released` decision
    (lot_release_cycle_time KPI). The release state and queue age are evaluated at the as-of date A,
    from the decisions taken on or before A.
-#}
with

produced_lots as (

    select * from {{ ref('int_produced_lots_joined') }}
    where is_finished_good

),

decisions as (

    select * from {{ ref('stg_feed__lot_releases') }}

),

first_release as (

    select
        lot_id,
        min(decided_at) as first_released_at
    from decisions
    where decision = 'released'
    group by lot_id

),

ranked_decisions_at_as_of as (

    select
        lot_id,
        decision,
        decided_at,
        row_number() over (partition by lot_id order by decided_at desc) as rn
    from decisions
    where cast(decided_at as date) <= {{ as_of_date() }}

),

decision_counts as (

    select lot_id, count(*) as n_decisions
    from decisions
    group by lot_id

),

latest_at_as_of as (

    select lot_id, decision, decided_at
    from ranked_decisions_at_as_of
    where rn = 1

),

final as (

    select
        produced_lots.lot_id,
        produced_lots.wo_id,
        produced_lots.material_id,
        produced_lots.site_id,
        produced_lots.actual_end as wo_actual_end,
        produced_lots.production_date,
        first_release.first_released_at,
        cast(first_release.first_released_at as date) as first_released_date,
        case
            when produced_lots.actual_end is not null and first_release.first_released_at is not null
                then {{ dbt.datediff('produced_lots.actual_end', 'first_release.first_released_at', 'second') }}
                    / 3600.0
        end as cycle_time_hours,
        coalesce(decision_counts.n_decisions, 0) as n_decisions,
        latest_at_as_of.decision as latest_decision_at_as_of,
        latest_at_as_of.decided_at as latest_decided_at_as_of,
        case
            when produced_lots.production_date is null
                or produced_lots.production_date > {{ as_of_date() }} then 'not_produced'
            when latest_at_as_of.decision is null then 'awaiting_decision'
            else latest_at_as_of.decision
        end as release_state_at_as_of,
        case
            when produced_lots.production_date <= {{ as_of_date() }} and latest_at_as_of.decision is null
                then {{ dbt.datediff('produced_lots.production_date', as_of_date(), 'day') }}
        end as awaiting_age_days,
        {{ as_of_date() }} as as_of_date
    from produced_lots
    left join first_release
        on produced_lots.lot_id = first_release.lot_id
    left join decision_counts
        on produced_lots.lot_id = decision_counts.lot_id
    left join latest_at_as_of
        on produced_lots.lot_id = latest_at_as_of.lot_id

)

select * from final
