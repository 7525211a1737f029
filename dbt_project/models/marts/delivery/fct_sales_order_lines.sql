{#-
    One row per sales order line at the as-of date A: shipments (int_sales_order_lines_shipped, local shipped
    date <= A), the OTIF flag of kpi-definitions.md and the at-risk position at A.
    - is_open: not cancelled, ordered on or before A, shipped less than the line quantity by A.
    - is_past_due: open and due_date before A; is_due_within_14d: open and due_date in [A, A + 14].
    - dependent work orders: work orders made for the sales order (work_orders.so_id) that make the line's
      material; late = fct_work_orders.is_late at A, short = a component short for it: an exception of
      fct_shortages (need date within the lead time) on the work order.
    - is_pegged_to_shortage: an exception of fct_shortages puts the line at risk by pegging
      (fct_shortage_pegging: the line's own demand is short, or a work order whose output covers it is).
    - is_at_risk: open and (past due, or a dependent work order is late or short, or pegged to a shortage).
    - days_late: for a line complete by A, days from due_date to the day it became complete (0 when on time);
      for an open line, days from due_date to A when past due, else 0; null for cancelled lines.
-#}
with

order_lines as (

    select * from {{ ref('int_sales_order_lines_shipped') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

shortages as (

    select * from {{ ref('fct_shortages') }}

),

pegging as (

    select * from {{ ref('fct_shortage_pegging') }}

),

short_work_orders as (

    select wo_id, sum(shortage_qty) as component_shortage_qty
    from shortages
    where kind = 'exception'
      and demand_type = 'work_order'
    group by wo_id

),

pegged_lines as (

    select distinct pegging.so_id, pegging.so_line
    from pegging
    inner join shortages
        on pegging.shortage_id = shortages.shortage_id
    where shortages.kind = 'exception'
      and pegging.hit_type = 'sales_order_line'

),

dependent_work_orders as (

    select
        work_orders.so_id,
        work_orders.material_id,
        count(*) as n_dependent_wos,
        sum(case when work_orders.is_late then 1 else 0 end) as n_late_dependent_wos,
        sum(case when short_work_orders.wo_id is not null then 1 else 0 end) as n_short_dependent_wos
    from work_orders
    left join short_work_orders
        on work_orders.wo_id = short_work_orders.wo_id
    where work_orders.so_id is not null
      and not work_orders.is_cancelled
    group by work_orders.so_id, work_orders.material_id

),

positioned as (

    select
        order_lines.*,
        (
            not order_lines.is_cancelled
            and order_lines.order_date <= {{ as_of_date() }}
            and order_lines.qty_shipped_total < order_lines.qty
        ) as is_open,
        coalesce(dependent_work_orders.n_dependent_wos, 0) as n_dependent_wos,
        coalesce(dependent_work_orders.n_late_dependent_wos, 0) > 0 as has_late_dependent_wo,
        coalesce(dependent_work_orders.n_short_dependent_wos, 0) > 0 as has_short_dependent_wo,
        pegged_lines.so_id is not null as is_pegged_to_shortage
    from order_lines
    left join dependent_work_orders
        on order_lines.so_id = dependent_work_orders.so_id
        and order_lines.material_id = dependent_work_orders.material_id
    left join pegged_lines
        on order_lines.so_id = pegged_lines.so_id
        and order_lines.so_line = pegged_lines.so_line

),

final as (

    select
        so_id,
        so_line,
        customer_id,
        material_id,
        site_id,
        qty,
        order_date,
        requested_date,
        promised_date,
        due_date,
        status,
        is_cancelled,
        qty_shipped_total,
        qty_shipped_by_due,
        is_otif,
        first_ship_date,
        last_ship_date,
        in_full_date,
        case
            when is_cancelled then null
            when in_full_date is not null then
                case when in_full_date > due_date
                    then {{ dbt.datediff('due_date', 'in_full_date', 'day') }} else 0 end
            when due_date < {{ as_of_date() }} then {{ dbt.datediff('due_date', as_of_date(), 'day') }}
            else 0
        end as days_late,
        cast(case when is_open then qty - qty_shipped_total else 0 end as {{ dbt.type_numeric() }}) as open_qty,
        is_open,
        is_open and due_date < {{ as_of_date() }} as is_past_due,
        (
            is_open
            and due_date >= {{ as_of_date() }}
            and due_date <= cast({{ dbt.dateadd('day', 14, as_of_date()) }} as date)
        ) as is_due_within_14d,
        n_dependent_wos,
        has_late_dependent_wo,
        has_short_dependent_wo,
        is_pegged_to_shortage,
        (
            is_open
            and (
                due_date < {{ as_of_date() }} or has_late_dependent_wo or has_short_dependent_wo
                or is_pegged_to_shortage
            )
        ) as is_at_risk,
        {{ as_of_date() }} as as_of_date
    from positioned

)

select * from final
