"""Debian's headless Chromium driven over the DevTools protocol through a pipe
(`--remote-debugging-pipe`: commands on its fd 3, answers on its fd 4), so a test opens pages
in a window of a given size, runs JavaScript in them and takes screenshots, with nothing but the
standard library (no WebDriver, no downloaded browser)."""

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 30.0


def find_chromium() -> str:
    """Debian's chromium (its tests are marked `chromium`: conftest.py skips or fails them
    when it is missing)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is missing: run `make prerequisites`"
    return browser


class Browser:
    """One headless Chromium with one tab."""

    def __init__(self, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def descriptors() -> None:  # in the child: the pipes at the fds Chromium reads
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [
                find_chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            preexec_fn=descriptors,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.call("Page.enable")

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = self._send(method, params or {}, session)
        while True:
            message = self._receive()
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self._events.append(message)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A DevTools command in the tab."""
        return self._call(method, params, self._session)

    def resize(self, width: int, height: int, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def open(self, url: str) -> None:
        """Load `url` and wait for its load event."""
        self._events.clear()
        self.call("Page.navigate", {"url": url})
        self._wait_for_load(url)

    def click(self, selector: str) -> str:
        """Click the first element matching `selector`, as a person would, and wait for the page
        it leads to; returns that page's URL."""
        self._events.clear()
        if not self.evaluate(
            f"(e => e ? (e.click(), true) : false)(document.querySelector({selector!r}))"
        ):
            raise AssertionError(f"nothing to click: {selector}")
        self._wait_for_load(selector)
        return self.evaluate("location.href")

    def _wait_for_load(self, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not load")
            self._events.append(self._receive())

    def bottom(self, selector: str) -> float:
        """Where the first element matching `selector` ends, in pixels from the window's top."""
        return self.evaluate(f"document.querySelector({selector!r}).getBoundingClientRect().bottom")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def text(self) -> str:
        """What a person reads on the page."""
        return self.evaluate("document.body.innerText")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            self._call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
