{#- The patient reference of a complaint, apart from fct_complaints: personal health data. Only the
    unmasked path reads it (medtower/pii.py: a role with pii.unmasked, each read audited as pii.view). -#}
with

complaints as (

    select * from {{ ref('stg_feed__complaints') }}

),

complaint_facts as (

    select * from {{ ref('fct_complaints') }}

),

final as (

    select
        complaints.complaint_id,
        complaints.patient_reference,
        complaint_facts.site_id
    from complaints
    inner join complaint_facts
        on complaints.complaint_id = complaint_facts.complaint_id
    where complaint_facts.has_patient_reference

)

select * from final
