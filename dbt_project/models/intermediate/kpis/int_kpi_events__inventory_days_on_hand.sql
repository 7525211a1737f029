{#-
    inventory_days_on_hand, the consumption side: one row per site and local date with issues to work
    orders or shipments of materials with a standard cost; numerator = value consumed (quantity out x
    materials.standard_cost), denominator = the quantity. A day, not a movement, is the member: the KPI
    only sums the window, and one row a day keeps the events small (a movement each was most of them).
    The stock side is
    int_kpi_intervals__inventory_days_on_hand; medtower.kpis divides the stock value at A by the average
    daily value consumed over the window. Materials without a standard cost are left out of both sides.
-#}
with

movements as (

    select * from {{ ref('fct_inventory_movements') }}

),

materials as (

    select * from {{ ref('stg_feed__materials') }}

),

consumed as (

    select
        movements.site_id,
        movements.moved_date,
        -movements.qty * materials.standard_cost as value_consumed,
        -movements.qty as qty_consumed
    from movements
    inner join materials
        on movements.material_id = materials.material_id
    where materials.standard_cost is not null
      and movements.qty < 0
      and (
          (movements.movement_type = 'issue' and movements.reference_type = 'wo')
          or movements.movement_type = 'shipment'
      )

),

final as (

    select
        cast('inventory_days_on_hand' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        moved_date as event_date,
        cast({{ dbt.concat(['site_id', "'@'", 'cast(moved_date as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast(sum(value_consumed) as {{ type_double() }}) as numerator,
        cast(sum(qty_consumed) as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from consumed
    group by site_id, moved_date

)

select * from final
