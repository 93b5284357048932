"""Layouts as data: how each known source names the canonical fields (DATA.md, list 1-11).

A layout maps each canonical column to the source columns that may hold it (first present
wins; struct fields are flattened to `parent.child` first), plus the source's own spellings of
statuses and sides and the unit of its epoch numbers. The layout of an object is chosen from
its columns. A user adds one in dlt config (`sources.hyperliquid_twap.layouts.<name>`) with
the same keys, no code.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from dlt_pipelines.settings import (
    EVENT_SCHEMA,
    FILL_REQUIRED_COLUMNS,
    FILL_SCHEMA,
    REQUIRED_COLUMNS,
)

# What an object holds: TWAP status events or TWAP slice fills; each its schema and the columns
# a layout must find.
EVENTS, FILLS = "events", "fills"
SCHEMAS: dict[str, pa.Schema] = {EVENTS: EVENT_SCHEMA, FILLS: FILL_SCHEMA}
REQUIRED: dict[str, tuple[str, ...]] = {EVENTS: REQUIRED_COLUMNS, FILLS: FILL_REQUIRED_COLUMNS}

# Every status word Hyperliquid is known to use, spelled as it does (DATA.md, Statuses beyond the
# four); sources' spellings are matched ignoring case. A word not listed is kept as written.
STATUSES = ("activated", "finished", "terminated", "error", "waitingForTrigger", "stopped")
# Sides as sources spell them (compared lower-case) -> the canonical B (buy) or A (sell).
SIDES = {"b": "B", "a": "A", "buy": "B", "sell": "A", "bid": "B", "ask": "A"}
TIME_UNITS = ("s", "ms", "us", "ns")
TIMES = ("event_time", "started_at", "fill_time")


@dataclass(frozen=True)
class Layout:
    name: str
    # canonical column -> source columns that may hold it, in order of preference
    columns: Mapping[str, tuple[str, ...]]
    # the source's own status spellings (lower-case) -> a canonical status
    statuses: Mapping[str, str] = field(default_factory=dict)
    sides: Mapping[str, str] = field(default_factory=dict)
    # time column -> unit of its epoch numbers; absent: from each value's magnitude
    time_units: Mapping[str, str] = field(default_factory=dict)
    # the list whose elements are the events, as a column or a path into structs (`data.history`)
    unnest: str | None = None
    kind: str = EVENTS

    def present(self, column_names: Sequence[str]) -> dict[str, str]:
        """Canonical column -> the source column that holds it in a table with these columns."""
        names = set(column_names)
        found = {}
        for canonical, candidates in self.columns.items():
            source = next((name for name in candidates if name in names), None)
            if source is not None:
                found[canonical] = source
        return found

    def missing(self, column_names: Sequence[str]) -> list[str]:
        found = self.present(column_names)
        return [name for name in REQUIRED[self.kind] if name not in found]


def _state(prefix: str, capitalised: bool = False) -> dict[str, tuple[str, ...]]:
    """The node's `state` fields, as struct children (`state.`) or flattened (`state_`, or
    Bitquery's `State_Coin`)."""
    fields = {
        "wallet": "user",
        "coin": "coin",
        "side": "side",
        "sz": "sz",
        "executed_sz": "executedSz",
        "executed_ntl": "executedNtl",
        "minutes": "minutes",
        "reduce_only": "reduceOnly",
        "randomize": "randomize",
        "started_at": "timestamp",
    }
    if capitalised:
        fields = {canonical: name[0].upper() + name[1:] for canonical, name in fields.items()}
    return {canonical: (prefix + name,) for canonical, name in fields.items()}


_NODE = {
    "twap_id": ("twap_id",),
    "event_time": ("time",),
    # A string, or a struct of the status and its description, or the node's {"error": msg}.
    "status": ("status", "status.status"),
    "status_description": ("status_error", "status.description", "status.error"),
    **_state("state."),
}

# The info API's records: `twapId`, and `status` a struct of the word and its description.
_INFO_API = {**_NODE, "twap_id": ("twapId",), "status": ("status.status",)}
_INFO_API_TIMES = {"event_time": "s", "started_at": "ms"}
# Bitquery's epoch numbers: event and block times in nanoseconds, order start in milliseconds.
_BITQUERY_TIMES = {"event_time": "ns", "started_at": "ms"}

