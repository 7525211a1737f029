with

source as (

    select * from {{ source('feed', 'substitutes') }}

),

renamed as (

    select
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(substitute_material_id as {{ dbt.type_string() }}) as substitute_material_id,
        cast(priority as {{ dbt.type_bigint() }}) as priority,
        cast(change_id as {{ dbt.type_string() }}) as change_id,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        {#- Empty = validated for every parent (the key stores it as the empty string). -#}
        case
            when parent_material_id is null or trim(cast(parent_material_id as {{ dbt.type_string() }})) = ''
                then cast(null as {{ dbt.type_string() }})
            else cast(parent_material_id as {{ dbt.type_string() }})
        end as parent_material_id,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
