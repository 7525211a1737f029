with

source as (

    select * from {{ source('feed', 'lots') }}

),

renamed as (

    select
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(origin as {{ dbt.type_string() }}) as origin,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(supplier_lot as {{ dbt.type_string() }}) as supplier_lot,
        cast(manufacture_date as date) as manufacture_date,
        cast(expiry_date as date) as expiry_date,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(status_changed_at as {{ dbt.type_timestamp() }}) as status_changed_at,
        status = 'released' as is_released,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
