"""/-/healthz (JSON), the freshness banner on every page, and /robots.txt (crawlers kept out)."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from twap.health import banner, health
from twap.live import live_site


def _report(datasette) -> dict | None:
    site = live_site(datasette)
    if site is None or site.database is None:
        return None
    return health(site.database.publication)


async def healthz(datasette) -> Response:
    report = _report(datasette)
    if report is None:
        return Response.json({"status": "down", "problems": ["nothing published"]}, status=503)
    return Response.json(report)


async def robots_txt() -> Response:
    return Response.text("User-agent: *\nDisallow: /\n")


@hookimpl
def register_routes():
    return [(r"^/-/healthz$", healthz), (r"^/robots\.txt$", robots_txt)]


@hookimpl
def extra_template_vars(datasette):
    report = _report(datasette)
    if report is None:
        return {}
    return {"twap_freshness": banner(report), "twap_health_status": report["status"]}
