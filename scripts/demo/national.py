"""A synthetic country for benchmarks: provinces down to grids, then years of changes.

    python -m scripts.demo.national --provinces 2 --streets-per-province 10 [--project]

The same change-set operations as the Shenzhen demo, streamed: `change_sets(config)` is a
generator that builds each change set only when it is reached, so a register of 40,000
streets, 600,000 communities and 5 million grids is never held in memory (only the register's
own bounded aggregate cache is). Everything is deterministic (seeded from `--seed`), keyed
(a rerun skips what is stored) and recorded at fixed times.

Geometry is rectangles on the register's 1e-7 degree grid, cut with integer arithmetic so
children tile their parents exactly: the benchmarks measure the register, not slivers. The
country spans lon 98-128, lat 20-44 (all synthesised; it is not China).

Levels. With the default levels (``city,district,street,community,grid``) the top unit is the
country, provinces sit on the second level and streets directly under them. A deeper scheme
puts districts between provinces and streets, which keeps each family small (a province of
1,300 streets is one family the register checks whenever one of them changes):

    JL_LEVELS=country,province,district,street,community,grid python -m scripts.demo.national \
        --provinces 30 --districts-per-province 100 --streets-per-province 1333 \
        --communities-per-street 15 --grids-per-community 8 --years 3

Any scheme works whose last two levels are the served level (``community``, see
JL_SERVED_LEVEL) and its child, with the street level above them; levels between the
province level and the street level share `--districts-per-province` among them at the first
and have one child per unit below that.

Years of changes, from the year after the start: each year some streets split (``split``,
``split_off``, children reassigned by location, workstations following), some workstations
merge, some communities re-grid, and one matter moves between levels.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from domain.levels import LevelScheme
from jurisdictions.demo.loading import Planned, apply_all
from jurisdictions.demo.synth import person_name, rng_for, split_sizes

ACTOR = "demo:national"
UTC8 = timezone(timedelta(hours=8))
SCALE = 10_000_000  # grid units per degree (the register's 1e-7 degree precision)
COUNTRY_BOX = (98 * SCALE, 20 * SCALE, 128 * SCALE, 44 * SCALE)
PROVENANCE = "synthesised for benchmarks (scripts/demo/national.py): not a real place"

Box = tuple[int, int, int, int]  # west, south, east, north in grid units


@dataclass(frozen=True)
class Config:
    """The shape of the synthetic country."""

    provinces: int = 2
    districts_per_province: int = 3
    streets_per_province: int = 10
    communities_per_street: int = 6
    grids_per_community: int = 8
    years: int = 2
    #: Share of streets split, of streets whose workstations merge, of communities re-gridded,
    #: each year.
    split_share: float = 0.03
    merge_share: float = 0.03
    regrid_share: float = 0.02
    seed: str = "national"
    start: date = date(2015, 1, 1)


@dataclass(frozen=True)
class Shape:
    """How the configured levels are used."""

    top: str
    province: str
    middle: tuple[str, ...]
    street: str
    community: str
    grid: str

    @classmethod
    def of(cls, levels: LevelScheme, served: str = "community") -> Shape:
        """Map the levels onto country, province, [districts...], street, community, grid."""
        names = levels.names
        if len(names) < 5 or names[-2] != served:
            msg = (
                f"levels {','.join(names)}: need at least 5, the last two being the served "
                f"level ({served}) and its child (set JL_LEVELS, e.g. "
                "country,province,district,street,community,grid)"
            )
            raise ValueError(msg)
        return cls(names[0], names[1], tuple(names[2:-3]), names[-3], names[-2], names[-1])


# Integer rectangles ----------------------------------------------------------------------------


def tile(box: Box, count: int, key: tuple[object, ...], min_rows: int = 1) -> list[list[Box]]:
    """`box` cut into `count` rectangles, in rows (south to north) of cells (west to east).

    Cuts fall on integer grid units, jittered by the seeded key, so neighbours share edges
    exactly and the cells tile the box with no gap or overlap at all.
    """
    west, south, east, north = box
    width, height = east - west, north - south
    rows = max(min_rows, min(count, round(math.sqrt(count * height / max(width, 1)))))
    rows = min(rows, count)
    rng = rng_for(*key)
    per_row = split_sizes(count, rows, rng) if rows > 1 else [count]
    ys = _cuts(south, north, rows, rng)
    out = []
    for row, cells in enumerate(per_row):
        xs = _cuts(west, east, cells, rng)
        out.append([(xs[i], ys[row], xs[i + 1], ys[row + 1]) for i in range(cells)])
    return out


def _cuts(low: int, high: int, parts: int, rng: Any) -> list[int]:
    step = (high - low) / parts
    inner = [round(low + step * (i + rng.uniform(-0.2, 0.2))) for i in range(1, parts)]
    return [low, *inner, high]


def polygon(box: Box) -> dict[str, Any]:
    """GeoJSON of a grid-unit rectangle."""
    w, s, e, n = (v / SCALE for v in box)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _width(count: int) -> int:
    return max(2, len(str(count)))


# The country -----------------------------------------------------------------------------------


class Country:
    """Codes and rectangles of every unit, computed on demand from the config (no state)."""

    def __init__(self, config: Config, shape: Shape) -> None:
        if config.provinces < 1 or config.communities_per_street < 2:
            msg = "need at least one province and two communities per street"
            raise ValueError(msg)
        if shape.middle and config.streets_per_province < config.districts_per_province:
            msg = "need at least one street per district"
            raise ValueError(msg)
        self.config = config
        self.shape = shape
        self.districts = max(1, config.districts_per_province) if shape.middle else 1
        self.streets_per_district = split_sizes(
            config.streets_per_province,
            self.districts,
            rng_for(config.seed, "streets-per-district"),
        )

    # Top down: each function returns (code, box) pairs.

    def provinces(self) -> list[tuple[str, Box]]:
        """Provinces, coded 11..(10+n) like national codes ("110000")."""
        rows = tile(COUNTRY_BOX, self.config.provinces, (self.config.seed, "provinces"))
        cells = [c for row in rows for c in row]
        return [(f"{11 + i:02d}0000", box) for i, box in enumerate(cells)]

    def districts_of(self, province: str, box: Box) -> list[tuple[str, Box]]:
        """Units of the middle levels directly under a province (one chain per district)."""
        rows = tile(box, self.districts, (self.config.seed, "districts", province))
        cells = [c for row in rows for c in row]
        width = _width(self.districts)
        return [(f"{province[:2]}{i + 1:0{width}d}00", b) for i, b in enumerate(cells)]

    def middle_chain(self, district: str) -> list[str]:
        """Codes of the deeper middle levels below a district (one unit each)."""
        return [f"{district}-{i}" for i in range(1, len(self.shape.middle))]

    def street_parents(self, province: str, box: Box) -> list[tuple[str, Box, int]]:
        """The units streets hang from in a province, with their boxes and numbers."""
        if not self.shape.middle:
            return [(province, box, 0)]
        return [
            ((self.middle_chain(d) or [d])[-1], b, n)
            for n, (d, b) in enumerate(self.districts_of(province, box))
        ]

    def streets_of(self, parent: str, box: Box, index: int) -> list[tuple[str, Box]]:
        """The streets of a district (or province), coded parent + 3 or more digits."""
        count = self.streets_per_district[index]
        rows = tile(box, count, (self.config.seed, "streets", parent))
        cells = [c for row in rows for c in row]
        width = max(3, _width(count * 2))
        return [(f"{parent}{i + 1:0{width}d}", b) for i, b in enumerate(cells)]

    def communities_of(self, street: str, box: Box) -> list[list[tuple[str, Box]]]:
        """A street's communities in rows (at least two, so the street can be split)."""
        count = self.config.communities_per_street
        rows = tile(box, count, (self.config.seed, "communities", street), min_rows=2)
        width = max(3, _width(count))
        out, number = [], 0
        for row in rows:
            coded = []
            for cell in row:
                number += 1
                coded.append((f"{street}{number:0{width}d}", cell))
            out.append(coded)
        return out

    def grids_of(self, community: str, box: Box, first: int = 1) -> list[tuple[str, Box]]:
        """A community's grids."""
        count = self.config.grids_per_community + (first > 1)
        rows = tile(box, count, (self.config.seed, "grids", community, first))
        width = max(3, _width(count + first))
        cells = [c for row in rows for c in row]
        return [(f"{community}{first + i:0{width}d}", b) for i, b in enumerate(cells)]

    def workstations_of(self, street: str, rows: list[list[tuple[str, Box]]]) -> list[list[str]]:
        """Groups of 1-3 neighbouring communities of one row, each served by one station."""
        rng = rng_for(self.config.seed, "stations", street)
        groups: list[list[str]] = []
        for row in rows:
            codes = [code for code, _ in row]
            while codes:
                size = min(len(codes), 1 if rng.random() < 0.7 else int(rng.integers(2, 4)))
                groups.append(codes[:size])
                codes = codes[size:]
        return groups

    # Changes by year

    def chosen(self, what: str, code: str) -> int | None:
        """The year (1..years) in which `code` undergoes `what` ("split", "merge" or
        "regrid"), or None: at most once, with the configured share per year."""
        share = {
            "split": self.config.split_share,
            "merge": self.config.merge_share,
            "regrid": self.config.regrid_share,
        }[what]
        rng = rng_for(self.config.seed, what, code)
        for year in range(1, self.config.years + 1):
            if rng.random() < share:
                return year
        return None


