{#-
    What each root-cause shortage (fct_shortages) puts at risk: its own demand (peg_level 1: the work order
    short of the component, or the sales order line short of the material) and, for a work order, everything
    its output is for (fct_work_order_pegging, one level up: parent work orders and, at the top, sales order
    lines and customers). One row per shortage and order hit, at the lowest level it is reached.
-#}
with

shortages as (

    select * from {{ ref('fct_shortages') }}

),

work_order_pegging as (

    select * from {{ ref('fct_work_order_pegging') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

sales_order_lines as (

    select * from {{ ref('int_sales_order_lines_shipped') }}

),

own_demand as (

    select
        shortage_id,
        1 as peg_level,
        case when demand_type = 'work_order' then 'work_order' else 'sales_order_line' end as hit_type,
        wo_id,
        case when demand_type = 'work_order' then cast(null as {{ dbt.type_string() }}) else so_id end as so_id,
        case when demand_type = 'work_order' then cast(null as {{ dbt.type_bigint() }}) else so_line end as so_line
    from shortages

),

pegged_up as (

    select
        shortages.shortage_id,
        work_order_pegging.peg_level + 1 as peg_level,
        work_order_pegging.hit_type,
        work_order_pegging.wo_id,
        case when work_order_pegging.hit_type = 'work_order' then cast(null as {{ dbt.type_string() }})
            else work_order_pegging.so_id end as so_id,
        work_order_pegging.so_line
    from shortages
    inner join work_order_pegging
        on shortages.wo_id = work_order_pegging.root_wo_id
    where shortages.demand_type = 'work_order'

),

hits as (

    select shortage_id, hit_type, wo_id, so_id, so_line, min(peg_level) as peg_level
    from (
        select * from own_demand
        union all
        select * from pegged_up
    ) as all_hits
    group by shortage_id, hit_type, wo_id, so_id, so_line

),

final as (

    select
        hits.shortage_id,
        shortages.material_id as shortage_material_id,
        shortages.site_id,
        hits.peg_level,
        hits.hit_type,
        hits.wo_id,
        work_orders.material_id as wo_material_id,
        work_orders.planned_start_date as wo_planned_start_date,
        case when hits.hit_type = 'work_order' then work_orders.so_id else hits.so_id end as so_id,
        hits.so_line,
        sales_order_lines.customer_id,
        sales_order_lines.material_id as so_material_id,
        sales_order_lines.due_date as so_due_date,
        shortages.as_of_date
    from hits
    inner join shortages
        on hits.shortage_id = shortages.shortage_id
    left join work_orders
        on hits.wo_id = work_orders.wo_id
    left join sales_order_lines
        on hits.so_id = sales_order_lines.so_id
        and hits.so_line = sales_order_lines.so_line
        and hits.hit_type = 'sales_order_line'

)

select * from final
