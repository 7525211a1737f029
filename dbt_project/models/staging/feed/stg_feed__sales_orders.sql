with

source as (

    select * from {{ source('feed', 'sales_orders') }}

),

renamed as (

    select
        cast(so_id as {{ dbt.type_string() }}) as so_id,
        cast(so_line as {{ dbt.type_bigint() }}) as so_line,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        cast(order_date as date) as order_date,
        cast(requested_date as date) as requested_date,
        cast(promised_date as date) as promised_date,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        coalesce(promised_date, requested_date) as due_date,
        status = 'cancelled' as is_cancelled,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
