with

materials as (

    select * from {{ ref('stg_feed__materials') }}

)

select
    material_id,
    description,
    material_type,
    uom,
    revision,
    gtin,
    device_class,
    shelf_life_days,
    lot_controlled,
    serial_controlled,
    safety_stock,
    planned_lead_time_days,
    status,
    is_finished_good
from materials
