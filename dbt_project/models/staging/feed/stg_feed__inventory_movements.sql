with

source as (

    select * from {{ source('feed', 'inventory_movements') }}

),

renamed as (

    select
        cast(movement_id as {{ dbt.type_string() }}) as movement_id,
        cast(moved_at as {{ dbt.type_timestamp() }}) as moved_at,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(location as {{ dbt.type_string() }}) as location,
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(serial as {{ dbt.type_string() }}) as serial,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        cast(movement_type as {{ dbt.type_string() }}) as movement_type,
        cast(reference_type as {{ dbt.type_string() }}) as reference_type,
        cast(reference_id as {{ dbt.type_string() }}) as reference_id,
        cast(reference_line as {{ dbt.type_bigint() }}) as reference_line,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
