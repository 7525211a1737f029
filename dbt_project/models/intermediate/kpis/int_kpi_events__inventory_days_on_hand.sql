{#-
    inventory_days_on_hand, the consumption side: one row per issue to a work order or shipment of a
    material with a standard cost, dated by the local date of the movement; numerator = value consumed
    (quantity out x materials.standard_cost), denominator = the quantity. The stock side is
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

final as (

    select
        cast('inventory_days_on_hand' as {{ dbt.type_string() }}) as kpi_id,
        cast(movements.site_id as {{ dbt.type_string() }}) as site_id,
        movements.moved_date as event_date,
        cast(movements.movement_id as {{ dbt.type_string() }}) as subject_id,
        cast(-movements.qty * materials.standard_cost as {{ type_double() }}) as numerator,
        cast(-movements.qty as {{ type_double() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from movements
    inner join materials
        on movements.material_id = materials.material_id
    where materials.standard_cost is not null
      and movements.qty < 0
      and (
          (movements.movement_type = 'issue' and movements.reference_type = 'wo')
          or movements.movement_type = 'shipment'
      )

)

select * from final
