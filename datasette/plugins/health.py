"""/-/healthz (JSON), the freshness banner on every page, and /robots.txt (crawlers kept out)."""

from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from datasette.utils.asgi import Response

from twap.guard import guard_of
from twap.health import banner, health
from twap.live import live_site


def _report(datasette: Datasette) -> dict[str, Any] | None:
    site = live_site(datasette)
    if site is None or site.database is None:
        return None
    return health(site.database.publication)


async def healthz(datasette: Datasette) -> Response:
    report = _report(datasette)
    if report is None:
        return Response.json({"status": "down", "problems": ["nothing published"]}, status=503)
    guard = guard_of(datasette)
    # This worker's expensive requests (SQL, facets, streams): running, queued, refused.
    load = guard.load.as_dict() if guard else None
    return Response.json({**report, "expensive_requests": load})


async def robots_txt() -> Response:
    return Response.text("User-agent: *\nDisallow: /\n")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/healthz$", healthz), (r"^/robots\.txt$", robots_txt)]


@hookimpl
def extra_template_vars(datasette: Datasette) -> dict[str, str]:
    report = _report(datasette)
    if report is None:
        return {}
    return {"twap_freshness": banner(report), "twap_health_status": report["status"]}
