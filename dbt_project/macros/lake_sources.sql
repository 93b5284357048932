{#- Spark on the lake: the raw tables the dlt lake pipeline writes (dlt_pipelines/ledger/lake.py)
    registered as the `hyperliquid` source. Each statement runs on its own (Spark runs one per
    call). The lake is `TWAP_LAKE_URL` (a path or URL Spark reads), raw is its dataset `raw`.
    On PostgreSQL the source is dlt's own tables: there is nothing to register. -#}

{#- (Re)registers raw's files, so new files and columns are seen: part of setup_warehouse. -#}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
    {{ exceptions.raise_compiler_error(
        'macro register_lake_sources has no implementation for adapter ' ~ adapter.type()
    ) }}
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
        {#- The TWAP slice fills, with their columns given: the folder exists once a fill has
            loaded, and a source with no files has no schema to infer (the columns of
            dlt_pipelines/settings.py FILL_SCHEMA, lineage and the load id; a test keeps them
            equal). -#}
        {%- set fill_columns = [
            'twap_id bigint', 'tid bigint', 'wallet string', 'coin string', 'side string',
            'px string', 'sz string', 'fill_time timestamp', 'fee string', 'fee_token string',
            'closed_pnl string', 'start_position string', 'dir string', 'hash string',
            'oid bigint', 'crossed boolean', 'cloid string', 'builder_fee string',
            'liquidation string', 'object_key string', 'object_version string',
            'object_row bigint', '_dlt_load_id string',
        ] -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for table, format in tables.items() -%}
            {%- set name = 'raw.' ~ table.lstrip('_') -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ ' using ' ~ format
                ~ " options (mergeSchema 'true') location '" ~ raw ~ '/' ~ table ~ "'"
            ) -%}
        {%- endfor -%}
        {%- do run_query('drop table if exists raw.twap_fills') -%}
        {%- do run_query(
            'create table raw.twap_fills (' ~ fill_columns | join(', ') ~ ') using parquet'
            ~ " location '" ~ raw ~ "/twap_fills'"
        ) -%}
        {#- The ledger as PostgreSQL's tables (lake_ledger_views.sql, from the ledger's rules). -#}
        {%- do create_lake_ledger_views() -%}
    {%- endif -%}
{%- endmacro %}
