with

source as (

    select * from {{ source('feed', 'lot_releases') }}

),

renamed as (

    select
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(decided_at as {{ dbt.type_timestamp() }}) as decided_at,
        cast(decision as {{ dbt.type_string() }}) as decision,
        cast(decided_by as {{ dbt.type_string() }}) as decided_by,
        cast(reason as {{ dbt.type_string() }}) as reason,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
