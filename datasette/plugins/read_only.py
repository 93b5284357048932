"""No write path: SQLite itself refuses writes, ATTACH and the like on the published file."""

import sqlite3

from datasette import hookimpl
from datasette.app import Datasette

from twap.live import live_site

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
    if site is not None and database == site.name:
        conn.set_authorizer(authorize)
