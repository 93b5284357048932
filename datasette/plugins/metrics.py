"""/-/metrics: Prometheus metrics of every request of every worker, and of the served version
(twap/site_metrics.py). Read-only, cheap (a few small files read), the same for any query string."""

from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from datasette.utils.asgi import Response
from prometheus_client import CONTENT_TYPE_LATEST

from twap.live import live_site
from twap.site_metrics import exposition


async def metrics(datasette: Datasette) -> Response:
    body = exposition(live_site(datasette))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/metrics$", metrics)]
