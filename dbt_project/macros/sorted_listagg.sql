{#- A group's values as one delimited string, in ascending order of the values themselves.
    dbt.listagg takes an order-by clause, but on Spark it drops it (with a warning) and the order would
    follow the query plan, so the sorted list is dispatched. Nulls are skipped on every engine. -#}
{% macro sorted_listagg(measure, delimiter_text) -%}
    {{ return(adapter.dispatch('sorted_listagg', 'medtower')(measure, delimiter_text)) }}
{%- endmacro %}

{% macro default__sorted_listagg(measure, delimiter_text) -%}
    {{ dbt.listagg(measure, delimiter_text, 'order by ' ~ measure) }}
{%- endmacro %}

{% macro spark__sorted_listagg(measure, delimiter_text) -%}
    array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }})
{%- endmacro %}
