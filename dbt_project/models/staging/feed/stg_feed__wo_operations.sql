with

source as (

    select * from {{ source('feed', 'wo_operations') }}

),

renamed as (

    select
        cast(wo_id as {{ dbt.type_string() }}) as wo_id,
        cast(op_seq as {{ dbt.type_bigint() }}) as op_seq,
        cast(operation as {{ dbt.type_string() }}) as operation,
        cast(work_center as {{ dbt.type_string() }}) as work_center,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(completed_at as {{ dbt.type_timestamp() }}) as completed_at,
        cast(qty_good as {{ dbt.type_numeric() }}) as qty_good,
        cast(qty_scrap as {{ dbt.type_numeric() }}) as qty_scrap,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
