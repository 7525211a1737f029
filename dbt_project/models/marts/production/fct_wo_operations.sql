with

operations as (

    select * from {{ ref('stg_feed__wo_operations') }}

),

work_orders as (

    select * from {{ ref('stg_feed__work_orders') }}

),

final as (

    select
        {{ dbt.concat(["operations.wo_id", "'-'", "cast(operations.op_seq as " ~ dbt.type_string() ~ ")"]) }}
            as wo_operation_id,
        operations.wo_id,
        operations.op_seq,
        work_orders.material_id,
        work_orders.site_id,
        operations.operation,
        operations.work_center,
        operations.status,
        operations.started_at,
        operations.completed_at,
        cast(operations.completed_at as date) as completed_date,
        case
            when operations.started_at is not null and operations.completed_at is not null
                then {{ dbt.datediff('operations.started_at', 'operations.completed_at', 'second') }} / 3600.0
        end as duration_hours,
        operations.qty_good,
        operations.qty_scrap
    from operations
    inner join work_orders
        on operations.wo_id = work_orders.wo_id

)

select * from final
