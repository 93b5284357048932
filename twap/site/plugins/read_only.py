"""No write path: SQLite itself refuses writes, ATTACH and the like on the published file.

SQLite's own limits also keep one value, one statement and one row small, whatever the SQL
asks.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from datasette import hookimpl

from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

# Everything a SELECT needs; anything else (INSERT, ATTACH, CREATE, PRAGMA writes…) is denied.
ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
# The read-only pragmas Datasette itself asks (schema, table and index lists).
ALLOWED_PRAGMAS = {
    "schema_version",
    "database_list",
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "function_list",
}
# The longest value a published column holds is a few kB (an error message): 100 kB is plenty,
# and `zeroblob(1e9)` fails at once instead of filling memory.
LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 20_000,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 20,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 20,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 0,
}


def authorize(action: int, arg1: str | None, *_: object) -> int:
    # SQLite reports reading the schema for a pragma function as an UPDATE of sqlite_master.
    if action in ALLOWED_ACTIONS or (action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master"):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


@hookimpl
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Datasette) -> None:
    site = live_site(datasette)
    if site is not None and site.owns(database):
        conn.set_authorizer(authorize)
        for limit, value in LIMITS.items():
            conn.setlimit(limit, value)
