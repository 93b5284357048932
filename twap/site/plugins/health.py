"""/-/healthz (JSON) and the freshness banner on every page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Response

from twap.site.guard import guard_of
from twap.site.health import banner, health
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette


def _report(datasette: Datasette) -> dict[str, Any] | None:
    site = live_site(datasette)
    if site is None or site.served is None:
        return None
    return health(site.served.publication)


async def healthz(datasette: Datasette) -> Response:
    report = _report(datasette)
    if report is None:
        return Response.json({"status": "down", "problems": ["nothing published"]}, status=503)
    guard = guard_of(datasette)
    # This worker's expensive requests (SQL, facets, streams): running, queued, refused.
    load = guard.load.as_dict() if guard else None
    return Response.json({**report, "expensive_requests": load})


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/healthz$", healthz)]


@hookimpl
def extra_template_vars(datasette: Datasette) -> dict[str, str]:
    report = _report(datasette)
    if report is None:
        return {}
    return {
        "twap_freshness": banner(report),
        "twap_health_status": report["status"],
        # Pages say what is running as of the data's time rather than now.
        "twap_stale": report["stale"],
    }
