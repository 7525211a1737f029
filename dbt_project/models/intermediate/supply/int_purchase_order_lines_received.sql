{#-
    One row per purchase order line with its receipts summed (kpi-definitions.md supplier_otd_rate).
    A receipt is an inventory movement of type receipt with reference_type 'po', reference_id = po_id and
    reference_line = po_line, summed across lots; its date is the local date of moved_at.
    Only receipts on or before the as-of date A count. On time: quantity received on or before
    requested_date >= qty_ordered; a line not yet received is late.
    Open at A: not cancelled, ordered on or before A, less than qty_ordered received by A, and not closed
    short (status received, with receipts, all of them on or before A). qty_open = qty_ordered - qty received by A.
-#}
with

purchase_orders as (

    select * from {{ ref('stg_feed__purchase_orders') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

receipts as (

    select
        reference_id as po_id,
        reference_line as po_line,
        cast(moved_at as date) as moved_date,
        qty
    from movements
    where movement_type = 'receipt'
      and reference_type = 'po'

),

line_receipts as (

    select
        receipts.po_id,
        receipts.po_line,
        sum(case when receipts.moved_date <= {{ as_of_date() }} then receipts.qty else 0 end) as qty_received_total,
        sum(
            case when receipts.moved_date <= purchase_orders.requested_date
                and receipts.moved_date <= {{ as_of_date() }}
                then receipts.qty else 0 end
        ) as qty_received_by_requested,
        min(case when receipts.moved_date <= {{ as_of_date() }} then receipts.moved_date end) as first_receipt_date,
        max(case when receipts.moved_date <= {{ as_of_date() }} then receipts.moved_date end) as last_receipt_date,
        max(receipts.moved_date) as last_receipt_date_any
    from receipts
    inner join purchase_orders
        on receipts.po_id = purchase_orders.po_id
        and receipts.po_line = purchase_orders.po_line
    group by receipts.po_id, receipts.po_line

),

final as (

    select
        purchase_orders.po_id,
        purchase_orders.po_line,
        purchase_orders.supplier_id,
        purchase_orders.material_id,
        purchase_orders.site_id,
        purchase_orders.qty_ordered,
        purchase_orders.order_date,
        purchase_orders.requested_date,
        purchase_orders.confirmed_date,
        purchase_orders.due_date,
        purchase_orders.status,
        purchase_orders.is_cancelled,
        cast(coalesce(line_receipts.qty_received_total, 0) as {{ dbt.type_numeric() }}) as qty_received_total,
        cast(coalesce(line_receipts.qty_received_by_requested, 0) as {{ dbt.type_numeric() }}) as qty_received_by_requested,
        line_receipts.first_receipt_date,
        line_receipts.last_receipt_date,
        coalesce(line_receipts.qty_received_by_requested, 0) >= purchase_orders.qty_ordered as is_on_time,
        cast(
            case
                when purchase_orders.qty_ordered > coalesce(line_receipts.qty_received_total, 0)
                    then purchase_orders.qty_ordered - coalesce(line_receipts.qty_received_total, 0)
                else 0
            end as {{ dbt.type_numeric() }}) as qty_open,
        (
            not purchase_orders.is_cancelled
            and purchase_orders.order_date <= {{ as_of_date() }}
            and purchase_orders.qty_ordered > coalesce(line_receipts.qty_received_total, 0)
            and not (
                purchase_orders.status = 'received'
                -- "received" with no receipt on record is not closed short: it stays open
                and coalesce(line_receipts.last_receipt_date_any <= {{ as_of_date() }}, false)
            )
        ) as is_open_at_as_of
    from purchase_orders
    left join line_receipts
        on purchase_orders.po_id = line_receipts.po_id
        and purchase_orders.po_line = line_receipts.po_line

)

select * from final
