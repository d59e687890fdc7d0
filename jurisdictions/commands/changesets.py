"""Submit a change set: the one write path of the API's `POST /v1/changesets`."""

from __future__ import annotations

from dataclasses import replace

from domain.changesets import request_fingerprint
from domain.commands import ChangeSetRequest
from domain.errors import InvalidChangeSet
from domain.repair import (
    Repair,
    RepairOptions,
    repair_change_set,
    repairable_units,
    with_hint,
)
from jurisdictions.bootstrap import Services
from jurisdictions.commands.writes import WriteOutcome, settle


def submit_change_set(
    services: Services,
    request: ChangeSetRequest,
    *,
    actor: str,
    idempotency_key: str | None = None,
    dry_run: bool = False,
    repair: RepairOptions | None = None,
    preview: bool = False,
    based_on: int | None = None,
) -> WriteOutcome:
    """Check and store `request` atomically, then wait until it is visible.

    With `repair`, the territories it sets (establish, redraw, the grids of lay_grids/regrid,
    the parts of a split) are first clipped and snapped to their families on the effective
    date (`domain.repair.repair_change_set`); the outcome lists each repair. Without it
    nothing is repaired, and a problem a repair would fix says which in its hint (only a
    problem of a family the repairs reach: `domain.repair.repairable_units`). With `preview`
    the receipt (or the refusal) carries the after-state of each unit changed. With
    `based_on` (the log position of the map the editor drew on) a change of the same units
    or families since then is a `ConcurrentChange`.

    Raises `InvalidChangeSet` (every problem, nothing stored) and `ConcurrentChange`.
    """
    repairs: list[Repair] = []
    sent_as = None
    sent = request
    if repair is not None:
        # A retry under the same key is the same request as sent, whatever the repair makes
        # of it on today's map.
        sent_as = request_fingerprint(request, repair.as_dict())
        request, repairs = repair_change_set(services.register, request, repair)
    try:
        receipt = services.register.apply_change_set(
            request,
            actor=actor,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            sent_as=sent_as,
            preview=preview,
            based_on=based_on,
        )
    except InvalidChangeSet as exc:
        repairable = repairable_units(services.register, sent)
        exc.problems[:] = [with_hint(p, repairable) for p in exc.problems]
        exc.repairs = list(repairs)
        raise
    return replace(settle(services, receipt, dry_run=dry_run), repairs=tuple(repairs))
