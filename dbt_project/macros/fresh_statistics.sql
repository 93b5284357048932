{#- Post-hook of every mart: a table built whole (a first build, a full refresh, a table model)
    gets its statistics at once, so the models after it in the same build plan their reads on
    them; autovacuum's analyze comes too late. Without them a first build of fct_twaps on
    450,000 TWAPs planned its lookups of fct_twap_status_events blind and ran for over 10
    minutes. An incremental build's new rows are few beside the table's: its statistics hold. -#}
{% macro analyze_if_rebuilt() -%}
    {{ return(adapter.dispatch('analyze_if_rebuilt')()) }}
{%- endmacro %}

{% macro default__analyze_if_rebuilt() -%}
    {{ exceptions.raise_compiler_error(
        'macro analyze_if_rebuilt has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__analyze_if_rebuilt() -%}
    {%- if not is_incremental() -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Spark plans from the files' own footers: nothing to gather. -#}
{% macro spark__analyze_if_rebuilt() -%}
{%- endmacro %}
