-- The current TWAP slice fills, one row per (twap_id, tid). A view: the marts read it for the
-- TWAPs they rebuild, and Postgres pushes a filter on twap_id through the window below.
with

fills as (

    select * from {{ ref('stg_hyperliquid__twap_fills') }}

),

objects as (

    select * from {{ ref('stg_hyperliquid__ingest_objects') }}

),

-- Only the rows of each object's current load count: the ledger is raw's commit log.
current_fills as (

    select fills.*
    from fills
    inner join objects
        on
            fills.object_key = objects.object_key
            and fills.load_id = objects.current_load_id

),

-- A fill is written by the node, the API and the websocket alike: of its copies the one that
-- names its wallet is kept, then the one from the greatest object key and row, whatever order
-- the objects were loaded in.
ranked_copies as (

    select
        *,
        row_number() over (
            partition by twap_id, tid
            order by
                case when wallet is null then 1 else 0 end asc,
                object_key desc,
                object_row desc
        ) as copy_rank

    from current_fills

),

final as (

    select
        twap_id,
        tid,
        wallet,
        coin,
        side,
        fill_time,
        px as price,
        sz as size,
        notional,
        fee,
        fee_token,
        crossed,
        tx_hash,
        oid,
        object_key,
        object_row

    from ranked_copies
    where copy_rank = 1

)

select * from final
