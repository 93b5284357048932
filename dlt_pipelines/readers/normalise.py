"""Rows in the canonical raw schema, through the layout their columns fit (one object's, or a
batch of objects of one layout at once); every row validated, a bad one rejected alone with its
reason.

Every conversion is vectorised (pyarrow.compute): a value that cannot be read becomes null and
its row is rejected. Only rejected rows are turned into Python objects (to keep them verbatim).
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from dlt_pipelines.errors import BadObjectError
from dlt_pipelines.readers.layouts import (
    FILLS,
    SIDES,
    STATUSES,
    TIMES,
    Layout,
    choose_layout,
)
from dlt_pipelines.settings import (
    AMOUNT_COLUMNS,
    EVENT_SCHEMA,
    FILL_AMOUNT_COLUMNS,
    FILL_REQUIRED_COLUMNS,
    FILL_SCHEMA,
    FILL_SIGNED_AMOUNT_COLUMNS,
    LINEAGE_SCHEMA,
    QUARANTINE_SCHEMA,
    REQUIRED_COLUMNS,
)

logger = logging.getLogger(__name__)

# Hyperliquid TWAPs did not exist before 2023; a time more than a day after the run is corrupt.
EARLIEST = datetime(2023, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# An error names at most this many of an unknown file's columns (one line, whatever the file).
MAX_COLUMNS_SHOWN = 20

_UTC_US = pa.timestamp("us", tz="UTC")
# A decimal number as text: what Postgres' numeric accepts, minus NaN and infinities.
_DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NEGATIVE = r"^-0*[1-9]|^-0*\.0*[1-9]"
_ZERO = r"^[+-]?0*\.?0*$"
# A slice trades some size at some price: a zero is a bad row (the models divide by them).
_ABOVE_ZERO = ("px", "sz")
_INTEGER_TEXT = r"^[+-]?[0-9]{1,18}$"
_WHOLE_TEXT = r"^[+-]?[0-9]{1,18}(\.0*)?$"
_NUMBER_TEXT = r"^[+-]?[0-9]+(\.[0-9]*)?$"
_ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
_HAS_ZONE = r"([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
_WALLET = r"^0[xX][0-9a-fA-F]{40}$"
_ERROR_PREFIX = "error:"
# A status word nobody has mapped yet (`waitingForTrigger` once was one).
_STATUS_WORD = r"^[A-Za-z][A-Za-z0-9_-]{0,39}$"
_BOOLS = {"true": True, "t": True, "1": True, "yes": True, "y": True}
_BOOLS |= {"false": False, "f": False, "0": False, "no": False, "n": False}


@dataclass(frozen=True)
class Fitted:
    """Rows and the layout that reads them: `rows` as the source has them (kept for rejected
    rows), `view` the same rows with structs flattened (what the layout's names address)."""

    layout: Layout
    rows: pa.Table
    view: pa.Table

    def with_columns(self, columns: pa.Table) -> "Fitted":
        """Both tables with `columns` (one value per row) appended."""
        rows, view = self.rows, self.view
        for field, column in zip(columns.schema, columns.columns, strict=True):
            rows, view = rows.append_column(field, column), view.append_column(field, column)
        return Fitted(self.layout, rows, view)


@dataclass(frozen=True)
class Normalised:
    """Rows of one layout (from one object or many) read into the canonical schema."""

    # events: the canonical schema, the source's extra columns, then lineage; fills: the fill
    # schema then lineage
    events: pa.Table
    rejected: pa.Table  # lineage, reason, row (the source row as JSON text)
    repaired: pa.Array  # per row of the view: a time corrected from ms stored as ns


@dataclass(frozen=True)
class _Column:
    """A canonical column read from a source column: its values, and per row why not (or null)."""

    values: pa.Array
    problem: pa.Array | None  # None: no row has one


def fit_layout(table: pa.Table, layouts: Sequence[Layout]) -> Fitted:
    """The layout `table`'s columns fit, with the rows it reads; raises BadObjectError if none."""
    flat = _flatten_structs(table)
    rows: dict[str | None, pa.Table] = {None: table}
    # An envelope: the events are the elements of a list, a column or a path into structs.
    for path in {layout.unnest for layout in layouts if layout.unnest}:
        if path in flat.column_names and pa.types.is_list(flat.schema.field(path).type):
            rows[path] = _unnest(flat.column(path))
    views = {name: flat if name is None else _flatten_structs(each) for name, each in rows.items()}

    def columns_of(layout: Layout) -> list[str] | None:
        view = views.get(layout.unnest)
        return None if view is None else view.column_names

    layout, closest, missing = choose_layout(layouts, columns_of)
    if layout is None:
        present = flat.column_names
        shown = ", ".join(present[:MAX_COLUMNS_SHOWN]) or "none"
        if len(present) > MAX_COLUMNS_SHOWN:
            shown += f" and {len(present) - MAX_COLUMNS_SHOWN} more"
        raise BadObjectError(
            f"no layout fits: missing required column(s) {', '.join(missing)} for the closest "
            f"layout '{closest.name}'; columns present: {shown} "
            "(map a new layout under sources.hyperliquid_twap.layouts, README: Reading real data)"
        )
    return Fitted(layout, rows[layout.unnest], views[layout.unnest])


def normalise(fitted: Fitted, now: datetime) -> Normalised:
    """The rows of `fitted` read into the canonical form of what its layout holds."""
    return (
        normalise_fills(fitted, now)
        if fitted.layout.kind == FILLS
        else normalise_events(fitted, now)
    )


def normalise_events(fitted: Fitted, now: datetime) -> Normalised:
    """Every row of `fitted` (whose tables end with the lineage columns) validated and read
    into the canonical schema; the rows that cannot be are rejected with their reason."""
    layout, view = fitted.layout, fitted.view
    rows = view.num_rows
    found = layout.present(view.column_names)
    window = (_ns(EARLIEST), _ns(now + LATEST_AHEAD))
    repaired = pa.repeat(pa.scalar(False), rows)
    columns: dict[str, _Column] = {}
    for field in EVENT_SCHEMA:
        source = found.get(field.name)
        if source is None:
            columns[field.name] = _Column(pa.nulls(rows, field.type), None)
            continue
        raw = view.column(source).combine_chunks()
        if field.name in TIMES:
            column, misread = _read_time(raw, layout.time_units.get(field.name), window)
            repaired = pc.or_(repaired, misread)
        else:
            column = _READERS[field.name](raw, layout)
        problem = _problem(
            field.name, raw, column, field.name in REQUIRED_COLUMNS, field.name in AMOUNT_COLUMNS
        )
        columns[field.name] = _Column(column, problem)
    _split_error_status(columns)
    reason = _first_reason(columns, EVENT_SCHEMA, rows)
    good = pc.is_null(reason)
    _warn_of_unknown_statuses(pc.filter(columns["status"].values, good))
    used = set(found.values())
    reserved = {f.name for f in EVENT_SCHEMA} | set(LINEAGE_SCHEMA.names)
    extras = [name for name in view.column_names if name not in used | reserved]
    lineage = view.select(LINEAGE_SCHEMA.names)
    events = pa.table(
        {f.name: columns[f.name].values for f in EVENT_SCHEMA}
        | {name: view.column(name) for name in extras}
        | dict(zip(lineage.column_names, lineage.columns, strict=True))
    ).cast(
        pa.schema([*EVENT_SCHEMA, *(view.schema.field(name) for name in extras), *LINEAGE_SCHEMA])
    )
    return Normalised(
        events=_kept(events, good),
        rejected=_rejected(fitted.rows, reason, pc.invert(good)),
        repaired=repaired,
    )


def _kept(table: pa.Table, good: pa.Array) -> pa.Table:
    """The rows of `table` where `good`: the table itself when every row is (the common case;
    a filter would copy every value)."""
    return table if pc.all(good).as_py() is not False else table.filter(good)


def normalise_fills(fitted: Fitted, now: datetime) -> Normalised:
    """The TWAP slice fills of `fitted` validated and read into the fill schema: a fill without
    a twapId is another order's (or the TWAP's counterparty) and is dropped; a slice fill that
    cannot be read is rejected with its reason."""
    layout = fitted.layout
    found = layout.present(fitted.view.column_names)
    twap_ids = _twap_ids(fitted.view, layout)
    slices = pc.is_valid(twap_ids)
    if pa.types.is_string(twap_ids.type) or pa.types.is_large_string(twap_ids.type):
        slices = pc.and_(slices, pc.not_equal(pc.utf8_trim_whitespace(twap_ids), ""))
    elif pa.types.is_integer(twap_ids.type):
        slices = pc.and_(slices, pc.not_equal(twap_ids, 0))  # an index's "no TWAP" (Dwellir)
    slices = pc.fill_null(slices, False)
    view, source_rows = fitted.view.filter(slices), fitted.rows.filter(slices)
    twap_ids, rows = twap_ids.filter(slices), view.num_rows
    window = (_ns(EARLIEST), _ns(now + LATEST_AHEAD))
    columns: dict[str, _Column] = {}
    for field in FILL_SCHEMA:
        source = found.get(field.name)
        if field.name == "liquidation":
            columns[field.name] = _Column(_json_text(view, source, layout), None)
            continue
        if source is None:
            columns[field.name] = _Column(pa.nulls(rows, field.type), None)
            continue
        raw = twap_ids if field.name == "twap_id" else view.column(source).combine_chunks()
        if field.name in TIMES:
            column, _ = _read_time(raw, layout.time_units.get(field.name), window)
        else:
            column = _FILL_READERS[field.name](raw, layout)
        problem = _problem(
            field.name,
            raw,
            column,
            field.name in FILL_REQUIRED_COLUMNS,
            field.name in FILL_AMOUNT_COLUMNS,
        )
        if field.name in _ABOVE_ZERO:
            zero = pc.fill_null(pc.match_substring_regex(column, _ZERO), False)
            if pc.any(zero).as_py():
                text = pc.binary_join_element_wise(
                    f"{field.name} '", column, "' is not above zero", ""
                )
                above = _valid_where(text, zero)
                problem = above if problem is None else pc.coalesce(problem, above)
        columns[field.name] = _Column(column, problem)
    reason = _first_reason(columns, FILL_SCHEMA, rows)
    good = pc.is_null(reason)
    lineage = view.select(LINEAGE_SCHEMA.names)
    fills = pa.Table.from_arrays(
        [*(columns[f.name].values for f in FILL_SCHEMA), *lineage.columns],
        schema=pa.schema([*FILL_SCHEMA, *LINEAGE_SCHEMA]),
    )
    return Normalised(
        events=_kept(fills, good),
        rejected=_rejected(source_rows, reason, pc.invert(good)),
        repaired=pa.repeat(pa.scalar(False), fitted.view.num_rows),
    )


def _twap_ids(view: pa.Table, layout: Layout) -> pa.Array:
    """The twapId of each fill: the record's (`{fill, twapId}`) or else the fill's own."""
    present = [view.column(name) for name in layout.columns["twap_id"] if name in view.column_names]
    try:
        return pc.coalesce(*present).combine_chunks()
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
        return present[0].combine_chunks()  # of different types: the record's


def _json_text(view: pa.Table, source: str | None, layout: Layout) -> pa.Array:
    """An object field as JSON text: a text column as it is, or the children of a struct the
    view flattened (`liquidation.markPx`, …) joined back into one object; null when absent."""
    rows = view.num_rows
    if source is not None:
        return _read_text(view.column(source).combine_chunks(), layout)
    candidates = layout.columns.get("liquidation", ())
    prefix = next(
        (
            f"{name}."
            for name in candidates
            if any(c.startswith(f"{name}.") for c in view.column_names)
        ),
        None,
    )
    if prefix is None:
        return pa.nulls(rows, pa.string())
    parts, present = [], pa.repeat(pa.scalar(False), rows)
    for name in (c for c in view.column_names if c.startswith(prefix)):
        column = view.column(name).combine_chunks()
        present = pc.or_(present, pc.is_valid(column))
        text = pc.cast(column, pa.string())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
            text = pc.binary_join_element_wise('"', escaped, '"', "")
        key = json.dumps(name[len(prefix) :])
        parts.append(pc.binary_join_element_wise(f"{key}:", pc.fill_null(text, "null"), ""))
    joined = pc.binary_join_element_wise(*parts, ",")
    return _valid_where(pc.binary_join_element_wise("{", joined, "}", ""), present)


def _flatten_structs(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _unnest(column: pa.ChunkedArray) -> pa.Table:
    """The elements of a list-of-struct column as rows (an empty list adds none)."""
    items = pc.list_flatten(column)
    if not pa.types.is_struct(items.type):
        return pa.table({})
    return pa.Table.from_struct_array(items.combine_chunks())


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _text(column: pa.Array) -> pa.Array:
    try:
        return pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.nulls(len(column), pa.string())


def _valid_where(values: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), values, pa.scalar(None, values.type))


def _read_int(column: pa.Array, layout: Layout) -> pa.Array:
    kind = column.type
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.int64(), safe=False)
    if pa.types.is_floating(kind):
        whole = pc.and_(pc.is_finite(column), pc.equal(pc.floor(column), column))
        return pc.cast(_valid_where(column, whole), pa.int64(), safe=False)
    text = _text(column)
    whole = _valid_where(text, pc.match_substring_regex(text, _WHOLE_TEXT))
    return pc.cast(pc.replace_substring_regex(whole, r"\.0*$", ""), pa.int64())


