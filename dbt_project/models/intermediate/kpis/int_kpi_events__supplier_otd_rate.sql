{#-
    supplier_otd_rate: one row per purchase order line not cancelled, dated by its requested_date;
    1 / 1 when the quantity received on or before requested_date covers qty_ordered (not received = late).
-#}
with

po_lines as (

    select * from {{ ref('int_purchase_order_lines_received') }}

),

final as (

    select
        cast('supplier_otd_rate' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        requested_date as event_date,
        cast({{ dbt.concat(['po_id', "'-'", 'cast(po_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast(case when is_on_time then 1 else 0 end as {{ dbt.type_numeric() }}) as numerator,
        cast(1 as {{ dbt.type_numeric() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from po_lines
    where not is_cancelled

)

select * from final
