with

source as (

    select * from {{ source('feed', 'lot_consumption') }}

),

renamed as (

    select
        cast(wo_id as {{ dbt.type_string() }}) as wo_id,
        cast(component_lot_id as {{ dbt.type_string() }}) as component_lot_id,
        cast(component_material_id as {{ dbt.type_string() }}) as component_material_id,
        cast(qty as {{ dbt.type_numeric() }}) as qty,
        cast(consumed_at as {{ dbt.type_timestamp() }}) as consumed_at,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
