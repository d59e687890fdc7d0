"""Bulk jobs from the command line: `jurisdictions assign` and `jurisdictions synth-records`.

Both call the engine (`bulk`) as the HTTP jobs API does; here a progress bar shows partitions
and records as the workers finish them. Dask is imported only when a job runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bulk.spec import AssignmentSpec, InvalidJob, Progress, RecordSource
from jurisdictions.settings import Settings


def spec_from_args(args: argparse.Namespace, settings: Settings) -> AssignmentSpec:
    """The job the arguments ask for (one date: today's, unless --date or --date-column),
    on the cluster of --scheduler/--workers, else of JL_DASK_SCHEDULER/JL_JOBS_WORKERS."""
    dates = tuple(args.date or ())
    if not dates and args.date_column is None:
        dates = (settings.today(),)
    levels = tuple(
        level.strip() for text in args.levels or () for level in text.split(",") if level.strip()
    )
    sums = tuple(
        column.strip() for text in args.sum or () for column in text.split(",") if column.strip()
    )
    scheduler, workers = settings.job_cluster(args.scheduler, args.workers)
    return AssignmentSpec(
        source=RecordSource(
            path=args.input,
            id_column=args.id_column,
            lon_column=args.lon_column,
            lat_column=args.lat_column,
            crs=args.crs,
            date_column=args.date_column,
        ),
        output=args.output,
        dates=dates,
        levels=levels,
        aggregate=args.aggregate,
        sum_columns=sums,
        scheduler=scheduler,
        workers=workers,
    )


def assign(args: argparse.Namespace, settings: Settings) -> int:
    """Run one assignment with a progress bar; 2 when the job cannot run as asked."""
    from tqdm import tqdm

    from bulk.run import run_assignment

    spec = spec_from_args(args, settings)
    bar = tqdm(desc="assigning", unit="partition", file=sys.stderr, dynamic_ncols=True)

    def report(progress: Progress) -> None:
        bar.total = progress.partitions_total
        bar.n = progress.partitions_done
        bar.set_postfix_str(f"{progress.records_done:,} records", refresh=False)
        bar.refresh()

    try:
        result = run_assignment(spec, settings.conninfo, report, level_scheme=settings.level_scheme)
    except InvalidJob as exc:
        bar.close()
        for problem in exc.problems:
            print(f"jurisdictions assign: {problem.field}: {problem.message}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    what = "counted" if spec.aggregate else "assigned"
    print(
        f"{what} {result.records:,} records ({result.outside:,} outside every unit) in "
        f"{result.partitions} partitions on {result.engine}, {result.seconds:.1f} s; "
        f"written to {result.output}: {', '.join(result.files[:3])}"
        + (f" and {len(result.files) - 3} more" if len(result.files) > 3 else ""),
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    return 0


def synth_records(args: argparse.Namespace) -> int:
    """Write the synthetic records library with a progress bar."""
    from tqdm import tqdm

    from bulk.synth import write_library

    if args.count < 0 or args.partition_size < 1:
        print(
            "jurisdictions synth-records: --count must be >= 0, --partition-size >= 1",
            file=sys.stderr,
        )
        return 2
    with tqdm(
        desc="synthesising", unit="record", unit_scale=True, file=sys.stderr, total=args.count
    ) as bar:

        def update(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        files = write_library(Path(args.output), args.count, args.seed, args.partition_size, update)
    print(
        f"wrote {args.count:,} SYNTHETIC records to {args.output} ({len(files) - 2} files, "
        f"seed {args.seed}); see {args.output}/_README.md",
        file=sys.stderr,
    )
    return 0