def _read_bool(column: pa.Array, layout: Layout) -> pa.Array:
    kind = column.type
    if pa.types.is_boolean(kind):
        return column
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.not_equal(column, 0)
    text = pc.utf8_lower(_text(column))
    return pc.take(pa.array(list(_BOOLS.values())), pc.index_in(text, pa.array(list(_BOOLS))))


def _read_amount(column: pa.Array, layout: Layout) -> pa.Array:
    """Amounts become exact decimal text: strings are validated, numbers printed."""
    text = _text(column)
    return _valid_where(text, pc.match_substring_regex(text, _DECIMAL_TEXT))


def _read_status(column: pa.Array, layout: Layout) -> pa.Array:
    """A known status word in Hyperliquid's spelling (any case, or the layout's own spelling);
    `error: msg` kept for the split; any other word kept as written, never a reason to lose
    the event (the models flag it)."""
    original = _text(column)
    lower = pc.utf8_lower(original)
    spellings = {status.lower(): status for status in STATUSES} | dict(layout.statuses)
    known = pc.take(
        pa.array(list(spellings.values()), pa.string()),
        pc.index_in(lower, pa.array(list(spellings), pa.string())),
    )
    error = pc.fill_null(pc.starts_with(lower, _ERROR_PREFIX), False)
    if not pc.any(error).as_py() and known.null_count == original.null_count:
        # Every status present is a known word (the common case): no pattern to match.
        return known
    word = _valid_where(original, pc.match_substring_regex(original, _STATUS_WORD))
    return pc.coalesce(_valid_where(original, error), known, word)


