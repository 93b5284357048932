"""What the site needs that Datasette 0.65's public API cannot give, each with why.

Two things: the first page of an ascending table sort in key order (Datasette orders a first
page by the sort column alone, later ones by the column then the key), asked through
Datasette's own `_next` cursor; and only the first `handle_exception` answer awaited, through
a pluggy hook wrapper (Datasette awaits all, though it uses the first). Registered as a
plugin of its own (the `datasette` entry point `twap_workarounds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasette import hookimpl

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database

Pairs = list[tuple[str, str]]


async def first_page_in_key_order(
    datasette: Datasette, database: Database, table: str, pairs: Pairs
) -> Pairs | str:
    """A table page's parameters, so that its rows and facets are right and quick; or why not.

    Rows tied at the end of page one would otherwise be repeated or skipped on page two. A
    descending first page follows its index (twap/publish/tables.py), in key order; an ascending one
    is asked as the keyset page after nulls, which are none (sort columns are NOT NULL): key
    order too. The `$null` cursor is the form Datasette's own `next` links take after a null;
    no setting or hook orders a first page by the key. A CSV stream cannot start from a cursor,
    so it runs descending. Facets of later pages would count only the rows after the cursor,
    slowly: they are on the first page only."""
    given = dict(pairs)
    metadata = datasette.metadata(database=database.name, table=table, fallback=False) or {}
    if "sortable_columns" not in metadata:
        return pairs
    if "_next" in given:
        return [*pairs, ("_nofacet", "1")] if "_nofacet" not in given else pairs
    column = given.get("_sort") or given.get("_sort_desc")
    column = column or metadata.get("sort") or metadata.get("sort_desc")
    ascending = "_sort" in given or ("_sort_desc" not in given and "sort" in metadata)
    keys = await database.primary_keys(table)
    if not ascending or keys == [column] or column not in metadata["sortable_columns"]:
        return pairs  # in key order already, unique, or for Datasette to refuse
    if "_stream" in given:
        return f"CSV streams by {column} run descending: _sort_desc={column}"
    return [*pairs, ("_next", ",".join(["$null", *["0"] * len(keys)]))]


@hookimpl(wrapper=True)
def handle_exception(datasette: Datasette, request: Any, exception: Exception) -> Any:
    """Only the first handler's answer (twap/site/plugins/errors.py): Datasette's default, which
    runs last, prints each error's traceback with all its locals (~250 ms for a client's
    mistake) and raises when no exception is being handled (a path no route matches: a 500)."""
    answers = yield
    return answers[:1]
