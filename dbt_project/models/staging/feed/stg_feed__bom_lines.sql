with

source as (

    select * from {{ source('feed', 'bom') }}

),

renamed as (

    select
        cast(parent_material_id as {{ dbt.type_string() }}) as parent_material_id,
        cast(component_material_id as {{ dbt.type_string() }}) as component_material_id,
        cast(qty_per as {{ dbt.type_numeric() }}) as qty_per,
        cast(revision as {{ dbt.type_string() }}) as revision,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
