with

source as (

    select * from {{ source('feed', 'customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(customer_type as {{ dbt.type_string() }}) as customer_type,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(contact_name as {{ dbt.type_string() }}) as contact_name,
        cast(contact_email as {{ dbt.type_string() }}) as contact_email,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
