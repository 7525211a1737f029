{#-
    overdue_capa_count: open at A and due_date < A.
    due_date < A <=> A >= due_date + 1, so the interval is [greatest(opened_date, due_date + 1), closed_date).
-#}
with

capas as (

    select * from {{ ref('fct_capas') }}

),

bounds as (

    select
        capa_id,
        site_id,
        source,
        opened_date,
        cast({{ dbt.dateadd('day', 1, 'due_date') }} as date) as first_overdue_date,
        closed_date
    from capas

),

intervals as (

    select
        capa_id,
        site_id,
        source,
        case
            when first_overdue_date > opened_date then first_overdue_date
            else opened_date
        end as start_date,
        closed_date as end_date
    from bounds

),

final as (

    select
        cast('overdue_capa_count' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(capa_id as {{ dbt.type_string() }}) as subject_id,
        cast(source as {{ dbt.type_string() }}) as category,
        start_date,
        end_date,
        cast(1 as {{ type_double() }}) as amount
    from intervals
    where end_date is null or end_date > start_date

)

select * from final
