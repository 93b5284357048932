-- One row per TWAP with its latest status: see doc `latest_status_rule`.
with

events as (

    select * from {{ ref('int_twap_status_events__deduplicated') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by twap_id
            order by
                event_time desc,
                case when status = 'activated' then 1 else 0 end asc,
                status asc
        ) as recency_rank,
        count(*) over (partition by twap_id) as event_count

    from events

),

latest as (

    select
        twap_id,
        wallet,
        coin,
        side,
        size,
        minutes,
        reduce_only,
        randomize,
        started_at,
        status,
        status_description,
        event_time as status_at,
        executed_size,
        executed_notional,
        executed_notional / nullif(executed_size, 0) as avg_price,
        executed_size / nullif(size, 0) as fill_ratio,
        status = 'activated' as is_active,
        event_count

    from ranked
    where recency_rank = 1

)

select * from latest
