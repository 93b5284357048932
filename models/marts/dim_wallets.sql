-- One row per wallet, from its TWAPs' latest statuses; see doc `favourite_coin`.
{{
    config(
        materialized='incremental',
        unique_key='wallet',
        indexes=[
            {'columns': ['wallet'], 'unique': true},
            {'columns': ['favourite_coin']},
        ],
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}

with

-- The changed wallets' totals by coin (see doc `wallet_differences`): a wallet has a row per
-- coin it traded, however many TWAPs it placed.
wallet_coins as (

    select * from {{ ref('int_wallet_coins') }}
    {% if is_incremental() %}
    -- Incremental: the wallets changed since the last successful build.
    where {{ is_changed('wallet') }}
    {% endif %}

),

wallet_totals as (

    select
        wallet,
        {% for column in [
            'twap_count', 'active_count', 'finished_count', 'terminated_count', 'error_count',
            'waiting_count', 'unknown_status_count',
        ] -%}
        cast(sum({{ column }}) as {{ dbt.type_bigint() }}) as {{ column }},
        {% endfor -%}
        -- Null when none of the wallet's TWAPs has a known amount, as a sum over them would be.
        case
            when sum(bought_counted) > 0 then sum(executed_notional_bought)
        end as executed_notional_bought,
        case
            when sum(sold_counted) > 0 then sum(executed_notional_sold)
        end as executed_notional_sold,
        min(first_twap_at) as first_twap_at,
        max(last_twap_at) as last_twap_at

    from wallet_coins
    group by wallet

),

coin_ranks as (

    select
        wallet,
        coin,
        row_number() over (
            partition by wallet
            order by twap_count desc, coin asc
        ) as coin_rank

    from wallet_coins

),

wallets as (

    select
        wallet_totals.wallet,
        wallet_totals.twap_count,
        wallet_totals.active_count,
        wallet_totals.finished_count,
        wallet_totals.terminated_count,
        wallet_totals.error_count,
        wallet_totals.waiting_count,
        wallet_totals.unknown_status_count,
        wallet_totals.executed_notional_bought,
        wallet_totals.executed_notional_sold,
        wallet_totals.first_twap_at,
        wallet_totals.last_twap_at,
        coin_ranks.coin as favourite_coin

    from wallet_totals
    inner join coin_ranks
        on wallet_totals.wallet = coin_ranks.wallet and coin_ranks.coin_rank = 1

)

{{ with_kept_rows('wallets') }}
