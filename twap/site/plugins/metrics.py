"""/-/metrics: Prometheus metrics of every request of every worker and of the served version.

The metrics are twap/site/metrics.py. Read-only, cheap (a few small files read), the same for
any query string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from prometheus_client import CONTENT_TYPE_LATEST

from twap.site.metrics import exposition
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette


async def metrics(datasette: Datasette) -> Response:
    body = exposition(live_site(datasette))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/metrics$", metrics)]
