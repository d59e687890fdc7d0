"""The synthesised Shenzhen below the districts: streets, communities, workstations and grids.

What is real (see data/shenzhen/SOURCES.md): the district polygons, the 74 street names, the
2015-2016 street splits and their dates, the ratios of workstations to committees. Everything
else is made up here, deterministically, and labelled as such:

* **Streets.** Each of today's districts (and Dapeng, the eastern part of 龙岗) is divided into
  the streets it held on 2015-01-01 (seeded Voronoi cells, `synth.partition`); a street that
  was split in 2015-2016 is then divided again into the streets it became. So the 57 streets
  of 2015 are exactly the unions of today's 74, the splits are replayed without any community
  straddling a new boundary, and every street lies inside its real district.
* **Codes.** National style: district code + three digits in the order of
  shenzhen_streets_74.csv (Dapeng's three after 龙岗's eleven). Not the official codes. Streets
  of 龙华, 坪山 and 光明 carry their *today's* district's code from the start, although those
  districts only exist from 2017/2018: a code never changes meaning, so it is the code the
  street has always had in this register. Communities are numbered within the street that held
  them on 2015-01-01 (code = that street's code + three digits), grids within their community.
* **Parentage of the splits** where the sources do not say it (光明/公明, 坪山/坑梓, 宝龙) is
  chosen plausibly and marked as unverified, in the streets' provenance and in the change sets.
* **Communities** (650, honouring the README's 龙华 110 and old 观澜 39), **workstations** ("one
  station, many committees": 龙华 56 stations for 110 committees, old 观澜 15 for 39, 罗湖 at
  its 2006 ratio 83:115, elsewhere about four stations for five committees), **grids**
  (15,000) and **grid officers** (fictional names).
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from domain.geometry import as_valid_territory
from jurisdictions.demo import synth

DATA = Path(__file__).parent / "data" / "shenzhen"
SEED = "shenzhen-2015"

LUOHU, FUTIAN, NANSHAN, BAOAN, LONGGANG, YANTIAN = (
    "440303",
    "440304",
    "440305",
    "440306",
    "440307",
    "440308",
)
LONGHUA, PINGSHAN, GUANGMING = "440309", "440310", "440311"
#: Dapeng New District: a functional area, legally part of 龙岗 (its row in the street list).
DAPENG = "440307-DP"

#: The legal district that held each of today's districts before it became one.
LEGAL_BEFORE = {LONGHUA: BAOAN, GUANGMING: BAOAN, PINGSHAN: LONGGANG}
#: The functional "new districts" (新区) and the legal district they were part of.
NEW_AREAS = {
    LONGHUA: ("龙华新区", "Longhua New District"),
    GUANGMING: ("光明新区", "Guangming New District"),
    PINGSHAN: ("坪山新区", "Pingshan New District"),
    DAPENG: ("大鹏新区", "Dapeng New District"),
}

#: Communities per region (synthesised, about 650 in all, roughly the real distribution;
#: 龙华's 110 is the README's figure).
COMMUNITIES = {
    LUOHU: 83,
    FUTIAN: 84,
    NANSHAN: 86,
    YANTIAN: 20,
    BAOAN: 107,
    LONGGANG: 90,
    DAPENG: 25,
    LONGHUA: 110,
    PINGSHAN: 23,
    GUANGMING: 22,
}
#: Groups of streets with a known count of committees and workstations: the old 观澜 (39
#: committees, 15 stations) inside 龙华 (110 committees, 56 stations).
GUANLAN_GROUP = ("观澜", "观湖", "福城")
GUANLAN_COMMITTEES, GUANLAN_STATIONS = 39, 15
LONGHUA_STATIONS = 56
#: Share of workstations to committees elsewhere: 罗湖's 2006 ratio, otherwise about 4:5.
STATION_SHARE = {LUOHU: 83 / 115}
DEFAULT_STATION_SHARE = 0.8
GRIDS = 15_000
#: The order street codes are assigned in: the districts' codes, Dapeng after 龙岗's own.
REGION_ORDER = (
    LUOHU,
    FUTIAN,
    NANSHAN,
    YANTIAN,
    BAOAN,
    LONGGANG,
    DAPENG,
    LONGHUA,
    PINGSHAN,
    GUANGMING,
)

#: Densify shared street and community edges (degrees, ~100 m and ~50 m) so the next level's
#: boundaries can end close to where they meet them (see `synth.partition`).
STREET_SPACING = 0.001
COMMUNITY_SPACING = 0.0005


# Sources ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreetName:
    """A street of today as listed in shenzhen_streets_74.csv."""

    zh: str
    pinyin: str
    region: str
    order: int


@cache
def street_names() -> dict[str, list[StreetName]]:
    """Today's streets by region (district code, or `DAPENG`), in the list's order."""
    with (DATA / "shenzhen_streets_74.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict[str, list[StreetName]] = {}
    for row in rows:
        region = row["district_adcode"]
        names = row["street_zh"].split(";")
        pinyins = row["street_pinyin"].split(";")
        assert len(names) == len(pinyins), region
        out[region] = [
            StreetName(z.strip(), p.strip(), region, i)
            for i, (z, p) in enumerate(zip(names, pinyins, strict=True))
        ]
    return out


@dataclass(frozen=True)
class SplitFact:
    """One row of shenzhen_street_reform_2015_2016.csv, with the parentage the demo uses.

    `parents` maps each street before the split to the new streets that take territory from
    it. `certainty` says how sure that mapping is (from the row, plus our own choice where the
    row says it is unknown); `effective` is the row's date (the 1st where only a month is known).
    """

    row: int
    effective: date
    region: str
    parents: dict[str, tuple[str, ...]]
    certainty: str
    date_note: str
    sources: str
    district_at_time: str

    @property
    def new_streets(self) -> tuple[str, ...]:
        """The streets that begin with this split."""
        return tuple(n for parts in self.parents.values() for n in parts)


#: Which new street took territory from which parent. Where the sources do not say (rows 1, 2
#: and 9), the choice follows the geography of today's streets as we understand it and is
#: marked unverified.
PARENTAGE: dict[int, tuple[dict[str, tuple[str, ...]], str]] = {
    0: ({"观澜": ("观湖", "福城")}, ""),
    1: (
        {"公明": ("新湖", "玉塘", "马田"), "光明": ("凤凰",)},
        (
            "parentage synthesised: 公明 -> 新湖, 玉塘, 马田 and 光明 -> 凤凰 is our plausible "
            "choice, unverified"
        ),
    ),
    2: (
        {"坪山": ("石井", "碧岭", "马峦"), "坑梓": ("龙田",)},
        (
            "parentage synthesised: 坪山 -> 石井, 碧岭, 马峦 and 坑梓 -> 龙田 is our plausible "
            "choice, unverified; the day (1 October) is a placeholder for 'October 2016'"
        ),
    ),
    3: ({"西乡": ("航城",)}, ""),
    4: ({"福永": ("福海",)}, ""),
    5: ({"沙井": ("新桥",)}, ""),
    6: ({"松岗": ("燕罗",)}, ""),
    7: ({"布吉": ("吉华",)}, ""),
    8: ({"横岗": ("园山",)}, ""),
    9: (
        {"龙岗": ("宝龙",)},
        (
            "parentage synthesised: 宝龙 taken from 龙岗 alone (it may also have taken part of "
            "龙城), unverified"
        ),
    ),
}

_REGION_OF_DISTRICT_NOW = {
    "龙华区": LONGHUA,
    "光明区": GUANGMING,
    "坪山区": PINGSHAN,
    "宝安区": BAOAN,
    "龙岗区": LONGGANG,
}


@cache
def split_facts() -> tuple[SplitFact, ...]:
    """The dated splits of 2015-2016, in date order."""
    with (DATA / "shenzhen_street_reform_2015_2016.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    facts = []
    for index, row in enumerate(rows):
        parents, choice = PARENTAGE[index]
        text = row["effective_date"]
        full = re.search(r"\d{4}-\d{2}-\d{2}", text)
        if full is not None:
            effective = date.fromisoformat(full.group())
        else:
            year, month = (int(p) for p in re.findall(r"\d+", text)[:2])
            effective = date(year, month, 1)
        certainty = row["parentage_status"] + (f"; {choice}" if choice else "")
        facts.append(
            SplitFact(
                row=index,
                effective=effective,
                region=_REGION_OF_DISTRICT_NOW[row["district_now"].split()[0]],
                parents=parents,
                certainty=certainty,
                date_note=f"{text} ({row['date_basis']})",
                sources=row["source_url"],
                district_at_time=row["district_at_time"],
            )
        )
    return tuple(sorted(facts, key=lambda f: (f.effective, f.row)))


@cache
def district_geometries() -> dict[str, MultiPolygon]:
    """Today's districts as the register stores them (rounded to its precision)."""
    collection = json.loads((DATA / "shenzhen_districts.geojson").read_text(encoding="utf-8"))
    return {
        f["properties"]["adcode"]: as_valid_territory(shape(f["geometry"]), "districts")
        for f in collection["features"]
    }


