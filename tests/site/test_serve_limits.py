"""`twap serve` as a hostile or careless client finds it, on 127.0.0.1: worker processes, work
that stops when the client leaves, SIGTERM in the middle of a stream, and slow queries that do
not starve the other requests."""

import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import Server, Twap, get_json, serving

# One row per page: a stream of the events table is thousands of Datasette pages.
SLOW_STREAM = "/twap/fct_twap_status_events.csv?_stream=on&_size=1"
RUNAWAY_SQL = (
    "with recursive n(x) as (select 1 union all select x + 1 from n) select count(*) from n"
)
NORMAL = (
    "/twap/fct_twaps.json?_size=5",
    "/twap/active_twaps.json?_shape=array&page_size=5",
    "/twap/fct_coin_daily_flows.json?_size=5",
    "/-/healthz",
)


def workers(server: Server) -> list[int]:
    pid = server.process.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start_stream(server: Server) -> socket.socket:
    """A stream request on a raw socket, its first bytes read."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {SLOW_STREAM} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert b"200 OK" in sock.recv(4096)
    return sock


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_workers_share_the_port(site: Twap) -> None:
    with serving(site, "--workers", "2") as server:
        assert len(workers(server)) == 2
        assert get_json(f"{server.url}/-/healthz")["status"] != "down"


def test_work_stops_when_the_client_leaves(site: Twap) -> None:
    with serving(site, "--workers", "1") as server:
        pids = workers(server)
        start_stream(server).close()
        time.sleep(1)
        before = cpu_seconds(pids)
        time.sleep(2)
        # Had the stream gone on, its thousands of pages would keep a core busy.
        assert cpu_seconds(pids) - before < 0.3
        assert get_json(f"{server.url}/-/healthz")["status"] != "down"


def test_sigterm_stops_serve_mid_stream(site: Twap) -> None:
    with serving(site, "--workers", "1") as server:
        stream = start_stream(server)  # never read again: the server is stuck writing to it
        time.sleep(0.5)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        stream.close()
        assert time.monotonic() - stopped_at < 8
        assert server.process.returncode == 0


def test_slow_queries_do_not_starve_normal_pages(site: Twap) -> None:
    with serving(site, "--workers", "2") as server:
        hostile_url = f"{server.url}/twap.json?sql={urllib.parse.quote(RUNAWAY_SQL)}"
        hostile: list[int] = []
        stop = threading.Event()

        def attack() -> None:
            while not stop.is_set():
                hostile.append(status_of(hostile_url))

        attackers = [threading.Thread(target=attack) for _ in range(10)]
        for attacker in attackers:
            attacker.start()
        normal = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for path in NORMAL:
                normal.append(status_of(f"{server.url}{path}"))
        health = get_json(f"{server.url}/-/healthz")
        stop.set()
        for attacker in attackers:
            attacker.join(timeout=30)
        assert set(normal) == {200} and len(normal) > 20
        # Over their time limit (400) or refused while others run (429): never a server error.
        assert set(hostile) == {400, 429}, set(hostile)
        assert set(health["expensive_requests"]) == {"running", "waiting", "refused", "over_budget"}
