"""The site: Datasette with the twap templates and bounds, serving the versions behind a pointer."""

from pathlib import Path
from typing import TYPE_CHECKING

from twap.errors import TwapError
from twap.publish.versions import Publication, Version
from twap.site import TEMPLATES_DIR

if TYPE_CHECKING:
    from datasette.app import Datasette

# Bounds on every query: SQL time, rows per page and per query, facet time; no file download.
DATASETTE_SETTINGS: dict[str, int | bool] = {
    "sql_time_limit_ms": 1000,
    "max_returned_rows": 1000,
    "default_page_size": 50,
    "facet_time_limit_ms": 1000,
    "suggest_facets": False,
    "allow_download": False,
    "max_csv_mb": 50,
    "num_sql_threads": 3,
}
# Crawlers kept out of every page (datasette-block-robots; its default has no final newline).
PLUGINS = {"datasette-block-robots": {"literal": "User-agent: *\nDisallow: /\n"}}


def current_version(pointer: Path) -> Version:
    version = Publication(pointer).current()
    if version is None:
        raise TwapError(f"nothing published at {pointer}: run `twap run` or `twap publish` first")
    return version


def make_datasette(pointer: Path, cors: bool = False) -> "Datasette":
    """The site: Datasette with the templates and bounds of `twap serve`, serving the versions
    behind `pointer` (the same object in tests, benchmarks and each worker). The plugins come
    from the `datasette` entry points of this package, in every process that imports Datasette."""
    current_version(pointer)
    # Imported here: Datasette takes half a second to import, and `twap load` needs none of it.
    from datasette.app import Datasette

    from twap.site.versions import attach

    datasette = Datasette(
        template_dir=str(TEMPLATES_DIR),
        settings=DATASETTE_SETTINGS,
        metadata={"plugins": PLUGINS},
        cors=cors,
        # Filled with each served version's counts (twap/site/versions.py).
        inspect_data={},
    )
    attach(datasette, pointer)
    return datasette
