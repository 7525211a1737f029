with

source as (

    select * from {{ source('feed', 'suppliers') }}

),

renamed as (

    select
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(approval_status as {{ dbt.type_string() }}) as approval_status,
        cast(critical as {{ dbt.type_boolean() }}) as critical,
        cast(contact_email as {{ dbt.type_string() }}) as contact_email,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
