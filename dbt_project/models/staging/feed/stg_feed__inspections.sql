with

source as (

    select * from {{ source('feed', 'inspections') }}

),

renamed as (

    select
        cast(inspection_id as {{ dbt.type_string() }}) as inspection_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(inspection_type as {{ dbt.type_string() }}) as inspection_type,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(completed_at as {{ dbt.type_timestamp() }}) as completed_at,
        cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
        cast(defects_found as {{ dbt.type_bigint() }}) as defects_found,
        cast(result as {{ dbt.type_string() }}) as result,
        cast(inspector as {{ dbt.type_string() }}) as inspector,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
