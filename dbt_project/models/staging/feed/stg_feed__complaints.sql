with

source as (

    select * from {{ source('feed', 'complaints') }}

),

renamed as (

    select
        cast(complaint_id as {{ dbt.type_string() }}) as complaint_id,
        cast(received_at as {{ dbt.type_timestamp() }}) as received_at,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(serial as {{ dbt.type_string() }}) as serial,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(patient_involved as {{ dbt.type_boolean() }}) as patient_involved,
        cast(patient_reference as {{ dbt.type_string() }}) as patient_reference,
        cast(reportable as {{ dbt.type_boolean() }}) as reportable,
        cast(status as {{ dbt.type_string() }}) as status,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
