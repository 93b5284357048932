"""A fault-injecting HTTP proxy in front of the S3 server: records every request's headers and
answers chosen requests with S3 errors (throttling, access denied) instead of forwarding them."""

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Decides per request (method, path): None forwards it, (status, S3 error code) answers instead.
Fault = Callable[[str, str], tuple[int, str] | None]
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
    seen: list[Seen] = field(default_factory=list)
    faults_sent: int = 0

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
            fault = self.fault(method, path)
            self.faults_sent += fault is not None
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
                kept.pop("Content-Length", None)
                self._send(response.status, kept, data)
            finally:
                conn.close()

        def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
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
