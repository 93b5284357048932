-- One row per wallet and coin: its TWAPs' counts and sums, updated by differences (what the
-- changed TWAPs count now minus what they counted before). See doc `wallet_differences`.
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='delete+insert',
        unique_key=['wallet', 'coin'],
        indexes=[{'columns': ['wallet', 'coin'], 'unique': true}],
        pre_hook="{{ recount_changed_wallets() }}",
        post_hook="{{ delete_uncounted_wallet_coins() }}",
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}
{%- set by_differences = counts_by_differences() %}
{%- set sums = [
    'twap_count', 'active_count', 'finished_count', 'terminated_count', 'error_count',
    'waiting_count', 'unknown_status_count', 'executed_notional_bought', 'bought_counted',
    'executed_notional_sold', 'sold_counted',
] %}

with

-- Each counted TWAP once (weight 1); by differences also each changed TWAP's previous
-- contribution, taken back (weight -1).
contributions as (

    {% if by_differences %}
    select
        wallet,
        coin,
        status,
        bought_notional,
        sold_notional,
        started_at,
        1 as weight

    from {{ ref('int_twaps__counted') }}
    where {{ is_changed('twap_id') }} and wallet is not null

    union all

    select
        previous_wallet as wallet,
        previous_coin as coin,
        previous_status as status,
        previous_bought_notional as bought_notional,
        previous_sold_notional as sold_notional,
        null as started_at,
        -1 as weight

    from {{ ref('int_twaps__counted') }}
    where {{ is_changed('twap_id') }} and previous_wallet is not null
    {% else %}
    select
        wallet,
        coin,
        status,
        bought_notional,
        sold_notional,
        started_at,
        1 as weight

    from {{ ref('int_twaps__counted') }}
    where wallet is not null {% if is_incremental() %}and {{ is_changed('wallet') }}{% endif %}
    {% endif %}

),

changes as (

    select
        wallet,
        coin,
        sum(weight) as twap_count,
        sum(case when status = 'activated' then weight else 0 end) as active_count,
        sum(case when status = 'finished' then weight else 0 end) as finished_count,
        sum(
            case when status in ('terminated', 'stopped') then weight else 0 end
        ) as terminated_count,
        sum(case when status = 'error' then weight else 0 end) as error_count,
        sum(case when status = 'waitingForTrigger' then weight else 0 end) as waiting_count,
        sum(
            case
                when status = 'activated' or status = 'waitingForTrigger' then 0
                when {{ is_ended('status') }} then 0
                else weight
            end
        ) as unknown_status_count,
        -- A wallet's sum is null when none of its TWAPs has a known amount (as sum() over them).
        -- Amounts are negated, not multiplied by the weight: Spark widens a decimal times an
        -- integer past 38 digits and rounds it.
        sum(
            case
                when weight > 0 then coalesce(bought_notional, 0)
                else -coalesce(bought_notional, 0)
            end
        ) as executed_notional_bought,
        sum(case when bought_notional is null then 0 else weight end) as bought_counted,
        sum(
            case
                when weight > 0 then coalesce(sold_notional, 0)
                else -coalesce(sold_notional, 0)
            end
        ) as executed_notional_sold,
        sum(case when sold_notional is null then 0 else weight end) as sold_counted,
        min(started_at) as first_twap_at,
        max(started_at) as last_twap_at

    from contributions
    group by wallet, coin

),

{% if by_differences %}

counted as (

    select * from {{ this }}
    where {{ keys_in('wallet', 'select changes.wallet from changes') }}

),

-- A start taken back cannot be subtracted from a minimum: the pair's first and last start
-- are looked up again, through the index on (wallet, coin, started_at).
starts as (

    select
        changes.wallet,
        changes.coin,
        bounds.first_twap_at,
        bounds.last_twap_at

    from changes
    cross join lateral (
        select
            min(twaps.started_at) as first_twap_at,
            max(twaps.started_at) as last_twap_at

        from {{ ref('int_twaps__counted') }} as twaps
        where twaps.wallet = changes.wallet and twaps.coin = changes.coin
    ) as bounds

),

wallet_coins as (

    select
        changes.wallet,
        changes.coin,
        {% for column in sums -%}
        coalesce(counted.{{ column }}, 0) + changes.{{ column }} as {{ column }},
        {% endfor -%}
        starts.first_twap_at,
        starts.last_twap_at

    from changes
    inner join starts on changes.wallet = starts.wallet and changes.coin = starts.coin
    left join counted on changes.wallet = counted.wallet and changes.coin = counted.coin

)

{% else %}

wallet_coins as (

    select * from changes

)

{% endif %}

select * from wallet_coins