@cache
def region_geometries() -> dict[str, MultiPolygon]:
    """Each region's territory: today's districts, with 龙岗 cut into its main part and Dapeng.

    Dapeng is the eastern exclave of 龙岗's polygon (see
    shenzhen_longgang_dapeng_split_derived.geojson: derived, not official).
    """
    regions = dict(district_geometries())
    derived = json.loads(
        (DATA / "shenzhen_longgang_dapeng_split_derived.geojson").read_text(encoding="utf-8")
    )
    dapeng = next(
        shape(f["geometry"]) for f in derived["features"] if f["properties"]["code"] == DAPENG
    )
    main: list[Polygon] = []
    east: list[Polygon] = []
    for polygon in regions[LONGGANG].geoms:
        share = polygon.intersection(dapeng).area / polygon.area
        (east if share > 0.5 else main).append(polygon)
    regions[LONGGANG] = MultiPolygon(main)
    regions[DAPENG] = MultiPolygon(east)
    return regions


def district_of(region: str) -> str:
    """The legal district code today of a region."""
    return LONGGANG if region == DAPENG else region


# The model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Street:
    """A street (街道) as it is today, or as it was on 2015-01-01 (`old`)."""

    code: str
    zh: str
    pinyin: str
    region: str
    geometry: MultiPolygon
    #: For today's streets, the code of the street that held this territory on 2015-01-01.
    origin: str
    #: The split that created it (None if it existed on 2015-01-01).
    split: SplitFact | None
    provenance: str

    @property
    def name(self) -> str:
        """The full Chinese name."""
        return f"{self.zh}街道"

    @property
    def name_en(self) -> str:
        """The English name."""
        return f"{self.pinyin} Subdistrict"

    @property
    def district(self) -> str:
        """Today's legal district."""
        return district_of(self.region)

    @property
    def district_2015(self) -> str:
        """The legal district on 2015-01-01."""
        return LEGAL_BEFORE.get(self.district, self.district)


