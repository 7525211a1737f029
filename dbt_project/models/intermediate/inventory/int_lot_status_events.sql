{#-
    Every known change of a lot's QA status, as events (lot_id, status, effective_at).
    Three sources, because the feed only carries the *current* status on the lot:
      1. arrival: the first receipt (received lot) or production_output (produced lot) movement
         puts the lot in quarantine, awaiting incoming inspection or batch-record review;
      2. lot_releases: each QA decision (released, rejected, on_hold) at decided_at;
      3. the lot's current status at status_changed_at (the only trace of expired, recalled, consumed ...).
    source_priority breaks ties between events at the same timestamp: the lot's current status
    wins over a decision, and a decision over the arrival.
-#}
with

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

releases as (

    select * from {{ ref('stg_feed__lot_releases') }}

),

arrivals as (

    select
        lot_id,
        'quarantine' as status,
        min(moved_at) as effective_at,
        'arrival' as event_source,
        1 as source_priority
    from movements
    where lot_id is not null
      and movement_type in ('receipt', 'production_output')
    group by lot_id

),

decisions as (

    select
        lot_id,
        decision as status,
        decided_at as effective_at,
        'lot_release' as event_source,
        2 as source_priority
    from releases

),

current_status as (

    select
        lot_id,
        status,
        status_changed_at as effective_at,
        'lot_current_status' as event_source,
        3 as source_priority
    from lots

),

unioned as (

    select * from arrivals
    union all
    select * from decisions
    union all
    select * from current_status

),

final as (

    select
        unioned.lot_id,
        unioned.status,
        unioned.effective_at,
        cast(unioned.effective_at as date) as effective_date,
        unioned.event_source,
        unioned.source_priority,
        row_number() over (
            partition by unioned.lot_id
            order by unioned.effective_at, unioned.source_priority
        ) as event_seq
    from unioned
    inner join lots
        on unioned.lot_id = lots.lot_id

)

select * from final
