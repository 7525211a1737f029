{#-
    One row per advance ship notice line, with its PO line's position at the as-of date A and whether it lands
    after the date the material is needed at the PO's site.
    need_date: the first need date of a net requirement of the material and site (fct_shortages, exception or
    action), i.e. the day supply must be there; null when the material is not short. first_requirement_date: the first
    need date of any open work order still needing the material (fct_material_requirements, qty_outstanding > 0).
    In transit at A: shipped on or before A and the PO line still open at A.
-#}
with

asn_lines as (

    select * from {{ ref('stg_feed__asn_lines') }}

),

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

shortages as (

    select * from {{ ref('fct_shortages') }}

),

requirements as (

    select * from {{ ref('fct_material_requirements') }}

),

first_short as (

    select material_id, site_id, min(need_date) as need_date
    from shortages
    group by material_id, site_id

),

first_requirement as (

    select material_id, site_id, min(need_date) as first_requirement_date
    from requirements
    where qty_outstanding > 0
    group by material_id, site_id

),

final as (

    select
        asn_lines.asn_id,
        asn_lines.asn_line,
        asn_lines.supplier_id,
        asn_lines.po_id,
        asn_lines.po_line,
        asn_lines.material_id,
        po_lines.site_id,
        asn_lines.qty_shipped,
        asn_lines.supplier_lot,
        asn_lines.expiry_date,
        asn_lines.shipped_at,
        cast(asn_lines.shipped_at as date) as shipped_date,
        asn_lines.expected_delivery,
        po_lines.due_date as po_due_date,
        coalesce(po_lines.is_open_at_as_of, false) as is_po_open_at_as_of,
        (
            cast(asn_lines.shipped_at as date) <= {{ as_of_date() }}
            and coalesce(po_lines.is_open_at_as_of, false)
        ) as is_in_transit_at_as_of,
        first_short.need_date,
        first_requirement.first_requirement_date,
        coalesce(asn_lines.expected_delivery > first_short.need_date, false) as lands_after_need_date,
        case
            when asn_lines.expected_delivery > first_short.need_date
                then {{ dbt.datediff('first_short.need_date', 'asn_lines.expected_delivery', 'day') }}
        end as days_after_need_date,
        {{ as_of_date() }} as as_of_date
    from asn_lines
    left join po_lines
        on asn_lines.po_id = po_lines.po_id
        and asn_lines.po_line = po_lines.po_line
    left join first_short
        on asn_lines.material_id = first_short.material_id
        and po_lines.site_id = first_short.site_id
    left join first_requirement
        on asn_lines.material_id = first_requirement.material_id
        and po_lines.site_id = first_requirement.site_id

)

select * from final
