{#- The status words by meaning (README, Statuses): `activated` runs, `waitingForTrigger` waits to
    start, the ended ones below are terminal. Any other word is unknown: neither running nor
    ended, kept and published as it is (the staging test twap_status_is_known warns of it). -#}
{% macro ended_statuses() -%}
    ('finished', 'terminated', 'error', 'stopped')
{%- endmacro %}

{% macro is_ended(status) -%}
    {{ status }} in {{ ended_statuses() }}
{%- endmacro %}

{#- Which status is the latest of events at the same event time: the highest rank (doc
    latest_status_rule). An unknown word ranks lowest: it never hides a known one. -#}
{% macro status_rank(status) -%}
    case
        when {{ is_ended(status) }} then 3
        when {{ status }} = 'activated' then 2
        when {{ status }} = 'waitingForTrigger' then 1
        else 0
    end
{%- endmacro %}
