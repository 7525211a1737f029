{#-
    Time-phased shortage (kpi-definitions.md `shortage`), one row per material, site and open work order
    needing it. Per material and site the open work orders are taken in planned_start order (tie-break wo_id):

        projected_balance = available_on_hand + po_qty_due_by_need_date - cumulative_requirement

    available_on_hand: on-hand at the as-of date of lots that are available (fct_inventory_by_lot.is_available:
    released, unexpired, on hand > 0; quarantined, rejected, on-hold and expired lots are not).
    po_qty_due_by_need_date: open PO quantity at the as-of date (int_purchase_order_lines_received: not cancelled,
    qty_ordered - qty received by then; a line closed short is not open) whose due date (confirmed_date, else requested_date) is on or before the need date.
    cumulative_requirement: qty_outstanding of this and every earlier work order.
    A negative balance is a shortage of that size at that date. The balance is computed in exact numeric and
    published as double, the shape the alert rules and plans read.
-#}
with

requirements as (

    select * from {{ ref('fct_material_requirements') }}

),

inventory as (

    select * from {{ ref('fct_inventory_by_lot') }}

),

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

on_hand as (

    select
        material_id,
        site_id,
        sum(on_hand_qty) as available_on_hand
    from inventory
    where is_available
    group by material_id, site_id

),

open_po_lines as (

    select
        material_id,
        site_id,
        due_date,
        qty_open
    from po_lines
    where is_open_at_as_of

),

cumulative as (

    select
        material_id,
        site_id,
        wo_id,
        planned_start,
        need_date,
        qty_outstanding,
        sum(qty_outstanding) over (
            partition by material_id, site_id
            order by planned_start, wo_id
            rows between unbounded preceding and current row
        ) as cumulative_requirement
    from requirements

),

po_due as (

    select
        cumulative.material_id,
        cumulative.site_id,
        cumulative.wo_id,
        sum(open_po_lines.qty_open) as po_qty_due_by_need_date
    from cumulative
    inner join open_po_lines
        on cumulative.material_id = open_po_lines.material_id
        and cumulative.site_id = open_po_lines.site_id
        and open_po_lines.due_date <= cumulative.need_date
    group by cumulative.material_id, cumulative.site_id, cumulative.wo_id

),

balanced as (

    select
        cumulative.material_id,
        cumulative.site_id,
        cumulative.wo_id,
        cumulative.planned_start,
        cumulative.need_date,
        cumulative.qty_outstanding,
        cumulative.cumulative_requirement,
        coalesce(on_hand.available_on_hand, 0) as available_on_hand,
        coalesce(po_due.po_qty_due_by_need_date, 0) as po_qty_due_by_need_date,
        coalesce(on_hand.available_on_hand, 0)
            + coalesce(po_due.po_qty_due_by_need_date, 0)
            - cumulative.cumulative_requirement as projected_balance
    from cumulative
    left join on_hand
        on cumulative.material_id = on_hand.material_id
        and cumulative.site_id = on_hand.site_id
    left join po_due
        on cumulative.material_id = po_due.material_id
        and cumulative.site_id = po_due.site_id
        and cumulative.wo_id = po_due.wo_id

),

final as (

    select
        material_id,
        site_id,
        wo_id,
        need_date,
        cast(qty_outstanding as {{ type_double() }}) as qty_outstanding,
        cast(cumulative_requirement as {{ type_double() }}) as cumulative_requirement,
        cast(available_on_hand as {{ type_double() }}) as available_on_hand,
        cast(po_qty_due_by_need_date as {{ type_double() }}) as po_qty_due_by_need_date,
        cast(projected_balance as {{ type_double() }}) as projected_balance,
        cast(case when projected_balance < 0 then -projected_balance else 0 end as {{ type_double() }}) as shortage_qty,
        projected_balance < 0 as is_short,
        {{ as_of_date() }} as as_of_date,
        planned_start
    from balanced

)

select * from final
