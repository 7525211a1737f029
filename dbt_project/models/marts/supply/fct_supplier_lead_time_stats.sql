{#-
    Lead-time statistics per supplier and material, over purchase order lines received (first receipt) on or
    before the as-of date: delay = actual - planned lead time days (fct_purchase_order_lines). Used to
    re-forecast open PO arrivals: expected = due date + median (or p90) delay.
-#}
with

po_lines as (

    select * from {{ ref('fct_purchase_order_lines') }}

),

received as (

    select
        supplier_id,
        material_id,
        actual_lead_time_days,
        planned_lead_time_days,
        lead_time_delta_days
    from po_lines
    where first_receipt_date is not null
      and not is_cancelled

),

final as (

    select
        supplier_id,
        material_id,
        count(*) as n_receipts,
        count(lead_time_delta_days) as n_receipts_with_plan,
        cast({{ percentile_cont('actual_lead_time_days', 0.5) }} as {{ type_double() }}) as median_actual_lead_time_days,
        cast({{ percentile_cont('actual_lead_time_days', 0.9) }} as {{ type_double() }}) as p90_actual_lead_time_days,
        max(planned_lead_time_days) as planned_lead_time_days,
        cast({{ percentile_cont('lead_time_delta_days', 0.5) }} as {{ type_double() }}) as median_delay_days,
        cast({{ percentile_cont('lead_time_delta_days', 0.9) }} as {{ type_double() }}) as p90_delay_days,
        {{ as_of_date() }} as as_of_date
    from received
    group by supplier_id, material_id

)

select * from final
