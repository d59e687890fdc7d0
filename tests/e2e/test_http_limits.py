"""The HTTP server's limits, over real sockets: oversized heads, slow and vanishing clients,
and HEAD on every GET route.

The server runs with 1-second head and body timeouts (JL_HEADER_TIMEOUT, JL_BODY_TIMEOUT), so
a slow client is cut off quickly; the tests wait for the server's answer, never for a clock.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from jurisdictions.settings import Settings
from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

#: A value for each path parameter of the routes, naming something the scenario holds.
EXAMPLES = {
    "code": "M1",
    "change_set_id": str(uuid.UUID(int=0)),
    "collection_id": "community",
    "feature_id": "M1",
    "level": "community",
    "z": "0",
    "x": "0",
    "y": "0",
    "job_id": "0123456789abcdef",
    "name": "aggregate.csv",
}
#: Every required query parameter of any GET route (the others ignore what they do not take).
QUERY = {
    "lon": "114.02",
    "lat": "22.52",
    "from": "2015-01-01",
    "to": "2017-01-01",
    "before": "2015-01-01",
    "after": "2017-01-01",
}


@pytest.fixture(scope="module")
def served(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str]]:
    url, (editor,) = scenario_database(databases, ("editor", "http limits"))
    server = LiveServer(url, JL_HEADER_TIMEOUT="1", JL_BODY_TIMEOUT="1")
    yield server, editor
    server.stop()
    databases.drop(url)


def exchange(server: LiveServer, data: bytes, close_after_sending: bool = False) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it (or resets it:
    a server that refuses a request it has not read whole may do that)."""
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(data)
            if close_after_sending:
                return b""
            while chunk := sock.recv(65536):
                received += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    return received


def status_of(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def log_lines(server: LiveServer, text: str, at_least: int = 1) -> list[str]:
    """The server log's lines holding `text`, once there are `at_least` of them (the server
    writes them as it notices; give up after a while and let the assertion say so)."""
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in server.log.read_text().splitlines() if text in line]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def get_routes() -> list[str]:
    """Every GET route's path with its parameters filled in."""
    app = create_app(Settings())  # type: ignore[call-arg]
    paths = []
    for route in iter_route_contexts(app.routes):
        if "GET" in (route.methods or ()) and route.path_format:
            paths.append(route.path_format.format(**EXAMPLES))
    return sorted(set(paths))


def test_head_works_on_every_get_route(served: tuple[LiveServer, str]):
    server, _ = served
    paths = get_routes()
    assert "/v1/units/{code}".format(**EXAMPLES) in paths and len(paths) > 20
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in paths:
            got = client.get(path, params=QUERY)
            head = client.head(path, params=QUERY)
            assert got.status_code < 500 and got.status_code != 405, (path, got.text[:200])
            assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == got.headers.get("content-type"), path


def test_a_10_mb_header_is_refused(served: tuple[LiveServer, str]):
    server, _ = served
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000_000 + b"\r\n\r\n"
    answer = exchange(server, head)
    assert status_of(answer) in (431, None), answer[:200]  # 431, or closed before answering
    if answer:
        assert b'"code":"headers_too_large"' in answer.replace(b" ", b"")


def test_10000_headers_are_refused(served: tuple[LiveServer, str]):
    server, _ = served
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(answer) in (431, None), answer[:200]


def test_headers_over_the_configured_count_or_size_get_431_in_the_error_shape(
    served: tuple[LiveServer, str],
):
    server, _ = served
    many = {f"x-h{i}": "v" for i in range(150)}  # a small head, but more than 100 headers
    large = {"x-big": "a" * 33_000}  # under what the server buffers, over the header limit
    for headers in (many, large):
        response = httpx.get(f"{server.url}/healthz", headers=headers, timeout=30)
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "headers_too_large"
    assert httpx.get(f"{server.url}/healthz", headers={"x-h": "a" * 8000}).status_code == 200


def test_a_client_trickling_its_head_is_cut_off(served: tuple[LiveServer, str]):
    server, _ = served
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
    assert status_of(answer) == 408, answer[:200]
    assert b"request_timeout" in answer


