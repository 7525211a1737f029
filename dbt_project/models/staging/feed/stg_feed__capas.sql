with

source as (

    select * from {{ source('feed', 'capas') }}

),

renamed as (

    select
        cast(capa_id as {{ dbt.type_string() }}) as capa_id,
        cast(opened_at as {{ dbt.type_timestamp() }}) as opened_at,
        cast(due_date as date) as due_date,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(root_cause_category as {{ dbt.type_string() }}) as root_cause_category,
        cast(owner as {{ dbt.type_string() }}) as owner,
        cast(status as {{ dbt.type_string() }}) as status,
        status <> 'closed' as is_open_now,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
