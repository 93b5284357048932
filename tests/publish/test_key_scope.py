"""Key scoping of a delta publish (twap/publish/tables.py `rows_of`): the rows of the keys a
build rebuilt, by twap, wallet or coin and day, the same in PostgreSQL (where they are read)
and SQLite (where they are replaced). No pipeline runs."""

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import date

import pytest

from twap.database import Database
from twap.publish.tables import rows_of

DAY, NEXT = date(2026, 12, 1), date(2026, 12, 2)
ROWS = [  # twap_id, wallet, coin, flow_date
    (1, "0xa", "BTC", DAY),
    (2, "0xa", "ETH", DAY),
    (3, "0xb", "BTC", NEXT),
    (4, "0xc", "HYPE", NEXT),
]
# One rebuilt TWAP: #3, of wallet 0xb, a BTC TWAP started on DAY with events on NEXT.
KEYS = [(3, "0xb", "BTC", NEXT, DAY)]
EXPECTED = {
    None: {1, 2, 3, 4},
    "twap_id": {3},
    "wallet": {3},
    "coin_day": {1, 3},  # both BTC days: the one it started on and the one it changed on
}
Select = Callable[[str], set[int]]


def sqlite_select() -> Select:
    sink = sqlite3.connect(":memory:")
    sink.execute("create table rows (twap_id, wallet, coin, flow_date)")
    sink.execute("create temp table changed_keys (twap_id, wallet, coin, event_date, start_date)")
    text = [tuple(str(v) if isinstance(v, date) else v for v in row) for row in ROWS]
    sink.executemany("insert into rows values (?, ?, ?, ?)", text)
    keys = [tuple(str(v) if isinstance(v, date) else v for v in key) for key in KEYS]
    sink.executemany("insert into temp.changed_keys values (?, ?, ?, ?, ?)", keys)

    def select(kind: str | None) -> set[int]:
        where = rows_of(kind, "temp.changed_keys", postgres=False)
        return {twap_id for (twap_id,) in sink.execute(f"select twap_id from rows where {where}")}

    return select


def postgres_select(database: Database) -> Select:
    with closing(database.connect()) as conn, conn, conn.cursor() as cursor:
        cursor.execute("create table rows (twap_id bigint, wallet text, coin text, flow_date date)")
        cursor.execute(
            "create table keys_table (twap_id bigint, wallet text, coin text, "
            "event_date date, start_date date)"
        )
        cursor.executemany("insert into rows values (%s, %s, %s, %s)", ROWS)
        cursor.executemany("insert into keys_table values (%s, %s, %s, %s, %s)", KEYS)

    def select(kind: str | None) -> set[int]:
        where = rows_of(kind, "(select * from keys_table) as keys", postgres=True)
        with closing(database.connect()) as conn, conn.cursor() as cursor:
            cursor.execute(f"select twap_id from rows where {where}")
            return {twap_id for (twap_id,) in cursor.fetchall()}

    return select


@pytest.fixture(params=["postgres", "sqlite"])
def select(request: pytest.FixtureRequest) -> Select:
    if request.param == "sqlite":
        return sqlite_select()
    return postgres_select(request.getfixturevalue("database"))


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_a_delta_replaces_exactly_the_rows_of_the_rebuilt_keys(
    select: Select, kind: str | None
) -> None:
    assert select(kind) == EXPECTED[kind]
