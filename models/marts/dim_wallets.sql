-- One row per wallet, from its TWAPs' latest statuses; see doc `favourite_coin`.
-- depends_on: {{ ref('int_twap_status_events__deduplicated') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='wallet',
        on_schema_change='fail',
        indexes=[
            {'columns': ['wallet'], 'unique': true},
            {'columns': ['favourite_coin']},
            {'columns': ['last_load_id']},
        ],
        post_hook="{{ delete_empty_rows(['twap_count']) }}",
    )
}}

with

all_twaps as (

    select
        wallet,
        coin,
        side,
        status,
        executed_notional,
        started_at,
        last_load_id

    from {{ ref('fct_twaps') }}

),

{% if is_incremental() %}

wallet_keys as (

    select distinct wallet from ({{ changed_events() }}) as changed

),

twaps as (

    select * from all_twaps
    where {{ keys_in('wallet', 'select wallet_keys.wallet from wallet_keys') }}

),

{% else %}

twaps as (

    select * from all_twaps

),

wallet_keys as (

    select distinct wallet from twaps

),

{% endif %}

wallet_totals as (

    select
        wallet,
        count(*) as twap_count,
        sum(case when status = 'activated' then 1 else 0 end) as active_count,
        sum(case when status = 'finished' then 1 else 0 end) as finished_count,
        sum(case when status = 'terminated' then 1 else 0 end) as terminated_count,
        sum(case when status = 'error' then 1 else 0 end) as error_count,
        sum(case when side = 'buy' then executed_notional else 0 end) as executed_notional_bought,
        sum(case when side = 'sell' then executed_notional else 0 end) as executed_notional_sold,
        min(started_at) as first_twap_at,
        max(started_at) as last_twap_at,
        max(last_load_id) as last_load_id

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
        wallet_keys.wallet,
        coalesce(wallet_totals.twap_count, 0) as twap_count,
        coalesce(wallet_totals.active_count, 0) as active_count,
        coalesce(wallet_totals.finished_count, 0) as finished_count,
        coalesce(wallet_totals.terminated_count, 0) as terminated_count,
        coalesce(wallet_totals.error_count, 0) as error_count,
        coalesce(wallet_totals.executed_notional_bought, 0) as executed_notional_bought,
        coalesce(wallet_totals.executed_notional_sold, 0) as executed_notional_sold,
        wallet_totals.first_twap_at,
        wallet_totals.last_twap_at,
        coin_ranks.coin as favourite_coin,
        wallet_totals.last_load_id

    from wallet_keys
    left join wallet_totals on wallet_keys.wallet = wallet_totals.wallet
    left join coin_ranks
        on wallet_keys.wallet = coin_ranks.wallet and coin_ranks.coin_rank = 1

)

select * from wallets