def _recorded(day: date, sequence: int) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC8) + timedelta(seconds=sequence)


def _establish(code: str, level: str, name: str, parent: str | None, box: Box) -> dict[str, Any]:
    return {
        "op": "establish",
        "code": code,
        "level": level,
        "name": name,
        "parent": parent,
        "provenance": PROVENANCE,
        "geometry": polygon(box),
    }


def _address(box: Box) -> dict[str, Any]:
    """The middle of a box, as an office's address."""
    w, s, e, n = box
    return {
        "lon": round((w + e) / 2 / SCALE, 6),
        "lat": round((s + n) / 2 / SCALE, 6),
        "text": "synthesised",
    }


def _office(code: str, kind: str, name: str, unit: str, box: Box) -> dict[str, Any]:
    return {
        "op": "open_office",
        "code": code,
        "kind": kind,
        "name": name,
        "unit": unit,
        "address": _address(box),
    }


#: The catalogue at the start and one move per year: (matter, office kind, level role).
MATTERS = (
    ("city-construction", "street_office", "street"),
    ("economic-development", "street_office", "street"),
    ("social-assistance", "workstation", "community"),
    ("elderly-card", "residents_committee", "community"),
)
MOVES = (
    ("city-construction", "district_government", "province"),
    ("social-assistance", "street_office", "street"),
    ("elderly-card", "street_office", "street"),
    ("economic-development", "district_government", "province"),
)


