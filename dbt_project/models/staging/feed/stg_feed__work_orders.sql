with

source as (

    select * from {{ source('feed', 'work_orders') }}

),

renamed as (

    select
        cast(wo_id as {{ dbt.type_string() }}) as wo_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(qty_planned as {{ dbt.type_numeric() }}) as qty_planned,
        cast(qty_completed as {{ dbt.type_numeric() }}) as qty_completed,
        cast(qty_scrapped as {{ dbt.type_numeric() }}) as qty_scrapped,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(priority as {{ dbt.type_bigint() }}) as priority,
        cast(planned_start as {{ dbt.type_timestamp() }}) as planned_start,
        cast(planned_end as {{ dbt.type_timestamp() }}) as planned_end,
        cast(actual_start as {{ dbt.type_timestamp() }}) as actual_start,
        cast(actual_end as {{ dbt.type_timestamp() }}) as actual_end,
        cast(output_lot_id as {{ dbt.type_string() }}) as output_lot_id,
        cast(so_id as {{ dbt.type_string() }}) as so_id,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        status in ('released', 'in_progress', 'on_hold') as is_open,
        status = 'cancelled' as is_cancelled,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
