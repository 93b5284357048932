-- One row per (twap_id, status, event_time), ordered within its TWAP: see doc `incremental_builds`.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='twap_id',
        indexes=[
            {'columns': ['twap_id']},
            {'columns': ['object_key']},
            {'columns': ['changed_in_load_id']},
            {'columns': ['is_deleted']},
        ],
    )
}}

-- Relations read by several CTEs are named in each: Postgres materializes a CTE used twice
-- in full, which would hide the indexes on raw and on this table from the incremental filters.
with

{% if is_incremental() %}

new_events as (

    select
        twap_id,
        object_key

    from {{ ref('stg_hyperliquid__twap_status_events') }}
    where load_id > (select max(previous.changed_in_load_id) from {{ this }} as previous)

),

-- A rewritten object replaces its rows: TWAPs whose kept copies came from it are affected too.
affected_twaps as (

    select new_events.twap_id from new_events

    union

    select previous.twap_id
    from {{ this }} as previous
    where
        not previous.is_deleted
        and {{ keys_in('previous.object_key', 'select new_events.object_key from new_events') }}

),

twap_events as (

    select *
    from {{ ref('stg_hyperliquid__twap_status_events') }}
    where {{ keys_in('twap_id', 'select affected_twaps.twap_id from affected_twaps') }}

),

previous as (

    select *
    from {{ this }}
    where
        not is_deleted
        and {{ keys_in('twap_id', 'select affected_twaps.twap_id from affected_twaps') }}

),

{% else %}

twap_events as (

    select * from {{ ref('stg_hyperliquid__twap_status_events') }}

),

{% endif %}

batch as (

    select max(load_id) as changed_in_load_id from twap_events

),

ranked_copies as (

    select
        *,
        row_number() over (
            partition by twap_id, status, event_time
            order by load_id desc, object_key desc, object_row asc
        ) as copy_rank

    from twap_events

),

deduplicated as (

    select *
    from ranked_copies
    where copy_rank = 1

),

ordered as (

    select
        *,
        row_number() over twap_order as event_number,
        lag(status) over twap_order as previous_status,
        count(*) over (partition by twap_id) as twap_event_count

    from deduplicated
    -- Ascending reverse of the latest-status rule: on a tie `activated` comes first.
    window twap_order as (
        partition by twap_id
        order by
            event_time asc,
            case when status = 'activated' then 0 else 1 end asc,
            status desc
    )

),

live as (

    select
        ordered.twap_id,
        ordered.event_number,
        ordered.status,
        ordered.event_time,
        ordered.previous_status,
        ordered.event_number = ordered.twap_event_count as is_latest_status,
        ordered.status_description,
        ordered.wallet,
        ordered.coin,
        ordered.market_type,
        ordered.side,
        ordered.size,
        ordered.executed_size,
        ordered.executed_notional,
        ordered.minutes,
        ordered.reduce_only,
        ordered.randomize,
        ordered.started_at,
        ordered.object_key,
        ordered.load_id,
        false as is_deleted,
        batch.changed_in_load_id

    from ordered
    cross join batch

)

{% if is_incremental() %}

,

-- Events of affected TWAPs that vanished from raw, or whose wallet, coin or start changed:
-- their old versions stay as tombstones so that the marts can find the wallets, coins and days
-- they used to count in.
tombstones as (

    select
        previous.twap_id,
        previous.event_number,
        previous.status,
        previous.event_time,
        previous.previous_status,
        previous.is_latest_status,
        previous.status_description,
        previous.wallet,
        previous.coin,
        previous.market_type,
        previous.side,
        previous.size,
        previous.executed_size,
        previous.executed_notional,
        previous.minutes,
        previous.reduce_only,
        previous.randomize,
        previous.started_at,
        previous.object_key,
        previous.load_id,
        true as is_deleted,
        batch.changed_in_load_id

    from previous
    cross join batch
    where
        not exists (
            select 1
            from live
            where
                live.twap_id = previous.twap_id
                and live.status = previous.status
                and live.event_time = previous.event_time
                and live.wallet is not distinct from previous.wallet
                and live.coin is not distinct from previous.coin
                and live.started_at is not distinct from previous.started_at
        )

)

select * from live
union all
select * from tombstones

{% else %}

select * from live

{% endif %}
