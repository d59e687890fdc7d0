"""The stored log of legal acts: one `ChangeSet` aggregate per applied change set.

Idempotency keys work as payment APIs' do: a key is the client's name for one request. It is
scoped to the actor (two editors' "k-1" are two change sets), a retry with the same key and the
same request stores nothing and answers with the first result, and the same key with another
request is refused (`IdempotencyKeyReused`): silently answering for a different request would
hide that it was never applied. "The same request" is decided by a fingerprint of the whole
request, geometries included, kept in the record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import fields, is_dataclass
from datetime import date
from typing import Any

import shapely
from eventsourcing.domain import Aggregate
from shapely.geometry.base import BaseGeometry

from domain.commands import ChangeSetRequest

CHANGE_SET_NAMESPACE = uuid.UUID("0e3c8a51-7a0b-5f0e-8f1d-6b4a2d9c1e77")

#: The longest idempotency key (Stripe's limit; a UUID or a hash fits with room to spare).
MAX_IDEMPOTENCY_KEY = 255


def idempotency_key_problem(key: str) -> str | None:
    """What is wrong with `key` as an idempotency key, or None.

    A key is 1 to 255 printable ASCII characters, not all spaces: an empty key would make
    every keyless retry of a client that sends the header anyway one request, and what HTTP
    cannot carry in a header verbatim cannot be a key either.
    """
    if not key.strip():
        return "an idempotency key must not be empty or only spaces"
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return f"an idempotency key has at most {MAX_IDEMPOTENCY_KEY} characters, not {len(key)}"
    if not all(" " <= c <= "~" for c in key):
        return "an idempotency key may only hold printable ASCII characters (no control characters)"
    return None


def change_set_id(actor: str, idempotency_key: str | None) -> uuid.UUID:
    """A fresh id, or the one an actor's idempotency key always maps to (a retry finds its twin).

    The actor is part of the name, length-prefixed so no actor/key pair can spell another's.
    """
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(
        CHANGE_SET_NAMESPACE, f"idempotency-key/{len(actor)}:{actor}/{idempotency_key}"
    )


def unscoped_change_set_id(idempotency_key: str) -> uuid.UUID:
    """The id a key mapped to before keys were scoped to the actor (records stored then)."""
    return uuid.uuid5(CHANGE_SET_NAMESPACE, f"idempotency-key/{idempotency_key}")


def _canonical(value: Any) -> Any:
    """A JSON-ready form of a request's value that two equal requests share exactly."""
    if isinstance(value, BaseGeometry):
        return str(shapely.to_wkb(shapely.normalize(value), hex=True, output_dimension=2))
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"op": value.op_name} if hasattr(value, "op_name") else {}
        for item in fields(value):
            # Where an operation sits in the body is its index, already given by the order.
            if item.name != "location":
                out[item.name] = _canonical(getattr(value, item.name))
        return out
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


def request_fingerprint(request: ChangeSetRequest, options: dict[str, Any] | None = None) -> str:
    """SHA-256 of the whole request in a canonical form: effective date, reason, document and
    every field of every operation, geometries included (normalised, so a ring starting at
    another vertex is the same territory), and the `options` it was sent with (repairs), if
    any: the same body with other options is another request."""
    canonical = _canonical(request)
    if options:
        canonical = {"request": canonical, "options": options}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ChangeSet(Aggregate):
    """The record of one applied change set: the legal act behind a group of events."""

    class Recorded(Aggregate.Created):
        """A change set was applied; its events were stored in the same transaction.

        Version 2 added `fingerprint` (`request_fingerprint` of the request, to tell a retry
        from another request under the same idempotency key); version 1 records read back
        with an empty one and are compared by what they kept (`same_request`).
        """

        effective: date
        actor: str
        reason: str
        document: str
        operations: list[dict[str, Any]]
        units: list[str]
        events: int
        fingerprint: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 kept no fingerprint."""
            state["fingerprint"] = ""

    def __init__(
        self,
        effective: date,
        actor: str,
        reason: str,
        document: str,
        operations: list[dict[str, Any]],
        units: list[str],
        events: int,
        fingerprint: str,
    ) -> None:
        self.effective = effective
        self.actor = actor
        self.reason = reason
        self.document = document
        self.operations = operations
        self.units = units
        self.events = events
        self.fingerprint = fingerprint

    def same_request(self, request: ChangeSetRequest, fingerprint: str) -> bool:
        """Whether `request` (with `fingerprint`) is the one this record was stored for.

        Records from before fingerprints compare by what they kept: the dates, texts and
        operations without geometries (a retry that only moved a vertex passes as the same).
        """
        if self.fingerprint:
            return self.fingerprint == fingerprint
        return (
            self.effective == request.effective
            and self.reason == request.reason
            and self.document == request.document
            and self.operations == request.summary()
        )
