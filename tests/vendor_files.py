"""Fixtures for the layouts of DATA.md: a few real-looking TWAPs, and each layout's way of
writing them (file format, field names, time encodings, status spellings)."""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

WALLETS = (
    "0x9d6a00000000000000000000000000000000a0b8",
    "0xB90E000000000000000000000000000000000087",
    "0xbcb80000000000000000000000000000000000c3",
    "0x53510000000000000000000000000000000000b7",
)
ERROR = "Insufficient margin to place order."


@dataclass(frozen=True)
class Event:
    """One status change in canonical terms (what every layout below must read back)."""

    twap_id: int
    time: datetime
    status: str
    wallet: str
    coin: str
    side: str
    sz: str
    executed_sz: str
    executed_ntl: str
    minutes: int
    started_at: datetime
    description: str | None = None
    reduce_only: bool = False
    randomize: bool = True


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def twaps(first_id: int) -> list[Event]:
    """Four TWAPs after DATA.md's real events: finished, error, finished late, terminated."""
    start = [
        _at("2025-12-04T17:00:22.417123"),
        _at("2026-01-28T15:00:05.423822"),
        _at("2026-07-17T06:14:00.523000"),
        _at("2026-07-17T10:29:24.034000"),
    ]
    started = [moment.replace(microsecond=moment.microsecond // 1000 * 1000) for moment in start]
    spec = [
        ("HYPE", "A", "108.36", 10, "finished", "108.36", "4523.8731", None),
        ("ETH", "A", "10.0", 5, "error", "2.5", "8750.25", ERROR),
        ("HYPE", "B", "168.46", 270, "finished", "168.46", "10037.45318", None),
        ("xyz:CRCL", "B", "300", 15, "terminated", "150", "9064.753432", None),
    ]
    events = []
    for n, (coin, side, sz, minutes, end, done, notional, why) in enumerate(spec):
        common = dict(
            twap_id=first_id + n,
            wallet=WALLETS[n],
            coin=coin,
            side=side,
            sz=sz,
            minutes=minutes,
            started_at=started[n],
        )
        events.append(Event(time=start[n], status="activated", executed_sz="0", executed_ntl="0", **common))  # fmt: skip
        ended = start[n] + timedelta(minutes=minutes, seconds=1.5)
        events.append(Event(time=ended, status=end, executed_sz=done, executed_ntl=notional, description=why, **common))  # fmt: skip
    return events


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso_ns(moment: datetime) -> str:
    """The node's time: ISO, nanoseconds, no zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "481"


def _state(e: Event) -> dict:
    return {
        "coin": e.coin,
        "user": e.wallet,
        "side": e.side,
        "sz": e.sz,
        "executedSz": e.executed_sz,
        "executedNtl": e.executed_ntl,
        "minutes": e.minutes,
        "reduceOnly": e.reduce_only,
        "randomize": e.randomize,
        "timestamp": _ms(e.started_at),
    }


def _node_event(e: Event) -> dict:
    status = {"error": e.description} if e.status == "error" else e.status
    return {"time": _iso_ns(e.time), "twap_id": e.twap_id, "state": _state(e), "status": status}


def _json_lines(records: list[dict]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _csv(rows: list[dict], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def node(events: list[Event]) -> bytes:
    return _json_lines([_node_event(e) for e in events])


def node_by_block(events: list[Event]) -> bytes:
    """Block envelopes: an empty block, then blocks of two events."""
    blocks = [[]] + [events[i : i + 2] for i in range(0, len(events), 2)]
    return _json_lines(
        [
            {
                "local_time": _iso_ns(events[0].time),
                "block_time": _iso_ns(events[0].time),
                "block_number": 700_000_000 + n,
                "events": [_node_event(e) for e in block],
            }
            for n, block in enumerate(blocks)
        ]
    )


def _history_record(e: Event) -> dict:
    status = {"status": e.status, **({"description": e.description} if e.description else {})}
    return {"time": int(e.time.timestamp()), "state": _state(e), "status": status, "twapId": e.twap_id}  # fmt: skip


def twap_history_json(events: list[Event]) -> bytes:
    return _json_lines([_history_record(e) for e in events])


def twap_history_parquet(events: list[Event]) -> bytes:
    return parquet(pa.Table.from_pylist([_history_record(e) for e in events]))


def websocket_frames(events: list[Event]) -> bytes:
    """`userTwapHistory` frames as received, one a line: a snapshot of the first four records,
    then a frame per later pair (Hyperliquid's websocket docs: data.isSnapshot, user, history)."""
    batches = [events[:4]] + [events[i : i + 2] for i in range(4, len(events), 2)]
    return _json_lines(
        [
            {
                "channel": "userTwapHistory",
                "data": {
                    "isSnapshot": n == 0,
                    "user": batch[0].wallet,
                    "history": [_history_record(e) for e in batch],
                },
            }
            for n, batch in enumerate(batches)
        ]
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    """Epoch nanoseconds, as Bitquery writes its times (its own digits below the microsecond)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000 + 481


def bitquery_twap_statuses(events: list[Event]) -> bytes:
    """Bitquery's `twap_statuses` sample (JSON lines): the node event decoded to flat columns,
    `Time` in epoch ns, `State_Timestamp` in ms, an error as Status `error` plus StatusError."""
    return _json_lines(
        [
            {
                "Block_Number": 1_075_858_000 + n,
                "Block_Time": _ns(e.time),
                "Time": _ns(e.time),
                "TwapId": e.twap_id,
                **{f"State_{k[0].upper()}{k[1:]}": v for k, v in _state(e).items()},
                "State_Extra": {},
                "Status": e.status,
                "StatusError": e.description,
                "Extra": {},
            }
            for n, e in enumerate(events)
        ]
    )


def bitquery_twaps(events: list[Event]) -> bytes:
    """Bitquery's `twaps` cloud dump (parquet, 32 columns): sides Buy/Sell, flags 0/1, no
    error text as "", event and block times in ns, start in ms, a uint64 hash."""
    kinds = {True: ("hip3", "xyz"), False: ("perp", "hypercore")}
    rows = []
    for n, e in enumerate(events):
        kind, protocol = kinds[":" in e.coin]
        rows.append(
            {
                "ChainId": "hyperliquid-core",
                "Block_Number": 1_165_214_000 + n,
                "Block_Time": _ns(e.time),
                "Twap_Trader_Address": e.wallet,
                "Twap_Trader_Signer": "",
                "Twap_Trader_Vault": "",
                "Twap_Trader_Broadcaster": "",
                "Twap_Trader_SignedAt": 0,
                "Twap_Market_Symbol": e.coin.split(":")[-1],
                "Twap_Market_Kind": kind,
                "Twap_Market_Protocol": protocol,
                "Twap_Market_CoinRaw": e.coin,
                "Twap_Market_IsPerp": 1,
                "Twap_Market_MaxLeverage": 0,
                "Twap_TwapId": e.twap_id,
                "Twap_Order_Side": {"B": "Buy", "A": "Sell"}[e.side],
                "Twap_Order_Size": e.sz,
                "Twap_Order_ReduceOnly": int(e.reduce_only),
                "Twap_Order_Randomize": int(e.randomize),
                "Twap_Interval_StartTime": _ms(e.started_at),
                "Twap_Interval_DurationMinutes": e.minutes,
                "Twap_Interval_EventTime": _ns(e.time),
                "Twap_State_Status": e.status,
                "Twap_State_StatusError": e.description or "",
                "Twap_State_ExecutedSize": e.executed_sz,
                "Twap_State_ExecutedNotional": e.executed_ntl,
                "Indexing_Time": _ns(e.time) + 10**9,
                "Indexing_OnTree": 1,
                "Indexing_OnTrunk": 1,
                "Recording_Time": int(e.time.timestamp()) + 1,
                "Recording_Hash": 2**63 + n,
                "Block_Date": e.time.date().isoformat(),
            }
        )
    types = {"Recording_Hash": pa.uint64()}
    return parquet(
        pa.table({name: pa.array([row[name] for row in rows], types.get(name)) for name in rows[0]})
    )


def _flattened_rows(events: list[Event]) -> list[dict]:
    rows = []
    for e in events:
        state = {f"state_{name}": value for name, value in _state(e).items()}
        error = e.status == "error"
        rows.append(
            {
                "time": e.time,
                "twap_id": e.twap_id,
                **state,
                "status": None if error else e.status,
                "status_error": e.description if error else None,
            }
        )
    return rows


def flattened(events: list[Event]) -> bytes:
    return parquet(pa.Table.from_pylist(_flattened_rows(events)))


def flattened_ms_as_ns(events: list[Event]) -> bytes:
    """Early vendor files: epoch milliseconds stored in a nanosecond timestamp (January 1970)."""
    table = pa.Table.from_pylist(_flattened_rows(events))
    millis = pa.array([_ms(e.time) for e in events], pa.int64()).cast(pa.timestamp("ns"))
    return parquet(table.set_column(0, "time", millis))


def canonical(events: list[Event]) -> bytes:
    return parquet(
        pa.Table.from_pylist(
            [
                {
                    "twap_id": e.twap_id,
                    "event_time": e.time,
                    "status": e.status,
                    "status_description": e.description,
                    "wallet": e.wallet,
                    "coin": e.coin,
                    "side": e.side,
                    "sz": e.sz,
                    "executed_sz": e.executed_sz,
                    "executed_ntl": e.executed_ntl,
                    "minutes": e.minutes,
                    "reduce_only": e.reduce_only,
                    "randomize": e.randomize,
                    "started_at": e.started_at,
                }
                for e in events
            ]
        )
    )


def coinapi(events: list[Event]) -> bytes:
    """CoinAPI's flat file: `;`, 7 fractional digits, `error:<description>`, no start time."""
    return _csv(
        [
            {
                "time_exchange": e.time.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0",
                "time_coinapi": (e.time + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f0"),
                "twap_id": e.twap_id,
                "coin": e.coin,
                "user": e.wallet,
                "side": e.side,
                "status": f"error:{e.description}" if e.status == "error" else e.status,
                "sz": e.sz,
                "executed_sz": e.executed_sz,
                "executed_ntl": e.executed_ntl,
                "minutes": e.minutes,
                "reduce_only": str(e.reduce_only).lower(),
                "randomize": str(e.randomize).lower(),
            }
            for e in events
        ],
        ";",
    )


def hydromancer(events: list[Event]) -> bytes:
    table = pa.Table.from_pylist(
        [
            {
                "time": _ms(e.time),
                "createdAt": _ms(e.started_at),
                "twapId": e.twap_id,
                "user": e.wallet,
                "coin": e.coin,
                "side": e.side,
                "status": e.status,
                "statusMessage": e.description,
                "sz": e.sz,
                "minutes": e.minutes,
                "reduceOnly": e.reduce_only,
                "randomize": e.randomize,
                "executedSz": e.executed_sz,
                "executedNtl": e.executed_ntl,
                "txIndex": n,
            }
            for n, e in enumerate(events)
        ]
    )
    return parquet(table.set_column(0, "time", table["time"].cast(pa.timestamp("ms", "UTC"))))


def allium(events: list[Event]) -> bytes:
    """Allium's export as CSV: ISO times with a zone, sides spelled buy/sell."""
    return _csv(
        [
            {
                "status_change_timestamp": e.time.isoformat(),
                "order_timestamp": e.started_at.isoformat(),
                "twap_id": e.twap_id,
                "status": e.status.upper(),
                "coin": e.coin,
                "user": e.wallet,
                "side": {"B": "buy", "A": "sell"}[e.side],
                "size": e.sz,
                "executed_size": e.executed_sz,
                "executed_notional": e.executed_ntl,
                "minutes": e.minutes,
                "randomize": e.randomize,
                "is_reduce_only": e.reduce_only,
            }
            for e in events
        ],
        ",",
    )


def seed_sample(events: list[Event]) -> bytes:
    """The seed project's sample: string ids, float amounts, its start time the only time."""
    return parquet(
        pa.Table.from_pylist(
            [
                {
                    "twap_id": str(e.twap_id),
                    **{f"state_{name}": value for name, value in _state(e).items()},
                    "state_sz": float(e.sz),
                    "state_executedSz": float(e.executed_sz),
                    "state_executedNtl": float(e.executed_ntl),
                    "status": e.status,
                }
                for e in events
            ]
        )
    )


@dataclass(frozen=True)
class LayoutFile:
    """One layout written one way: its writer, a file name, and what reading it loses."""

    name: str
    write: Callable[[list[Event]], bytes]
    filename: str
    time_precision: timedelta = timedelta(microseconds=1)
    has_start: bool = True
    time_is_start: bool = False
    has_description: bool = True

    def expected(self, events: list[Event]) -> list[Event]:
        """`events` as this layout can carry them."""
        out = []
        for e in events:
            time = e.started_at if self.time_is_start else e.time
            time = datetime.min.replace(tzinfo=UTC) + (time - datetime.min.replace(tzinfo=UTC)) // self.time_precision * self.time_precision  # fmt: skip
            out.append(
                replace(
                    e,
                    time=time,
                    started_at=e.started_at if self.has_start else None,
                    description=e.description if self.has_description else None,
                )
            )
        return out


LAYOUT_FILES = (
    LayoutFile("node", node, "node_twap_statuses/20260717/10"),
    LayoutFile(
        "node block envelope", node_by_block, "node_twap_statuses_by_block/hourly/20260717/10"
    ),
    LayoutFile(
        "info API twapHistory",
        twap_history_json,
        "twap_history/2026-07-17.jsonl",
        timedelta(seconds=1),
    ),
    LayoutFile(
        "info API twapHistory",
        twap_history_parquet,
        "twap_history/2026-07-17.parquet",
        timedelta(seconds=1),
    ),
    LayoutFile(
        "websocket userTwapHistory",
        websocket_frames,
        "ws/userTwapHistory/2026-07-17.jsonl",
        timedelta(seconds=1),
    ),
    LayoutFile(
        "Bitquery twap_statuses", bitquery_twap_statuses, "bitquery/twap_statuses/1075858000.json"
    ),
    LayoutFile("Bitquery twaps", bitquery_twaps, "bitquery/twaps/1165214000_1165214999.parquet"),
    LayoutFile("flattened", flattened, "artemis/2026/07/17/10/part-0.parquet"),
    LayoutFile("canonical", canonical, "sample/2026/07/17/10.parquet"),
    LayoutFile(
        "CoinAPI",
        coinapi,
        "T-HLTWAPSTATUSES/D-2026071710/E-HYPERLIQUIDL4/IDDI-1+SC-HYPERLIQUIDL4+S-ALL.csv",
        has_start=False,
    ),
    LayoutFile(
        "Hydromancer",
        hydromancer,
        "hydromancer/date=2026-07-17/hour=10/part.parquet",
        timedelta(milliseconds=1),
    ),
    LayoutFile("Allium", allium, "allium/twaps.csv", has_description=False),
    LayoutFile(
        "seed sample",
        seed_sample,
        "seed/sample.parquet",
        timedelta(milliseconds=1),
        time_is_start=True,
        has_description=False,
    ),
)


def compressed(data: bytes, codec: str) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, codec) as out:
        out.write(data)
    return sink.getvalue().to_pybytes()
