with

source as (

    select * from {{ source('feed', 'asn') }}

),

renamed as (

    select
        cast(asn_id as {{ dbt.type_string() }}) as asn_id,
        cast(asn_line as {{ dbt.type_bigint() }}) as asn_line,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(po_id as {{ dbt.type_string() }}) as po_id,
        cast(po_line as {{ dbt.type_bigint() }}) as po_line,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(qty_shipped as {{ dbt.type_numeric() }}) as qty_shipped,
        cast(supplier_lot as {{ dbt.type_string() }}) as supplier_lot,
        cast(expiry_date as date) as expiry_date,
        cast(shipped_at as {{ dbt.type_timestamp() }}) as shipped_at,
        cast(expected_delivery as date) as expected_delivery,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
