{#- Types and time arithmetic that differ between the targets (PostgreSQL, Spark). Spark's
    session time zone is UTC (profiles.yml.example), so its timestamps read as UTC. -#}

{#- Text. -#}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    text
{%- endmacro %}

{% macro spark__text_type() -%}
    string
{%- endmacro %}


{#- An exact amount. PostgreSQL's numeric is exact at any precision; Spark's decimal holds at
    most 38 digits: 20 before the point (10^20 USD) and 18 after it keep every amount of the
    source exact, and sums stay exact. -#}
{% macro amount_type() -%}
    {{ return(adapter.dispatch('amount_type')()) }}
{%- endmacro %}

{% macro default__amount_type() -%}
    numeric
{%- endmacro %}

{% macro spark__amount_type() -%}
    decimal(38, 18)
{%- endmacro %}


{#- `timestamp` plus `minutes` minutes. -#}
{% macro add_minutes(timestamp, minutes) -%}
    {{ return(adapter.dispatch('add_minutes')(timestamp, minutes)) }}
{%- endmacro %}

{% macro default__add_minutes(timestamp, minutes) -%}
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
    cast({{ date }} + {{ days }} as timestamp) at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_midnight(date, days) -%}
    cast(date_add({{ date }}, {{ days }}) as timestamp)
{%- endmacro %}


{#- The UTC calendar day of a timestamp, whatever the session time zone (PostgreSQL). -#}
{% macro default__utc_date(column) -%}
    cast({{ column }} at time zone 'UTC' as date)
{%- endmacro %}

{% macro spark__utc_date(column) -%}
    to_date({{ column }})
{%- endmacro %}