# A fill's fields as Hyperliquid names them (node, info API, websocket, vendors' flat copies).
_FILL_FIELDS = {
    "twap_id": "twapId",
    "tid": "tid",
    "coin": "coin",
    "side": "side",
    "px": "px",
    "sz": "sz",
    "fill_time": "time",
    "fee": "fee",
    "fee_token": "feeToken",
    "closed_pnl": "closedPnl",
    "start_position": "startPosition",
    "dir": "dir",
    "hash": "hash",
    "oid": "oid",
    "crossed": "crossed",
    "cloid": "cloid",
    "builder_fee": "builderFee",
    "liquidation": "liquidation",
}
# The fill as a struct `fill` (node events `[user, fill]`, userTwapSliceFills `{fill, twapId}`)
# or flat (userFills, vendors); the user beside it, or none (a saved info API response).
_FILL = {canonical: (f"fill.{name}", name) for canonical, name in _FILL_FIELDS.items()} | {
    "twap_id": ("twapId", "fill.twapId"),
    "wallet": ("user", "fill.user", "wallet"),
}

KNOWN_LAYOUTS: tuple[Layout, ...] = (
    Layout("canonical", {f.name: (f.name,) for f in EVENT_SCHEMA}),
    Layout("canonical fills", {f.name: (f.name,) for f in FILL_SCHEMA}, kind=FILLS),
    Layout("Hyperliquid fills", _FILL, kind=FILLS),
    Layout("node", _NODE),
    Layout("node block envelope", _NODE, unnest="events"),
    Layout("info API twapHistory", _INFO_API, time_units=_INFO_API_TIMES),
    # Frames saved as received, one a line: the records sit in the frame's `data.history`.
    Layout(
        "websocket userTwapHistory", _INFO_API, time_units=_INFO_API_TIMES, unnest="data.history"
    ),
    Layout(
        "Bitquery twap_statuses",
        {
            "twap_id": ("TwapId",),
            "event_time": ("Time", "Block_Time"),
            "status": ("Status",),
            "status_description": ("StatusError",),
            **_state("State_", capitalised=True),
        },
        time_units=_BITQUERY_TIMES,
    ),
    Layout(
        "Bitquery twaps",
        {
            "twap_id": ("Twap_TwapId",),
            "event_time": ("Twap_Interval_EventTime", "Block_Time"),
            "status": ("Twap_State_Status",),
            "status_description": ("Twap_State_StatusError",),
            "wallet": ("Twap_Trader_Address",),
            "coin": ("Twap_Market_CoinRaw",),
            "side": ("Twap_Order_Side",),  # Buy or Sell
            "sz": ("Twap_Order_Size",),
            "executed_sz": ("Twap_State_ExecutedSize",),
            "executed_ntl": ("Twap_State_ExecutedNotional",),
            "minutes": ("Twap_Interval_DurationMinutes",),
            "reduce_only": ("Twap_Order_ReduceOnly",),  # 0 or 1
            "randomize": ("Twap_Order_Randomize",),
            "started_at": ("Twap_Interval_StartTime",),
        },
        time_units=_BITQUERY_TIMES,
    ),
    Layout(
        "flattened",
        {
            "twap_id": ("twap_id",),
            "event_time": ("time",),
            "status": ("status",),
            "status_description": ("status_error", "status_description"),
            **_state("state_"),
        },
    ),
    Layout(
        "seed sample",
        {
            "twap_id": ("twap_id",),
            "event_time": ("state_timestamp",),  # its only time
            "status": ("status",),
            "status_description": ("status_error", "status_description"),
            **_state("state_"),
        },
    ),
    Layout(
        "CoinAPI",
        {
            "twap_id": ("twap_id",),
            "event_time": ("time_exchange", "time_coinapi"),
            "status": ("status",),
            "wallet": ("user",),
            **{name: (name,) for name in ("coin", "side", "sz", "executed_sz", "executed_ntl")},
            **{name: (name,) for name in ("minutes", "reduce_only", "randomize")},
        },
    ),
    Layout(
        "Hydromancer",
        {
            "twap_id": ("twapId",),
            "event_time": ("time",),
            "status": ("status",),
            "status_description": ("statusMessage",),
            "wallet": ("user",),
            "coin": ("coin",),
            "side": ("side",),
            "sz": ("sz",),
            "executed_sz": ("executedSz",),
            "executed_ntl": ("executedNtl",),
            "minutes": ("minutes",),
            "reduce_only": ("reduceOnly",),
            "randomize": ("randomize",),
            "started_at": ("createdAt",),
        },
    ),
    Layout(
        "Allium",
        {
            "twap_id": ("twap_id",),
            "event_time": ("status_change_timestamp",),
            "status": ("status",),
            "wallet": ("user",),
            "coin": ("coin",),
            "side": ("side",),
            "sz": ("size",),
            "executed_sz": ("executed_size",),
            "executed_ntl": ("executed_notional",),
            "minutes": ("minutes",),
            "reduce_only": ("is_reduce_only",),
            "randomize": ("randomize",),
            "started_at": ("order_timestamp",),
        },
    ),
)


