{#- The lookup index of a genealogy edge table on one column, as a post-hook. PostgreSQL reads a lot's edges
    through it. DuckDB and Spark get none, so their hook is empty (dbt skips it): DuckDB skips the row groups
    of a table stored in that column's order instead, and an index would not survive the copy into the
    published warehouse. -#}
{% macro lot_genealogy_index(column) -%}
    {{ return(adapter.dispatch('lot_genealogy_index', 'medtower')(column)) }}
{%- endmacro %}

{% macro default__lot_genealogy_index(column) -%}
{%- endmacro %}

{% macro postgres__lot_genealogy_index(column) -%}
    create index if not exists {{ this.identifier }}__{{ column }} on {{ this }} ({{ column }})
{%- endmacro %}
