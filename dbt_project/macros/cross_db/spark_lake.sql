{#- Spark on the lake: the raw tables the dlt lake pipeline writes (dlt_pipelines/ledger/lake.py)
    registered as the `hyperliquid` source, and the build log as an append-only table. Each
    statement runs on its own (Spark runs one per call); the hooks themselves stay empty.
    The lake is `TWAP_LAKE_URL` (a path or URL Spark reads), raw is its dataset `raw`. -#}

{#- on-run-start: (re)register raw's files, so new files and columns are seen. -#}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set raw = env_var('TWAP_LAKE_URL').rstrip('/') ~ '/raw' -%}
        {%- set tables = {
            'twap_status_events': 'parquet',
            'twap_ingest_objects_log': 'parquet',
            'twap_ingest_commits_log': 'parquet',
            '_dlt_loads': 'json',
        } -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for table, format in tables.items() -%}
            {%- set name = 'raw.' ~ table.lstrip('_') -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ ' using ' ~ format
                ~ " options (mergeSchema 'true') location '" ~ raw ~ '/' ~ table ~ "'"
            ) -%}
        {%- endfor -%}
        {#- The ledger as PostgreSQL's tables (lake_ledger_views.sql, from the ledger's rules). -#}
        {%- do create_lake_ledger_views() -%}
    {%- endif -%}
{%- endmacro %}


{#- The build log on Spark: a row when a build starts and another when it ends, with the same
    commit; readers take a build's last row (`int_twaps__changed`). -#}
{% macro spark__start_build() -%}
    {%- if is_logged_command() -%}
        {%- set log = build_log_relation() -%}
        {%- do run_query('create database if not exists ' ~ log.schema) -%}
        {%- do run_query(
            'create table if not exists ' ~ log ~ ' (invocation_id string, command string,'
            ~ ' status string, built_through_seq bigint, started_at timestamp,'
            ~ ' finished_at timestamp) using parquet'
        ) -%}
        {%- do run_query(
            "insert into " ~ log ~ " select '" ~ invocation_id ~ "', '" ~ flags.WHICH
            ~ "', 'running', (select coalesce(max(seq), 0) from "
            ~ source('hyperliquid', 'twap_ingest_commits') ~ "), current_timestamp(), null"
        ) -%}
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

{% macro spark__finished_build_exists() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set log = build_log_relation() -%}
    {%- if not adapter.get_relation(log.database, log.schema, log.identifier) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set finished = run_query("select count(*) from " ~ log ~ " where status = 'success'") -%}
    {{ return(finished.columns[0].values()[0] > 0) }}
{%- endmacro %}
