with

suppliers as (

    select * from {{ ref('stg_feed__suppliers') }}

)

select
    supplier_id,
    name,
    country,
    approval_status,
    critical,
    contact_email
from suppliers
