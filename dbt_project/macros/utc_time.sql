{#- Time arithmetic in UTC that differs between the targets (PostgreSQL, Spark). Spark's session
    time zone is UTC (profiles.yml.example), so its timestamps read as UTC. -#}

{#- `timestamp` plus `minutes` minutes. -#}
{% macro add_minutes(timestamp, minutes) -%}
    {{ return(adapter.dispatch('add_minutes')(timestamp, minutes)) }}
{%- endmacro %}

{% macro default__add_minutes(timestamp, minutes) -%}
    {{ exceptions.raise_compiler_error(
        'macro add_minutes has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__add_minutes(timestamp, minutes) -%}
    {{ timestamp }} + {{ minutes }} * interval '1 minute'
{%- endmacro %}

{% macro spark__add_minutes(timestamp, minutes) -%}
    timestampadd(minute, {{ minutes }}, {{ timestamp }})
{%- endmacro %}


{#- Midnight UTC of the day `days` after the date `date`, as a timestamp. -#}
{% macro utc_midnight(date, days=0) -%}
    {{ return(adapter.dispatch('utc_midnight')(date, days)) }}
{%- endmacro %}

{% macro default__utc_midnight(date, days) -%}
    {{ exceptions.raise_compiler_error(
        'macro utc_midnight has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__utc_midnight(date, days) -%}
    cast({{ date }} + {{ days }} as timestamp) at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_midnight(date, days) -%}
    cast(date_add({{ date }}, {{ days }}) as timestamp)
{%- endmacro %}


{#- The UTC calendar day of a timestamp, whatever the session time zone. -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    {{ exceptions.raise_compiler_error(
        'macro utc_date has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__utc_date(column) -%}
    cast({{ column }} at time zone 'UTC' as date)
{%- endmacro %}

{% macro spark__utc_date(column) -%}
    to_date({{ column }})
{%- endmacro %}


{#- Minutes from timestamp `start` to timestamp `end` (negative when `end` comes first). -#}
{% macro minutes_between(start, end) -%}
    {{ return(adapter.dispatch('minutes_between')(start, end)) }}
{%- endmacro %}

{% macro default__minutes_between(start, end) -%}
    {{ exceptions.raise_compiler_error(
        'macro minutes_between has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__minutes_between(start, end) -%}
    extract(epoch from ({{ end }} - {{ start }})) / 60
{%- endmacro %}

{% macro spark__minutes_between(start, end) -%}
    (cast({{ end }} as double) - cast({{ start }} as double)) / 60
{%- endmacro %}
