"""The HTTP/1.1 server's limits, for a service facing clients it does not control.

uvicorn's ``httptools`` implementation (llhttp, in C) is used: it parses a request in a
fraction of what ``h11`` takes in Python (docs/http.md, "The HTTP server"), but bounds nothing.
This protocol adds the limits, counting what the parser is fed:

- a request head larger than the limit is answered 431 in the contract's error shape, and the
  connection closed, before it is read whole (a 10 MB header is never buffered): bytes are
  counted while a head is incomplete, and never more than the limit is fed to the parser;
- more headers than the limit: 431, counted as the parser reports each one;
- a request head not complete `header_timeout` seconds after the connection opened (or after
  its first byte arrived, on a kept-alive connection) is answered 408 and closed (slowloris);
- a body that stays silent for `body_timeout` seconds is answered 408 and closed; the route
  reading it sees a disconnect, which `api.edge` logs in one line;
- a request the parser refuses is answered 400 in the contract's error shape.

The exact header size is checked by `api.edge` once the head is read. A head that arrives in
one read, the usual case, costs no timer at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api import error_codes as codes
from api.edge import READ_TIMED_OUT
from api.error_codes import ErrorCode
from api.errors import error_body

LOGGER = logging.getLogger(__name__)

#: Room for the request line beside the headers, in the head the server buffers.
REQUEST_LINE_BYTES = 8192


@dataclass(frozen=True)
class Limits:
    """What a client may send: header bytes (names and values) and headers, seconds for the
    head, and the longest silence while sending a body."""

    max_header_bytes: int
    max_header_count: int
    header_timeout: float
    body_timeout: float

    @property
    def max_head_bytes(self) -> int:
        """The largest request head (request line and headers) the server reads."""
        return self.max_header_bytes + REQUEST_LINE_BYTES


def protocol_with(limits: Limits) -> type[HttpToolsProtocol]:
    """The uvicorn protocol class (``uvicorn.Config(http=...)``) enforcing `limits`."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def raw_response(error: ErrorCode, message: str) -> bytes:
    """A complete HTTP/1.1 error response in the contract's error shape, closing the
    connection (written as is: there is no request, or none the server will answer)."""
    body = json.dumps(error_body(error.code, message)).encode()
    reason = HTTPStatus(error.status).phrase.encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (error.status, reason, len(body))
    )
    return head + body


class _Refused(Exception):
    """Raised in a parser callback to stop the parser; the reason is in `_refusal`."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head size, header count, head time and body silence
    limits."""

    limits: Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: Waiting for, or reading, a request head (at the start, and after each message).
        self._in_head = True
        #: A byte of the current head has arrived.
        self._head_begun = False
        #: Bytes of the current head fed to the parser (a head starting within a read that
        #: ended the previous message is counted from the next read: at most one read short).
        self._head_bytes = 0
        self._header_count = 0
        self._refusal: tuple[ErrorCode, str] | None = None

    # Connection events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request head is timed from now."""
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no timer may fire for it."""
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, never more of a head than the limit; time the head and the body."""
        if self._in_head and len(data) > self.limits.max_head_bytes - self._head_bytes:
            rest = self._feed_head(data)
            if rest is None:
                return
            data = rest
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        if not self._feed(data):
            return
        if self._in_head:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            if self._head_begun and self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout, self._head_timed_out
                )
        else:  # a body is being read: the silence is timed from its last bytes
            if self._body_timer is not None:
                self._body_timer.cancel()
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _feed_head(self, data: bytes) -> bytes | None:
        """Feed `data`, more than the current head may hold, in parts: each head must end
        within what it may hold, else 431. What is left once it fits (None: refused)."""
        limit = self.limits.max_head_bytes
        while self._in_head and len(data) > limit - self._head_bytes:
            room = limit - self._head_bytes
            self._head_bytes = limit
            self._unset_keepalive_if_required()
            if not self._feed(data[:room]):
                return None
            if self._in_head and self._head_bytes == limit:  # the same head, still incomplete
                message = (
                    f"the request head is larger than {limit} bytes "
                    f"(headers: at most {self.limits.max_header_bytes} bytes)"
                )
                self._refuse(codes.HEADERS_TOO_LARGE, message)
                return None
            data = data[room:]
        return data

    def _feed(self, data: bytes) -> bool:
        """Parse `data`; False if the connection is done with (refused, upgraded, closed)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError as exc:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                LOGGER.warning(
                    "client %s: malformed HTTP request (%s); answered 400 and closed",
                    self._peer(),
                    exc,
                )
                self.send_400_response(str(exc))
            return False
        return True

    def send_400_response(self, msg: str) -> None:
        """A request the parser refuses (a NUL in a header, a malformed request line): 400 in
        the contract's error shape rather than uvicorn's plain text."""
        self._cancel_timers()
        self.transport.write(raw_response(codes.HTTP_ERROR, f"malformed HTTP request: {msg}"))
        self.transport.close()

    # Parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """The first byte of a request."""
        super().on_message_begin()
        self._head_begun = True
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header, counted."""
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            count = self.limits.max_header_count
            self._refusal = (
                codes.HEADERS_TOO_LARGE,
                f"the request has more than {count} headers; at most {count} are accepted",
            )
            raise _Refused
        # uvicorn's on_header, inlined (this runs for every header of every request):
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace, RFC 9110 drops it
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is read: its timer stops, the body's (if any) starts with the next read."""
        self._in_head = self._head_begun = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is read whole: what follows is the next request's head."""
        super().on_message_complete()
        self._in_head = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # Limits --------------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if not self._head_begun:
            # Nothing sent at all: nobody to answer (an idle kept-alive connection is
            # uvicorn's keep-alive timeout's to close, and not timed here).
            self.transport.close()
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head while the previous answer is still being written: its time
            # starts once that answer is complete.
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )
            return
        seconds = self.limits.header_timeout
        LOGGER.warning(
            "client %s: request head not complete after %s s; answered 408 and closed",
            self._peer(),
            seconds,
        )
        self._refuse(codes.REQUEST_TIMEOUT, f"the request head took longer than {seconds} s")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._in_head:
            return
        if self.flow.read_paused:  # the route is not reading yet: not the client's doing
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
            return
        cycle = self.cycle
        seconds = self.limits.body_timeout
        if cycle is not None and not cycle.response_started:
            message = f"the body stayed silent for {seconds} s"
            self.transport.write(raw_response(codes.REQUEST_TIMEOUT, message))
            # The route sees a disconnect (and api.edge logs it, with this reason).
            cycle.scope.setdefault("state", {})[READ_TIMED_OUT] = seconds
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, error: ErrorCode, message: str) -> None:
        """Answer `error` and close (just close if an answer to an earlier, pipelined request
        is still being written: no second answer may cut into it)."""
        self._cancel_timers()
        if error is codes.HEADERS_TOO_LARGE:
            LOGGER.warning("client %s: %s; answered 431 and closed", self._peer(), message)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(raw_response(error, message))
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
