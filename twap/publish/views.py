"""The SQL views of the published file (datasette/views.sql): figures relative to the data's
newest event, shared by the canned queries and the pages so that they are defined once."""

import re
import sqlite3

from twap.publish.metadata import DATASETTE_DIR

VIEWS_FILE = DATASETTE_DIR / "views.sql"


def create_views(sink: sqlite3.Connection) -> list[str]:
    """Create the views in the published file; returns their names."""
    script = VIEWS_FILE.read_text()
    sink.executescript(script)
    return re.findall(r"^create view (\w+)", script, flags=re.MULTILINE)
