"""A fault-injecting HTTP proxy in front of the S3 server: records every request's headers,
answers chosen requests with S3 errors (throttling, access denied) instead of forwarding them,
and holds a chosen request (a deterministic pause point: its client waits on it) until the test
releases it, never forwarding it."""

import http.client
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Decides per request (method, path): None forwards it, (status, S3 error code) answers instead.
Fault = Callable[[str, str], tuple[int, str] | None]
# Decides per request (method, path) whether to hold it.
Hold = Callable[[str, str], bool]
# What a held request gets once released (its client is usually gone by then).
RELEASED = (503, "SlowDown")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class S3Proxy:
    upstream: str
    fault: Fault = lambda method, path: None
    hold: Hold = lambda method, path: False
    seen: list[Seen] = field(default_factory=list)
    faults_sent: int = 0
    # Set when a request is held; the test sets `released` to let it go (unanswered upstream).
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        with self._lock:
            self.seen.append(Seen(method, path, headers))
            holding = self.hold(method, path)
            fault = None if holding else self.fault(method, path)
            self.faults_sent += fault is not None
        if holding:
            self.held.set()
            self.released.wait()
            return RELEASED
        return fault


def _handler(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            fault = proxy.answer(self.command, self.path, headers)
            if fault is not None:
                status, code = fault
                self._send(status, {"Content-Type": "application/xml"}, _error_xml(code))
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = conn.getresponse()
                data = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                # A HEAD answer has no body but the object's length.
                length = kept.pop("Content-Length", None)
                self._send(response.status, kept, data, length if self.command == "HEAD" else None)
            finally:
                conn.close()

        def _send(
            self, status: int, headers: dict[str, str], data: bytes, length: str | None = None
        ) -> None:
            # A held request's client may have been killed meanwhile.
            with suppress(ConnectionError):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _error_xml(code: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>"
    ).encode()