def change_sets(
    config: Config, levels: LevelScheme, served: str = "community"
) -> Iterator[Planned]:
    """Every change set of the synthetic country, in order, each built only when reached."""
    country = Country(config, Shape.of(levels, served))
    start = config.start
    sequence: dict[date, int] = {}

    def planned(key: str, day: date, build: Any) -> Planned:
        number = sequence.get(day, 0)
        sequence[day] = number + 1
        return Planned(f"national/{config.seed}/{key}", _recorded(day, number), build)

    yield planned("country", start, lambda: _top(country))
    yield planned("matters", start, lambda: _matters(country))
    for province, box in country.provinces():
        if country.shape.middle:
            yield planned(f"districts/{province}", start, _bind(_districts, country, province, box))
            for district, district_box in country.districts_of(province, box):
                if country.middle_chain(district):
                    yield planned(
                        f"middle/{district}", start, _bind(_middle, country, district, district_box)
                    )
        for parent, parent_box, number in country.street_parents(province, box):
            yield planned(
                f"streets/{parent}", start, _bind(_streets, country, parent, parent_box, number)
            )
            for street, street_box in country.streets_of(parent, parent_box, number):
                yield planned(
                    f"communities/{street}",
                    start,
                    _bind(_communities, country, street, street_box),
                )
    for year in range(1, config.years + 1):
        day = date(start.year + year, 1, 1)
        for province, box in country.provinces():
            for kind, builder in (("splits", _splits), ("merges", _merges), ("regrids", _regrids)):
                yield planned(
                    f"{kind}/{year}/{province}", day, _bind(builder, country, province, box, year)
                )
        yield planned(f"matters/{year}", day, _bind(_move_matter, country, year))


