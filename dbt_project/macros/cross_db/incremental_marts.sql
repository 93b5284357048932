{#- How an incremental mart replaces its changed keys (see `incremental_keys.sql`) on each
    target. PostgreSQL deletes them in a pre-hook and appends their new rows, in one
    transaction. Plain parquet on Spark has no delete: the pre-hook copies the rows of the
    unchanged keys aside (`<mart>__kept`), and the model's rows, the changed keys' new rows
    plus the kept ones, overwrite the table in one `insert overwrite`. An interrupted build
    leaves the mart as it was; the next one copies aside again. -#}

{% macro mart_incremental_strategy() -%}
    {{ return(adapter.dispatch('mart_incremental_strategy')()) }}
{%- endmacro %}

{% macro default__mart_incremental_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{% macro spark__mart_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


{% macro default__delete_changed(kind) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ is_changed(kind) }}
    {%- endif -%}
{%- endmacro %}

{#- Runs its statements itself (one each, as Spark requires) and leaves the hook empty. -#}
{% macro spark__delete_changed(kind) -%}
    {%- if execute and is_incremental() -%}
        {%- set kept = kept_rows_relation() -%}
        {%- do run_query('drop table if exists ' ~ kept) -%}
        {%- do run_query(
            'create table ' ~ kept ~ ' using parquet as select * from ' ~ this
            ~ ' where not (' ~ is_changed(kind) ~ ')'
        ) -%}
    {%- endif -%}
{%- endmacro %}


{#- The mart's rows: those of `relation` (the changed keys), and on Spark the kept ones. -#}
{% macro with_kept_rows(relation) -%}
    {{ return(adapter.dispatch('with_kept_rows')(relation)) }}
{%- endmacro %}

{% macro default__with_kept_rows(relation) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro spark__with_kept_rows(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    union all
    select * from {{ kept_rows_relation() }}
    {%- endif -%}
{%- endmacro %}


{% macro kept_rows_relation() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__kept'})) }}
{%- endmacro %}
