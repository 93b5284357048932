{#- Which rows the data tests check; see doc `incremental_builds`.

    A `dbt build` that rebuilt only the keys of new ingest commits tests those rows: the rest
    was tested when it was built, and an hourly build then costs what the hour brought. Every
    other command, a first build, a full refresh and `--vars '{full_tests: true}'` test every
    row; `twap build --full-tests` sets TWAP_FULL_TESTS=true instead, which (read only when
    executing) keeps dbt's saved parse, as other vars would not. A model names the rows it is tested on
    in `meta.tested_key`:

    - `load`: the rows of the loads committed since the last successful build;
    - `loaded_twap`: the TWAPs with rows in those loads;
    - `twap_id`, `wallet`, `coin_day`: the keys the build rebuilt (`int_twaps__changed`).

    The first two are known before `int_twaps__changed` is built, so tests upstream of it scope
    to them; a model without a key is always tested whole. -#}

{% macro tests_changed_keys_only() -%}
    {{ return(
        execute
        and flags.WHICH == 'build'
        and not flags.FULL_REFRESH
        and not var('full_tests', false)
        and env_var('TWAP_FULL_TESTS', 'false') != 'true'
        and finished_build_exists()
    ) }}
{%- endmacro %}


{#- The relation of a node of the graph: a test or a hook may not ref() what it does not
    depend on. -#}
{% macro graph_relation(unique_id) -%}
    {%- set node = graph.nodes.get(unique_id) or graph.sources[unique_id] -%}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias or node.identifier
    )) }}
{%- endmacro %}


{#- The objects and loads committed since the last successful build, as a query. -#}
{% macro unbuilt_loads() -%}
    select commits.object_key, commits.load_id
    from {{ graph_relation('source.' ~ project_name ~ '.hyperliquid.twap_ingest_commits') }} as commits
    where
        commits.load_id is not null
        and commits.seq > (
            select coalesce(max(builds.built_through_seq), 0)
            from {{ build_log_relation() }} as builds
            where builds.status = 'success'
        )
{%- endmacro %}


{#- The rows of `relation` (which has `object_key` and `load_id`) in those loads: an index scan
    per object and load, in a lateral subquery, as in `int_twaps__changed`. -#}
{% macro unbuilt_rows(relation) -%}
    select loaded.*
    from ({{ unbuilt_loads() }}) as loads
    cross join lateral (
        select * from {{ relation }} as events
        where events.object_key = loads.object_key and events.load_id = loads.load_id
        {{ lateral_fence() }}
    ) as loaded
{%- endmacro %}


{#- A filter on the rows a test checks, those `kind` names but `load` (matched on `columns`,
    the key of `kind` unless given), or every row (`true`). -#}
{% macro tested_rows(kind, columns=none) -%}
    {%- if not tests_changed_keys_only() -%}
        true
    {%- elif kind == 'loaded_twap' -%}
        {%- set events = graph_relation('model.' ~ project_name ~ '.stg_hyperliquid__twap_status_events') -%}
        {{ keys_in(columns or 'twap_id', 'select twap_id from (' ~ unbuilt_rows(events) ~ ') as loaded') }}
    {%- else -%}
        {{ key_filter(kind, columns, graph_relation('model.' ~ project_name ~ '.int_twaps__changed')) }}
    {%- endif -%}
{%- endmacro %}


{#- The rows of a table of TWAPs (`coin`, `time_column`) on the changed coin days, or every
    row: through an index on (coin, time), from the first changed day on. -#}
{% macro tested_days(time_column) -%}
    {%- if tests_changed_keys_only() -%}
        {%- set days = changed_keys('coin_day', graph_relation('model.' ~ project_name ~ '.int_twaps__changed')) -%}
        {{ keys_in('coin', 'select coin from (' ~ days ~ ') as days') }}
        and {{ time_column }} >= (
            select {{ utc_midnight('min(flow_date)') }} from ({{ days }}) as days
        )
        and (coin, {{ utc_date(time_column) }}) in ({{ days }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- Every generic test reads its model through this macro (dbt's own adds the `where` config):
    here it also keeps to the rows the model's `meta.tested_key` names. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') or 'true' -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {%- set kind = tested.config.meta.get('tested_key') if tested else none -%}
    {%- if kind == 'load' and tests_changed_keys_only() -%}
        {%- set rows = 'select * from (' ~ unbuilt_rows(relation) ~ ') as loaded where ' ~ where -%}
    {%- elif kind -%}
        {%- set rows = 'select * from ' ~ relation ~ ' where ' ~ where ~ ' and ' ~ tested_rows(kind) -%}
    {%- elif where != 'true' -%}
        {%- set rows = 'select * from ' ~ relation ~ ' where ' ~ where -%}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return('(' ~ rows ~ ') dbt_subquery') }}
{%- endmacro %}
