with

source as (

    select * from {{ source('feed', 'shipments') }}

),

renamed as (

    select
        cast(shipment_id as {{ dbt.type_string() }}) as shipment_id,
        cast(so_id as {{ dbt.type_string() }}) as so_id,
        cast(so_line as {{ dbt.type_bigint() }}) as so_line,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(serial as {{ dbt.type_string() }}) as serial,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        cast(shipped_at as {{ dbt.type_timestamp() }}) as shipped_at,
        cast(delivered_at as {{ dbt.type_timestamp() }}) as delivered_at,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
