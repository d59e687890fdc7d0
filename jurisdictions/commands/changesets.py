"""Submit a change set: the one write path of the API's `POST /v1/changesets`."""

from __future__ import annotations

from domain.commands import ChangeSetRequest
from jurisdictions.bootstrap import Services
from jurisdictions.commands.writes import WriteOutcome, settle


def submit_change_set(
    services: Services,
    request: ChangeSetRequest,
    *,
    actor: str,
    idempotency_key: str | None = None,
    dry_run: bool = False,
) -> WriteOutcome:
    """Check and store `request` atomically, then wait until it is visible.

    Raises `InvalidChangeSet` (every problem, nothing stored) and `ConcurrentChange`.
    """
    receipt = services.register.apply_change_set(
        request, actor=actor, idempotency_key=idempotency_key, dry_run=dry_run
    )
    return settle(services, receipt, dry_run=dry_run)