def count_change_sets(config: Config, levels: LevelScheme, served: str = "community") -> int:
    """How many change sets `change_sets` yields (nothing is built)."""
    return sum(1 for _ in change_sets(config, levels, served))


def _bind(function: Any, *args: Any) -> Any:
    return lambda: function(*args)


def _level(country: Country, role: str) -> str:
    shape = country.shape
    return {"province": shape.province, "street": shape.street, "community": shape.community}[role]


def _top(country: Country) -> dict[str, Any]:
    shape, provinces = country.shape, country.provinces()
    return {
        "effective": country.config.start.isoformat(),
        "reason": "Register opened: the country and its provinces (synthesised)",
        "operations": [
            _establish("CN", shape.top, "Synthetic country", None, COUNTRY_BOX),
            *(
                _establish(code, shape.province, f"Province {code}", "CN", box)
                for code, box in provinces
            ),
            *(
                _office(f"{code}-gov", "district_government", f"Government {code}", code, box)
                for code, box in provinces
            ),
        ],
    }


def _matters(country: Country) -> dict[str, Any]:
    return {
        "effective": country.config.start.isoformat(),
        "reason": "Register opened: the responsibility catalogue (synthesised)",
        "operations": [
            {"op": "assign_matter", "matter": m, "office_kind": k, "level": _level(country, r)}
            for m, k, r in MATTERS
        ],
    }


def _move_matter(country: Country, year: int) -> dict[str, Any]:
    matter, kind, role = MOVES[(year - 1) % len(MOVES)]
    level = _level(country, role)
    return {
        "effective": _year_day(country, year).isoformat(),
        "reason": f"Year {year}: {matter} moves to the {kind} at {level} level (synthesised)",
        "operations": [
            {"op": "assign_matter", "matter": matter, "office_kind": kind, "level": level}
        ],
    }


def _year_day(country: Country, year: int) -> date:
    return date(country.config.start.year + year, 1, 1)


def _districts(country: Country, province: str, box: Box) -> dict[str, Any]:
    level = country.shape.middle[0]
    districts = country.districts_of(province, box)
    return {
        "effective": country.config.start.isoformat(),
        "reason": f"Register opened: the {level} units of province {province}",
        "operations": [
            *(_establish(c, level, f"{level.title()} {c}", province, b) for c, b in districts),
            *(
                _office(f"{c}-gov", "district_government", f"Government {c}", c, b)
                for c, b in districts
            ),
        ],
    }


def _middle(country: Country, district: str, box: Box) -> dict[str, Any]:
    chain = country.middle_chain(district)
    parents = [district, *chain[:-1]]
    levels = country.shape.middle[1:]
    return {
        "effective": country.config.start.isoformat(),
        "reason": f"Register opened: the levels between {district} and its streets",
        "operations": [
            _establish(code, level, f"{level.title()} {code}", parent, box)
            for code, level, parent in zip(chain, levels, parents, strict=True)
        ],
    }


