{#- What is left of a TWAP, defined once (doc `remaining`): fct_twaps computes it with
    `remaining_figures`, and fct_active_twaps, the site's views and queries, the JSON and the
    feed read its columns. -#}

{#- The CTEs of the figures, ending with `remaining`, for a model's `with` list: from `twaps`
    (a CTE's name), which has the TWAP's latest status (`status`, `side`,
    `size`, `expected_end_at`, `executed_size`, `executed_notional`), its loaded fills
    (`fill_count`, `fills_executed_size`, `fills_executed_notional`), its coin's prices
    (`coin_last_fill_price`, `coin_reference_price`) and the data's clock (`as_of`). -#}
{% macro remaining_figures(twaps) -%}
    remaining_executed as (

        select
            *,
            -- A running TWAP executes between its status events: its fills say how far it is.
            -- An ended one's final status stays the authority (fills may be missing).
            case
                when status = 'activated' and fill_count > 0 then 'fills'
                else 'status'
            end as executed_source

        from {{ twaps }}

    ),

    remaining_so_far as (

        select
            *,
            case
                when executed_source = 'fills' then fills_executed_size else executed_size
            end as executed_size_so_far,
            case
                when executed_source = 'fills' then fills_executed_notional
                else executed_notional
            end as executed_notional_so_far,
            case
                when status = 'activated'
                    then greatest({{ minutes_between('as_of', 'expected_end_at') }}, 0)
            end as minutes_left

        from remaining_executed

    ),

    remaining_priced as (

        select
            *,
            greatest(size - executed_size_so_far, 0) as remaining_size,
            -- A running TWAP's rest at the coin's latest fill, else at its own average, else at
            -- the coin's reference price; an ended one's at its own average.
            case
                when status = 'activated' then coalesce(
                    coin_last_fill_price,
                    executed_notional_so_far / nullif(executed_size_so_far, 0),
                    coin_reference_price
                )
                else executed_notional_so_far / nullif(executed_size_so_far, 0)
            end as reference_price,
            case
                when status = 'activated' and coin_last_fill_price is not null
                    then 'coin_last_fill'
                when executed_size_so_far > 0 then 'twap_average'
                when status = 'activated' and coin_reference_price is not null
                    then 'coin_reference'
            end as reference_price_source

        from remaining_so_far

    ),

    remaining as (

        select
            *,
            remaining_size * reference_price as remaining_notional_estimate,
            -- Even execution of the rest until the planned end: the share due in the next hour
            -- and day (none once the end has passed).
            (case when side = 'buy' then 1 else -1 end)
            * remaining_size * reference_price
            * case when minutes_left > 0 then least(minutes_left, 60) / minutes_left else 0 end
                as net_next_hour,
            (case when side = 'buy' then 1 else -1 end)
            * remaining_size * reference_price
            * case when minutes_left > 0 then least(minutes_left, 1440) / minutes_left else 0 end
                as net_next_day

        from remaining_priced

    )
{%- endmacro %}


{#- The TWAPs running when fct_twaps was last built (none before it exists): what is left of
    them moves with the clock and their coin's fills, so each build revalues them. -#}
{% macro running_twaps_built() -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.fct_twaps') if execute else none -%}
    {%- set built = adapter.get_relation(
        database=node.database, schema=node.schema, identifier=node.alias
    ) if node else none -%}
    {%- if built -%}
        select twap_id from {{ built }} where status = 'activated'
    {%- else -%}
        select twap_id from {{ ref('stg_hyperliquid__twap_status_events') }} where 1 = 0
    {%- endif -%}
{%- endmacro %}
