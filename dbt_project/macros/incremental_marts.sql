{#- How an incremental mart takes in new data; see doc `incremental_builds`.

    `int_twaps__changed` holds the keys touched by ingest commits that no successful build has
    taken in yet. Each incremental mart names its key (`unique_key`: `twap_id`, `wallet`, or
    `coin` and `flow_date`) and reads its upstream filtered to the changed keys
    (`{% if is_incremental() %} where {{ is_changed(...) }}`); the pre-hook every incremental
    mart gets from dbt_project.yml (`delete_changed`) removes those keys first, so a key with
    nothing left is simply not appended again.

    PostgreSQL deletes the changed keys in the pre-hook and appends their new rows, in one
    transaction (strategy `append`). Plain parquet on Spark has no delete: the pre-hook copies
    the rows of the unchanged keys aside (`<mart>__kept`), and the model's rows, the changed
    keys' new rows plus the kept ones (`with_kept_rows`), overwrite the table in one
    `insert overwrite`. An interrupted build leaves the mart as it was; the next one copies
    aside again. -#}

{#- The changed keys of one kind: `twap_id`, `wallet` or `coin_day` (coin, flow_date), read from
    `changed`: a model refs `int_twaps__changed`, a test finds it in the graph. Never null (the
    running TWAPs' rows name only their twap_id): Spark keeps `not (key in (...))`, null there.
    -#}
{% macro changed_keys(kind, changed=none) -%}
    {%- set changed = changed or ref('int_twaps__changed') -%}
    {%- if kind == 'coin_day' -%}
        select coin, event_date as flow_date from {{ changed }}
        where coin is not null and event_date is not null
        union
        select coin, start_date as flow_date from {{ changed }}
        where coin is not null and start_date is not null
    {%- else -%}
        select distinct {{ kind }} from {{ changed }} where {{ kind }} is not null
    {%- endif -%}
{%- endmacro %}


{#- `columns` (the key of `kind` unless given) among the changed keys of `kind`. -#}
{% macro key_filter(kind, columns=none, changed=none) -%}
    {%- if kind == 'coin_day' -%}
        ({{ columns or 'coin, flow_date' }}) in ({{ changed_keys(kind, changed) }})
    {%- else -%}
        {{ keys_in(columns or kind, changed_keys(kind, changed)) }}
    {%- endif -%}
{%- endmacro %}


{#- A filter on the rows of changed keys of `kind`: true on a first or full build (all keys),
    and until a build has finished (finished_build_exists). -#}
{% macro is_changed(kind) -%}
    {%- if not (is_incremental() and finished_build_exists()) -%}
        true
    {%- else -%}
        {{ key_filter(kind) }}
    {%- endif -%}
{%- endmacro %}


{#- The kind of changed keys a mart's `unique_key` names. -#}
{% macro unique_key_kind() -%}
    {%- set key = config.get('unique_key') -%}
    {{ return('coin_day' if key == ['coin', 'flow_date'] else key) }}
{%- endmacro %}


{#- Pre-hook of every incremental mart (dbt_project.yml): its changed keys leave it before their
    rows come back. -#}
{% macro delete_changed() -%}
    {{ return(adapter.dispatch('delete_changed')()) }}
{%- endmacro %}

{% macro default__delete_changed() -%}
    {{ exceptions.raise_compiler_error(
        'macro delete_changed has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__delete_changed() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ is_changed(unique_key_kind()) }}
    {%- endif -%}
{%- endmacro %}

{#- Runs its statements itself (one each, as Spark requires) and leaves the hook empty. -#}
{% macro spark__delete_changed() -%}
    {%- if execute and is_incremental() -%}
        {%- set kept = kept_rows_relation() -%}
        {%- do run_query('drop table if exists ' ~ kept) -%}
        {%- do run_query(
            'create table ' ~ kept ~ ' using parquet as select * from ' ~ this
            ~ ' where not (' ~ is_changed(unique_key_kind()) ~ ')'
        ) -%}
    {%- endif -%}
{%- endmacro %}


{#- The mart's rows: those of `relation` (the changed keys), and on Spark the kept ones. -#}
{% macro with_kept_rows(relation) -%}
    {{ return(adapter.dispatch('with_kept_rows')(relation)) }}
{%- endmacro %}

{% macro default__with_kept_rows(relation) -%}
    {{ exceptions.raise_compiler_error(
        'macro with_kept_rows has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__with_kept_rows(relation) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro spark__with_kept_rows(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    union all
    select * from {{ kept_rows_relation() }}
    {%- endif -%}
{%- endmacro %}


{% macro kept_rows_relation() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__kept'})) }}
{%- endmacro %}
