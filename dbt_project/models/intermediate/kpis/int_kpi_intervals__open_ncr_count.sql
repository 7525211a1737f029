{#- open_ncr_count: open at A <=> opened_date <= A and (closed null or closed_date > A): [opened, closed). -#}
with

ncrs as (

    select * from {{ ref('fct_nonconformances') }}

),

final as (

    select
        cast('open_ncr_count' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        cast(ncr_id as {{ dbt.type_string() }}) as subject_id,
        cast(severity as {{ dbt.type_string() }}) as category,
        opened_date as start_date,
        closed_date as end_date,
        cast(1 as {{ type_double() }}) as amount
    from ncrs
    where closed_date is null or closed_date > opened_date

)

select * from final