@dataclass(frozen=True)
class Grid:
    """A management grid (网格) and its grid officer (网格员)."""

    code: str
    name: str
    geometry: MultiPolygon
    officer: str


@dataclass(frozen=True)
class Community:
    """A community (社区) with its residents' committee."""

    code: str
    name: str
    name_en: str
    street: str
    origin: str
    geometry: MultiPolygon
    grid_count: int

    @property
    def grids(self) -> tuple[Grid, ...]:
        """Its grids (computed on first use, or by a `GridPrefetch` in another process)."""
        return grids_of(self)


@dataclass(frozen=True)
class Workstation:
    """A community workstation (社区工作站) serving communities of one street."""

    code: str
    name: str
    street: str
    communities: tuple[str, ...]


@dataclass
class City:
    """The synthesised city below the districts."""

    streets: dict[str, Street] = field(default_factory=dict)
    old_streets: dict[str, Street] = field(default_factory=dict)
    communities: dict[str, Community] = field(default_factory=dict)
    workstations: dict[str, Workstation] = field(default_factory=dict)

    def streets_of(self, region: str) -> list[Street]:
        """Today's streets of a region, by code."""
        return sorted((s for s in self.streets.values() if s.region == region), key=_code)

    def communities_of(self, street: str) -> list[Community]:
        """Today's communities of a street, by code."""
        return sorted((c for c in self.communities.values() if c.street == street), key=_code)

    def communities_of_old(self, old_street: str) -> list[Community]:
        """The communities a street held on 2015-01-01, by code."""
        return sorted((c for c in self.communities.values() if c.origin == old_street), key=_code)

    def workstations_of(self, street: str) -> list[Workstation]:
        """Today's workstations of a street (before any merger), by code."""
        return sorted((w for w in self.workstations.values() if w.street == street), key=_code)

    def street_by_name(self, region: str, zh: str) -> Street:
        """Today's street of a region by its short Chinese name."""
        return next(s for s in self.streets.values() if s.region == region and s.zh == zh)


