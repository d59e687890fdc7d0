"""The layers a job needs, read once on the client and sent to every worker once.

The client reads the lookup service's snapshot (`projections.lookup_index.load_snapshot`, the
same read the API's in-memory index makes, at one read-model position) and keeps only the unit
versions live on the job's dates (all of them when records carry their own dates). On each
worker the layers become a `Snapshot` again, built once per worker process and job, whose
epochs are indexed on first use and resolve points with `Epoch.resolve`: exactly the code that
answers `/v1/lookup` from memory, so the job and the service cannot disagree.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from domain.levels import LevelScheme
from projections.lookup_index import Dated, Snapshot, UnitColumns, load_snapshot
from projections.lookup_index.columns import IntArray

#: Epochs a worker keeps indexed per job at least (in fact all of the register's periods).
WORKER_EPOCHS = 64


@dataclass(frozen=True)
class Layers:
    """What workers need to resolve points: picklable (no locks, trees or prepared shapes)."""

    token: str
    position: int
    generation: int
    levels: LevelScheme
    units: UnitColumns
    overlaps: tuple[Dated, ...]

    @property
    def versions(self) -> int:
        """Unit versions held."""
        return self.units.size


def read_layers(database_url: str, levels: LevelScheme, dates: Sequence[date]) -> Layers:
    """The register's current beliefs, reduced to the versions live on `dates` (every
    version when `dates` is empty: records with their own dates)."""
    import psycopg

    from domain.register import JurisdictionRegister
    from jurisdictions.bootstrap import TRACKING_TABLE

    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        snapshot = load_snapshot(conn, TRACKING_TABLE, JurisdictionRegister.name, levels, 1)
    size = snapshot.size
    keep = snapshot.alive.copy()
    if dates:
        days = np.array([d.toordinal() for d in dates], dtype=np.int64)
        start, end = snapshot.start[:, None], snapshot.end[:, None]
        keep &= np.any((start <= days) & (days < end), axis=1)
    versions = np.flatnonzero(keep[:size]).astype(np.int64)
    units, renumber = _subset(snapshot.units, versions)
    overlaps = tuple(
        zone
        for (a, b), zone in snapshot.overlap_zones.items()
        if renumber[a] >= 0 and renumber[b] >= 0
    )
    return Layers(
        token=uuid.uuid4().hex,
        position=snapshot.position,
        generation=snapshot.generation,
        levels=levels,
        units=units,
        overlaps=overlaps,
    )


def _subset(units: UnitColumns, versions: IntArray) -> tuple[UnitColumns, IntArray]:
    """The columns of `versions` only, renumbered from 0; and old number -> new (-1: dropped)."""
    found = UnitColumns(max(len(versions), 1))
    n = len(versions)
    found.size = n
    found.level[:n] = units.level[versions]
    found.start[:n] = units.start[versions]
    found.end[:n] = units.end[versions]
    found.geoms[:n] = units.geoms[versions]
    picked = versions.tolist()
    found.unit_id = [units.unit_id[v] for v in picked]
    found.code = [units.code[v] for v in picked]
    found.parent = [units.parent[v] for v in picked]
    found.hits = [units.hits[v] for v in picked]
    found.boundary_hits = [units.boundary_hits[v] for v in picked]
    renumber = np.full(units.size, -1, dtype=np.int64)
    renumber[versions] = np.arange(n, dtype=np.int64)
    return found, renumber


# On the workers -------------------------------------------------------------------------------

_SNAPSHOTS: OrderedDict[str, Snapshot] = OrderedDict()
_LOCK = threading.Lock()
#: Jobs whose snapshots a worker keeps (a long-lived cluster serves job after job).
WORKER_JOBS = 2


def snapshot_of(layers: Layers) -> Snapshot:
    """The layers as a `Snapshot`, built once per worker process and job (cached by token)."""
    with _LOCK:
        found = _SNAPSHOTS.get(layers.token)
        if found is None:
            size = layers.units.size
            found = Snapshot(
                position=layers.position,
                generation=layers.generation,
                levels=layers.levels,
                units=layers.units,
                alive=np.ones(size, dtype=bool),
                versions_of={},
                office_rows={},
                coverage_rows={},
                matter_rows={},
                overlap_zones={(i, i): zone for i, zone in enumerate(layers.overlaps)},
                max_epochs=WORKER_EPOCHS,
            )
            # Every period stays indexed for the job: partitions mixing many dates would
            # otherwise index the same periods again, partition after partition.
            found.max_epochs = max(WORKER_EPOCHS, len(found.bounds) + 1)
            _SNAPSHOTS[layers.token] = found
            while len(_SNAPSHOTS) > WORKER_JOBS:
                _SNAPSHOTS.popitem(last=False)
        return found


def code_column(units: UnitColumns) -> Any:
    """Unit codes by version number, as an object array (for fancy indexing)."""
    codes = np.empty(units.size + 1, dtype=object)
    codes[: units.size] = units.code
    codes[units.size] = None  # found == -1 indexes the last slot: no unit
    return codes
