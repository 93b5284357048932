-- The keys that ingest commits not yet taken in by a successful build touched (status events
-- and fills alike), and the TWAPs running at the last build: see doc `incremental_builds`.
-- Empty until a first build has finished (that one builds everything).
{{
    config(
        materialized='table',
        indexes=[{'columns': ['twap_id']}],
        pre_hook="{{ index_lookups_only() }}",
    )
}}

-- Raw's events are named in each CTE that reads them: Postgres materializes a CTE used twice
-- in full, which would hide raw's indexes from the lookups below.
with

commits as (

    select * from {{ ref('stg_hyperliquid__ingest_commits') }}

),

builds as (

    select * from {{ source('build_log', 'dbt_build_log') }}

),

bounds as (

    select
        coalesce(max(case when status = 'success' then built_through_seq end), 0) as after_seq,
        max(case when invocation_id = '{{ invocation_id }}' then built_through_seq end)
            as through_seq

    from builds

),

unbuilt_commits as (

    select commits.*
    from commits
    cross join bounds
    where
        {{ 'true' if finished_build_exists() else 'false' }}
        and commits.commit_seq > bounds.after_seq
        and commits.commit_seq <= coalesce(bounds.through_seq, commits.commit_seq)

),

-- The rows a commit made current and the rows it replaced (kept in raw until a successful
-- build has taken the commit in): a TWAP's old wallet, coin and days are recomputed too.
changed_loads as (

    select
        object_key,
        load_id

    from unbuilt_commits
    where load_id is not null

    union

    select
        object_key,
        previous_load_id as load_id

    from unbuilt_commits
    where previous_load_id is not null

),

-- One index range scan of raw per changed load, in a lateral subquery: the planner cannot
-- tell that the changed loads are few and would otherwise scan all of raw (macro lateral_fence);
-- nor, when one huge load dominates raw's statistics, that each is small (index_lookups_only).
changed_twaps as (

    select distinct load_rows.twap_id
    from changed_loads
    cross join
        lateral (
            select events.twap_id
            from {{ ref('stg_hyperliquid__twap_status_events') }} as events
            where
                events.object_key = changed_loads.object_key
                and events.load_id = changed_loads.load_id
            {{ lateral_fence() }}
        ) as load_rows

    union

    select distinct load_fills.twap_id
    from changed_loads
    cross join lateral (
        select fills.twap_id
        from {{ ref('stg_hyperliquid__twap_fills') }} as fills
        where
            fills.object_key = changed_loads.object_key
            and fills.load_id = changed_loads.load_id
        {{ lateral_fence() }}
    ) as load_fills

),

-- Every wallet, coin and day any raw row of those TWAPs names, current or not: a superset of
-- the keys they counted in before and count in now.
changed_keys as (

    select distinct
        events.twap_id,
        events.wallet,
        events.coin,
        {{ utc_date('events.event_time') }} as event_date,
        {{ utc_date('events.started_at') }} as start_date

    from {{ ref('stg_hyperliquid__twap_status_events') }} as events
    where {{ keys_in('events.twap_id', 'select changed_twaps.twap_id from changed_twaps') }}

    union

    -- What is left of a running TWAP depends on the data's clock and its coin's latest fill
    -- (macro remaining_figures): every build that takes in a commit revalues them all.
    select
        running.twap_id,
        cast(null as {{ text_type() }}) as wallet,
        cast(null as {{ text_type() }}) as coin,
        cast(null as date) as event_date,
        cast(null as date) as start_date

    from ({{ running_twaps_built() }}) as running
    where exists (select 1 from unbuilt_commits)

)

select * from changed_keys
