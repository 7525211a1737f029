with

source as (

    select * from {{ source('feed', 'approved_suppliers') }}

),

renamed as (

    select
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(approved as {{ dbt.type_boolean() }}) as approved,
        cast(planned_lead_time_days as {{ dbt.type_bigint() }}) as planned_lead_time_days,
        cast(unit_price as {{ dbt.type_numeric() }}) as unit_price,
        cast(currency as {{ dbt.type_string() }}) as currency,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
