with

changes as (

    select * from {{ ref('stg_feed__change_controls') }}

),

final as (

    select
        change_id,
        change_type,
        material_id,
        title,
        status,
        opened_at,
        approved_at,
        implemented_at,
        cast(opened_at as date) as opened_date,
        cast(approved_at as date) as approved_date,
        cast(implemented_at as date) as implemented_date,
        case
            when implemented_at is not null
                then {{ dbt.datediff('cast(opened_at as date)', 'cast(implemented_at as date)', 'day') }}
        end as days_to_implement,
        status in ('draft', 'in_review', 'approved') as is_open
    from changes

)

select * from final
