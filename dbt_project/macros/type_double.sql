{#- A 64-bit float for KPI numerators and denominators. dbt.type_float() is 32-bit on DuckDB ("float" = REAL),
    which loses hours to the fourth decimal. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'medtower')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
