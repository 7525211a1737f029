{#- The "now" of point-in-time marts (on-hand, open work orders, shortages).
    Pass `--vars '{as_of: "YYYY-MM-DD"}'` to rebuild the view people saw on a past day;
    by default it is the day the run started (UTC). -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}
