{#-
    The time-phased projected balance of kpi-definitions.md "Shortages": every firm supply and demand event
    of int_planning_events, per material and site in netting order (netting_date, then supply before lot
    expiry before demand, stock on hand first among the supply of A, then the event's own date and ids), with the
    balance after it.

    The balance carries forward only what is left: B_k = max(B_{k-1}, 0) + supply_k - demand_k, B_0 = 0.
    With S_k the running sum of signed quantities this is B_k = S_k - min(0, min_{j < k} S_j) (the running
    minimum is what the earlier shortfalls, not carried, took away), which every engine computes with window
    functions. A demand event with B_k < 0 is a net requirement of -B_k (never more than its own quantity:
    what was left before it was >= 0). Computed in exact numeric, published as double.
-#}
with

events as (

    select * from {{ ref('int_planning_events') }}

),

ordered as (

    select
        events.*,
        row_number() over (
            partition by material_id, site_id
            order by netting_date, event_rank, case when event_type in ('lot', 'stock') then 0 else 1 end, event_date,
                event_type,
                coalesce(wo_id, so_id, po_id, lot_id), coalesce(so_line, po_line, 0)
        ) as event_seq
    from events

),

running as (

    select
        ordered.*,
        sum(signed_qty) over (
            partition by material_id, site_id order by event_seq
            rows between unbounded preceding and current row
        ) as running_sum
    from ordered

),

balanced as (

    select
        running.*,
        running_sum - least(
            0,
            coalesce(
                min(running_sum) over (
                    partition by material_id, site_id order by event_seq
                    rows between unbounded preceding and 1 preceding
                ),
                0
            )
        ) as projected_balance
    from running

),

final as (

    select
        material_id,
        site_id,
        event_seq,
        direction,
        event_type,
        event_date,
        netting_date,
        cast(case when direction = 'supply' then qty else 0 end as {{ type_double() }}) as supply_qty,
        cast(case when direction = 'expiry' then qty else 0 end as {{ type_double() }}) as expiring_qty,
        cast(case when direction = 'demand' then qty else 0 end as {{ type_double() }}) as demand_qty,
        cast(projected_balance as {{ type_double() }}) as projected_balance,
        cast(
            case when direction = 'demand' and projected_balance < 0 then -projected_balance else 0 end
            as {{ type_double() }}
        ) as net_requirement_qty,
        lot_id,
        expiry_date,
        po_id,
        po_line,
        wo_id,
        so_id,
        so_line,
        customer_id,
        as_of_date
    from balanced

)

select * from final
