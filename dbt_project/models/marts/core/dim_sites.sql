with

sites as (

    select * from {{ ref('stg_feed__sites') }}

)

select
    site_id,
    name,
    country,
    timezone
from sites
