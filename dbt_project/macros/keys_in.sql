{#- `column` among the values of `keys_query`, written so that an index on `column` is used.
    Postgres plans `in (subquery)` as a hash semi-join that scans the whole table when it cannot
    tell that the subquery is small; `= any(array(subquery))` is evaluated first, then probed
    through the index. Other adapters get the plain `in`. -#}
{% macro keys_in(column, keys_query) -%}
    {{ return(adapter.dispatch('keys_in')(column, keys_query)) }}
{%- endmacro %}

{% macro default__keys_in(column, keys_query) -%}
    {{ column }} in ({{ keys_query }})
{%- endmacro %}

{% macro postgres__keys_in(column, keys_query) -%}
    {{ column }} = any(array({{ keys_query }}))
{%- endmacro %}


{#- dbt's delete+insert, with the delete probing the target's key index (see keys_in) when the
    unique key is one column; composite keys keep dbt's own statement. -#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- if unique_key is string and not incremental_predicates -%}
        {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
        delete from {{ target }}
        where {{ keys_in(unique_key, 'select distinct ' ~ unique_key ~ ' from ' ~ source) }};

        insert into {{ target }} ({{ dest_cols_csv }})
        (
            select {{ dest_cols_csv }}
            from {{ source }}
        )
    {%- else -%}
        {{ default__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) }}
    {%- endif -%}
{%- endmacro %}
