{#- The key of a shipped lot (and serial) as one string: a shipment line's key has a serial that may be null,
    and a null never matches in the key comparisons of an incremental build. -#}
{% macro shipment_lot_key(alias) -%}
    {{ dbt.concat([alias ~ ".shipment_id", "'|'", alias ~ ".lot_id", "'|'", "coalesce(" ~ alias ~ ".serial, '')"]) }}
{%- endmacro %}
