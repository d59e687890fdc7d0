"""The HTTP/1.1 server's limits, for a service facing clients it does not control.

uvicorn's ``h11`` implementation is used, not ``httptools``: h11 bounds the request head it
buffers (``h11_max_incomplete_event_size``), httptools does not bound it at all. On top of it
this protocol adds what uvicorn lacks:

- a request head larger than the limit is answered 431 in the contract's error shape, and the
  connection closed, before it is read whole (a 10 MB header is never buffered);
- a request head not complete `header_timeout` seconds after the connection opened (or after
  its first byte, on a kept-alive connection) is answered 408 and closed (slowloris);
- a body that stays silent for `body_timeout` seconds is answered 408 and closed; the route
  reading it sees a disconnect, which `api.edge` logs in one line.

Header count and the exact header size are checked by `api.edge` once the head is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api import error_codes as codes
from api.edge import READ_TIMED_OUT
from api.error_codes import ErrorCode
from api.errors import error_body

LOGGER = logging.getLogger(__name__)

#: Room for the request line beside the headers, in the head the server buffers.
REQUEST_LINE_BYTES = 8192


@dataclass(frozen=True)
class Limits:
    """What a client may send: header bytes (names and values), seconds for the head, and the
    longest silence while sending a body."""

    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @property
    def max_head_bytes(self) -> int:
        """The largest request head (request line and headers) the server buffers."""
        return self.max_header_bytes + REQUEST_LINE_BYTES


def protocol_with(limits: Limits) -> type[H11Protocol]:
    """The uvicorn protocol class (``uvicorn.Config(http=...)``) enforcing `limits`."""
    return type("LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits})


def _raw_response(error: ErrorCode, message: str) -> bytes:
    """A complete HTTP/1.1 error response, for when h11 cannot frame one (no request yet)."""
    body = json.dumps(error_body(error.code, message)).encode()
    reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[error.status]
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (error.status, reason, len(body))
    )
    return head + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with head size, head time and body silence limits."""

    limits: Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: Bytes received while waiting for a request head (a cheap bound before measuring).
        self._head_bytes = 0

    # Connection events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request head is timed from now."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no timer may fire for it."""
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Check the head's size before h11 buffers it; time the head and the body."""
        if self.conn.their_state is h11.IDLE:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes and self._head_too_large(data):
                LOGGER.warning(
                    "client %s: %s; answered 431 and closed", self._peer(), self._head_message()
                )
                self._refuse(codes.HEADERS_TOO_LARGE, self._head_message())
                return
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is not h11.IDLE:
            self._head_bytes = 0
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
        if state is h11.SEND_BODY:
            self._arm_body_timer()
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (a NUL in a header, a malformed request line): 400 in
        the contract's error shape rather than uvicorn's plain text."""
        body = json.dumps(error_body(codes.HTTP_ERROR.code, f"malformed HTTP request: {msg}"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        with contextlib.suppress(h11.LocalProtocolError):
            self.transport.write(
                (self.conn.send(h11.Response(status_code=400, headers=headers)) or b"")
                + (self.conn.send(h11.Data(data=body.encode())) or b"")
                + (self.conn.send(h11.EndOfMessage()) or b"")
            )
        self._cancel_timers()
        self.transport.close()

    # Limits --------------------------------------------------------------------------------

    def _head_too_large(self, data: bytes) -> bool:
        head = self.conn.trailing_data[0] + data
        end = head.find(b"\r\n\r\n")
        limit = self.limits.max_head_bytes
        return end > limit or (end < 0 and len(head) > limit)

    def _head_message(self) -> str:
        return (
            f"the request head is larger than {self.limits.max_head_bytes} bytes "
            f"(headers: at most {self.limits.max_header_bytes} bytes)"
        )

    def _arm_head_timer(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if not self.conn.trailing_data[0]:
            # Nothing sent at all: nobody to answer (an idle kept-alive connection is
            # uvicorn's keep-alive timeout's to close).
            self.transport.close()
            return
        LOGGER.warning(
            "client %s: request head not complete after %s s; answered 408 and closed",
            self._peer(),
            self.limits.header_timeout,
        )
        seconds = self.limits.header_timeout
        self._refuse(codes.REQUEST_TIMEOUT, f"the request head took longer than {seconds} s")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the route is not reading yet: not the client's doing
            self._arm_body_timer()
            return
        cycle = self.cycle
        seconds = self.limits.body_timeout
        if cycle is not None and not cycle.response_started:
            message = f"the body stayed silent for {seconds} s"
            body = json.dumps(error_body(codes.REQUEST_TIMEOUT.code, message)).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            # (if h11 will not frame it now, closing says enough)
            with contextlib.suppress(h11.LocalProtocolError):
                self.transport.write(
                    (self.conn.send(h11.Response(status_code=408, headers=headers)) or b"")
                    + (self.conn.send(h11.Data(data=body)) or b"")
                    + (self.conn.send(h11.EndOfMessage()) or b"")
                )
            # The route sees a disconnect (and api.edge logs it, with this reason).
            cycle.scope.setdefault("state", {})[READ_TIMED_OUT] = seconds
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, error: ErrorCode, message: str) -> None:
        self._cancel_timers()
        self.transport.write(_raw_response(error, message))
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
