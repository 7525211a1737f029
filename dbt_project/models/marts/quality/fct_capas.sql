{#-
    Overdue at A (overdue_capa_count): open at A and due_date < A.
    A CAPA has no site of its own: it takes the site of its nonconformances when they all share one.
-#}
with

capas as (

    select * from {{ ref('stg_feed__capas') }}

),

ncrs as (

    select * from {{ ref('fct_nonconformances') }}

),

capa_sites as (

    select
        capa_id,
        min(site_id) as site_id,
        count(distinct site_id) as n_sites,
        count(*) as n_nonconformances
    from ncrs
    where capa_id is not null
    group by capa_id

),

dated as (

    select
        capas.*,
        case when capa_sites.n_sites = 1 then capa_sites.site_id end as site_id,
        coalesce(capa_sites.n_nonconformances, 0) as n_nonconformances,
        cast(capas.opened_at as date) as opened_date,
        cast(capas.closed_at as date) as closed_date
    from capas
    left join capa_sites
        on capas.capa_id = capa_sites.capa_id

),

final as (

    select
        capa_id,
        site_id,
        opened_at,
        closed_at,
        opened_date,
        closed_date,
        due_date,
        source,
        root_cause_category,
        owner,
        status,
        n_nonconformances,
        (
            opened_date <= {{ as_of_date() }}
            and (closed_date is null or closed_date > {{ as_of_date() }})
        ) as is_open_at_as_of,
        (
            opened_date <= {{ as_of_date() }}
            and (closed_date is null or closed_date > {{ as_of_date() }})
            and due_date < {{ as_of_date() }}
        ) as is_overdue,
        case
            when opened_date <= {{ as_of_date() }}
                and (closed_date is null or closed_date > {{ as_of_date() }})
                and due_date < {{ as_of_date() }}
                then {{ dbt.datediff('due_date', as_of_date(), 'day') }}
        end as days_overdue,
        {{ as_of_date() }} as as_of_date
    from dated

)

select * from final
