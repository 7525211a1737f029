{#- Use folder schemas (staging, intermediate, marts) as they are named, so dashboards and
    alerts read `marts.<model>` on every engine, instead of dbt's default `<target>_<custom>`.
    MEDTOWER_DBT_MARTS_SCHEMA moves the marts elsewhere for one build: on a PostgreSQL warehouse the
    pipeline builds into `marts_next` and swaps it in whole once the build and its tests pass
    (medtower/pg_sync.py), so readers never see half a build. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' -%}
        {{ env_var('MEDTOWER_DBT_MARTS_SCHEMA', 'marts') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
