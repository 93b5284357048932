{#- Helpers of the incremental marts; see doc `incremental_builds`. -#}

{#- The newest dlt load id this model has already taken in ('' while it is empty). -#}
{% macro loaded_watermark(column='last_load_id') -%}
    (select coalesce(max({{ column }}), '') from {{ this }})
{%- endmacro %}


{#- Event rows (live and tombstones) of the intermediate model changed since this model's watermark. -#}
{% macro changed_events(column='last_load_id') -%}
    select *
    from {{ ref('int_twap_status_events__deduplicated') }}
    where changed_in_load_id > {{ loaded_watermark(column) }}
{%- endmacro %}


{#- The rows of `relation` (a CTE) whose `key` has events changed since this model's watermark
    on an incremental build; all its rows on a full one. -#}
{% macro rows_of_changed_keys(relation, key, column='last_load_id') -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ keys_in(key, 'select distinct changed.' ~ key ~ ' from (' ~ changed_events(column) ~ ') as changed') }}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: TWAPs whose every event vanished from raw (only tombstones left) leave this model. -#}
{% macro delete_vanished_twaps() -%}
    {%- if is_incremental() -%}
        {%- set vanished -%}
            select tombstone.twap_id
            from {{ ref('int_twap_status_events__deduplicated') }} as tombstone
            where
                tombstone.is_deleted
                and not exists (
                    select 1
                    from {{ ref('int_twap_status_events__deduplicated') }} as live
                    where live.twap_id = tombstone.twap_id and not live.is_deleted
                )
        {%- endset -%}
        delete from {{ this }}
        where {{ keys_in('twap_id', vanished) }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook: keys recomputed with nothing left to count (all counts zero) leave this model. -#}
{% macro delete_empty_rows(count_columns) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {% for column in count_columns %}{{ column }} = 0{% if not loop.last %} and {% endif %}{% endfor %}
    {%- endif -%}
{%- endmacro %}


{#- The UTC calendar day of a timestamptz, whatever the session time zone. -#}
{% macro utc_date(column) -%}
    cast({{ column }} at time zone 'UTC' as date)
{%- endmacro %}
