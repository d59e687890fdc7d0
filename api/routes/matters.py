"""The responsibility list (清单): every matter, its level and office kind, and its moves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES
from api.params import DateQuery, RecordedQuery
from api.schemas import Matter, MatterCatalogue, MatterMove

router = APIRouter(tags=["matters"])


@router.get(
    "/v1/matters",
    response_model=MatterCatalogue,
    summary="The matter catalogue on a date, each matter with its history",
    responses=ERROR_RESPONSES,
)
def list_matters(
    services: ServicesDep, date: DateQuery = None, as_recorded: RecordedQuery = None
) -> MatterCatalogue:
    """Matters assigned on the date (by code): name, level, office kind, and every move between
    levels with the change set, reason and document that made it. With `as_recorded`, the
    catalogue and the moves as the register recorded them at that instant."""
    day = date or services.settings.today()
    by_matter: dict[str, list[dict[str, Any]]] = {}
    for row in services.published.matter_history(as_recorded):
        by_matter.setdefault(row["matter"], []).append(row)
    matters = []
    for code, rows in by_matter.items():
        current = next((r for r in rows if _holds(r, day)), None)
        if current is None:
            continue
        name = next((r["name"] for r in reversed(rows) if r["name"]), "")
        history = [MatterMove.model_validate(r) for r in rows]
        matters.append(
            Matter(
                matter=code,
                name=name,
                level=current["level"],
                office_kind=current["office_kind"],
                history=history,
            )
        )
    return MatterCatalogue(
        date=day, numberReturned=len(matters), matters=matters, as_recorded=as_recorded
    )


def _holds(row: dict[str, Any], day: dt.date) -> bool:
    start: dt.date = row["valid_from"]
    end: dt.date | None = row["valid_to"]
    return start <= day and (end is None or day < end)
