{#-
    One row per purchase order line at the as-of date A: receipts (int_purchase_order_lines_received), the
    supplier on-time flag of kpi-definitions.md, open / past-due position at A and lead times.
    Lead time: actual = order_date to the first receipt (local dates); planned = approved_suppliers for the
    supplier and material, else materials.planned_lead_time_days.
-#}
with

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

approved_suppliers as (

    select * from {{ ref('stg_feed__approved_suppliers') }}

),

materials as (

    select * from {{ ref('stg_feed__materials') }}

),

final as (

    select
        po_lines.po_id,
        po_lines.po_line,
        po_lines.supplier_id,
        po_lines.material_id,
        po_lines.site_id,
        po_lines.qty_ordered,
        po_lines.order_date,
        po_lines.requested_date,
        po_lines.confirmed_date,
        po_lines.due_date,
        po_lines.status,
        po_lines.is_cancelled,
        po_lines.qty_received_total,
        po_lines.qty_received_by_requested,
        po_lines.is_on_time,
        po_lines.first_receipt_date,
        po_lines.last_receipt_date,
        cast(case when po_lines.is_open_at_as_of then po_lines.qty_open else 0 end as {{ dbt.type_numeric() }}) as open_qty,
        cast(case when po_lines.is_open_at_as_of then po_lines.qty_open else 0 end as {{ dbt.type_numeric() }}) as qty_open,
        po_lines.is_open_at_as_of,
        po_lines.is_open_at_as_of and po_lines.due_date < {{ as_of_date() }} as is_past_due_at_as_of,
        case
            when po_lines.is_open_at_as_of and po_lines.due_date < {{ as_of_date() }}
                then {{ dbt.datediff('po_lines.due_date', as_of_date(), 'day') }}
        end as days_past_due,
        {{ dbt.datediff('po_lines.order_date', 'po_lines.first_receipt_date', 'day') }} as actual_lead_time_days,
        coalesce(approved_suppliers.planned_lead_time_days, materials.planned_lead_time_days) as planned_lead_time_days,
        {{ dbt.datediff('po_lines.order_date', 'po_lines.first_receipt_date', 'day') }}
            - coalesce(approved_suppliers.planned_lead_time_days, materials.planned_lead_time_days)
            as lead_time_delta_days,
        {{ as_of_date() }} as as_of_date
    from po_lines
    left join approved_suppliers
        on po_lines.supplier_id = approved_suppliers.supplier_id
        and po_lines.material_id = approved_suppliers.material_id
    left join materials
        on po_lines.material_id = materials.material_id

)

select * from final