def _code(item: Street | Community | Workstation) -> str:
    return item.code


def street_codes() -> dict[tuple[str, str], str]:
    """(region, short name) -> national-style code: district + three digits in list order."""
    codes: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}
    for region in REGION_ORDER:
        district = district_of(region)
        for name in street_names()[region]:
            counters[district] = counters.get(district, 0) + 1
            codes[(region, name.zh)] = f"{district}{counters[district]:03d}"
    return codes


def _street_provenance(region: str, split: SplitFact | None, parts: tuple[str, ...]) -> str:
    district = district_of(region)
    notes = [
        "synthesised geometry (seeded Voronoi cell inside the real district, demo only)",
        "real name (shenzhen_streets_74.csv)",
        "national-style code by list order, not the official code",
    ]
    if region in NEW_AREAS:
        area = NEW_AREAS[region][0]
        legal = LEGAL_BEFORE.get(district, district)
        notes.append(f"in {area} (functional area; legally in {legal} at the time)")
    if split is not None and "unverified" in split.certainty:
        notes.append(
            f"split {split.effective} into {'、'.join(parts)}: parentage synthesised, unverified"
        )
    return "; ".join(notes)


@cache
def city() -> City:
    """The whole synthesised city (computed once per process, about a second)."""
    model = City()
    codes = street_codes()
    splits_of: dict[tuple[str, str], SplitFact] = {}
    children_of: dict[tuple[str, str], tuple[str, ...]] = {}
    parent_of: dict[tuple[str, str], str] = {}
    for fact in split_facts():
        for parent, parts in fact.parents.items():
            children_of[(fact.region, parent)] = parts
            splits_of[(fact.region, parent)] = fact
            for part in parts:
                parent_of[(fact.region, part)] = parent
                splits_of[(fact.region, part)] = fact
    regions = region_geometries()
    for region, names in street_names().items():
        old_names = [n for n in names if (region, n.zh) not in parent_of]
        pieces = synth.partition(
            regions[region],
            len(old_names),
            synth.rng_for(SEED, "streets", region),
            spacing=None,
        )
        pinyin = {n.zh: n.pinyin for n in names}
        for name, piece in zip(old_names, pieces, strict=True):
            code = codes[(region, name.zh)]
            split = splits_of.get((region, name.zh))
            old = Street(
                code,
                name.zh,
                name.pinyin,
                region,
                piece,
                code,
                None,
                _street_provenance(
                    region, split, (name.zh, *children_of.get((region, name.zh), ()))
                ),
            )
            model.old_streets[code] = old
            parts = (name.zh, *children_of.get((region, name.zh), ()))
            if len(parts) == 1:
                model.streets[code] = old
                continue
            assert split is not None
            sub = synth.partition(
                piece, len(parts), synth.rng_for(SEED, "split", code), spacing=None
            )
            for part, geometry in zip(parts, sub, strict=True):
                part_code = codes[(region, part)]
                model.streets[part_code] = Street(
                    part_code,
                    part,
                    pinyin[part],
                    region,
                    geometry,
                    code,
                    None if part == name.zh else split,
                    old.provenance,
                )
    _communities(model)
    _workstations(model)
    return model


