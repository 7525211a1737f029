with

source as (

    select * from {{ source('feed', 'materials') }}

),

renamed as (

    select
        cast(material_id as {{ dbt.type_string() }}) as material_id,
        cast(description as {{ dbt.type_string() }}) as description,
        cast(material_type as {{ dbt.type_string() }}) as material_type,
        cast(uom as {{ dbt.type_string() }}) as uom,
        cast(revision as {{ dbt.type_string() }}) as revision,
        cast(gtin as {{ dbt.type_string() }}) as gtin,
        cast(device_class as {{ dbt.type_string() }}) as device_class,
        cast(shelf_life_days as {{ dbt.type_bigint() }}) as shelf_life_days,
        cast(lot_controlled as {{ dbt.type_boolean() }}) as lot_controlled,
        cast(serial_controlled as {{ dbt.type_boolean() }}) as serial_controlled,
        cast(safety_stock as {{ dbt.type_numeric() }}) as safety_stock,
        cast(planned_lead_time_days as {{ dbt.type_bigint() }}) as planned_lead_time_days,
        cast(standard_cost as {{ dbt.type_numeric() }}) as standard_cost,
        cast(status as {{ dbt.type_string() }}) as status,
        material_type = 'finished_good' as is_finished_good,
        _extra as extra_columns,
        _run_id as ingest_run_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from renamed
