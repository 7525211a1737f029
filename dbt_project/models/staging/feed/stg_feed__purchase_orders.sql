with

source as (

    select * from {{ source('feed', 'purchase_orders') }}

),

renamed as (

    select
        cast(po_id as {{ dbt.type_string() }}) as po_id,
        cast(po_line as {{ dbt.type_bigint() }}) as po_line,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(qty_ordered as {{ dbt.type_numeric() }}) as qty_ordered,
        cast(order_date as date) as order_date,
        cast(requested_date as date) as requested_date,
        cast(confirmed_date as date) as confirmed_date,
        cast(acknowledged_at as {{ dbt.type_timestamp() }}) as acknowledged_at,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        coalesce(confirmed_date, requested_date) as due_date,
        status = 'cancelled' as is_cancelled,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
