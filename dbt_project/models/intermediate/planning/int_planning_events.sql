{#-
    Every firm supply and demand event of the time-phased netting (kpi-definitions.md "Shortages"), one row per
    event, per material and site, at the as-of date A. Quantities are positive; `direction` says which side.

    Demand:
      - work_order_component: fct_material_requirements.qty_outstanding (open work orders, status planned,
        released, in_progress, on_hold), needed at the local date of planned_start;
      - sales_order_line: open lines (not cancelled, not shipped) qty - shipped up to A, needed at promised_date,
        else requested_date.
    Supply:
      - lot: released lots on hand at A, unexpired (fct_inventory_by_lot.is_available), at A;
      - stock: stock of a material kept without lots (movements with no lot_id, summed up to A), at A; it
        has no status and no expiry: all of it is supply;
      - lot_expiry: what is left of such a lot on its expiry date, taken away again (negative supply) so that a
        lot counts only for demand whose need date is before its expiry_date. Lots are drawn first expiry
        first out, before any other supply (the allocation that leaves the least to expire): per material and
        site, lots in (expiry_date, lot_id) order, lot i of quantity q_i expiring on e_i, and D_i the demand
        needed before e_i, the lots up to i cover C_i = min(C_{i-1} + q_i, D_i) (C_0 = 0), in closed form
        C_i = Q_i + min(0, min_{j <= i} (D_j - Q_j)) with Q_i the running lot quantity; lot i expires with
        q_i - (C_i - C_{i-1}) left. A lot without expiry never lapses;
      - purchase_order_line: open PO lines (int_purchase_order_lines_received.is_open_at_as_of), qty_open at the
        due date (confirmed_date, else requested_date);
      - work_order_output: open work orders, qty_planned - qty_completed, at the local date of planned_end.

    Netting date: events dated before A (past-due demand, overdue PO lines, late work orders) are netted on A:
    stock on hand covers past-due demand, and an overdue PO line or a late work order still open is counted as
    arriving on A (the supplier-late alert and the late-work-order KPI chase them). `event_date` keeps the
    real date. Same netting date: supply, then lot expiry, then demand (`event_rank`).
-#}
with

requirements as (

    select * from {{ ref('fct_material_requirements') }}

),

sales_order_lines as (

    select * from {{ ref('int_sales_order_lines_shipped') }}

),

inventory as (

    select * from {{ ref('fct_inventory_by_lot') }}

),

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

work_orders as (

    select * from {{ ref('fct_work_orders') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

loose_stock as (

    select
        material_id,
        site_id,
        sum(qty) as qty
    from movements
    where lot_id is null
      and cast(moved_at as date) <= {{ as_of_date() }}
    group by material_id, site_id

),

component_demand as (

    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'work_order_component'",
            'event_date': 'need_date', 'qty': 'qty_outstanding', 'wo_id': 'wo_id', 'so_id': 'so_id',
        }) }}
    from requirements
    where qty_outstanding > 0

),

sales_demand as (

    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'sales_order_line'",
            'event_date': 'due_date', 'qty': 'qty - qty_shipped_total', 'so_id': 'so_id', 'so_line': 'so_line',
            'customer_id': 'customer_id',
        }) }}
    from sales_order_lines
    where not is_cancelled
      and status <> 'shipped'
      and order_date <= {{ as_of_date() }}
      and qty - qty_shipped_total > 0

),

demand as (

    select * from component_demand
    union all
    select * from sales_demand

),

lots as (

    select
        material_id,
        site_id,
        lot_id,
        expiry_date,
        on_hand_qty as qty
    from inventory
    where is_available

),