def _read_side(column: pa.Array, layout: Layout) -> pa.Array:
    sides = {**SIDES, **layout.sides}
    found = pc.index_in(pc.utf8_lower(_text(column)), pa.array(list(sides)))
    return pc.take(pa.array(list(sides.values())), found)


def _read_wallet(column: pa.Array, layout: Layout) -> pa.Array:
    text = _text(column)
    return _valid_where(text, pc.match_substring_regex(text, _WALLET))


def _read_text(column: pa.Array, layout: Layout) -> pa.Array:
    text = _text(column)
    return _valid_where(text, pc.greater(pc.utf8_length(text), 0))


def _read_time(
    column: pa.Array, unit: str | None, window: tuple[int, int]
) -> tuple[pa.Array, pa.Array]:
    """UTC microseconds from ISO strings (zone optional), timestamps of any unit or epoch
    numbers (of the layout's unit, else each value's magnitude). A time outside `window` (ns)
    becomes null, except milliseconds stored as a timestamp, which are corrected; returns the
    times and which were corrected."""
    kind = column.type
    misread = pa.repeat(pa.scalar(False), len(column))
    if pa.types.is_timestamp(kind):
        raw = pc.cast(column, pa.int64())
        ns = pc.multiply(raw, NS_PER[kind.unit])
        # Milliseconds stored as a timestamp read as January 1970: detected value by value.
        as_ms = pc.multiply(_valid_where(raw, _within(raw, window, NS_PER["ms"])), NS_PER["ms"])
        misread = pc.and_(pc.invert(_within(ns, window)), pc.is_valid(as_ms))
        ns = pc.if_else(misread, as_ms, ns)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        ns = _epoch_ns(column, unit, window)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _text(column)
        whole = pc.match_substring_regex(text, _INTEGER_TEXT)
        number = pc.match_substring_regex(text, _NUMBER_TEXT)
        ns = pc.coalesce(
            _iso_ns(_valid_where(text, pc.invert(number))),
            _epoch_ns(pc.cast(_valid_where(text, whole), pa.int64()), unit, window),
            _epoch_ns(pc.cast(_valid_where(text, number), pa.float64()), unit, window),
        )
    else:
        return pa.nulls(len(column), _UTC_US), misread
    ns = _valid_where(ns, _within(ns, window))
    return pc.cast(pc.cast(ns, pa.timestamp("ns", "UTC")), _UTC_US, safe=False), misread


