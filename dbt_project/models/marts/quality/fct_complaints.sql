{#- patient_reference is personal health data: this mart only says whether there is one; the reference
    itself is in fct_complaint_patient_references, read only by the unmasked path (medtower/pii.py). -#}
with

complaints as (

    select * from {{ ref('stg_feed__complaints') }}

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

final as (

    select
        complaints.complaint_id,
        complaints.received_at,
        cast(complaints.received_at as date) as received_date,
        complaints.customer_id,
        complaints.material_id,
        complaints.lot_id,
        lots.site_id,
        complaints.serial,
        complaints.description,
        complaints.patient_involved,
        (
            complaints.patient_reference is not null
            and trim(complaints.patient_reference) <> ''
        ) as has_patient_reference,
        complaints.reportable,
        complaints.status,
        complaints.status <> 'closed' as is_open
    from complaints
    left join lots
        on complaints.lot_id = lots.lot_id

)

select * from final
