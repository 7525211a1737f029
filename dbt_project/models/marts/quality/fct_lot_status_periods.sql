{#-
    One row per period a lot spent in one QA status, with who decided it and why (see the doc block).
    The status changes are int_lot_status_events'; a new period starts at a change of status, and at every
    QA decision (two holds in a row are two decisions, each with its reason). The lot master restating the
    status in force (the ERP's copy of a decision) adds no period.
-#}
with

events as (

    select * from {{ ref('int_lot_status_events') }}

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

releases as (

    select * from {{ ref('stg_feed__lot_releases') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}
    where lot_id is not null
      and movement_type in ('receipt', 'production_output')

),

failed_inspections as (

    select * from {{ ref('stg_feed__inspections') }}
    where result = 'fail'
      and completed_at is not null

),

ncrs as (

    select * from {{ ref('stg_feed__nonconformances') }}
    where lot_id is not null

),

flagged as (

    select
        lot_id,
        status,
        effective_at,
        event_source,
        event_seq,
        lag(status) over (partition by lot_id order by event_seq) as previous_status
    from events

),

changes as (

    select lot_id, status, effective_at, event_source, event_seq
    from flagged
    where previous_status is null
       or status <> previous_status
       or event_source = 'lot_release'

),

periods as (

    select
        lot_id,
        status,
        event_source,
        effective_at as valid_from,
        lead(effective_at) over (partition by lot_id order by event_seq) as valid_to,
        lag(effective_at) over (partition by lot_id order by event_seq) as previous_valid_from,
        row_number() over (partition by lot_id order by event_seq) as period_seq
    from changes

),

arrival_movements as (

    select
        periods.lot_id,
        min(movements.movement_id) as movement_id
    from periods
    inner join movements
        on periods.lot_id = movements.lot_id
        and periods.valid_from = movements.moved_at
    where periods.event_source = 'arrival'
    group by periods.lot_id

),

{#- Quality records behind a blocked period: what happened since the previous change up to the period's end. #}
inspection_evidence as (

    select
        periods.lot_id,
        periods.period_seq,
        {{ sorted_listagg('failed_inspections.inspection_id', "', '") }} as failed_inspection_ids,
        {{ sorted_listagg(dbt.concat([
            "'failed '", 'failed_inspections.inspection_type', "' inspection '", 'failed_inspections.inspection_id',
            "coalesce(" ~ dbt.concat([
                "' ('", 'cast(failed_inspections.defects_found as ' ~ dbt.type_string() ~ ')',
                "' defects in a sample of '", 'cast(failed_inspections.sample_size as ' ~ dbt.type_string() ~ ')',
                "')'"
            ]) ~ ", '')"
        ]), "'; '") }} as inspection_text
    from periods
    inner join failed_inspections
        on periods.lot_id = failed_inspections.lot_id
        and (periods.previous_valid_from is null or failed_inspections.completed_at >= periods.previous_valid_from)
        and (periods.valid_to is null or failed_inspections.completed_at < periods.valid_to)
    group by periods.lot_id, periods.period_seq

),

ncr_evidence as (

    select
        periods.lot_id,
        periods.period_seq,
        {{ sorted_listagg('ncrs.ncr_id', "', '") }} as ncr_ids,
        {{ sorted_listagg(dbt.concat([
            "'NCR '", 'ncrs.ncr_id', "' '", 'ncrs.defect_code', "' ('", 'ncrs.severity',
            "coalesce(" ~ dbt.concat(["'; disposition '", 'ncrs.disposition']) ~ ", '')", "')'"
        ]), "'; '") }} as ncr_text
    from periods
    inner join ncrs
        on periods.lot_id = ncrs.lot_id
        and (periods.valid_to is null or ncrs.opened_at < periods.valid_to)
        and (
            ncrs.closed_at is null
            or periods.previous_valid_from is null
            or ncrs.closed_at >= periods.previous_valid_from
        )
    group by periods.lot_id, periods.period_seq

),

joined as (

    select
        periods.lot_id,
        periods.period_seq,
        lots.material_id,
        lots.site_id,
        lots.origin,
        periods.status,
        periods.valid_from,
        periods.valid_to,
        periods.event_source,
        releases.decision,
        releases.decided_by,
        nullif(trim(releases.reason), '') as qa_reason,
        periods.status in ('quarantine', 'on_hold', 'rejected', 'recalled') as is_blocked,
        inspection_evidence.failed_inspection_ids,
        inspection_evidence.inspection_text,
        ncr_evidence.ncr_ids,
        ncr_evidence.ncr_text,
        case periods.event_source
            when 'arrival' then arrival_movements.movement_id
            when 'lot_release' then {{ dbt.concat([
                'periods.lot_id', "' @ '", 'cast(periods.valid_from as ' ~ dbt.type_string() ~ ')'
            ]) }}
            else periods.lot_id
        end as source_record_id
    from periods
    inner join lots
        on periods.lot_id = lots.lot_id
    left join releases
        on periods.event_source = 'lot_release'
        and periods.lot_id = releases.lot_id
        and periods.valid_from = releases.decided_at
    left join arrival_movements
        on periods.event_source = 'arrival'
        and periods.lot_id = arrival_movements.lot_id
    left join inspection_evidence
        on periods.lot_id = inspection_evidence.lot_id
        and periods.period_seq = inspection_evidence.period_seq
    left join ncr_evidence
        on periods.lot_id = ncr_evidence.lot_id
        and periods.period_seq = ncr_evidence.period_seq

),

final as (

    select
        lot_id,
        period_seq,
        material_id,
        site_id,
        status,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        event_source,
        decision,
        decided_by,
        case
            when qa_reason is not null then qa_reason
            when not is_blocked then null
            when inspection_text is not null and ncr_text is not null
                then {{ dbt.concat(['inspection_text', "'; '", 'ncr_text']) }}
            when inspection_text is not null then inspection_text
            when ncr_text is not null then ncr_text
            when event_source = 'arrival' and origin = 'produced' then 'awaiting QA release (batch record review)'
            when event_source = 'arrival' then 'awaiting incoming inspection'
            else 'the feed gives no reason'
        end as reason,
        case
            when qa_reason is not null then 'qa_decision'
            when not is_blocked then 'none'
            when inspection_text is not null or ncr_text is not null then 'quality_records'
            when event_source = 'arrival' then 'arrival'
            else 'none'
        end as reason_source,
        case when is_blocked and qa_reason is null then failed_inspection_ids end as failed_inspection_ids,
        case when is_blocked and qa_reason is null then ncr_ids end as ncr_ids,
        source_record_id
    from joined

)

select * from final