def _streets(country: Country, parent: str, box: Box, number: int) -> dict[str, Any]:
    level = country.shape.street
    streets = country.streets_of(parent, box, number)
    return {
        "effective": country.config.start.isoformat(),
        "reason": f"Register opened: the streets of {parent}",
        "operations": [
            *(_establish(c, level, f"Street {c}", parent, b) for c, b in streets),
            *(
                _office(f"{c}-office", "street_office", f"Street office {c}", c, b)
                for c, b in streets
            ),
        ],
    }


def _communities(country: Country, street: str, box: Box) -> dict[str, Any]:
    shape = country.shape
    rows = country.communities_of(street, box)
    flat = [item for row in rows for item in row]
    boxes = dict(flat)
    operations: list[dict[str, Any]] = [
        _establish(c, shape.community, f"Community {c}", street, b) for c, b in flat
    ]
    operations += [
        _office(f"{c}-rc", "residents_committee", f"Residents' committee {c}", c, b)
        for c, b in flat
    ]
    for group in country.workstations_of(street, rows):
        operations.append(
            {
                "op": "open_workstation",
                "code": f"{group[0]}-ws",
                "name": f"Workstation {group[0]}",
                "address": _address(boxes[group[0]]),
                "serves": group,
            }
        )
    operations += [
        {"op": "lay_grids", "community": c, "grids": _grids(country, c, b)} for c, b in flat
    ]
    return {
        "effective": country.config.start.isoformat(),
        "reason": f"Register opened: communities, committees, workstations and grids of {street}",
        "operations": operations,
    }


def _grids(country: Country, community: str, box: Box, first: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "code": code,
            "name": f"Grid {code}",
            "officer": person_name(rng_for(country.config.seed, "officer", code)),
            "geometry": polygon(grid_box),
        }
        for code, grid_box in country.grids_of(community, box, first)
    ]


def _streets_in(country: Country, province: str, box: Box) -> Iterator[tuple[str, Box]]:
    for parent, parent_box, number in country.street_parents(province, box):
        yield from country.streets_of(parent, parent_box, number)


def _splits(country: Country, province: str, box: Box, year: int) -> dict[str, Any] | None:
    """Chosen streets give their northernmost row of communities to a new street."""
    operations: list[dict[str, Any]] = []
    for street, street_box in _streets_in(country, province, box):
        if country.chosen("split", street) != year:
            continue
        rows = country.communities_of(street, street_box)
        west, south, east, north = street_box
        cut = rows[-1][0][1][1]  # the south edge of the northernmost row
        new = f"{street}-n"
        remainder, part = (west, south, east, cut), (west, cut, east, north)
        operations.append(
            {
                "op": "split",
                "unit": street,
                "mode": "split_off",
                "reassign_children": "by_location",
                "parts": [
                    {"code": street, "name": f"Street {street}", "geometry": polygon(remainder)},
                    {"code": new, "name": f"Street {new}", "geometry": polygon(part)},
                ],
            }
        )
        operations.append(
            _office(f"{new}-office", "street_office", f"Street office {new}", new, part)
        )
    return _changes(country, year, f"streets of {province} split", operations)


def _merges(country: Country, province: str, box: Box, year: int) -> dict[str, Any] | None:
    """Chosen streets merge their first two workstations (both stay in the southern part)."""
    operations: list[dict[str, Any]] = []
    for street, street_box in _streets_in(country, province, box):
        if country.chosen("merge", street) != year:
            continue
        rows = country.communities_of(street, street_box)
        groups = country.workstations_of(street, rows[:1])
        if len(groups) >= 2:
            pair = [f"{groups[0][0]}-ws", f"{groups[1][0]}-ws"]
            operations.append({"op": "merge_workstations", "workstations": pair, "into": pair[0]})
    return _changes(country, year, f"workstations of {province} merge", operations)


