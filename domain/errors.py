"""Typed domain errors: the API maps each class to one HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a command, precise enough for an editor to fix it.

    `location` points into the request (``operations[2].geometry``); `units` names the codes
    involved and `area_m2` the offending area where the problem is a spatial one. `geometry`
    (not part of the JSON) is that area, for reports that draw it (the import's GeoJSON);
    `extra["location_point"]` is a point on it, so an editor can go there.
    """

    code: str
    message: str
    location: str = ""
    units: tuple[str, ...] = ()
    area_m2: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    geometry: Any = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, leaving out empty fields."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.location:
            out["location"] = self.location
        if self.units:
            out["units"] = list(self.units)
        if self.area_m2 is not None:
            out["area_m2"] = round(self.area_m2, 1)
        out.update(self.extra)
        return out


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidChangeSet(DomainError):
    """A change set breaks the model's rules; nothing of it was stored.

    It carries every problem found, not just the first, so an editor can fix them in one go.
    """

    def __init__(self, problems: list[Problem], partial: Any = None):
        self.problems = problems
        #: For a request that could not be read whole: the `ChangeSetRequest` of the operations
        #: that could, so the register can also report what is wrong with those
        #: (`JurisdictionRegister.check_operations`).
        self.partial = partial
        #: The repairs made to the change set before it was checked (`domain.repair.Repair`),
        #: so a refusal still shows what the repairs did.
        self.repairs: list[Any] = []
        #: With a preview asked for: the after-state of the units the operations changed
        #: (`domain.workspace.UnitAfter`), so an editor can draw what the refused edit makes.
        self.preview: tuple[Any, ...] | None = None
        first = problems[0].message if problems else "invalid change set"
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first + more)


class UnitNotFound(DomainError):
    """No unit was ever registered under this code."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(f"no unit with code {code!r}")


@dataclass(frozen=True)
class Interference:
    """Another change set that changed units this one changes, after this one read them."""

    #: The units (or family parents) it changed that this change set also changes.
    units: tuple[str, ...]
    change_set: str | None
    actor: str = ""
    reason: str = ""
    effective: str = ""
    #: Its position in the event log, where known (the notification id of its first event here).
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the details of a 409."""
        out: dict[str, Any] = {"units": list(self.units), "change_set": self.change_set}
        out.update({"actor": self.actor, "reason": self.reason, "effective": self.effective})
        if self.position is not None:
            out["position"] = self.position
        return out


class ConcurrentChange(DomainError):
    """Another change set changed what this one read; retry it on the new state.

    `interferences` say which change sets changed which of its units (or their families),
    so the editor can be told whose edit came first and what to reload.
    """

    def __init__(self, message: str, interferences: tuple[Interference, ...] = ()):
        self.interferences = interferences
        super().__init__(message)


class IdempotencyKeyInvalid(DomainError):
    """The idempotency key cannot be one (empty, blank, too long, control characters)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class IdempotencyKeyReused(DomainError):
    """The actor already used this idempotency key for a different request; nothing stored."""

    def __init__(self, key: str, change_set: Any):
        self.key = key
        #: The id of the change set the key already names.
        self.change_set = change_set
        super().__init__(
            f"the idempotency key {key!r} was already used for a different request "
            f"(change set {change_set}); use a new key for a new request"
        )
