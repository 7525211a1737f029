{#-
    Potential supply (kpi-definitions.md "Shortages"): stock that is not supply at the as-of date A but that a
    QA decision can turn into supply. One row per lot whose status at A is quarantine or on_hold, with stock on
    hand and not expired at A, and why it is blocked: the inspections still pending on it, the nonconformances
    open on it at A (and the worst severity) and the reason of its latest on_hold decision up to A.
    Rejected, expired, recalled and consumed lots are nothing and are not listed.
-#}
with

inventory as (

    select * from {{ ref('fct_inventory_by_lot') }}

),

inspections as (

    select * from {{ ref('fct_inspections') }}

),

nonconformances as (

    select * from {{ ref('fct_nonconformances') }}

),

releases as (

    select * from {{ ref('stg_feed__lot_releases') }}

),

blocked as (

    select
        lot_id,
        material_id,
        site_id,
        status_at_as_of,
        on_hand_qty,
        expiry_date,
        days_to_expiry
    from inventory
    where status_at_as_of in ('quarantine', 'on_hold')
      and on_hand_qty > 0
      and (expiry_date is null or days_to_expiry > 0)

),

pending as (

    select
        lot_id,
        {{ sorted_listagg('inspection_id', "', '") }} as pending_inspection_ids
    from inspections
    where cast(started_at as date) <= {{ as_of_date() }}
      and (result = 'pending' or completed_date is null or completed_date > {{ as_of_date() }})
    group by lot_id

),

open_ncrs as (

    select
        lot_id,
        {{ sorted_listagg('ncr_id', "', '") }} as open_ncr_ids,
        max(case severity when 'critical' then 3 when 'major' then 2 when 'minor' then 1 else 0 end) as ncr_rank
    from nonconformances
    where is_open_at_as_of
      and lot_id is not null
    group by lot_id

),

holds as (

    select
        lot_id,
        reason as hold_reason,
        decided_at as hold_decided_at,
        row_number() over (partition by lot_id order by decided_at desc) as rn
    from releases
    where decision = 'on_hold'
      and cast(decided_at as date) <= {{ as_of_date() }}

),

final as (

    select
        blocked.lot_id,
        blocked.material_id,
        blocked.site_id,
        blocked.status_at_as_of as lot_status,
        cast(blocked.on_hand_qty as {{ type_double() }}) as qty,
        blocked.expiry_date,
        blocked.days_to_expiry,
        pending.pending_inspection_ids,
        open_ncrs.open_ncr_ids,
        case open_ncrs.ncr_rank when 3 then 'critical' when 2 then 'major' when 1 then 'minor' end as worst_ncr_severity,
        holds.hold_reason,
        holds.hold_decided_at,
        case
            when open_ncrs.ncr_rank = 3 then 'critical nonconformance open'
            when pending.pending_inspection_ids is not null then 'inspection pending'
            when open_ncrs.open_ncr_ids is not null then 'nonconformance open'
            when blocked.status_at_as_of = 'on_hold' then 'on hold'
            else 'in quarantine'
        end as blocked_by,
        {{ as_of_date() }} as as_of_date
    from blocked
    left join pending
        on blocked.lot_id = pending.lot_id
    left join open_ncrs
        on blocked.lot_id = open_ncrs.lot_id
    left join holds
        on blocked.lot_id = holds.lot_id
        and holds.rn = 1

)

select * from final
