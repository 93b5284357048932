{#- The build log: one row per `dbt build` or `dbt run`, written by the project's on-run-start
    and on-run-end hooks into the tables `setup_warehouse` makes (source `build_log`). A build
    is `success` only when every model was built and no node failed; it then records the ingest
    commit (`raw.twap_ingest_commits.seq`) it took in, and the next build recomputes the keys
    of later commits. A killed or failed build leaves the mark where it was, so the next one
    repairs the marts; `twap publish` refuses anything but a successful build. See doc
    `incremental_builds`.

    A successful incremental build on PostgreSQL also keeps the keys it rebuilt
    (`int_twaps__changed`) in `dbt_build_keys`, and says so in `keys_recorded`: `twap publish`
    applies the keys of the builds since the served one to a copy of it instead of writing
    every row anew. On Spark the log is append-only: a row when a build starts and another when
    it ends, with the same commit; readers take a build's last row (`int_twaps__changed`). -#}

{#- A table of source `build_log`, for hooks and tests (which may not call source()). -#}
{% macro build_log_relation(identifier='dbt_build_log') -%}
    {{ return(graph_relation('source.' ~ project_name ~ '.build_log.' ~ identifier)) }}
{%- endmacro %}


{% macro is_logged_command() -%}
    {{ return(execute and flags.WHICH in ('build', 'run', 'retry')) }}
{%- endmacro %}


{#- The build log, or a compiler error saying how to make it. -#}
{% macro existing_build_log() -%}
    {%- set log = build_log_relation() -%}
    {%- if not adapter.get_relation(log.database, log.schema, log.identifier) -%}
        {{ exceptions.raise_compiler_error(
            'The build log ' ~ log ~ ' does not exist: run `dbt run-operation setup_warehouse`'
            ~ ' first (`twap build` runs it)'
        ) }}
    {%- endif -%}
    {{ return(log) }}
{%- endmacro %}


{#- on-run-start: log the build and the newest ingest commit it will take in. -#}
{% macro start_build() -%}
    {{ return(adapter.dispatch('start_build')()) }}
{%- endmacro %}

{% macro default__start_build() -%}
    {{ exceptions.raise_compiler_error(
        'macro start_build has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__start_build() -%}
    {%- if is_logged_command() -%}
        {%- set commits = source('hyperliquid', 'twap_ingest_commits') -%}
        insert into {{ existing_build_log() }} (invocation_id, command, status, built_through_seq)
        select
            '{{ invocation_id }}',
            '{{ flags.WHICH }}',
            'running',
            {%- if adapter.get_relation(commits.database, commits.schema, commits.identifier) %}
            (select coalesce(max(seq), 0) from {{ commits }})
            {%- else %}
            0
            {%- endif %};
        commit;
    {%- endif -%}
{%- endmacro %}

{#- Runs its statement itself (Spark runs one per call) and leaves the hook empty. -#}
{% macro spark__start_build() -%}
    {%- if is_logged_command() -%}
        {%- do run_query(
            "insert into " ~ existing_build_log() ~ " select '" ~ invocation_id ~ "', '" ~ flags.WHICH
            ~ "', 'running', (select coalesce(max(seq), 0) from "
            ~ source('hyperliquid', 'twap_ingest_commits') ~ "), current_timestamp(), null"
        ) -%}
    {%- endif -%}
{%- endmacro %}


{#- on-run-end: `success` when every model was built and nothing failed, else `failed`
    (or `partial` for a selection of models that all went well). -#}
{% macro finish_build(results) -%}
    {{ return(adapter.dispatch('finish_build')(results)) }}
{%- endmacro %}

{% macro default__finish_build(results) -%}
    {{ exceptions.raise_compiler_error(
        'macro finish_build has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__finish_build(results) -%}
    {%- if is_logged_command() -%}
        {%- set status = build_status(results) -%}
        {%- set log = build_log_relation() -%}
        {%- set keys_recorded = status == 'success' and not flags.FULL_REFRESH and finished_build_exists() -%}
        {%- if keys_recorded %}
        insert into {{ build_log_relation('dbt_build_keys') }}
        select log.build_id, changed.twap_id, changed.wallet, changed.coin, changed.event_date, changed.start_date
        from {{ graph_relation('model.' ~ project_name ~ '.int_twaps__changed') }} as changed
        cross join (select build_id from {{ log }} where invocation_id = '{{ invocation_id }}') as log;
        {%- endif %}
        update {{ log }}
        set status = '{{ status }}', finished_at = now(), keys_recorded = {{ keys_recorded }}
        where invocation_id = '{{ invocation_id }}';
        commit;
    {%- endif -%}
{%- endmacro %}

{% macro spark__finish_build(results) -%}
    {%- if is_logged_command() -%}
        {%- set log = build_log_relation() -%}
        {%- do run_query(
            "insert into " ~ log ~ " select invocation_id, command, '" ~ build_status(results)
            ~ "', built_through_seq, started_at, current_timestamp() from " ~ log
            ~ " where invocation_id = '" ~ invocation_id ~ "' and status = 'running'"
        ) -%}
    {%- endif -%}
{%- endmacro %}


{#- `success`, `failed` or `partial` (see finish_build). -#}
{% macro build_status(results) -%}
    {%- set problems = results | rejectattr('status', 'in', ['success', 'pass', 'warn', 'no-op']) | list -%}
    {%- set built = results | selectattr('node.resource_type', 'equalto', 'model') | list -%}
    {%- set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | list -%}
    {%- if problems -%}
        {{ return('failed') }}
    {%- elif built | length < models | length -%}
        {{ return('partial') }}
    {%- endif -%}
    {{ return('success') }}
{%- endmacro %}


{#- Whether a build ever finished: until one has, every incremental build recomputes all keys.
    Every test of a build asks, so `twap build` asks the log once and says (TWAP_FINISHED_BUILD);
    read only when executing, so it is no part of dbt's saved parse. -#}
{% macro finished_build_exists() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set known = env_var('TWAP_FINISHED_BUILD', '') -%}
    {%- if known -%}
        {{ return(known == 'true') }}
    {%- endif -%}
    {%- set log = build_log_relation() -%}
    {%- if not adapter.get_relation(log.database, log.schema, log.identifier) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set finished = run_query("select count(*) from " ~ log ~ " where status = 'success'") -%}
    {{ return(finished.columns[0].values()[0] > 0) }}
{%- endmacro %}
