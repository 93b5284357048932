{#- Which rows the data tests check; see doc `incremental_builds`.

    A `dbt build` that rebuilt only the keys of new ingest commits tests those keys: the rest
    was tested when it was built, and an hourly build then costs what the hour brought. Every
    other command, a first build, a full refresh and `--vars '{full_tests: true}'` (what
    `twap build --full-tests` passes) test every row. A model names the key its rows are
    tested by in `meta.tested_key`; a model without one is always tested whole. -#}

{% macro tests_changed_keys_only() -%}
    {{ return(
        execute
        and flags.WHICH == 'build'
        and not flags.FULL_REFRESH
        and not var('full_tests', false)
        and finished_build_exists()
    ) }}
{%- endmacro %}


{#- A filter on the rows a test checks: those of the changed keys of `kind` (matched on
    `columns`, the key of `kind` unless given) and any without a key, or every row (`true`). -#}
{% macro tested_rows(kind, columns=none) -%}
    {%- if tests_changed_keys_only() -%}
        {%- set changed = changed_keys_relation() -%}
        {%- if kind == 'coin_day' -%}
            {{ key_filter(kind, columns, changed) }}
        {%- else -%}
            ({{ key_filter(kind, columns, changed) }} or {{ columns or kind }} is null)
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- Every generic test reads its model through this macro (dbt's own adds the `where` config):
    here it also keeps to the rows `tested_rows` names for the model's `meta.tested_key`. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set filters = [config.get('where', '')] | select | list -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {%- set kind = tested.config.meta.get('tested_key') if tested else none -%}
    {%- set scope = tested_rows(kind) | trim if kind else 'true' -%}
    {%- if scope != 'true' -%}
        {%- do filters.append(scope) -%}
    {%- endif -%}
    {%- if filters -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ filters | join(' and ') ~ ') dbt_subquery') }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
