{#- A composite key is unique: no two rows share the same values of `columns`.
    Written here because the dbt package hub (dbt_utils) cannot be reached. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
