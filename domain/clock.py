"""The register's "today": the date in the register's time zone, never the server's UTC date.

One decision in one place: every default date (lookups, units, maps, tiles, OGC items, exports,
the lookup index's preload) comes from :func:`today_in`, given the configured zone
(``JL_TIME_ZONE``). A change effective at local midnight is visible from local midnight.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Shanghai``); ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"unknown time zone {name!r} (an IANA name such as 'Asia/Shanghai' or 'UTC')"
        raise ValueError(msg) from exc


def today_in(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    """The calendar date in ``tz`` at ``now`` (an aware instant; default: the current instant)."""
    instant = now if now is not None else dt.datetime.now(dt.UTC)
    if instant.tzinfo is None:
        msg = "now must be an aware datetime (a naive one has no place in time)"
        raise ValueError(msg)
    return instant.astimezone(tz).date()
