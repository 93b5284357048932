{#- The build log: one row per `dbt build` or `dbt run`, written by the project's on-run-start
    and on-run-end hooks. A build is `success` only when every model was built and no node
    failed; it then records the ingest commit (`raw.twap_ingest_commits.seq`) it took in, and
    the next build recomputes the keys of later commits. A killed or failed build leaves the
    mark where it was, so the next one repairs the marts; `twap publish` refuses anything but
    a successful build. See doc `incremental_builds`.

    A successful incremental build also keeps the keys it rebuilt (`int_twaps__changed`) in
    `dbt_build_keys`, and says so in `keys_recorded`: `twap publish` applies the keys of the
    builds since the served one to a copy of it instead of writing every row anew. The keys of
    a build are dropped once a later build was published, or after `build_keys_days`. -#}

{% macro build_log_relation(identifier='dbt_build_log') -%}
    {{ return(api.Relation.create(
        database=target.database | default(none), schema=var('build_log_schema'), identifier=identifier
    )) }}
{%- endmacro %}


{% macro is_logged_command() -%}
    {{ return(execute and flags.WHICH in ('build', 'run', 'retry')) }}
{%- endmacro %}


{#- on-run-start: log the build and the newest ingest commit it will take in. -#}
{% macro start_build() -%}
    {{ return(adapter.dispatch('start_build')()) }}
{%- endmacro %}

{% macro default__start_build() -%}
    {%- if is_logged_command() -%}
        {%- set commits = source('hyperliquid', 'twap_ingest_commits') -%}
        {%- set log = build_log_relation() -%}
        {%- set keys = build_log_relation('dbt_build_keys') -%}
        create schema if not exists {{ log.schema }};
        create table if not exists {{ log }} (
            build_id bigint generated always as identity primary key,
            invocation_id text not null,
            command text not null,
            status text not null,
            built_through_seq bigint not null,
            started_at timestamptz not null default now(),
            finished_at timestamptz,
            keys_recorded boolean not null default false
        );
        {%- if 'keys_recorded' not in adapter.get_columns_in_relation(log) | map(attribute='name') | list %}
        alter table {{ log }} add column if not exists keys_recorded boolean not null default false;
        {%- endif %}
        {%- if not adapter.get_relation(keys.database, keys.schema, keys.identifier) %}
        create table {{ keys }} (
            build_id bigint not null,
            twap_id bigint,
            wallet text,
            coin text,
            event_date date,
            start_date date
        );
        create index on {{ keys }} (build_id);
        {%- endif %}
        with expired as (
            update {{ log }} set keys_recorded = false
            where keys_recorded and finished_at < now() - interval '{{ var("build_keys_days") }} days'
            returning build_id
        )
        delete from {{ keys }} where build_id in (select build_id from expired);
        insert into {{ log }} (invocation_id, command, status, built_through_seq)
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


{#- on-run-end: `success` when every model was built and nothing failed, else `failed`
    (or `partial` for a selection of models that all went well). -#}
{% macro finish_build(results) -%}
    {{ return(adapter.dispatch('finish_build')(results)) }}
{%- endmacro %}

{% macro default__finish_build(results) -%}
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


{#- Whether a build ever finished: until one has, every incremental build recomputes all keys. -#}
{% macro finished_build_exists() -%}
    {{ return(adapter.dispatch('finished_build_exists')()) }}
{%- endmacro %}

{% macro default__finished_build_exists() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set log = build_log_relation() -%}
    {%- set exists = run_query("select to_regclass('" ~ log ~ "') is not null").columns[0].values()[0] -%}
    {%- if not exists -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set finished = run_query("select count(*) from " ~ log ~ " where status = 'success'") -%}
    {{ return(finished.columns[0].values()[0] > 0) }}
{%- endmacro %}
