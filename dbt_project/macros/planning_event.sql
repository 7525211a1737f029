{#- The columns of one planning event (int_planning_events), in one order and type, from a dict of the ones a
    branch sets (column -> SQL expression); the others are typed nulls. Every branch of the union selects
    through it, so the event's shape is written once. -#}
{% macro planning_event(values) -%}
    {%- set columns = [
        ('material_id', dbt.type_string()),
        ('site_id', dbt.type_string()),
        ('event_type', dbt.type_string()),
        ('event_date', 'date'),
        ('qty', dbt.type_numeric()),
        ('lot_id', dbt.type_string()),
        ('expiry_date', 'date'),
        ('po_id', dbt.type_string()),
        ('po_line', dbt.type_bigint()),
        ('wo_id', dbt.type_string()),
        ('so_id', dbt.type_string()),
        ('so_line', dbt.type_bigint()),
        ('customer_id', dbt.type_string()),
    ] -%}
    {%- set unknown = values.keys() | reject('in', columns | map('first') | list) | list -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error('planning_event: unknown columns ' ~ unknown) }}
    {%- endif -%}
    {%- for name, type in columns %}
        {{ values.get(name, 'cast(null as ' ~ type ~ ')') }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