def choose_layout(
    layouts: Sequence[Layout], columns_of: Callable[[Layout], Sequence[str] | None]
) -> tuple[Layout | None, Layout, list[str]]:
    """The layout that finds every required column and the most others among `columns_of` (the
    columns a layout sees, None when it does not apply); the earliest wins a tie, so a user's
    own layouts, listed first, come before the known ones.

    Returns that layout (None if none fits), the closest one and what the closest lacks.
    """
    seen = [(layout, columns_of(layout)) for layout in layouts]
    seen = [(layout, columns) for layout, columns in seen if columns is not None]
    ranked = sorted(
        seen,
        key=lambda pair: (len(pair[0].missing(pair[1])), -len(pair[0].present(pair[1]))),
    )  # stable: the earliest layout first among equals
    closest, columns = ranked[0]
    missing = closest.missing(columns)
    return (None if missing else closest), closest, missing


def layouts_from_config(config: Mapping[str, Any] | None) -> tuple[Layout, ...]:
    """The user's layouts (`layouts.<name>` in dlt config) followed by the known ones.

    Raises ValueError naming the layout and key when a user's layout is malformed.
    """
    own = tuple(_layout(name, spec) for name, spec in (config or {}).items())
    return own + KNOWN_LAYOUTS


def _layout(name: str, spec: Any) -> Layout:
    where = f"layout '{name}' (sources.hyperliquid_twap.layouts.{name})"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a table of columns, statuses, sides, time_unit")
    unknown_keys = set(spec) - {"columns", "statuses", "sides", "time_unit", "unnest", "kind"}
    if unknown_keys:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown_keys))}")
    columns = {
        canonical: (sources,) if isinstance(sources, str) else tuple(sources)
        for canonical, sources in (spec.get("columns") or {}).items()
    }
    kind = spec.get("kind") or EVENTS
    if kind not in SCHEMAS:
        raise ValueError(f"{where}: kind is {' or '.join(SCHEMAS)}, not {kind!r}")
    schema = SCHEMAS[kind]
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise ValueError(
            f"{where}: unknown canonical column(s) {', '.join(unknown)} "
            f"(one of {', '.join(schema.names)})"
        )
    missing = [name for name in REQUIRED[kind] if name not in columns]
    if missing:
        raise ValueError(f"{where}: no source column for {', '.join(missing)}")
    statuses = {str(k).lower(): str(v) for k, v in (spec.get("statuses") or {}).items()}
    bad_statuses = sorted(set(statuses.values()) - set(STATUSES))
    if bad_statuses:
        raise ValueError(
            f"{where}: statuses map to {', '.join(bad_statuses)}; use {', '.join(STATUSES)}"
        )
    sides = {str(k).lower(): str(v) for k, v in (spec.get("sides") or {}).items()}
    if set(sides.values()) - {"B", "A"}:
        raise ValueError(f"{where}: sides map to B (buy) or A (sell)")
    time_unit = spec.get("time_unit") or {}
    # One unit for every time column, or one per column.
    time_units = (
        dict(time_unit) if isinstance(time_unit, Mapping) else dict.fromkeys(TIMES, time_unit)
    )
    if set(time_units) - set(TIMES) or set(time_units.values()) - set(TIME_UNITS):
        raise ValueError(
            f"{where}: time_unit is one of {', '.join(TIME_UNITS)}, or a table of them by "
            f"{' and '.join(TIMES)}"
        )
    return Layout(name, columns, statuses, sides, time_units, spec.get("unnest"), kind)
