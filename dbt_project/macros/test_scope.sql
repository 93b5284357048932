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
    `columns`, the key of `kind` unless given), or every row (`true`). -#}
{% macro tested_rows(kind, columns=none) -%}
    {%- if tests_changed_keys_only() -%}
        {{ key_filter(kind, columns, changed_keys_relation()) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- The rows of a table of TWAPs (`coin`, `time_column`) on the changed coin days, or every
    row: through an index on (coin, time), from the first changed day on. -#}
{% macro tested_days(time_column) -%}
    {%- if tests_changed_keys_only() -%}
        {%- set days = changed_keys('coin_day', changed_keys_relation()) -%}
        {{ keys_in('coin', 'select coin from (' ~ days ~ ') as days') }}
        and {{ time_column }} >= (
            select cast(min(flow_date) as timestamp) at time zone 'UTC' from ({{ days }}) as days
        )
        and (coin, {{ utc_date(time_column) }}) in ({{ days }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- Every generic test reads its model through this macro (dbt's own adds the `where` config):
    here it also keeps to the rows `tested_rows` names for the model's `meta.tested_key`, and
    to rows without a key (a `union all`, so that each half is an index scan). -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') or 'true' -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {%- set kind = tested.config.meta.get('tested_key') if tested else none -%}
    {%- set scope = tested_rows(kind) | trim if kind else 'true' -%}
    {%- if scope != 'true' and kind == 'coin_day' -%}
        {%- set rows -%}
            select * from {{ relation }} where {{ where }} and {{ scope }}
        {%- endset -%}
    {%- elif scope != 'true' -%}
        {%- set rows -%}
            select * from {{ relation }} where {{ where }} and {{ scope }}
            union all
            select * from {{ relation }} where {{ where }} and {{ kind }} is null
        {%- endset -%}
    {%- elif where != 'true' -%}
        {%- set rows = 'select * from ' ~ relation ~ ' where ' ~ where -%}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return('(' ~ rows ~ ') dbt_subquery') }}
{%- endmacro %}
