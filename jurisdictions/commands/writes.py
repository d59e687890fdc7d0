"""After a write is stored: wait until it is visible, and remember it for read-your-writes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from domain.register import Receipt
from domain.repair import Repair
from jurisdictions.bootstrap import Services


@dataclass(frozen=True)
class WriteOutcome:
    """What a write came to.

    `position` is the log position a reader must wait for (send it back as ``X-Min-Position``);
    `visible` says whether the read model already shows it. A dry run stores nothing and has
    no position; a replay (an Idempotency-Key seen before) stored nothing this time and answers
    with the first write's position.
    """

    receipt: Receipt
    dry_run: bool
    position: int | None
    visible: bool
    #: The repairs made to the request before it was checked (only those asked for).
    repairs: tuple[Repair, ...] = ()

    @property
    def replayed(self) -> bool:
        """Whether an earlier request with the same Idempotency-Key stored it (a dry run
        with that key says so too, and stores nothing either way)."""
        return self.receipt.replayed

    @property
    def stored(self) -> bool:
        """Whether this request stored events."""
        return not self.dry_run and not self.receipt.replayed


def settle(services: Services, receipt: Receipt, *, dry_run: bool) -> WriteOutcome:
    """Wait (at most `read_your_writes_timeout`) until the read model shows the write, and make
    this process's next reads wait for its position too."""
    if dry_run:
        return WriteOutcome(receipt, True, None, False)
    timeout = services.settings.read_your_writes_timeout
    if receipt.position is None:
        position, visible = _replayed_position(services, receipt, timeout)
    else:
        position = receipt.position
        visible = services.wait_visible(position, timeout)
    if position is not None:
        services.reads.wrote(position)
    return WriteOutcome(receipt, False, position, visible)


def _replayed_position(
    services: Services, receipt: Receipt, timeout: float
) -> tuple[int | None, bool]:
    """A replay's position: the first request stored it, so its row in the change-set log
    carries it once projected (the register keeps no position with the record)."""
    deadline = time.monotonic() + timeout
    while True:
        found = services.queries.change_set(str(receipt.id))
        if found is not None:
            return int(found["position"]), True
        if time.monotonic() >= deadline:
            return None, False
        time.sleep(0.02)
