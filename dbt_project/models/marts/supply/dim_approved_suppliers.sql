with

asl as (

    select * from {{ ref('stg_feed__approved_suppliers') }}

),

suppliers as (

    select * from {{ ref('dim_suppliers') }}

)

select
    asl.supplier_id,
    asl.material_id,
    suppliers.name as supplier_name,
    suppliers.approval_status as supplier_approval_status,
    suppliers.contact_email,
    asl.approved,
    -- Usable for a new order: the pair is on the list and the supplier is not disqualified.
    case
        when asl.approved and suppliers.approval_status in ('approved', 'conditional') then true
        else false
    end as is_orderable,
    asl.planned_lead_time_days,
    asl.unit_price,
    asl.currency
from asl
inner join suppliers
    on asl.supplier_id = suppliers.supplier_id
