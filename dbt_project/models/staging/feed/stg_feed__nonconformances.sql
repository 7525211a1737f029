with

source as (

    select * from {{ source('feed', 'nonconformances') }}

),

renamed as (

    select
        cast(ncr_id as {{ dbt.type_string() }}) as ncr_id,
        cast(opened_at as {{ dbt.type_timestamp() }}) as opened_at,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(supplier_id as {{ dbt.type_string() }}) as supplier_id,
        cast(defect_code as {{ dbt.type_string() }}) as defect_code,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(qty_affected as {{ dbt.type_numeric() }}) as qty_affected,
        cast(disposition as {{ dbt.type_string() }}) as disposition,
        cast(capa_id as {{ dbt.type_string() }}) as capa_id,
        cast(status as {{ dbt.type_string() }}) as status,
        status <> 'closed' as is_open_now,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