def _regrids(country: Country, province: str, box: Box, year: int) -> dict[str, Any] | None:
    """Chosen communities replace their grids with one more, new codes."""
    operations: list[dict[str, Any]] = []
    first = country.config.grids_per_community + 1
    for street, street_box in _streets_in(country, province, box):
        for row in country.communities_of(street, street_box):
            for community, community_box in row:
                if country.chosen("regrid", community) == year:
                    grids = _grids(country, community, community_box, first)
                    operations.append({"op": "regrid", "community": community, "grids": grids})
    return _changes(country, year, f"communities of {province} re-grid", operations)


def _changes(
    country: Country, year: int, what: str, operations: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if not operations:
        return None
    return {
        "effective": _year_day(country, year).isoformat(),
        "reason": f"Year {year}: {what} (synthesised)",
        "operations": operations,
    }


# Command line ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo.national",
        description="Synthesise a country-sized register for benchmarks and apply it to "
        "DATABASE_URL (levels from JL_LEVELS; see the module's docstring).",
    )
    defaults = Config()
    parser.add_argument("--provinces", type=int, default=defaults.provinces)
    parser.add_argument(
        "--districts-per-province",
        type=int,
        default=defaults.districts_per_province,
        help="units of the level(s) between province and street (ignored without such levels)",
    )
    parser.add_argument("--streets-per-province", type=int, default=defaults.streets_per_province)
    parser.add_argument(
        "--communities-per-street", type=int, default=defaults.communities_per_street
    )
    parser.add_argument("--grids-per-community", type=int, default=defaults.grids_per_community)
    parser.add_argument("--years", type=int, default=defaults.years, help="years of changes")
    parser.add_argument("--seed", default=defaults.seed, help="names the run (keys, randomness)")
    parser.add_argument("--start", type=date.fromisoformat, default=defaults.start)
    parser.add_argument("--project", action="store_true", help="project the events afterwards")
    parser.add_argument(
        "--count", action="store_true", help="only print how many change sets and units"
    )
    return parser


def config_from(args: argparse.Namespace) -> Config:
    """The config the options describe."""
    return Config(
        provinces=args.provinces,
        districts_per_province=args.districts_per_province,
        streets_per_province=args.streets_per_province,
        communities_per_street=args.communities_per_street,
        grids_per_community=args.grids_per_community,
        years=args.years,
        seed=args.seed,
        start=args.start,
    )


def main(argv: list[str] | None = None) -> int:
    """Generate and apply (or count) the synthetic country."""
    from jurisdictions.bootstrap import build_services
    from jurisdictions.cli import progress_bar
    from jurisdictions.settings import Settings
    from projections.maintenance import tidy_read_model

    args = build_parser().parse_args(argv)
    config = config_from(args)
    settings = Settings(run_projection=False)  # type: ignore[call-arg]  # from the environment
    levels, served = settings.level_scheme, settings.served_level
    try:
        Shape.of(levels, served)
    except ValueError as exc:
        print(f"national: {exc}", file=sys.stderr)
        return 2
    total = count_change_sets(config, levels, served)
    streets = config.provinces * config.streets_per_province
    communities = streets * config.communities_per_street
    print(
        f"national: {total} change sets; {config.provinces} provinces, {streets} streets, "
        f"{communities} communities, {communities * config.grids_per_community} grids, "
        f"{config.years} years of changes; levels {','.join(levels.names)}",
        file=sys.stderr,
    )
    if args.count:
        return 0
    services = build_services(settings)
    try:
        with progress_bar("national change sets", "change set") as update:
            apply_all(
                services.register,
                change_sets(config, levels, served),
                actor=ACTOR,
                total=total,
                progress=update,
                keep_receipts=False,
            )
        if args.project:
            with services.worker.exclusive(wait=True), progress_bar("projecting", "event") as up:
                count = services.worker.catch_up(up, 5000)
            print(f"projections: {count} events applied", file=sys.stderr)
            tidy_read_model(settings.conninfo)
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
