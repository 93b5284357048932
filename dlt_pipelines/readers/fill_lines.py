"""TWAP slice fills found in JSON text before anything is parsed (DATA.md, Slice fills).

An hour of the node's fills holds every fill of the exchange (about a million, hundreds of MB)
and about 1% are TWAP slices: only the fills whose `"twapId":` is a number are cut out of the
text (one scan in C for that marker) and written as JSON lines of `{"user": …, "fill": {…}}`,
which pyarrow then parses. The rest is never parsed.

The node's fill events are `["<user>", {<fill>}]`, one a line (`node_fills`) or many in a
block's `events` list (`node_fills_by_block`); a fill's fields hold no brackets, so the event
around a marker runs from the `[` before it to the `]` after it. A line that is an object
(a websocket frame, or a flat fill as a vendor or the info API writes it) is kept whole, a
frame's `twapSliceFills` turned into one record each.
"""

import json
import re
from collections.abc import Iterable

# A fill with a twapId, as compact (the node, the API) or spaced JSON writes it.
TWAP_MARKER = re.compile(rb'"twapId"\s*:\s*[0-9]')
# What only fills carry, looked for at the start of an object: the trade id.
_FILL_KEY = re.compile(rb'"tid"\s*:')
_HEAD_BYTES = 64 * 1024
_FRAME_CHANNEL = re.compile(rb'"channel"\s*:\s*"userTwapSliceFills"')


def holds_fill_lines(content: bytes) -> bool:
    """Whether `content` is JSON lines of fills: node fill events (`["0x…", {…}]` lines or
    blocks of them), websocket fill frames or flat fills (a JSON array file is not)."""
    start = content[:_HEAD_BYTES].lstrip()
    if start.startswith(b'["'):
        return True
    return start.startswith(b"{") and _FILL_KEY.search(start) is not None


def twap_fill_lines(chunks: Iterable[bytes]) -> bytes:
    """The TWAP slice fills of the text `chunks` make (JSON lines of fills, `holds_fill_lines`)
    as JSON lines of records `{"user", "fill"}` (node), `{"user", "twapId", "fill"}` (frames)
    or the flat fill itself; empty when there are none. Each chunk is scanned in place as it
    comes; only the line cut between two chunks is put together."""
    records: list[bytes] = []
    tail = b""
    for chunk in chunks:
        first = chunk.find(b"\n")
        if first < 0:
            tail += chunk
            continue
        records.extend(_records(tail + chunk[: first + 1]))
        last = chunk.rfind(b"\n")
        records.extend(_records(chunk, first + 1, last + 1))
        tail = chunk[last + 1 :]
    records.extend(_records(tail))
    return b"\n".join(records)


def _records(content: bytes, start: int = 0, end: int | None = None) -> list[bytes]:
    """The TWAP slice fills of the whole lines of `content[start:end]`, as `twap_fill_lines`
    writes them."""
    end = len(content) if end is None else end
    records: list[bytes] = []
    line_end = -1
    for match in TWAP_MARKER.finditer(content, start, end):
        at = match.start()
        if at < line_end:
            continue  # a line already taken whole
        line_start = max(content.rfind(b"\n", start, at) + 1, start)
        line_end = content.find(b"\n", at, end)
        if line_end < 0:
            line_end = end
        line = content[line_start:line_end]
        head = line.lstrip()
        if head.startswith(b"[") or b'"events"' in line[:_HEAD_BYTES]:
            # Node events: only the marked ones of the line, each cut at its brackets.
            records.extend(_node_events(content, line_start, line_end))
        elif _FRAME_CHANNEL.search(line[:256]):
            records.extend(_frame_records(line))
        else:
            records.append(line.strip())
    return records


def _node_events(content: bytes, start: int, end: int) -> list[bytes]:
    """The `["<user>", {<fill>}]` events with a twapId between `start` and `end`, as records."""
    records = []
    for match in TWAP_MARKER.finditer(content, start, end):
        opening = content.rfind(b"[", start, match.start())
        closing = content.find(b"]", match.end(), end)
        event = content[opening + 1 : closing]
        comma = event.find(b",")
        brace = event.find(b"{", comma)
        last = event.rfind(b"}")
        if opening < 0 or closing < 0 or comma < 0 or brace < 0 or last < brace:
            # Not an event of the node's form: kept as text, rejected with its reason later.
            text = json.dumps(event.decode(errors="replace")).encode()
            records.append(b'{"unreadable_event":' + text + b"}")
            continue
        records.append(
            b'{"user":' + event[:comma].strip() + b',"fill":' + event[brace : last + 1] + b"}"
        )
    return records


def _frame_records(line: bytes) -> list[bytes]:
    """A saved websocket frame `{"channel": "userTwapSliceFills", "data": {"user",
    "twapSliceFills": [{"fill", "twapId"}]}}` as one record per slice fill (frames are few)."""
    try:
        data = json.loads(line).get("data") or {}
        slices = data.get("twapSliceFills") or []
    except (ValueError, AttributeError):
        return [line.strip()]  # unreadable: its fields will be missing, and it is rejected
    user = data.get("user")
    return [
        json.dumps({"user": user, **each}, separators=(",", ":")).encode()
        for each in slices
        if isinstance(each, dict)
    ]