def _communities(model: City) -> None:
    """Communities per street, their names numbered within the street of 2015, and grids."""
    counts: dict[str, int] = {}
    for region, total in COMMUNITIES.items():
        streets = model.streets_of(region)
        if region == LONGHUA:
            guanlan = [s for s in streets if s.zh in GUANLAN_GROUP]
            others = [s for s in streets if s.zh not in GUANLAN_GROUP]
            counts.update(_by_area(guanlan, GUANLAN_COMMITTEES))
            counts.update(_by_area(others, total - GUANLAN_COMMITTEES))
        else:
            counts.update(_by_area(streets, total))
    grid_counts = iter(
        synth.split_sizes(GRIDS, sum(counts.values()), synth.rng_for(SEED, "grid-counts"), 12)
    )
    for old in sorted(model.old_streets.values(), key=_code):
        number = 0
        for street in sorted(
            (s for s in model.streets.values() if s.origin == old.code), key=_code
        ):
            pieces = synth.partition(
                street.geometry,
                counts[street.code],
                synth.rng_for(SEED, "communities", street.code),
                spacing=None,
            )
            centres = [p.point_on_surface() for p in pieces]
            for index in synth.chain(centres):
                number += 1
                code = f"{old.code}{number:03d}"
                name = f"{old.zh}{synth.chinese_number(number)}社区"
                geometry = pieces[index]
                model.communities[code] = Community(
                    code,
                    name,
                    f"{old.pinyin} Community {number}",
                    street.code,
                    old.code,
                    geometry,
                    next(grid_counts),
                )


_GRIDS: dict[str, tuple[Grid, ...]] = {}
_PREFETCH: list[GridPrefetch] = []


def grids_of(community: Community) -> tuple[Grid, ...]:
    """A community's grids as of 2015-01-01, computed once per process."""
    found = _GRIDS.get(community.code)
    if found is None:
        fetched = _PREFETCH[0].take(community.code) if _PREFETCH else None
        found = fetched or grids(
            community.code, community.name, community.geometry, community.grid_count
        )
        _GRIDS[community.code] = found
    return found


