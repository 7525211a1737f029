{#-
    The three-way match PO / receipt / invoice, one row per purchase order line ordered on or before A that is
    not cancelled or has been invoiced (kpi-definitions.md, "Three-way match", a MedTower extension).
    Ordered: qty_ordered at the agreed price of the approved supplier list (supplier, material). Received: the
    PO line's receipts up to A (int_purchase_order_lines_received). Invoiced: supplier invoice lines dated on
    or before A, attributed to the PO line they name (po_line), else to the line of the same material within
    the PO (the lowest such line); invoiced price = invoiced amount / invoiced quantity.
-#}
with

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

asl as (

    select * from {{ ref('stg_feed__approved_suppliers') }}

),

invoices as (

    select * from {{ ref('stg_feed__supplier_invoices') }}
    where invoice_date <= {{ as_of_date() }}

),

line_by_material as (

    select po_id, material_id, min(po_line) as po_line
    from po_lines
    group by po_id, material_id

),

attributed as (

    select
        invoices.po_id,
        coalesce(invoices.po_line, line_by_material.po_line) as po_line,
        invoices.invoice_id,
        invoices.qty,
        invoices.qty * invoices.unit_price as amount,
        invoices.currency,
        invoices.invoice_date
    from invoices
    left join line_by_material
        on invoices.po_line is null
        and invoices.po_id = line_by_material.po_id
        and invoices.material_id = line_by_material.material_id

),

invoiced as (

    select
        po_id,
        po_line,
        sum(qty) as qty_invoiced,
        sum(amount) as amount_invoiced,
        count(*) as invoice_lines,
        {{ sorted_listagg('invoice_id', "', '") }} as invoice_ids,
        max(currency) as invoice_currency,
        max(invoice_date) as last_invoice_date
    from attributed
    where po_line is not null
    group by po_id, po_line

),

joined as (

    select
        po_lines.po_id,
        po_lines.po_line,
        po_lines.supplier_id,
        po_lines.material_id,
        po_lines.site_id,
        po_lines.order_date,
        po_lines.is_cancelled,
        po_lines.qty_ordered,
        asl.unit_price as agreed_unit_price,
        asl.currency as agreed_currency,
        po_lines.qty_received_total as qty_received,
        cast(coalesce(invoiced.qty_invoiced, 0) as {{ dbt.type_numeric() }}) as qty_invoiced,
        cast(invoiced.amount_invoiced / nullif(invoiced.qty_invoiced, 0) as {{ dbt.type_numeric() }})
            as invoiced_unit_price,
        cast(invoiced.amount_invoiced as {{ dbt.type_numeric() }}) as amount_invoiced,
        invoiced.invoice_currency,
        coalesce(invoiced.invoice_lines, 0) as invoice_lines,
        invoiced.invoice_ids,
        invoiced.last_invoice_date
    from po_lines
    left join asl
        on po_lines.supplier_id = asl.supplier_id
        and po_lines.material_id = asl.material_id
    left join invoiced
        on po_lines.po_id = invoiced.po_id
        and po_lines.po_line = invoiced.po_line
    where po_lines.order_date <= {{ as_of_date() }}
      and (not po_lines.is_cancelled or invoiced.po_id is not null)

),

final as (

    select
        joined.*,
        cast(qty_invoiced - qty_received as {{ dbt.type_numeric() }}) as qty_variance,
        cast(invoiced_unit_price - agreed_unit_price as {{ dbt.type_numeric() }}) as price_variance,
        case
            when invoice_lines = 0 then 'not_invoiced'
            when qty_received = 0 then 'not_received'
            when abs(qty_invoiced - qty_received)
                > {{ var('three_way_qty_tolerance', 0.02) }} * qty_received then 'qty_mismatch'
            when agreed_unit_price is not null
                and abs(invoiced_unit_price - agreed_unit_price)
                    > {{ var('three_way_price_tolerance', 0.01) }} * agreed_unit_price then 'price_mismatch'
            else 'matched'
        end as match_status,
        {{ as_of_date() }} as as_of_date
    from joined

)

select * from final
