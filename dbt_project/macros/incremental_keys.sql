{#- How the incremental marts take in new data; see doc `incremental_builds`.

    `int_twaps__changed` holds the keys touched by ingest commits that no successful build has
    taken in yet. Each incremental mart deletes those keys in a pre-hook (inside the model's
    transaction) and appends what they are now, read from its upstream filtered to the same
    keys. A key with nothing left is simply not appended again. -#}

{#- The changed keys of one kind: `twap_id`, `wallet` or `coin_day` (coin, flow_date), read from
    `changed`: a model refs `int_twaps__changed`, a test finds it in the graph. -#}
{% macro changed_keys(kind, changed=none) -%}
    {%- set changed = changed or ref('int_twaps__changed') -%}
    {%- if kind == 'coin_day' -%}
        select coin, event_date as flow_date from {{ changed }}
        union
        select coin, start_date as flow_date from {{ changed }} where start_date is not null
    {%- else -%}
        select distinct {{ kind }} from {{ changed }}
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


{#- A filter on the rows of changed keys of `kind`: true on a first or full build (all keys). -#}
{% macro is_changed(kind) -%}
    {%- if not (is_incremental() and finished_build_exists()) -%}
        true
    {%- else -%}
        {{ key_filter(kind) }}
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of an incremental mart: the changed keys leave it before their rows come back
    (each target's way: cross_db/incremental_marts.sql). -#}
{% macro delete_changed(kind) -%}
    {{ return(adapter.dispatch('delete_changed')(kind)) }}
{%- endmacro %}


{#- The UTC calendar day of a timestamp (cross_db/types_and_time.sql). -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date')(column)) }}
{%- endmacro %}
