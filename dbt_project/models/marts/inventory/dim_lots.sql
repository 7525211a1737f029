with

lots as (

    select * from {{ ref('stg_feed__lots') }}

)

select
    lot_id,
    material_id,
    site_id,
    origin,
    supplier_id,
    supplier_lot,
    manufacture_date,
    expiry_date,
    status,
    status_changed_at
from lots
