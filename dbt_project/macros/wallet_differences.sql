{#- How `int_wallet_coins` keeps a wallet's totals without reading all its TWAPs; see doc
    `wallet_differences`.

    `int_twaps__counted` keeps, for every TWAP, what it counts now and what it counted before
    this build; `int_wallet_coins` adds the one and takes back the other. That is exact only
    when its table and `int_twaps__counted` were last written by the same, successful build: a
    build that failed or was killed may have written one and not the other. After such a build
    (and on a first or full build) the changed wallets are counted again from all their
    TWAPs, once. -#}

{#- Whether this build updates `int_wallet_coins` by differences. -#}
{% macro counts_by_differences() -%}
    {{ return(is_incremental() and finished_build_exists() and previous_build_succeeded()) }}
{%- endmacro %}


{#- Whether the build logged before this one succeeded (PostgreSQL: Spark rebuilds the pairs
    whole, so never asks). -#}
{% macro previous_build_succeeded() -%}
    {{ return(adapter.dispatch('previous_build_succeeded')()) }}
{%- endmacro %}

{% macro default__previous_build_succeeded() -%}
    {{ exceptions.raise_compiler_error(
        'macro previous_build_succeeded has no implementation for adapter ' ~ adapter.type()
    ) }}
{%- endmacro %}

{% macro postgres__previous_build_succeeded() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set previous = run_query(
        "select status = 'success' from " ~ build_log_relation()
        ~ " where invocation_id <> '" ~ invocation_id ~ "' order by build_id desc limit 1"
    ) -%}
    {{ return(previous.rows | length > 0 and previous.columns[0].values()[0]) }}
{%- endmacro %}


{#- Pre-hook of `int_wallet_coins`: a build that counts the changed wallets again removes
    their pairs first (a pair with nothing left is then not written again). -#}
{% macro recount_changed_wallets() -%}
    {%- if is_incremental() and not counts_by_differences() -%}
        delete from {{ this }} where {{ is_changed('wallet') }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of `int_wallet_coins`: a pair whose TWAPs were all taken back leaves. -#}
{% macro delete_uncounted_wallet_coins() -%}
    {%- if counts_by_differences() -%}
        delete from {{ this }} where {{ is_changed('wallet') }} and twap_count = 0
    {%- endif -%}
{%- endmacro %}
