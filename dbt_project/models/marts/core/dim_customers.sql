with

customers as (

    select * from {{ ref('stg_feed__customers') }}

)

select
    customer_id,
    name,
    customer_type,
    country,
    contact_name,
    contact_email
from customers
