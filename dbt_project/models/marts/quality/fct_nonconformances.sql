{#- Open at A (kpi-definitions.md): local date opened <= A and (closed_at null or local date closed > A). -#}
with

ncrs as (

    select * from {{ ref('stg_feed__nonconformances') }}

),

lots as (

    select * from {{ ref('stg_feed__lots') }}

),

dated as (

    select
        ncrs.*,
        lots.site_id,
        cast(ncrs.opened_at as date) as opened_date,
        cast(ncrs.closed_at as date) as closed_date
    from ncrs
    left join lots
        on ncrs.lot_id = lots.lot_id

),

final as (

    select
        ncr_id,
        site_id,
        opened_at,
        closed_at,
        opened_date,
        closed_date,
        source,
        material_id,
        lot_id,
        supplier_id,
        defect_code,
        severity,
        qty_affected,
        disposition,
        capa_id,
        status,
        (
            opened_date <= {{ as_of_date() }}
            and (closed_date is null or closed_date > {{ as_of_date() }})
        ) as is_open_at_as_of,
        case
            when opened_date > {{ as_of_date() }} then null
            when closed_date is null or closed_date > {{ as_of_date() }}
                then {{ dbt.datediff('opened_date', as_of_date(), 'day') }}
            else {{ dbt.datediff('opened_date', 'closed_date', 'day') }}
        end as age_days,
        {{ as_of_date() }} as as_of_date
    from dated

)

select * from final
