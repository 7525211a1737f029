with

source as (

    select * from {{ source('feed', 'change_controls') }}

),

renamed as (

    select
        cast(change_id as {{ dbt.type_string() }}) as change_id,
        cast(change_type as {{ dbt.type_string() }}) as change_type,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(opened_at as {{ dbt.type_timestamp() }}) as opened_at,
        cast(approved_at as {{ dbt.type_timestamp() }}) as approved_at,
        cast(implemented_at as {{ dbt.type_timestamp() }}) as implemented_at,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(title as {{ dbt.type_string() }}) as title,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
