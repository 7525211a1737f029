{#-
    One row per work order: plan, actuals, progress and lateness at the as-of date A.
    Late at A (kpi-definitions.md late_wo_count, "at A" = end of local day A): not cancelled,
    planned_end before the end of day A (local date of planned_end <= A) and not finished at A
    (actual_end null or its local date > A).
-#}
with

work_orders as (

    select * from {{ ref('stg_feed__work_orders') }}

),

operations as (

    select * from {{ ref('stg_feed__wo_operations') }}

),

operation_progress as (

    select
        wo_id,
        count(*) as n_operations,
        sum(case when status in ('done', 'skipped') then 1 else 0 end) as n_operations_done
    from operations
    group by wo_id

),

ranked_open_operations as (

    select
        wo_id,
        op_seq,
        operation,
        work_center,
        row_number() over (
            partition by wo_id
            order by case when status = 'running' then 0 else 1 end, op_seq
        ) as rn
    from operations
    where status in ('running', 'waiting')

),

current_operation as (

    select wo_id, op_seq, operation, work_center
    from ranked_open_operations
    where rn = 1

),

dated as (

    select
        work_orders.*,
        cast(work_orders.planned_start as date) as planned_start_date,
        cast(work_orders.planned_end as date) as planned_end_date,
        cast(work_orders.actual_start as date) as actual_start_date,
        cast(work_orders.actual_end as date) as actual_end_date
    from work_orders

),

final as (

    select
        dated.wo_id,
        dated.material_id,
        dated.site_id,
        dated.status,
        dated.priority,
        dated.planned_start,
        dated.planned_end,
        dated.actual_start,
        dated.actual_end,
        dated.planned_start_date,
        dated.planned_end_date,
        dated.actual_start_date,
        dated.actual_end_date,
        dated.qty_planned,
        dated.qty_completed,
        dated.qty_scrapped,
        operation_progress.n_operations,
        operation_progress.n_operations_done,
        case
            when operation_progress.n_operations > 0
                then cast(100.0 * operation_progress.n_operations_done / operation_progress.n_operations
                    as {{ type_double() }})
        end as progress_pct,
        current_operation.op_seq as current_op_seq,
        current_operation.operation as current_operation,
        current_operation.work_center as current_work_center,
        dated.is_open,
        dated.is_cancelled,
        dated.actual_end is not null as is_finished,
        (
            not dated.is_cancelled
            and dated.planned_end_date <= {{ as_of_date() }}
            and (dated.actual_end_date is null or dated.actual_end_date > {{ as_of_date() }})
        ) as is_late,
        case
            when not dated.is_cancelled
                and dated.planned_end_date <= {{ as_of_date() }}
                and (dated.actual_end_date is null or dated.actual_end_date > {{ as_of_date() }})
                then {{ dbt.datediff('dated.planned_end_date', as_of_date(), 'day') }}
        end as days_late,
        dated.output_lot_id,
        dated.so_id,
        {{ as_of_date() }} as as_of_date
    from dated
    left join operation_progress
        on dated.wo_id = operation_progress.wo_id
    left join current_operation
        on dated.wo_id = current_operation.wo_id

)

select * from final
