with

source as (

    select * from {{ source('feed', 'scans') }}

),

renamed as (

    select
        cast(scan_id as {{ dbt.type_string() }}) as scan_id,
        cast(scanned_at as {{ dbt.type_timestamp() }}) as scanned_at,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(device_id as {{ dbt.type_string() }}) as device_id,
        cast(location as {{ dbt.type_string() }}) as location,
        cast(event as {{ dbt.type_string() }}) as event,
        cast(payload as {{ dbt.type_string() }}) as payload,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
