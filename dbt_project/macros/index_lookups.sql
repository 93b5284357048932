{#- Lookups written so that PostgreSQL probes an index instead of scanning a whole table; other
    targets get the plain SQL. -#}

{#- `column` among the values of `keys_query`. Postgres plans `in (subquery)` as a hash
    semi-join that scans the whole table when it cannot tell that the subquery is small;
    `= any(array(subquery))` is evaluated first, then probed through the index. -#}
{% macro keys_in(column, keys_query) -%}
    {{ return(adapter.dispatch('keys_in')(column, keys_query)) }}
{%- endmacro %}

{% macro default__keys_in(column, keys_query) -%}
    {{ exceptions.raise_compiler_error(
        'macro keys_in has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__keys_in(column, keys_query) -%}
    {{ column }} = any(array({{ keys_query }}))
{%- endmacro %}

{% macro spark__keys_in(column, keys_query) -%}
    {{ column }} in ({{ keys_query }})
{%- endmacro %}


{#- Ends a lateral subquery that must stay one: an index lookup per outer row. Postgres would
    otherwise flatten it into a join, which it plans as a scan of the whole inner table when
    it cannot tell that the outer rows are few; `offset 0` keeps it from flattening. -#}
{% macro lateral_fence() -%}
    {{ return(adapter.dispatch('lateral_fence')()) }}
{%- endmacro %}

{% macro default__lateral_fence() -%}
    {{ exceptions.raise_compiler_error(
        'macro lateral_fence has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__lateral_fence() -%}
    offset 0
{%- endmacro %}

{% macro spark__lateral_fence() -%}
{%- endmacro %}


{#- Pre-hook of a model whose every read of a large table is an index lookup: Postgres plans a
    lookup by a key it learns only at run time (a changed load's id) from its statistics, and
    when one huge load dominates them it scans the whole table for every such key. -#}
{% macro index_lookups_only() -%}
    {{ return(adapter.dispatch('index_lookups_only')()) }}
{%- endmacro %}

{% macro default__index_lookups_only() -%}
    {{ exceptions.raise_compiler_error(
        'macro index_lookups_only has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__index_lookups_only() -%}
    set local enable_seqscan = off
{%- endmacro %}

{% macro spark__index_lookups_only() -%}
{%- endmacro %}