def _within(ns: pa.Array, window: tuple[int, int], scale: int = 1) -> pa.Array:
    low, high = (bound // scale for bound in window)
    if pa.types.is_floating(ns.type):
        low, high = float(low), float(high)
    return pc.fill_null(pc.and_(pc.greater_equal(ns, low), pc.less_equal(ns, high)), False)


def _epoch_ns(column: pa.Array, unit: str | None, window: tuple[int, int]) -> pa.Array:
    """Epoch numbers in `unit`, or (None) each in the unit that makes it a plausible time;
    integers stay exact, a value plausible in no unit is null."""
    integer = pa.types.is_integer(column.type)
    values = pc.cast(column, pa.int64() if integer else pa.float64(), safe=False)
    ns = pa.nulls(len(column), pa.int64())
    for each in [unit] if unit else list(NS_PER):
        scale = NS_PER[each]
        inside = _valid_where(values, _within(values, window, scale))
        scaled = pc.multiply(inside, scale if integer else float(scale))
        ns = pc.coalesce(ns, pc.cast(scaled, pa.int64(), safe=False))
    return ns


def _iso_ns(text: pa.Array) -> pa.Array:
    """ISO 8601 strings (no zone means UTC) as epoch nanoseconds; unreadable ones null."""
    iso = _valid_where(text, pc.match_substring_regex(text, _ISO_TIME))
    zoned = pc.if_else(
        pc.match_substring_regex(iso, _HAS_ZONE), iso, pc.binary_join_element_wise(iso, "Z", "")
    )
    try:
        return pc.cast(pc.cast(zoned, pa.timestamp("ns", "UTC")), pa.int64())
    except pa.ArrowInvalid:
        # A value of the right shape that is no date (month 13): read one by one, rarely.
        return pa.array([_one_iso(value) for value in zoned.to_pylist()], pa.int64())


def _one_iso(value: str | None) -> int | None:
    try:
        return pc.cast(pa.array([value]), pa.timestamp("ns", "UTC")).cast(pa.int64())[0].as_py()
    except pa.ArrowInvalid:
        return None


def _problem(
    name: str, raw: pa.Array, values: pa.Array, required: bool, unsigned: bool
) -> pa.Array | None:
    """Per row: why the source value could not become `name` (null when it could); None when
    every row could (the common case, which then costs two passes, not a message per row).
    A `required` value must be present, an `unsigned` amount must not be negative."""
    if name == "status_description":
        return None  # free text: an empty one is simply absent
    unreadable = pc.and_(pc.is_valid(raw), pc.is_null(values))
    # A negative amount starts with a minus: the pattern only where one does.
    negative = (
        pc.fill_null(pc.match_substring_regex(values, _NEGATIVE), False)
        if unsigned and pc.any(pc.starts_with(values, "-")).as_py()
        else None
    )
    missing = pc.is_null(raw) if required else None
    if not any(
        pc.any(mask).as_py() for mask in (unreadable, negative, missing) if mask is not None
    ):
        return None
    shown = pc.coalesce(_text(raw), pa.scalar(f"a {raw.type}"))
    why = pc.binary_join_element_wise(f"{name} '", pc.utf8_slice_codeunits(shown, 0, 80), "'", "")
    message = {
        "event_time": " is not a time from 2023 up to a day after the run",
        "started_at": " is not a time from 2023 up to a day after the run",
        "fill_time": " is not a time from 2023 up to a day after the run",
        "status": " is not a status word (a letter, then up to 39 letters, digits, _ or -)",
        "side": " is not B or A (buy or sell)",
        "wallet": " is not 0x and 40 hex digits",
    }.get(name, " cannot be read")
    problem = _valid_where(pc.binary_join_element_wise(why, message, ""), unreadable)
    if negative is not None:
        is_negative = pc.binary_join_element_wise(why, " is negative", "")
        problem = pc.coalesce(problem, _valid_where(is_negative, negative))
    if missing is not None:
        absent = pa.repeat(pa.scalar(f"{name} is missing"), len(raw))
        problem = pc.coalesce(problem, _valid_where(absent, missing))
    return problem


def _split_error_status(columns: dict[str, _Column]) -> None:
    """`error: <description>` becomes status `error` plus its description; a row with no status
    but an error description (the flattened form's `status_error`) is an error."""
    status, description = columns["status"].values, columns["status_description"].values
    prefixed = pc.fill_null(pc.starts_with(pc.utf8_lower(status), _ERROR_PREFIX), False)
    if not pc.any(prefixed).as_py() and status.null_count == 0:
        return  # no `error: …` and no status missing (the common case): nothing to split
    remainder = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(status, len(_ERROR_PREFIX)))
    description = pc.if_else(prefixed, pc.coalesce(description, remainder), description)
    implied = pc.and_(pc.is_null(status), pc.is_valid(description))
    status = pc.if_else(pc.or_(prefixed, implied), pa.scalar("error"), status)
    problem = columns["status"].problem
    if problem is not None:
        problem = _valid_where(problem, pc.is_null(status))
    columns["status"] = _Column(status, problem)
    columns["status_description"] = _Column(description, columns["status_description"].problem)


