"""What the browser tests share: Debian's Chromium with every host but 127.0.0.1 unresolvable,
a recorder of every request a page makes, a PNG reader for screenshots, page helpers.

The fixtures that launch the browser are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Nothing but the local server resolves; no background traffic of Chromium's own.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1280, "height": 860}


# -- a PNG reader, enough for Chromium's screenshots (8-bit RGB/RGBA, not interlaced) -----------


class Image:
    """Pixels of a PNG screenshot."""

    def __init__(self, data: bytes) -> None:
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        position, idat = 8, b""
        while position < len(data):
            (length,) = struct.unpack(">I", data[position : position + 4])
            kind = data[position + 4 : position + 8]
            body = data[position + 8 : position + 8 + length]
            if kind == b"IHDR":
                self.width, self.height, depth, colour, _, _, interlace = struct.unpack(
                    ">IIBBBBB", body
                )
                assert depth == 8 and colour in (2, 6) and interlace == 0
                self.channels = 3 if colour == 2 else 4
            elif kind == b"IDAT":
                idat += body
            position += 12 + length
        raw = zlib.decompress(idat)
        stride = self.width * self.channels
        rows: list[bytearray] = []
        previous = bytearray(stride)
        for y in range(self.height):
            start = y * (stride + 1)
            kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
            for i in range(stride):
                left = line[i - self.channels] if i >= self.channels else 0
                up = previous[i]
                corner = previous[i - self.channels] if i >= self.channels else 0
                if kind == 1:
                    line[i] = (line[i] + left) & 0xFF
                elif kind == 2:
                    line[i] = (line[i] + up) & 0xFF
                elif kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 0xFF
                elif kind == 4:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    line[i] = (line[i] + best) & 0xFF
            rows.append(line)
            previous = line
        self.rows = rows

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        row, i = self.rows[y], x * self.channels
        return row[i], row[i + 1], row[i + 2]

    def count(self, box: tuple[int, int, int, int], test: Any, step: int = 2) -> tuple[int, int]:
        """Pixels in `box` (left, top, right, bottom) passing `test`, and pixels looked at."""
        left, top, right, bottom = box
        hits = total = 0
        for y in range(max(top, 0), min(bottom, self.height), step):
            for x in range(max(left, 0), min(right, self.width), step):
                total += 1
                hits += bool(test(self.pixel(x, y)))
        return hits, total


class Recorder:
    """Every request a page made, what failed, and every script error."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def clear(self) -> None:
        self.requests.clear()
        self.failed.clear()
        self.errors.clear()

    def outside(self) -> list[str]:
        return [
            url
            for url in self.requests
            if not url.startswith("data:") and urlsplit(url).hostname != "127.0.0.1"
        ]

    def tiles(self) -> list[str]:
        return [url for url in self.requests if "/tiles/" in url]


def recorded_page(context: Any, recorder: Recorder, *, aborts_fail: bool = True) -> Any:
    """A new page of `context` whose requests, failures and script errors go to `recorder`.

    `aborts_fail=False` for a context that aborts requests on purpose (the network cut by
    routing): those aborts are the point of the test, not failures of the page.
    """
    context.on("request", lambda request: recorder.requests.append(request.url))
    if aborts_fail:
        # Leaflet cancels the tiles it no longer needs when the view moves: not a failure.
        context.on(
            "requestfailed",
            lambda request: (
                None
                if request.failure == "net::ERR_ABORTED"
                else recorder.failed.append(f"{request.url}: {request.failure}")
            ),
        )
    context.on(
        "response",
        lambda response: (
            recorder.failed.append(f"{response.url}: HTTP {response.status}")
            if response.status >= 400
            else None
        ),
    )
    page = context.new_page()
    page.on("pageerror", lambda error: recorder.errors.append(str(error)))
    page.on(
        "console",
        lambda message: recorder.errors.append(message.text) if message.type == "error" else None,
    )
    return page


def load(page: Any, url: str) -> None:
    """Open a page and wait until the tiles it shows at first are drawn."""
    page.goto(url, wait_until="load")
    wait_ready(page)


def wait_ready(page: Any) -> None:
    page.wait_for_selector("html[data-jl-ready=true]", state="attached", timeout=30_000)
    page.wait_for_timeout(400)


def assert_offline_and_clean(recorder: Recorder) -> None:
    assert recorder.requests, "no request recorded"
    assert recorder.outside() == [], recorder.outside()
    assert recorder.failed == [], recorder.failed
    assert recorder.errors == [], recorder.errors


def screen_point(page: Any, map_expression: str, lat: float, lon: float) -> tuple[float, float]:
    """Where a coordinate is on the screen, in one of the page's maps."""
    x, y = page.evaluate(
        """([expression, lat, lon]) => {
            const map = eval(expression);
            const point = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [point.x + box.left, point.y + box.top];
        }""",
        [map_expression, lat, lon],
    )
    return float(x), float(y)


def element_box(locator: Any) -> tuple[int, int, int, int]:
    box = locator.bounding_box()
    return (
        int(box["x"]),
        int(box["y"]),
        int(box["x"] + box["width"]),
        int(box["y"] + box["height"]),
    )
