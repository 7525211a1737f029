{#- Use folder schemas (staging, intermediate, marts) as they are named, so dashboards and
    alerts read `marts.<model>` on every engine, instead of dbt's default `<target>_<custom>`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