def _warn_of_unknown_statuses(statuses: pa.Array) -> None:
    """One line per status word outside the known vocabulary: its events are kept."""
    unknown = pc.filter(statuses, pc.invert(pc.is_in(statuses, pa.array(STATUSES))))
    for each in pc.value_counts(unknown).to_pylist():
        logger.warning(
            "kept %d events with status '%s', a word not yet known to mean running or ended: "
            "published as it is, and the dbt test twap_status_is_known warns of it",
            each["counts"],
            each["values"],
        )


def _first_reason(columns: dict[str, _Column], schema: pa.Schema, rows: int) -> pa.Array:
    reason = pa.nulls(rows, pa.string())
    for field in schema:
        if columns[field.name].problem is not None:
            reason = pc.coalesce(reason, columns[field.name].problem)
    return reason


def _rejected(rows: pa.Table, reason: pa.Array, bad: pa.Array) -> pa.Table:
    """The rejected rows: lineage, reason and the source row as JSON (a Python loop over the
    bad rows only)."""
    source = rows.filter(bad)
    lineage = source.select(LINEAGE_SCHEMA.names)
    source = source.drop_columns(LINEAGE_SCHEMA.names)
    for index, field in enumerate(source.schema):
        if pa.types.is_timestamp(field.type):
            # As the source wrote it (nanoseconds, or a January 1970 that Python cannot hold).
            source = source.set_column(
                index, field.name, pc.cast(source.column(index), pa.string())
            )
    verbatim = [json.dumps(row, default=str) for row in source.to_pylist()]
    return pa.Table.from_arrays(
        [*lineage.columns, pc.filter(reason, bad), pa.array(verbatim, pa.string())],
        schema=QUARANTINE_SCHEMA,
    )


_READERS: dict[str, Callable[[pa.Array, Layout], pa.Array]] = {
    "twap_id": _read_int,
    "status": _read_status,
    "status_description": _read_text,
    "wallet": _read_wallet,
    "coin": _read_text,
    "side": _read_side,
    **{name: _read_amount for name in AMOUNT_COLUMNS},
    "minutes": _read_int,
    "reduce_only": _read_bool,
    "randomize": _read_bool,
}

_FILL_READERS: dict[str, Callable[[pa.Array, Layout], pa.Array]] = {
    **{name: _read_int for name in ("twap_id", "tid", "oid")},
    "wallet": _read_wallet,
    **{name: _read_text for name in ("coin", "fee_token", "dir", "hash", "cloid")},
    "side": _read_side,
    **{name: _read_amount for name in (*FILL_AMOUNT_COLUMNS, *FILL_SIGNED_AMOUNT_COLUMNS)},
    "crossed": _read_bool,
}
