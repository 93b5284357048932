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
