"""Errors on a small hand-made version, no pipeline: a client's mistake is a 4xx in one line,
a path no route matches a 404 (Datasette's own handler would raise there: a 500)."""

import asyncio
from pathlib import Path

from tests.site.test_versions import publish
from twap.site.app import make_datasette


def test_client_mistakes_are_4xx_in_one_line(tmp_path: Path) -> None:
    publish(tmp_path / "twap.db", "a", 3)
    datasette = make_datasette(tmp_path / "twap.db")

    async def statuses() -> dict[str, tuple[int, str]]:
        found = {}
        for path in ("/a/b/c/d/e/f.json", "/nope.json", "/twap/t.json?_sort=nope", "/a/b/c/d/e/f"):
            response = await datasette.client.get(path)
            found[path] = (response.status_code, response.text)
        return found

    found = asyncio.run(statuses())
    assert found["/a/b/c/d/e/f.json"][0] == 404
    assert found["/a/b/c/d/e/f"][0] == 404 and "<html" in found["/a/b/c/d/e/f"][1]
    assert found["/nope.json"] == (
        404,
        '{"ok": false, "error": "Database not found", "status": 404, "title": null}',
    )
    assert found["/twap/t.json?_sort=nope"][0] == 400
    assert '"error": "Cannot sort table by nope"' in found["/twap/t.json?_sort=nope"][1]
