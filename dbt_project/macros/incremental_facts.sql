{#-
    Incremental facts (kpi-definitions.md, "How MedTower reads it", Incremental builds).

    A large fact whose every row is one feed row (joined at most to the one parent row it takes a column
    from) is built incrementally: a build reads only the row versions loaded since the last build, found by
    `source_loaded_at`, the newest `_loaded_at` of the rows a fact row is made of, greater than the largest
    in the target. An upsert writes a new row version with a new `_loaded_at`, so a late-arriving row is
    picked up whatever its event date, and a changed parent row rewrites the fact rows that take a column
    from it. The batch replaces the target rows of the same key (`delete+insert`, on DuckDB and PostgreSQL),
    then a post-hook deletes the target rows whose key is no longer delivered (a soft delete, a key
    reconciliation or a replace load removes the raw row; a fact of an inner join also loses its row when
    the parent goes). A target with other columns than the model's reads everything once (see
    loaded_since_last_build). `medtower build --full-refresh` (dbt's --full-refresh) rebuilds from scratch.
-#}

{#- The materialization of an incremental fact: incremental where the engine can replace rows by key. -#}
{% macro fact_materialization() -%}
    {{ return(adapter.dispatch('fact_materialization', 'medtower')()) }}
{%- endmacro %}

{% macro default__fact_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#- dbt-spark merges and deletes only in Delta, Iceberg or Hudi tables; the session target writes parquet,
    so on Spark the facts stay tables rebuilt in full. -#}
{% macro spark__fact_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- source_loaded_at of a fact row: the newest of the loaded_at columns it is made of (the first is the fact's
    own, never null; a parent of a left join may be missing), to the second, so that a copy of the warehouse
    to an engine or a file that keeps whole seconds gives the same value. The watermark test compares the
    untruncated loaded_at, so the row versions of the newest second are read again: harmless, same keys and
    values. -#}
{% macro source_loaded_at(loaded_at_columns) -%}
    {%- set first = loaded_at_columns[0] -%}
    {%- if loaded_at_columns | length == 1 -%}
        {%- set newest = first -%}
    {%- else -%}
        {%- set parts = [first] -%}
        {%- for column in loaded_at_columns[1:] -%}
            {%- do parts.append('coalesce(' ~ column ~ ', ' ~ first ~ ')') -%}
        {%- endfor -%}
        {%- set newest = 'greatest(' ~ parts | join(', ') ~ ')' -%}
    {%- endif -%}
    {{ dbt.date_trunc('second', newest) }}
{%- endmacro %}


{#- dbt's is_incremental(), asked only of a model materialized incremental: is_incremental() looks the
    relation up first, which a compile without a connection (Spark) cannot. -#}
{% macro incremental_run() -%}
    {{ return(model.config.materialized == 'incremental' and is_incremental()) }}
{%- endmacro %}


{#- An incremental run on a target with the model's documented columns. -#}
{% macro reads_only_what_changed() -%}
    {%- if not incremental_run() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set target_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set model_columns = model.columns.keys() | map('lower') | list -%}
    {{ return((target_columns | sort | list) == (model_columns | sort | list)) }}
{%- endmacro %}


{#- The condition of an incremental run on the loaded_at columns a fact row is made of ("true" otherwise).
    A target whose columns are not the model's documented ones (built by an older version of the model, e.g.
    before it was incremental) reads every row once: on_schema_change 'sync_all_columns' brings the target's
    columns to the model's, the batch replaces every key and the post-hook deletes the rest, as a full build.
    A column whose type alone changed is not seen: that needs --full-refresh. -#}
{% macro loaded_since_last_build(loaded_at_columns) -%}
    {%- if reads_only_what_changed() -%}
        {%- set watermark -%}
            (select coalesce(max(source_loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
        {%- endset -%}
        ({% for column in loaded_at_columns %}{{ column }} > {{ watermark }}{% if not loop.last %} or {% endif %}{% endfor %})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of an incremental fact: delete the target rows whose key `kept_keys_sql` no longer returns.
    Nothing on a table (Spark), where the build is already whole. -#}
{% macro delete_vanished_rows(key_columns, kept_keys_sql) -%}
    {%- if model.config.materialized == 'incremental' -%}
        delete from {{ this }} as fact
        where not exists (
            select 1
            from ({{ kept_keys_sql }}) as kept
            where {% for column in key_columns %}kept.{{ column }} = fact.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}
        )
    {%- endif -%}
{%- endmacro %}
