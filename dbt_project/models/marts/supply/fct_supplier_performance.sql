{#-
    One row per supplier at the as-of date A.
    - On-time delivery over the 90 days ending at A: PO lines not cancelled with requested_date in (A - 90, A],
      on time as in kpi-definitions.md supplier_otd_rate; rate null without lines.
    - Incoming reject rate over the same 90 days: incoming inspections of the supplier's lots (lots.supplier_id)
      completed (local date) in the window with result pass or fail: fails / (passes + fails).
    - Lead time over all PO lines first received on or before A: median and p90 of actual and of actual -
      planned days; spread = p90 - p10 of actual lead time.
    - Open position at A: open PO lines and quantity, past-due open lines, ASN lines in transit.
-#}
with

suppliers as (

    select * from {{ ref('dim_suppliers') }}

),

po_lines as (

    select * from {{ ref('fct_purchase_order_lines') }}

),

asn_lines as (

    select * from {{ ref('fct_asn_lines') }}

),

inspections as (

    select * from {{ ref('stg_feed__inspections') }}

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

otd as (

    select
        supplier_id,
        count(*) as po_lines_due_90d,
        sum(case when is_on_time then 1 else 0 end) as po_lines_on_time_90d
    from po_lines
    where not is_cancelled
      and requested_date > cast({{ dbt.dateadd('day', -90, as_of_date()) }} as date)
      and requested_date <= {{ as_of_date() }}
    group by supplier_id

),

incoming as (

    select
        lots.supplier_id,
        sum(case when inspections.result in ('pass', 'fail') then 1 else 0 end) as incoming_inspections_90d,
        sum(case when inspections.result = 'fail' then 1 else 0 end) as incoming_rejects_90d
    from inspections
    inner join lots
        on inspections.lot_id = lots.lot_id
    where inspections.inspection_type = 'incoming'
      and inspections.result in ('pass', 'fail')
      and inspections.completed_at is not null
      and cast(inspections.completed_at as date) > cast({{ dbt.dateadd('day', -90, as_of_date()) }} as date)
      and cast(inspections.completed_at as date) <= {{ as_of_date() }}
      and lots.supplier_id is not null
    group by lots.supplier_id

),

lead_times as (

    select
        supplier_id,
        count(*) as n_received_lines,
        cast({{ percentile_cont('actual_lead_time_days', 0.5) }} as {{ type_double() }}) as median_actual_lead_time_days,
        cast({{ percentile_cont('actual_lead_time_days', 0.9) }} as {{ type_double() }}) as p90_actual_lead_time_days,
        {{ percentile_cont('actual_lead_time_days', 0.9) }}
            - cast({{ percentile_cont('actual_lead_time_days', 0.1) }} as {{ type_double() }}) as lead_time_spread_days,
        cast({{ percentile_cont('planned_lead_time_days', 0.5) }} as {{ type_double() }}) as median_planned_lead_time_days,
        cast({{ percentile_cont('lead_time_delta_days', 0.5) }} as {{ type_double() }}) as median_lead_time_delta_days,
        cast({{ percentile_cont('lead_time_delta_days', 0.9) }} as {{ type_double() }}) as p90_lead_time_delta_days
    from po_lines
    where first_receipt_date is not null
      and not is_cancelled
    group by supplier_id

),

open_lines as (

    select
        supplier_id,
        count(*) as open_po_lines,
        sum(open_qty) as open_po_qty,
        sum(case when is_past_due_at_as_of then 1 else 0 end) as late_open_po_lines
    from po_lines
    where is_open_at_as_of
    group by supplier_id

),

open_asns as (

    select
        supplier_id,
        count(*) as open_asn_lines,
        sum(qty_shipped) as open_asn_qty,
        sum(case when lands_after_need_date then 1 else 0 end) as open_asn_lines_after_need_date
    from asn_lines
    where is_in_transit_at_as_of
    group by supplier_id

),

final as (

    select
        suppliers.supplier_id,
        coalesce(otd.po_lines_due_90d, 0) as po_lines_due_90d,
        coalesce(otd.po_lines_on_time_90d, 0) as po_lines_on_time_90d,
        case
            when otd.po_lines_due_90d > 0
                then cast(otd.po_lines_on_time_90d as {{ type_double() }}) / otd.po_lines_due_90d
        end as otd_rate_90d,
        coalesce(incoming.incoming_inspections_90d, 0) as incoming_inspections_90d,
        coalesce(incoming.incoming_rejects_90d, 0) as incoming_rejects_90d,
        case
            when incoming.incoming_inspections_90d > 0
                then cast(incoming.incoming_rejects_90d as {{ type_double() }}) / incoming.incoming_inspections_90d
        end as incoming_reject_rate_90d,
        coalesce(lead_times.n_received_lines, 0) as n_received_lines,
        lead_times.median_actual_lead_time_days,
        lead_times.p90_actual_lead_time_days,
        lead_times.lead_time_spread_days,
        lead_times.median_planned_lead_time_days,
        lead_times.median_lead_time_delta_days,
        lead_times.p90_lead_time_delta_days,
        coalesce(open_lines.open_po_lines, 0) as open_po_lines,
        coalesce(open_lines.open_po_qty, 0) as open_po_qty,
        coalesce(open_lines.late_open_po_lines, 0) as late_open_po_lines,
        coalesce(open_asns.open_asn_lines, 0) as open_asn_lines,
        coalesce(open_asns.open_asn_qty, 0) as open_asn_qty,
        coalesce(open_asns.open_asn_lines_after_need_date, 0) as open_asn_lines_after_need_date,
        {{ as_of_date() }} as as_of_date
    from suppliers
    left join otd on suppliers.supplier_id = otd.supplier_id
    left join incoming on suppliers.supplier_id = incoming.supplier_id
    left join lead_times on suppliers.supplier_id = lead_times.supplier_id
    left join open_lines on suppliers.supplier_id = open_lines.supplier_id
    left join open_asns on suppliers.supplier_id = open_asns.supplier_id

)

select * from final
