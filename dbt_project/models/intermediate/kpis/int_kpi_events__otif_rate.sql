{#-
    otif_rate: one row per sales order line not cancelled, dated by its due date (promised_date, else
    requested_date); 1 / 1 when the quantity shipped on or before the due date covers the line quantity.
-#}
with

order_lines as (

    select * from {{ ref('int_sales_order_lines_shipped') }}

),

final as (

    select
        cast('otif_rate' as {{ dbt.type_string() }}) as kpi_id,
        cast(site_id as {{ dbt.type_string() }}) as site_id,
        due_date as event_date,
        cast({{ dbt.concat(['so_id', "'-'", 'cast(so_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as subject_id,
        cast(case when is_otif then 1 else 0 end as {{ dbt.type_numeric() }}) as numerator,
        cast(1 as {{ dbt.type_numeric() }}) as denominator,
        cast(null as date) as counted_from_date,
        cast(null as date) as counted_until_date
    from order_lines
    where not is_cancelled

)

select * from final
