"""Values that change on dates: the valid-time half of the model.

A unit's name, parent, geometry and existence are each a `DatedValue`: a value per day,
piecewise constant over half-open date ranges ``[start, end)``. Real-world changes and
corrections write into it differently (see `DatedValue.change_from` and `DatedValue.correct`),
which is what lets a backdated change or a correction land in the middle of a history without
rewriting the rest.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: A day as every interface writes it: YYYY-MM-DD and nothing else (Python's `fromisoformat`
#: also reads 20310101 and 2031-W01-1, which a person would not mean as a date).
DAY_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DAY = re.compile(DAY_PATTERN)
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
_OFFSET = r"([Zz]|[+-][0-9]{2}:?[0-9]{2})"
_INSTANT = re.compile(f"{DAY_PATTERN}([Tt ]{_TIME}{_OFFSET}?)?")


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date; ValueError for anything else (other ISO forms, a real day only)."""
    if not _DAY.fullmatch(text):
        msg = f"{text[:40]!r} is not a date as YYYY-MM-DD"
        raise ValueError(msg)
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not a day of the calendar"
        raise ValueError(msg) from None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (YYYY-MM-DD, optionally a time and an offset; UTC if none)."""
    if not _INSTANT.fullmatch(text):
        msg = f"{text[:40]!r} is not an ISO 8601 instant such as 2016-06-01T00:00:00Z"
        raise ValueError(msg)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = f"{text[:40]!r} is not a moment of the calendar"
        raise ValueError(msg) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """A half-open date range ``[start, end)``; ``end=None`` means open-ended."""

    start: date
    end: date | None = None

    def contains(self, day: date) -> bool:
        """Whether `day` falls inside the period."""
        return self.start <= day and (self.end is None or day < self.end)

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share at least one day."""
        return (other.end is None or self.start < other.end) and (
            self.end is None or other.start < self.end
        )

    def intersection(self, other: Period) -> Period | None:
        """The days both periods share, or None."""
        start = max(self.start, other.start)
        ends = [e for e in (self.end, other.end) if e is not None]
        end = min(ends) if ends else None
        if end is not None and end <= start:
            return None
        return Period(start, end)


@dataclass(frozen=True)
class Segment(Generic[T]):
    """One constant stretch of a `DatedValue`."""

    period: Period
    value: T


class DatedValue(Generic[T]):
    """A value that changes on dates, with gaps where it is undefined.

    Two ways to write:

    * `change_from(day, value)`: a real-world change. It holds from `day` until the next
      real-world change recorded for a later day (or for ever), so a backdated change fills the
      gap up to the change that already followed it.
    * `correct(period, value)`: the register was wrong about `period`; the value is exactly
      `value` there and nothing outside the period moves.
    """

    def __init__(self) -> None:
        self._segments: list[Segment[T]] = []
        self._starts: list[date] = []
        self._change_days: list[date] = []

    def __deepcopy__(self, memo: dict[int, object]) -> DatedValue[T]:
        # Segments and their values are immutable: copying the lists is a deep enough copy,
        # and much cheaper than copying every segment (aggregates are copied from a cache).
        copied: DatedValue[T] = DatedValue()
        copied._segments = list(self._segments)
        copied._starts = list(self._starts)
        copied._change_days = list(self._change_days)
        return copied

    def change_from(self, day: date, value: T) -> None:
        """Record a real-world change effective on `day`."""
        later = bisect.bisect_right(self._change_days, day)
        end = self._change_days[later] if later < len(self._change_days) else None
        if day not in self._change_days:
            bisect.insort(self._change_days, day)
        self._assign(Period(day, end), value)

    def correct(self, period: Period, value: T) -> None:
        """Overwrite `period` with `value` without it being a change in the world."""
        self._assign(period, value)

    def value_on(self, day: date) -> T | None:
        """The value on `day`, or None where undefined."""
        index = bisect.bisect_right(self._starts, day) - 1
        if index >= 0 and self._segments[index].period.contains(day):
            return self._segments[index].value
        return None

    def starts(self) -> list[date]:
        """The segments' first days, in order (for bisecting)."""
        return self._starts

    def segments(self) -> list[Segment[T]]:
        """The stretches in date order, adjacent equal values merged."""
        return list(self._segments)

    def change_days(self) -> list[date]:
        """Every day a real-world change of this value was recorded for."""
        return list(self._change_days)

    def _assign(self, period: Period, value: T) -> None:
        kept: list[Segment[T]] = []
        for segment in self._segments:
            kept.extend(_minus(segment, period))
        kept.append(Segment(period, value))
        kept.sort(key=lambda s: s.period.start)
        self._segments = list(_merge_equal_neighbours(kept))
        self._starts = [segment.period.start for segment in self._segments]


def _minus(segment: Segment[T], cut: Period) -> Iterator[Segment[T]]:
    """What is left of `segment` outside `cut`."""
    if not segment.period.overlaps(cut):
        yield segment
        return
    if segment.period.start < cut.start:
        yield Segment(Period(segment.period.start, cut.start), segment.value)
    if cut.end is not None and (segment.period.end is None or cut.end < segment.period.end):
        yield Segment(Period(cut.end, segment.period.end), segment.value)


def _merge_equal_neighbours(segments: list[Segment[T]]) -> Iterator[Segment[T]]:
    current: Segment[T] | None = None
    for segment in segments:
        if (
            current is not None
            and current.period.end == segment.period.start
            and current.value == segment.value
        ):
            current = Segment(Period(current.period.start, segment.period.end), current.value)
            continue
        if current is not None:
            yield current
        current = segment
    if current is not None:
        yield current


def boundaries(*values: DatedValue[Any], since: date | None = None) -> list[date]:
    """Every date at which any of `values` starts or ends a segment, sorted; with `since`,
    only the dates after it, and `since` itself first."""
    days: set[date] = set() if since is None else {since}
    for value in values:
        segments = value.segments()
        if since is not None:  # skip the history wholly before `since`
            first = bisect.bisect_right(value.starts(), since) - 1
            segments = segments[max(first, 0) :]
        for segment in segments:
            start, end = segment.period.start, segment.period.end
            if since is None or start > since:
                days.add(start)
            if end is not None and (since is None or end > since):
                days.add(end)
    return sorted(days)


def combine(
    existence: DatedValue[bool], values: dict[str, DatedValue[Any]], since: date | None = None
) -> list[tuple[Period, dict[str, Any]]]:
    """The periods over which something exists and none of `values` changes, with the values.

    This is how an aggregate's attribute histories become its list of versions: one version
    per stretch of days on which nothing about it changed. With `since`, only the periods
    from that day on, in time proportional to them rather than to the whole history (the
    projection refolds only what an event dated `since` can change); `since` must begin one
    of the periods, or a stretch outside them all, for these to be exactly the full fold's.
    """
    days = boundaries(existence, *values.values(), since=since)
    out: list[tuple[Period, dict[str, Any]]] = []
    for start, end in zip(days, [*days[1:], None], strict=True):
        if existence.value_on(start) is not True:
            continue
        state = {name: value.value_on(start) for name, value in values.items()}
        if out and out[-1][0].end == start and out[-1][1] == state:
            out[-1] = (Period(out[-1][0].start, end), state)
        else:
            out.append((Period(start, end), state))
    return out
