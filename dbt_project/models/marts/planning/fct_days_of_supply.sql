{#-
    Days of supply per material and site at the as-of date A (kpi-definitions.md `days_of_supply`):
    released on-hand quantity at A / average daily issued quantity over the 90 days ending at A
    (local dates d with A - 90 < d <= A; issues are movements of type issue, counted positive).
    Null without issues in the window. Released on-hand: lots whose status at A is released, whatever
    their expiry (the definition says released; expired stock shows in the expiry marts), and the stock of
    materials kept without lots (movements with no lot_id up to A: no status, all of it usable), as the
    netting counts it.
    One row per material and site with released stock at A or issues in the window.
-#}
with

inventory as (

    select * from {{ ref('fct_inventory_by_lot') }}

),

movements as (

    select * from {{ ref('stg_feed__inventory_movements') }}

),

released_on_hand as (

    select
        material_id,
        site_id,
        sum(on_hand_qty) as released_on_hand_qty
    from inventory
    where status_at_as_of = 'released'
      and on_hand_qty > 0
    group by material_id, site_id
    union all
    select
        material_id,
        site_id,
        sum(qty) as released_on_hand_qty
    from movements
    where lot_id is null
      and cast(moved_at as date) <= {{ as_of_date() }}
    group by material_id, site_id
    having sum(qty) > 0

),

released_by_site as (

    select
        material_id,
        site_id,
        sum(released_on_hand_qty) as released_on_hand_qty
    from released_on_hand
    group by material_id, site_id

),

issues as (

    select
        material_id,
        site_id,
        -sum(qty) as issued_qty_90d
    from movements
    where movement_type = 'issue'
      and cast(moved_at as date) > cast({{ dbt.dateadd('day', -90, as_of_date()) }} as date)
      and cast(moved_at as date) <= {{ as_of_date() }}
    group by material_id, site_id

),

materials_sites as (

    select material_id, site_id from released_by_site
    union
    select material_id, site_id from issues

),

final as (

    select
        materials_sites.material_id,
        materials_sites.site_id,
        cast(coalesce(released_by_site.released_on_hand_qty, 0) as {{ dbt.type_numeric() }}) as released_on_hand_qty,
        cast(coalesce(issues.issued_qty_90d, 0) as {{ dbt.type_numeric() }}) as issued_qty_90d,
        {#- Divided as doubles: Spark divides decimals to 6 decimals, and 50 / (50 / 90) came out 89.99993. -#}
        case
            when issues.issued_qty_90d > 0
                then cast(issues.issued_qty_90d as {{ type_double() }}) / 90
        end as avg_daily_issued_qty,
        case
            when issues.issued_qty_90d > 0
                then cast(coalesce(released_by_site.released_on_hand_qty, 0) as {{ type_double() }})
                    / (cast(issues.issued_qty_90d as {{ type_double() }}) / 90)
        end as days_of_supply,
        {{ as_of_date() }} as as_of_date
    from materials_sites
    left join released_by_site
        on materials_sites.material_id = released_by_site.material_id
        and materials_sites.site_id = released_by_site.site_id
    left join issues
        on materials_sites.material_id = issues.material_id
        and materials_sites.site_id = issues.site_id

)

select * from final
