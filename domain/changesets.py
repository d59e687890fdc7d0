"""The stored log of legal acts: one `ChangeSet` aggregate per applied change set."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

CHANGE_SET_NAMESPACE = uuid.UUID("0e3c8a51-7a0b-5f0e-8f1d-6b4a2d9c1e77")


def change_set_id(idempotency_key: str | None) -> uuid.UUID:
    """A fresh id, or the one an idempotency key always maps to (so a retry finds its twin)."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(CHANGE_SET_NAMESPACE, f"idempotency-key/{idempotency_key}")


class ChangeSet(Aggregate):
    """The record of one applied change set: the legal act behind a group of events."""

    class Recorded(Aggregate.Created):
        """A change set was applied; its events were stored in the same transaction."""

        effective: date
        actor: str
        reason: str
        document: str
        operations: list[dict[str, Any]]
        units: list[str]
        events: int

    def __init__(
        self,
        effective: date,
        actor: str,
        reason: str,
        document: str,
        operations: list[dict[str, Any]],
        units: list[str],
        events: int,
    ) -> None:
        self.effective = effective
        self.actor = actor
        self.reason = reason
        self.document = document
        self.operations = operations
        self.units = units
        self.events = events