def test_a_client_trickling_its_body_is_cut_off_and_logged_once(served: tuple[LiveServer, str]):
    server, _ = served
    head = (
        b"POST /v1/lookup/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    answer = exchange(server, head + b'{"points": [')
    assert status_of(answer) == 408, answer[:200]
    assert b"request_timeout" in answer
    lines = log_lines(server, "before the end of its body: POST /v1/lookup/batch")
    assert len(lines) == 1, lines
    assert "answered 408" in lines[0]
    assert "Traceback" not in server.log.read_text()


def test_a_client_leaving_mid_body_is_one_line_in_the_log(served: tuple[LiveServer, str]):
    server, editor = served
    head = (
        b"POST /v1/changesets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + editor.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
    )
    exchange(server, head + b'{"effective": "2021-01-01", "reason": "', close_after_sending=True)
    lines = log_lines(server, "before the end of its body: POST /v1/changesets")
    assert len(lines) == 1, lines
    assert "disconnected" in lines[0]
    assert "Traceback" not in server.log.read_text()
    # And the server still answers.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET /v1/units/M1\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    ],
)
def test_a_request_http_cannot_parse_gets_400_in_the_error_shape(
    served: tuple[LiveServer, str], head: bytes
):
    server, _ = served
    answer = exchange(server, head)
    assert status_of(answer) == 400, answer[:200]
    assert b'"code": "http_error"' in answer


def test_a_connection_that_sends_nothing_is_closed(served: tuple[LiveServer, str]):
    server, _ = served
    assert exchange(server, b"") == b""  # closed (silently) once the head timeout passed


#: Texts a parameter may hold: any code point (controls, lone surrogates) or any bytes at all,
#: percent-encoded as a client would send them.
ANY_TEXT = st.one_of(
    st.text(max_size=12).map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="")),
    st.binary(max_size=12).map(lambda b: quote(b, safe="")),
)
PATHS = [
    "/v1/units/{}",
    "/v1/units/{}/history",
    "/v1/units/{}/lineage",
    "/maps/units/{}",
    "/ogc/collections/community/items/{}",
    "/ogc/collections/{}/items",
    "/tiles/{}/0/0/0.mvt",
    "/v1/changesets/{}",
]
QUERIES = [
    ("/v1/units", "parent"),
    ("/v1/units", "date"),
    ("/v1/units", "level"),
    ("/v1/units", "limit"),
    ("/v1/lookup?lon=114.02&lat=22.52&as_recorded=2030-01-01T00:00:00Z", "matter"),
    ("/v1/lookup?lat=22.52", "lon"),
    ("/v1/changes?from=2015-01-01", "to"),
    ("/ogc/collections/community/items", "datetime"),
    ("/ogc/collections/community/items", "bbox"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from([*PATHS, *QUERIES]),
    text=ANY_TEXT,
)
def test_any_text_in_any_parameter_is_answered_without_a_5xx(
    served: tuple[LiveServer, str], where: str | tuple[str, str], text: str
):
    server, _ = served
    if isinstance(where, str):
        path = where.format(text or "x")
    else:
        base, name = where
        path = f"{base}{'&' if '?' in base else '?'}{name}={text}"
    response = httpx.get(f"{server.url}{path}", timeout=30)
    assert response.status_code < 500, (path, response.text[:300])
    if response.status_code >= 400 and response.headers["content-type"].startswith(
        "application/json"
    ):
        error = response.json()["error"]
        assert error["code"] and error["message"], path


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/v1/units/M1%00", "path.code"),
        ("/v1/units/%ED%A0%80/lineage", "path.code"),
        ("/maps/units/M%01", "path.code"),
        ("/ogc/collections/community/items/M1%00", "path.feature_id"),
        ("/tiles/community/0/0/0%00.mvt", "path.y"),
        ("/v1/units?parent=S1%00", "query.parent"),
        ("/v1/lookup?lon=114.02&lat=22.52&matter=m%00&as_recorded=2030-01-01", "query.matter"),
        ("/v1/changes?from=2015-01-01&to=%FF", "query.to"),
    ],
)
def test_a_control_character_or_broken_escape_is_a_422_naming_the_parameter(
    served: tuple[LiveServer, str], path: str, location: str
):
    server, _ = served
    response = httpx.get(f"{server.url}{path}", timeout=30)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "text_invalid"
    assert [d["location"] for d in error["details"]] == [location]
    assert location in error["message"]
