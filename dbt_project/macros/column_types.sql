{#- Column types that differ between the targets (PostgreSQL, Spark). -#}

{#- Text. -#}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    {{ exceptions.raise_compiler_error(
        'macro text_type has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__text_type() -%}
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
    {{ exceptions.raise_compiler_error(
        'macro amount_type has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__amount_type() -%}
    numeric
{%- endmacro %}

{% macro spark__amount_type() -%}
    decimal(38, 18)
{%- endmacro %}
