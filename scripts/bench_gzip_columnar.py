"""What gzip (level 5, as the API's middleware) saves on columnar batch answers.

Why Parquet answers are sent as they are and Arrow IPC streams are gzipped (api/app.py,
`NOT_GZIPPED`): on a SYNTHETIC table shaped like a `/v1/lookup/batch` answer (fixed seed, 100,000
points, a code column per level with as many distinct codes as the demo's levels have), print
each encoding's bytes, gzip's bytes as a ratio of them, and gzip's CPU time as a ratio of the
time to encode the table (same run). No server, no database.

    python -m scripts.bench_gzip_columnar [--rows N]
"""

from __future__ import annotations

import argparse
import gzip
import io
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from api.columnar import encode

#: Distinct codes per level, about the demo's (1 city, 10 districts, ... 15,000 grids).
LEVELS = {"city": 1, "district": 10, "street": 74, "community": 800, "grid": 15_000}


def synthetic_answer(rows: int, seed: int = 7) -> pa.Table:
    """A batch answer's columns, SYNTHETIC: random points and codes from a fixed seed."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {
        "index": pa.array(np.arange(rows, dtype=np.int64)),
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "lon": pa.array(rng.uniform(113.7, 114.6, rows)),
        "lat": pa.array(rng.uniform(22.4, 22.8, rows)),
    }
    for level, distinct in LEVELS.items():
        pool = np.array([f"4403{i:011d}" for i in range(distinct)])
        columns[level] = pa.array(pool[rng.integers(0, distinct, rows)])
    columns["on_boundary"] = pa.array(rng.random(rows) < 0.01)
    columns["error"] = pa.nulls(rows, pa.string())
    columns["error_message"] = pa.nulls(rows, pa.string())
    return pa.table(columns)


def zstd_parquet(table: pa.Table) -> bytes:
    """As bulk/tasks.py writes a job's result files."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def timed(work: Callable[[], bytes]) -> tuple[bytes, float]:
    start = time.perf_counter()
    out = work()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    table = synthetic_answer(args.rows)
    print(f"SYNTHETIC batch answer, {args.rows:,} rows; gzip level 5 as the API's middleware")
    encoders = {
        "arrow": partial(encode, table, "arrow"),
        "parquet": partial(encode, table, "parquet"),
        "parquet zstd (as job results)": partial(zstd_parquet, table),
    }
    for fmt, encoder in encoders.items():
        raw, encoding = timed(encoder)
        zipped, zipping = timed(partial(gzip.compress, raw, 5))
        print(
            f"{fmt:30s} {len(raw) / 1e6:7.2f} MB; gzipped {len(zipped) / len(raw):.2f} of that; "
            f"gzip takes {zipping / encoding:.1f}x the time of encoding the table"
        )


if __name__ == "__main__":
    main()
