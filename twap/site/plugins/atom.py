"""An Atom feed (`.atom`) of any query whose rows have the `atom_` columns.

The columns are `atom_id`, `atom_title`, `atom_updated` and `atom_link` (the convention of
datasette-atom), so a trader can subscribe to the new large TWAPs (the `large_twaps` canned
query) in a feed reader. Not datasette-atom itself: it answers `application/xml` and needs
lxml, feedgen and bleach for what these 50 lines do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from datasette import hookimpl
from datasette.utils.asgi import Request

if TYPE_CHECKING:
    from datasette.app import Datasette

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
REQUIRED_COLUMNS = {"atom_id", "atom_title", "atom_updated", "atom_link"}


def can_render(columns: list[str]) -> bool:
    return set(columns) >= REQUIRED_COLUMNS


async def render(
    datasette: Datasette,
    request: Request,
    rows: list[Any],
    columns: list[str],
    query_name: str | None,
    database: str,
) -> dict[str, Any]:
    if not can_render(columns):
        return {"body": "no atom_ columns to make a feed of", "status_code": 400}
    query = await datasette.get_canned_query(database, query_name, request.actor) or {}
    feed = ElementTree.Element("feed", xmlns=ATOM_NAMESPACE)
    url = datasette.absolute_url(request, request.full_path)
    ElementTree.SubElement(feed, "title").text = query.get("title") or query_name or "query"
    ElementTree.SubElement(feed, "id").text = url
    ElementTree.SubElement(feed, "link", rel="self", href=url)
    entries = [dict(zip(columns, row, strict=True)) for row in rows]
    updated = max((entry["atom_updated"] for entry in entries), default="1970-01-01T00:00:00Z")
    ElementTree.SubElement(feed, "updated").text = updated
    ElementTree.SubElement(ElementTree.SubElement(feed, "author"), "name").text = "twap"
    for entry in entries:
        element = ElementTree.SubElement(feed, "entry")
        ElementTree.SubElement(element, "id").text = entry["atom_id"]
        ElementTree.SubElement(element, "title").text = entry["atom_title"]
        ElementTree.SubElement(element, "updated").text = entry["atom_updated"]
        link = datasette.absolute_url(request, entry["atom_link"])
        ElementTree.SubElement(element, "link", href=link)
    body = ElementTree.tostring(feed, encoding="unicode", xml_declaration=True)
    return {"body": body, "content_type": "application/atom+xml; charset=utf-8"}


@hookimpl
def register_output_renderer() -> dict[str, Any]:
    return {"extension": "atom", "render": render, "can_render": can_render}
