"""The SQL views of the published file (twap/site/views.sql): figures relative to the data's
newest event, shared by the canned queries and the pages so that they are defined once."""

import re
import sqlite3

from twap.site import VIEWS_FILE


def create_views(sink: sqlite3.Connection) -> list[str]:
    """Create the views in the published file; returns their names."""
    script = VIEWS_FILE.read_text()
    sink.executescript(script)
    return re.findall(r"^create view (\w+)", script, flags=re.MULTILINE)
