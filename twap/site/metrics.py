"""Prometheus metrics of the served site, at /-/metrics (twap/site/plugins/metrics.py).

Every request is counted by route class and status and timed (an ASGI wrapper outside the guard,
so that refusals and replayed answers count too); requests the guard refuses are counted by
why. The served version, its data's age and its health are read from the version at each scrape.

`twap serve` runs several worker processes: it gives them one PROMETHEUS_MULTIPROC_DIR (made
for each serve, removed after), where prometheus-client's multiprocess mode keeps each worker's
counts, so any worker's /-/metrics answers for all of them, workers replaced included.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from twap.site import MULTIPROCESS_ENV
from twap.site.health import health
from twap.site.versions import LiveSite, live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

# Route classes: a fixed few, never the path itself (one series per URL would be unbounded).
PAGES = {"healthz": "health", "metrics": "metrics", "charts": "charts", "static": "static"}
STATIC_PATHS = ("/robots.txt", "/favicon.ico")
# A request whose client left before any answer, as nginx logs it.
CLIENT_LEFT = "499"
# Around the targets (p95 of normal pages 250 ms) and the bounds (5 s per request, 60 s streams).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# This process's counts when it serves alone (tests, benchmarks); under `twap serve` the values
# live in the multiprocess folder, and this registry is not what /-/metrics reads.
_registry = CollectorRegistry()
REQUESTS = Counter(
    "twap_http_requests",
    "Requests answered, by route class and HTTP status (499: the client left first)",
    ["route", "status"],
    registry=_registry,
)
LATENCY = Histogram(
    "twap_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route class",
    ["route"],
    buckets=BUCKETS,
    registry=_registry,
)
REFUSED = Counter(
    "twap_http_requests_refused",
    "Requests refused by the bounds, by reason: method (not GET/HEAD), bounds (URL, parameters, "
    "facets), busy (429, expensive slots full), over_budget (time), too_large (413)",
    ["reason"],
    registry=_registry,
)


def route_class(scope: dict[str, Any], site: LiveSite | None, queries: set[str]) -> str:
    """What kind of page a request asked for: home, table, query (canned), sql, database, row,
    stream, health, metrics, charts, static, meta (other /-/ pages), other."""
    path: str = scope["path"]
    if path == "/":
        return "home"
    if path.startswith("/-/"):
        return PAGES.get(path[3:].split("/")[0].split(".")[0], "meta")
    if path in STATIC_PATHS:
        return "static"
    parts = path.strip("/").split("/")
    if site is None or parts[0].split(".")[0] != site.route:
        return "other"
    names = {name for name, _ in urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"))}
    if len(parts) == 1:
        return "sql" if "sql" in names else "database"
    if "_stream" in names:
        return "stream"
    if len(parts) == 2:
        return "query" if parts[1].split(".")[0] in queries else "table"
    return "row" if len(parts) == 3 else "other"


def observe(route: str, status: str, seconds: float) -> None:
    # A count that cannot be kept never fails the request: a worker started after a /tmp
    # cleaner removed the metrics folder cannot open its file there (its counts then stall).
    with suppress(OSError):
        REQUESTS.labels(route, status).inc()
        LATENCY.labels(route).observe(seconds)


def refused(reason: str) -> None:
    with suppress(OSError):  # as in observe()
        REFUSED.labels(reason).inc()


class ServedVersion:
    """The served version's facts at scrape time: a collector of gauges, made per scrape."""

    def __init__(self, publication: dict[str, Any]) -> None:
        self.report = health(publication)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = self.report
        info = GaugeMetricFamily(
            "twap_served_version_info", "The published version served (value 1)", labels=["version"]
        )
        info.add_metric([report["version"]], 1)
        yield info
        for name, documentation, seconds in (
            ("data_age_seconds", "Age of the newest served event", report["data_age_seconds"]),
            (
                "last_load_age_seconds",
                "Time since the newest served object was loaded",
                report["last_load_age_seconds"],
            ),
            (
                "published_age_seconds",
                "Time since the served version was published",
                report["published_age_seconds"],
            ),
        ):
            if seconds is not None:
                yield GaugeMetricFamily(f"twap_served_{name}", documentation, value=seconds)
        yield GaugeMetricFamily(
            "twap_served_healthy", "1 if /-/healthz says ok, 0 if degraded",
            value=report["status"] == "ok",
        )  # fmt: skip
        for name, documentation, counts in (
            ("objects", "Ledger objects of the served version by status", report["objects"]),
            ("dbt_tests", "dbt tests of the served version's build by status", report["dbt_tests"]),
        ):
            family = GaugeMetricFamily(f"twap_served_{name}", documentation, labels=["status"])
            for status, count in sorted(counts.items()):
                family.add_metric([status], count)
            yield family


def exposition(site: LiveSite | None) -> bytes:
    """The text of /-/metrics: every worker's requests, and the served version's facts."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    requests = _registry
    if folder:
        requests = CollectorRegistry()
        MultiProcessCollector(requests, path=folder)
    text = generate_latest(requests)
    if site is not None and site.served is not None:
        served = CollectorRegistry(auto_describe=False)
        served.register(ServedVersion(site.served.publication))
        text += generate_latest(served)
    return text


class Metered:
    """The ASGI wrapper that counts and times every HTTP request of `app`."""

    def __init__(self, app: Any, datasette: Datasette) -> None:
        self.app = app
        self.datasette = datasette
        self._queries: tuple[str | None, set[str]] = (None, set())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = CLIENT_LEFT

        async def send_counted(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except Exception:
            status = "500"
            raise
        finally:
            site = live_site(self.datasette)
            route = route_class(scope, site, self.canned_queries(site))
            observe(route, status, time.perf_counter() - started)

    def canned_queries(self, site: LiveSite | None) -> set[str]:
        """The served version's canned query names (asked once per version)."""
        if site is None or site.served is None:
            return set()
        name = site.served.database.name
        if self._queries[0] != name:
            queries = self.datasette.metadata("queries", database=name) or {}
            self._queries = (name, set(queries))
        return self._queries[1]
