with

source as (

    select * from {{ source('feed', 'sites') }}

),

renamed as (

    select
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(timezone as {{ dbt.type_string() }}) as timezone,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
