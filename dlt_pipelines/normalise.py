"""Normalise one parquet object of TWAP status events to the canonical raw schema, in pyarrow.

Every conversion is vectorised (pyarrow.compute); no Python loop touches a row.
"""

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from dlt_pipelines.settings import AMOUNT_COLUMNS, EVENT_SCHEMA, REQUIRED_COLUMNS

# Source column names accepted for each canonical column, in order of preference.
# Struct columns are flattened first, so the node form's `state.coin` is matched as such.
ALIASES: dict[str, tuple[str, ...]] = {
    "twap_id": ("twap_id",),
    "event_time": ("event_time", "time"),
    "status": ("status", "status.status"),
    "status_description": ("status_description", "description", "status.description"),
    "wallet": ("wallet", "state.user", "state_user"),
    "coin": ("coin", "state.coin", "state_coin"),
    "side": ("side", "state.side", "state_side"),
    "sz": ("sz", "state.sz", "state_sz"),
    "executed_sz": ("executed_sz", "state.executedSz", "state_executedSz"),
    "executed_ntl": ("executed_ntl", "state.executedNtl", "state_executedNtl"),
    "minutes": ("minutes", "state.minutes", "state_minutes"),
    "reduce_only": ("reduce_only", "state.reduceOnly", "state_reduceOnly"),
    "randomize": ("randomize", "state.randomize", "state_randomize"),
    "started_at": ("started_at", "state.timestamp", "state_timestamp"),
}

_UTC_US = pa.timestamp("us", tz="UTC")
# A decimal number as text: what Postgres' numeric accepts, minus NaN and infinities.
_DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_HAS_ZONE = r"([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_ERROR_PREFIX = "error:"


class BadObjectError(ValueError):
    """The object cannot be read as TWAP status events; the message says why in one line."""


def normalise_events(table: pa.Table) -> pa.Table:
    """Return `table` in the canonical raw schema, followed by any extra source columns."""
    table = _flatten_structs(table)
    found = {name: _first_present(table, name) for name in ALIASES}
    missing = [name for name in REQUIRED_COLUMNS if found[name] is None]
    if missing:
        raise BadObjectError(
            f"missing required column(s) {', '.join(missing)}; "
            f"columns present: {', '.join(table.column_names) or 'none'}"
        )
    columns = {}
    for field in EVENT_SCHEMA:
        source = found[field.name]
        if source is None:
            columns[field.name] = pa.nulls(table.num_rows, field.type)
            continue
        try:
            columns[field.name] = _CONVERTERS[field.name](table.column(source))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            detail = str(exc).splitlines()[0]
            raise BadObjectError(
                f"column '{source}' cannot be read as {field.name}: {detail}"
            ) from exc
    columns["status"], columns["status_description"] = _split_error_status(
        columns["status"], columns["status_description"]
    )
    used = {name for name in found.values() if name is not None}
    extras = {name: table.column(name) for name in table.column_names if name not in used}
    return pa.table({**columns, **extras}).cast(
        pa.schema(list(EVENT_SCHEMA) + [table.schema.field(name) for name in extras])
    )


def _flatten_structs(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _first_present(table: pa.Table, canonical: str) -> str | None:
    return next((name for name in ALIASES[canonical] if name in table.column_names), None)


def _to_int(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.utf8_trim_whitespace(column)
    return pc.cast(column, pa.int64())


def _to_bool(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(column, pa.bool_())


def _to_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(column, pa.string())


def _to_amount(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Amounts become exact decimal text: strings are validated, numbers printed."""
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    bad = pc.invert(pc.match_substring_regex(text, _DECIMAL_TEXT))
    if pc.any(bad).as_py():
        example = pc.filter(text, pc.fill_null(bad, False))[0].as_py()
        raise pa.ArrowInvalid(f"not a decimal number: {example!r}")
    return text


def _to_timestamp(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """UTC microseconds from ISO strings (zone optional), timestamps of any unit or epoch integers."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            column = pc.cast(column, pa.timestamp(kind.unit, tz="UTC"))
        return pc.cast(column, _UTC_US, safe=False)
    if pa.types.is_integer(kind):
        return pc.cast(
            pc.cast(column, pa.int64()).cast(pa.timestamp(_epoch_unit(column), "UTC")),
            _UTC_US,
            safe=False,
        )
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        zoned = pc.if_else(
            pc.match_substring_regex(text, _HAS_ZONE),
            text,
            pc.binary_join_element_wise(text, "Z", ""),
        )
        return pc.cast(pc.cast(zoned, pa.timestamp("ns", tz="UTC")), _UTC_US, safe=False)
    raise pa.ArrowTypeError(f"unsupported time type {kind}")


def _epoch_unit(column: pa.ChunkedArray) -> str:
    """Guess the unit of epoch integers from their magnitude (a 2020s date in s, ms, us or ns)."""
    largest = pc.max(pc.abs(column)).as_py() or 0
    for unit, limit in (("s", 10**11), ("ms", 10**14), ("us", 10**17)):
        if largest < limit:
            return unit
    return "ns"


def _split_error_status(
    status: pa.ChunkedArray, description: pa.ChunkedArray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """`error: <description>` in the status column becomes status `error` plus its description."""
    prefixed = pc.fill_null(pc.starts_with(pc.utf8_lower(status), _ERROR_PREFIX), False)
    if not pc.any(prefixed).as_py():
        return status, description
    remainder = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(status, len(_ERROR_PREFIX)))
    return (
        pc.if_else(prefixed, pa.scalar("error"), status),
        pc.if_else(prefixed, pc.coalesce(description, remainder), description),
    )


_CONVERTERS: dict[str, Callable[[pa.ChunkedArray], pa.ChunkedArray]] = {
    "twap_id": _to_int,
    "event_time": _to_timestamp,
    "status": _to_text,
    "status_description": _to_text,
    "wallet": _to_text,
    "coin": _to_text,
    "side": _to_text,
    **{name: _to_amount for name in AMOUNT_COLUMNS},
    "minutes": _to_int,
    "reduce_only": _to_bool,
    "randomize": _to_bool,
    "started_at": _to_timestamp,
}
