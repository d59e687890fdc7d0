"""`run_assignment`: one bulk job, from the records to the Parquet written by the workers."""

from __future__ import annotations

from collections.abc import Callable

from bulk.spec import AssignmentResult, AssignmentSpec, Progress
from domain.levels import LevelScheme


def run_assignment(
    spec: AssignmentSpec,
    database_url: str,
    progress: Callable[[Progress], None] | None = None,
    *,
    level_scheme: LevelScheme | None = None,
) -> AssignmentResult:
    """Assign (or count) the records of `spec.source` on the register at `database_url`.

    Raises `InvalidJob` (before any work or output) when the spec does not fit the data or
    the register. `progress` is called after each partition, in the caller's thread.
    `level_scheme` defaults to the settings' (JL_LEVELS).
    """
    raise NotImplementedError("engine under construction on branch bulk")