class GridPrefetch:
    """Computes communities' grids in a worker process, in order, while the caller loads.

    The grids are most of the synthesis (about 6 s of CPU); a second process works them out
    ahead of the change sets that need them, and the results are exactly those `grids` gives
    here (same code, same seeds). The worker is a plain `python -m` subprocess fed through a
    pipe, not a multiprocessing pool, so it never re-imports the caller's main module. If it
    fails, `grids_of` computes in-process.
    """

    def __init__(self, communities: list[Community]) -> None:
        self.expected = [c.code for c in communities]
        self.ready: dict[str, tuple[Grid, ...]] = {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jurisdictions.demo.shenzhen_model", "--grid-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self.process.stdin is not None
        jobs = [(c.code, c.name, shapely.to_wkb(c.geometry), c.grid_count) for c in communities]
        threading.Thread(target=self._send, args=(jobs,), daemon=True).start()

    def _send(self, jobs: list[tuple[str, str, bytes, int]]) -> None:
        assert self.process.stdin is not None
        try:
            pickle.dump(jobs, self.process.stdin)
            self.process.stdin.close()
        except OSError:
            pass

    def take(self, code: str) -> tuple[Grid, ...] | None:
        """The grids of `code` from the worker (waiting for them), or None."""
        if code in self.ready:
            return self.ready.pop(code)
        if code not in self.expected or self.process.stdout is None:
            return None
        while True:
            try:
                found, rows = pickle.load(self.process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                return None
            grids = tuple(Grid(c, n, shapely.from_wkb(w), o) for c, n, w, o in rows)
            if found == code:
                return grids
            self.ready[found] = grids

    def close(self) -> None:
        """Stop the worker."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _grid_worker() -> None:
    """The worker's side: read the jobs, write each community's grids as soon as done."""
    jobs = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    for code, name, wkb, count in jobs:
        rows = tuple(
            (g.code, g.name, shapely.to_wkb(g.geometry), g.officer)
            for g in grids(code, name, shapely.from_wkb(wkb), count)
        )
        pickle.dump((code, rows), out)
        out.flush()


@contextmanager
def grid_prefetch(communities: list[Community]) -> Iterator[None]:
    """Prefetch the grids of `communities` in a worker process while inside."""
    try:
        prefetch = GridPrefetch([c for c in communities if c.code not in _GRIDS])
    except OSError:
        yield
        return
    _PREFETCH.append(prefetch)
    try:
        yield
    finally:
        _PREFETCH.remove(prefetch)
        prefetch.close()


def grids(
    community: str, name: str, geometry: MultiPolygon, count: int, first: int = 1
) -> tuple[Grid, ...]:
    """A community's grids, numbered from `first`, each with a (fictional) grid officer."""
    rng = synth.rng_for(SEED, "grids", community, first)
    pieces = synth.partition(geometry, count, rng, relax=1)
    order = synth.chain([p.point_on_surface() for p in pieces])
    out = []
    for number, index in enumerate(order, start=first):
        code = f"{community}{number:03d}"
        out.append(
            Grid(
                code,
                f"{name}第{number:02d}网格",
                pieces[index],
                synth.person_name(synth.rng_for(SEED, "officer", code)),
            )
        )
    return tuple(out)


def _by_area(streets: list[Street], total: int) -> dict[str, int]:
    weights = [math.sqrt(s.geometry.area) for s in streets]
    sizes = synth.proportional(total, weights, minimum=3)
    return {s.code: n for s, n in zip(streets, sizes, strict=True)}


def _workstations(model: City) -> None:
    """Workstations per street: consecutive runs of neighbouring communities, 1 to 3 each."""
    stations: dict[str, int] = {}
    for region in COMMUNITIES:
        streets = model.streets_of(region)
        if region == LONGHUA:
            guanlan = [s for s in streets if s.zh in GUANLAN_GROUP]
            others = [s for s in streets if s.zh not in GUANLAN_GROUP]
            stations.update(_station_counts(model, guanlan, GUANLAN_STATIONS))
            stations.update(_station_counts(model, others, LONGHUA_STATIONS - GUANLAN_STATIONS))
        else:
            committees = sum(len(model.communities_of(s.code)) for s in streets)
            share = STATION_SHARE.get(region, DEFAULT_STATION_SHARE)
            stations.update(_station_counts(model, streets, round(committees * share)))
    for street in sorted(model.streets.values(), key=_code):
        communities = model.communities_of(street.code)
        count = stations[street.code]
        rng = synth.rng_for(SEED, "stations", street.code)
        extra = [0] * count
        for _ in range(len(communities) - count):
            open_slots = [i for i, e in enumerate(extra) if e < 2]
            extra[open_slots[int(rng.integers(len(open_slots)))]] += 1
        order = synth.chain([c.geometry.point_on_surface() for c in communities])
        position = 0
        for size in (1 + e for e in extra):
            served = tuple(communities[i].code for i in order[position : position + size])
            position += size
            first = model.communities[served[0]]
            code = f"{first.code}-ws"
            model.workstations[code] = Workstation(code, f"{first.name}工作站", street.code, served)


def _station_counts(model: City, streets: list[Street], total: int) -> dict[str, int]:
    committees = [len(model.communities_of(s.code)) for s in streets]
    sizes = synth.proportional(total, [float(n) for n in committees], minimum=1)
    out = {}
    for street, n, size in zip(streets, committees, sizes, strict=True):
        out[street.code] = min(n, max(size, math.ceil(n / 3)))
    return out


def union_of(pieces: list[MultiPolygon]) -> MultiPolygon:
    """Union of pieces that share edges exactly."""
    return synth.union(pieces)


def bounds(geometry: MultiPolygon) -> tuple[float, float, float, float]:
    """West, south, east, north."""
    west, south, east, north = shapely.bounds(geometry)
    return float(west), float(south), float(east), float(north)


if __name__ == "__main__" and sys.argv[1:] == ["--grid-worker"]:
    _grid_worker()
