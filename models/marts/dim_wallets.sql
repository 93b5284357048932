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

twaps as (

    select
        wallet,
        coin,
        side,
        status,
        executed_notional,
        -- A source without start times: the TWAP's first event stands in for its start.
        coalesce(started_at, first_seen_at) as started_at

    from {{ ref('fct_twaps') }}
    {% if is_incremental() %}
    -- Incremental: the TWAPs of the wallets changed since the last successful build.
    where {{ is_changed('wallet') }}
    {% endif %}

),

wallet_totals as (

    select
        wallet,
        count(*) as twap_count,
        sum(case when status = 'activated' then 1 else 0 end) as active_count,
        sum(case when status = 'finished' then 1 else 0 end) as finished_count,
        sum(
            case when status in ('terminated', 'stopped') then 1 else 0 end
        ) as terminated_count,
        sum(case when status = 'error' then 1 else 0 end) as error_count,
        sum(case when status = 'waitingForTrigger' then 1 else 0 end) as waiting_count,
        sum(
            case
                when status = 'activated' or status = 'waitingForTrigger' then 0
                when {{ is_ended('status') }} then 0
                else 1
            end
        ) as unknown_status_count,
        sum(case when side = 'buy' then executed_notional else 0 end) as executed_notional_bought,
        sum(case when side = 'sell' then executed_notional else 0 end) as executed_notional_sold,
        min(started_at) as first_twap_at,
        max(started_at) as last_twap_at

    from twaps
    group by wallet

),

coin_ranks as (

    select
        wallet,
        coin,
        row_number() over (
            partition by wallet
            order by count(*) desc, coin asc
        ) as coin_rank

    from twaps
    group by wallet, coin

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
