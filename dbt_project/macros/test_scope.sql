{#- Which rows the data tests check; see doc `incremental_builds`.

    A `dbt build` that rebuilt only the keys of new ingest commits tests those rows: the rest
    was tested when it was built, and an hourly build then costs what the hour brought. Every
    other command, a first build, a full refresh and `--vars '{full_tests: true}'` (what
    `twap build --full-tests` passes) test every row. A model names the rows it is tested on
    in `meta.tested_key`:

    - `load`: raw rows of the loads committed since the last successful build;
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


{#- The loads committed since the last successful build, as a query of their ids. -#}
{% macro unbuilt_load_ids() -%}
    select commits.load_id
    from {{ graph_relation('source.' ~ project_name ~ '.hyperliquid.twap_ingest_commits') }} as commits
    where
        commits.load_id is not null
        and commits.seq > (
            select coalesce(max(builds.built_through_seq), 0)
            from {{ build_log_relation() }} as builds
            where builds.status = 'success'
        )
{%- endmacro %}


{#- A filter on the rows a test checks, those `kind` names (matched on `columns`, the key of
    `kind` unless given), or every row (`true`). -#}
{% macro tested_rows(kind, columns=none) -%}
    {%- if not tests_changed_keys_only() -%}
        true
    {%- elif kind == 'load' -%}
        {{ keys_in(columns or 'load_id', unbuilt_load_ids()) }}
    {%- elif kind == 'loaded_twap' -%}
        {%- set events = graph_relation('model.' ~ project_name ~ '.stg_hyperliquid__twap_status_events') -%}
        {{ keys_in(columns or 'twap_id', 'select events.twap_id from ' ~ events ~ ' as events where ' ~ keys_in('events.load_id', unbuilt_load_ids())) }}
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
            select cast(min(flow_date) as timestamp) at time zone 'UTC' from ({{ days }}) as days
        )
        and (coin, {{ utc_date(time_column) }}) in ({{ days }})
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
