"""A headless Chromium driven over the Chrome DevTools Protocol, for tests of pages in a real
browser.

The protocol is JSON over a WebSocket; `websockets` (a dependency of uvicorn's standard extras)
carries it, so no browser automation package or downloaded browser build is needed: the
distribution's `chromium` is used.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

BROWSER_NAMES = ("chromium", "chromium-browser")


def find_browser() -> str | None:
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Page:
    """One browser tab: send protocol commands, collect events, evaluate JavaScript."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._connection.recv(timeout=30))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 30, what: str = "") -> Any:
        """Evaluate `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}")
            time.sleep(0.2)

    def click(self, selector: str) -> None:
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.scrollIntoView(); e.click(); return true; })()"
        )
        assert found, f"nothing to click at {selector}"

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field and type as a user would, so the page's own input handlers run."""
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.focus(); return true; })()"
        )
        assert found, f"no field at {selector}"
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def requested_urls(self) -> list[str]:
        """URLs the page asked for, less those the browser refused to fetch (e.g. by the
        page's Content-Security-Policy): those never leave the machine."""
        refused = {
            event["params"]["requestId"]
            for event in self.events
            if event["method"] == "Network.loadingFailed" and event["params"].get("blockedReason")
        }
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
            and event["params"]["requestId"] not in refused
        ]

    def refused_urls(self) -> list[str]:
        return sorted(set(self._all_urls()) - set(self.requested_urls()))

    def _all_urls(self) -> list[str]:
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        ]


@contextmanager
def headless_browser(
    executable: str, profile: Path, *, offline: bool = True, window: tuple[int, int] = (1280, 900)
) -> Iterator[Callable[[], Page]]:
    """Start the browser; yield a function that opens a connection to its first tab.

    `offline` makes every host name but 127.0.0.1 unresolvable, as on a machine with no
    network: a page that needs another host fails to load it.
    """
    arguments = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    if offline:
        arguments.insert(1, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    # Its own process group: the renderer and helper processes are stopped with it, so none
    # is left writing into the profile while the caller deletes it.
    process = subprocess.Popen(
        arguments,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    connections = ExitStack()
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, f"{executable} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{executable} opened no debugging port in 30 s"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])

        def open_page() -> Page:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            tab = next(t for t in targets if t["type"] == "page")
            return Page(
                connections.enter_context(
                    connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
                )
            )

        yield open_page
    finally:
        connections.close()
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the browser and every process it started; return once none is left."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal_number)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is None:
                time.sleep(0.05)
                continue
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