{#- Demand needed before each lot's expiry: lots and demand on one timeline, a lot's expiry placed before the
    demand of the same date (that demand may not use it), demand summed up to it. -#}
lot_timeline as (

    select material_id, site_id, lot_id, expiry_date as timeline_date, 0 as timeline_rank, 0 as qty
    from lots
    where expiry_date is not null
    union all
    select material_id, site_id, cast(null as {{ dbt.type_string() }}) as lot_id, event_date as timeline_date,
        1 as timeline_rank, qty
    from demand

),

demand_before_expiry as (

    select
        material_id,
        site_id,
        lot_id,
        sum(qty) over (
            partition by material_id, site_id
            order by timeline_date, timeline_rank, lot_id
            rows between unbounded preceding and current row
        ) as demand_before
    from lot_timeline

),

total_demand as (

    select material_id, site_id, sum(qty) as demand_total
    from demand
    group by material_id, site_id

),

lots_fefo as (

    select
        lots.material_id,
        lots.site_id,
        lots.lot_id,
        lots.expiry_date,
        lots.qty,
        coalesce(
            case when lots.expiry_date is null then total_demand.demand_total else demand_before_expiry.demand_before end,
            0
        ) as demand_before,
        sum(lots.qty) over (
            partition by lots.material_id, lots.site_id
            order by case when lots.expiry_date is null then 1 else 0 end, lots.expiry_date, lots.lot_id
            rows between unbounded preceding and current row
        ) as qty_running
    from lots
    left join demand_before_expiry
        on lots.material_id = demand_before_expiry.material_id
        and lots.site_id = demand_before_expiry.site_id
        and lots.lot_id = demand_before_expiry.lot_id
    left join total_demand
        on lots.material_id = total_demand.material_id
        and lots.site_id = total_demand.site_id

),

lots_covered as (

    select
        material_id,
        site_id,
        lot_id,
        expiry_date,
        qty,
        qty_running + least(
            0,
            min(demand_before - qty_running) over (
                partition by material_id, site_id
                order by case when expiry_date is null then 1 else 0 end, expiry_date, lot_id
                rows between unbounded preceding and current row
            )
        ) as covered_running
    from lots_fefo

),

lots_lapsing as (

    select
        material_id,
        site_id,
        lot_id,
        expiry_date,
        qty - (
            covered_running - coalesce(lag(covered_running) over (
                partition by material_id, site_id
                order by case when expiry_date is null then 1 else 0 end, expiry_date, lot_id
            ), 0)
        ) as qty_left
    from lots_covered

),

supply as (

    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'lot'",
            'event_date': as_of_date(), 'qty': 'qty', 'lot_id': 'lot_id', 'expiry_date': 'expiry_date',
        }) }}
    from lots
    union all
    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'stock'",
            'event_date': as_of_date(), 'qty': 'qty',
        }) }}
    from loose_stock
    where qty > 0
    union all
    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'purchase_order_line'",
            'event_date': 'due_date', 'qty': 'qty_open', 'po_id': 'po_id', 'po_line': 'po_line',
        }) }}
    from po_lines
    where is_open_at_as_of
      and qty_open > 0
    union all
    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'work_order_output'",
            'event_date': 'planned_end_date', 'qty': 'qty_planned - coalesce(qty_completed, 0)',
            'wo_id': 'wo_id', 'so_id': 'so_id',
        }) }}
    from work_orders
    where status in ('planned', 'released', 'in_progress', 'on_hold')
      and qty_planned - coalesce(qty_completed, 0) > 0

),

lapses as (

    select
        {{ planning_event({
            'material_id': 'material_id', 'site_id': 'site_id', 'event_type': "'lot_expiry'",
            'event_date': 'expiry_date', 'qty': 'qty_left', 'lot_id': 'lot_id', 'expiry_date': 'expiry_date',
        }) }}
    from lots_lapsing
    where expiry_date is not null
      and qty_left > 0

),

events as (

    select 'supply' as direction, 0 as event_rank, supply.* from supply
    union all
    select 'expiry' as direction, 1 as event_rank, lapses.* from lapses
    union all
    select 'demand' as direction, 2 as event_rank, demand.* from demand

),

final as (

    select
        material_id,
        site_id,
        direction,
        event_type,
        event_rank,
        event_date,
        case when event_date < {{ as_of_date() }} then {{ as_of_date() }} else event_date end as netting_date,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        case when direction = 'supply' then 1 else -1 end * cast(qty as {{ dbt.type_numeric() }}) as signed_qty,
        lot_id,
        expiry_date,
        po_id,
        po_line,
        wo_id,
        so_id,
        so_line,
        customer_id,
        {{ as_of_date() }} as as_of_date
    from events

)

select * from final
