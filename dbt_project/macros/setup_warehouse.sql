{#- Schema set-up, run before every build by `twap build` and by hand as
    `dbt run-operation setup_warehouse` (dbt alone): the build log's tables (source `build_log`,
    build_log.sql) and their migrations, the marts' constraints, the expiry of rebuilt
    keys older than `build_keys_days` (PostgreSQL), and on Spark the lake's raw files registered anew as source
    `hyperliquid` (lake_sources.sql), so new files and columns are seen. It changes nothing
    that is already set up, so it may run any number of times. -#}

{% macro setup_warehouse() -%}
    {{ return(adapter.dispatch('setup_warehouse')()) }}
{%- endmacro %}

{% macro default__setup_warehouse() -%}
    {{ exceptions.raise_compiler_error(
        'macro setup_warehouse has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{#- Introspects before it alters: an `alter table` or `create index` would lock the log even
    when there is nothing to do. -#}
{% macro postgres__setup_warehouse() -%}
    {%- set log = build_log_relation() -%}
    {%- set keys = build_log_relation('dbt_build_keys') -%}
    {%- call statement('setup_build_log') -%}
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
    {%- endcall -%}
    {%- set columns = adapter.get_columns_in_relation(log) | map(attribute='name') | list -%}
    {%- call statement('setup_build_keys') -%}
        {%- if 'keys_recorded' not in columns %}
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
    {%- endcall -%}
    {%- do enforce_constraints() -%}
    {%- do adapter.commit() -%}
{%- endmacro %}

{#- A table made before its contract gained a constraint gets it: dbt adds constraints only
    when it creates a table, and on PostgreSQL a mart's not_null and check constraints stand in
    for the tests that run on Spark only (models/marts/_marts__models.yml). Asks first; what a
    table has already is left alone. A check is added `not valid`: the rows already there
    passed its test when they were built, and a year of them is not scanned again. -#}
{% macro enforce_constraints() -%}
    {%- set not_null, checks = [], [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.contract.enforced -%}
        {%- for column in node.columns.values()
            if 'not_null' in column.constraints | map(attribute='type') -%}
            {%- do not_null.append((node.schema, node.alias, column.name)) -%}
        {%- endfor -%}
        {%- for check in node.constraints if check.type == 'check' -%}
            {%- do checks.append((node.schema, node.alias, check.name, check.expression)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set schemas = "('" ~ ((not_null + checks) | map(attribute=0) | unique | join("', '")) ~ "')" -%}
    {%- set nullable = run_query(
        "select table_schema, table_name, column_name from information_schema.columns"
        ~ " where is_nullable = 'YES' and table_schema in " ~ schemas
    ) -%}
    {%- for schema, table, column in nullable.rows if (schema, table, column) in not_null -%}
        {%- do run_query(
            'alter table ' ~ adapter.quote(schema) ~ '.' ~ adapter.quote(table)
            ~ ' alter column ' ~ adapter.quote(column) ~ ' set not null'
        ) -%}
    {%- endfor -%}
    {%- set present = run_query(
        "select n.nspname, c.relname, coalesce(k.conname, '') from pg_class as c"
        ~ " join pg_namespace as n on c.relnamespace = n.oid"
        ~ " left join pg_constraint as k on c.oid = k.conrelid and k.contype = 'c'"
        ~ " where c.relkind = 'r' and n.nspname in " ~ schemas
    ) -%}
    {%- set tables, named = [], [] -%}
    {%- for schema, table, name in present.rows -%}
        {%- do tables.append((schema, table)) -%}
        {%- do named.append((schema, table, name)) -%}
    {%- endfor -%}
    {%- for schema, table, name, expression in checks
        if (schema, table) in tables and (schema, table, name) not in named -%}
        {%- do run_query(
            'alter table ' ~ adapter.quote(schema) ~ '.' ~ adapter.quote(table)
            ~ ' add constraint ' ~ adapter.quote(name) ~ ' check (' ~ expression ~ ') not valid'
        ) -%}
    {%- endfor -%}
{%- endmacro %}

{#- Each statement runs on its own (Spark runs one per call). -#}
{% macro spark__setup_warehouse() -%}
    {%- do register_lake_sources() -%}
    {%- set log = build_log_relation() -%}
    {%- do run_query('create database if not exists ' ~ log.schema) -%}
    {%- do run_query(
        'create table if not exists ' ~ log ~ ' (invocation_id string, command string,'
        ~ ' status string, built_through_seq bigint, started_at timestamp,'
        ~ ' finished_at timestamp) using parquet'
    ) -%}
{%- endmacro %}
