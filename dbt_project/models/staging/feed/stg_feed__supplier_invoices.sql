with

source as (

    select * from {{ source('feed', 'supplier_invoices') }}

),

renamed as (

    select
        cast(invoice_id as {{ dbt.type_string() }}) as invoice_id,
        cast(invoice_line as {{ dbt.type_bigint() }}) as invoice_line,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(po_id as {{ dbt.type_string() }}) as po_id,
        cast(po_line as {{ dbt.type_bigint() }}) as po_line,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        cast(uom as {{ dbt.type_string() }}) as uom,
        cast(unit_price as {{ dbt.type_numeric() }}) as unit_price,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(invoice_date as date) as invoice_date,
        cast(invoice_total as {{ dbt.type_numeric() }}) as invoice_total,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
