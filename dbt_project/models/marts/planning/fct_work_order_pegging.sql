{#-
    What every open work order's output is for, pegged up the levels: the demand its output covers (a parent
    work order's component need, or a sales order line), what that parent work order's output covers, and so on
    up to the sales order line and customer. One row per work order and order it serves, at the lowest
    `peg_level` it is reached (1 = covered directly by the work order's output).

    A work order made to order (work_orders.so_id) covers that sales order's lines of what it makes; any other
    output is pegged first in, first out along the output material's projected balance: supply events, in
    netting order, are matched to the covered part of the demand events (demand_qty - net_requirement_qty: a
    shortfall is not carried, so nothing covers it), a lot only with what it has before it expires. A work order
    pegged to nothing is made to stock. Pegging stops after {{ var('pegging_max_levels', 8) }} levels (BOMs are
    shallower than that).
-#}
{%- set max_levels = var('pegging_max_levels', 8) %}
with

balance as (

    select * from {{ ref('fct_projected_balance') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

sales_order_lines as (

    select * from {{ ref('int_sales_order_lines_shipped') }}

),

lapsed as (

    select material_id, site_id, lot_id, expiring_qty
    from balance
    where direction = 'expiry'

),

supply_intervals as (

    select
        balance.material_id,
        balance.site_id,
        balance.event_type,
        balance.wo_id,
        balance.so_id,
        sum(balance.supply_qty - coalesce(lapsed.expiring_qty, 0)) over (
            partition by balance.material_id, balance.site_id order by balance.event_seq
            rows between unbounded preceding and current row
        ) as cum_end,
        balance.supply_qty - coalesce(lapsed.expiring_qty, 0) as qty
    from balance
    left join lapsed
        on balance.material_id = lapsed.material_id
        and balance.site_id = lapsed.site_id
        and balance.lot_id = lapsed.lot_id
        and balance.event_type = 'lot'
    where balance.direction = 'supply'

),

demand_intervals as (

    select
        material_id,
        site_id,
        event_type,
        wo_id,
        so_id,
        so_line,
        customer_id,
        sum(demand_qty - net_requirement_qty) over (
            partition by material_id, site_id order by event_seq
            rows between unbounded preceding and current row
        ) as cum_end,
        demand_qty - net_requirement_qty as qty
    from balance
    where direction = 'demand'

),

{#- What one work order's output covers: the parent work order or sales order line it is pegged to. -#}
fifo_edges as (

    select
        s.wo_id as from_wo_id,
        d.event_type as to_type,
        d.wo_id as to_wo_id,
        d.so_id as to_so_id,
        d.so_line as to_so_line,
        d.customer_id as to_customer_id
    from supply_intervals as s
    inner join demand_intervals as d
        on s.material_id = d.material_id
        and s.site_id = d.site_id
        and d.cum_end - d.qty < s.cum_end
        and s.cum_end - s.qty < d.cum_end
    where s.event_type = 'work_order_output'
      and s.so_id is null
      and s.qty > 0
      and d.qty > 0

),

made_to_order_edges as (

    select
        work_orders.wo_id as from_wo_id,
        'sales_order_line' as to_type,
        cast(null as {{ dbt.type_string() }}) as to_wo_id,
        sales_order_lines.so_id as to_so_id,
        sales_order_lines.so_line as to_so_line,
        sales_order_lines.customer_id as to_customer_id
    from work_orders
    inner join sales_order_lines
        on work_orders.so_id = sales_order_lines.so_id
        and work_orders.material_id = sales_order_lines.material_id
    where work_orders.so_id is not null
      and work_orders.status in ('planned', 'released', 'in_progress', 'on_hold')
      and not sales_order_lines.is_cancelled

),

edges as (

    select * from fifo_edges
    union all
    select * from made_to_order_edges

),

hits_1 as (

    select distinct
        edges.from_wo_id as root_wo_id,
        1 as peg_level,
        case when edges.to_type = 'work_order_component' then 'work_order' else 'sales_order_line' end as hit_type,
        edges.to_wo_id as wo_id,
        case when edges.to_type = 'work_order_component' then cast(null as {{ dbt.type_string() }})
            else edges.to_so_id end as so_id,
        edges.to_so_line as so_line,
        edges.to_customer_id as customer_id
    from edges

),
{%- for level in range(2, max_levels + 1) %}

hits_{{ level }} as (

    select distinct
        hits.root_wo_id,
        {{ level }} as peg_level,
        case when edges.to_type = 'work_order_component' then 'work_order' else 'sales_order_line' end as hit_type,
        edges.to_wo_id as wo_id,
        case when edges.to_type = 'work_order_component' then cast(null as {{ dbt.type_string() }})
            else edges.to_so_id end as so_id,
        edges.to_so_line as so_line,
        edges.to_customer_id as customer_id
    from hits_{{ level - 1 }} as hits
    inner join edges
        on hits.wo_id = edges.from_wo_id
    where hits.hit_type = 'work_order'

),
{%- endfor %}

all_hits as (

    {%- for level in range(1, max_levels + 1) %}
    select * from hits_{{ level }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

first_hits as (

    select
        root_wo_id,
        hit_type,
        wo_id,
        so_id,
        so_line,
        min(peg_level) as peg_level,
        max(customer_id) as customer_id
    from all_hits
    group by root_wo_id, hit_type, wo_id, so_id, so_line

),

final as (

    select
        first_hits.root_wo_id,
        first_hits.peg_level,
        first_hits.hit_type,
        first_hits.wo_id,
        work_orders.material_id as wo_material_id,
        case when first_hits.hit_type = 'work_order' then work_orders.so_id else first_hits.so_id end as so_id,
        first_hits.so_line,
        coalesce(first_hits.customer_id, sales_order_lines.customer_id) as customer_id,
        sales_order_lines.due_date as so_due_date
    from first_hits
    left join work_orders
        on first_hits.wo_id = work_orders.wo_id
    left join sales_order_lines
        on first_hits.so_id = sales_order_lines.so_id
        and first_hits.so_line = sales_order_lines.so_line

)

select * from final
