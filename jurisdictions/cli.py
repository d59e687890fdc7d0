"""`jurisdictions`: the one command line for serving, migrating, loading and rebuilding."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.roles import ROLES
from domain.timeline import parse_day

# Heavy libraries (the web stack, shapely, pyproj, psycopg, pydantic, tqdm) are imported by the
# commands that use them, never at the top: `jurisdictions --help` answers at once, and
# tests/unit/test_cli_imports.py holds it to that.
if TYPE_CHECKING:
    from jurisdictions.bootstrap import Role, Services
    from jurisdictions.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: The demo register (Shenzhen) keeps Beijing time: `up` uses it unless JL_TIME_ZONE is set.
DEMO_TIME_ZONE = "Asia/Shanghai"


def migrate(settings: Settings) -> None:
    """Apply every Alembic migration (extensions and read-model tables)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url)
    command.upgrade(config, "head")
    from jurisdictions.bootstrap import create_event_store_tables
    from projections.layers import ensure_layer_views

    create_event_store_tables(settings)
    ensure_layer_views(settings.conninfo, settings.level_scheme, settings.time_zone)


def running(settings: Settings, role: Role) -> AbstractContextManager[Services]:
    """`jurisdictions.bootstrap.running`, imported when a command first needs it."""
    from jurisdictions.bootstrap import running as started

    return started(settings, role)


@contextmanager
def progress_bar(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr driven by (done, total) callbacks."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the migrations."""
    migrate(settings)
    print("migrations applied", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo, then project it unless told not to."""
    from jurisdictions.demo.shenzhen import load_demo

    with running(settings, "cli") as services:
        with progress_bar("demo change sets", "change set") as update:
            receipts = load_demo(services.register, update)
        new = [r for r in receipts if not r.replayed]
        print(
            f"demo: {len(new)} change sets stored, {len(receipts) - len(new)} already there",
            file=sys.stderr,
        )
        if not args.no_project:
            _catch_up(services)
    return 0


def _catch_up(services: Services, batch_size: int | None = None) -> None:
    """Project what is stored, with a progress bar (vacuumed after a bulk catch-up)."""
    with progress_bar("projecting", "event") as update:
        count = services.catch_up(update, batch_size)
    print(f"projections: {count} events applied, at {services.worker.position()}", file=sys.stderr)


def _tidy(services: Services) -> None:
    from projections.maintenance import tidy_read_model

    started = time.perf_counter()
    tidy_read_model(services.settings.conninfo)
    elapsed = time.perf_counter() - started
    print(f"read model vacuumed and analysed in {elapsed:.1f} s", file=sys.stderr)


def cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    """Catch up the read model, or keep following the log."""
    with running(settings, "cli") as services:
        if args.follow:
            stop = threading.Event()
            print("following the event log (Ctrl-C to stop)", file=sys.stderr)
            try:
                services.worker.follow(stop)
            except KeyboardInterrupt:
                stop.set()
        else:
            _catch_up(services, args.batch_size)
    return 0


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the read model from zero."""
    with running(settings, "cli") as services:
        with progress_bar("rebuilding", "event") as update:
            count = services.worker.rebuild(update, batch_size=args.batch_size)
        print(f"rebuilt the read model from {count} events", file=sys.stderr)
        _tidy(services)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the log head, the projection position and the lag; exit 1 when stalled."""
    with running(settings, "cli") as services:
        head, position = services.worker.head(), services.worker.position()
        stalled = services.worker.stalled()
    print(f"events stored: {head}\nprojected up to: {position}\nlag: {head - position}")
    if stalled is None:
        return 0
    print(
        f"STALLED: the projection cannot apply event {stalled.position} "
        f"({stalled.event_topic})\n"
        f"  reason: {stalled.reason}\n"
        f"  since: {stalled.since.isoformat()} ({stalled.attempts} attempts, last "
        f"{stalled.last_attempt.isoformat()})\n"
        "  later events are stored but not projected; see docs/operations.md to recover"
    )
    return 1


def cmd_tokens(args: argparse.Namespace, settings: Settings) -> int:
    """Create, revoke or list API tokens."""
    from jurisdictions.commands import create_token, list_tokens, revoke_token

    with running(settings, "cli") as services:
        if args.action == "create":
            try:
                token_id, token = create_token(services, args.role, args.actor)
            except ValueError as exc:
                print(f"jurisdictions tokens: {exc}", file=sys.stderr)
                return 2
            print(
                f"token {token_id} for {args.actor} ({args.role}); shown once, keep it safe:",
                file=sys.stderr,
            )
            print(token)
        elif args.action == "revoke":
            if not revoke_token(services, args.id):
                print(f"jurisdictions tokens: no live token with id {args.id!r}", file=sys.stderr)
                return 1
            print(f"token {args.id} revoked", file=sys.stderr)
        else:
            for row in list_tokens(services):
                revoked = row["revoked_at"]
                state = f"revoked {revoked:%Y-%m-%d}" if revoked else "live"
                print(f"{row['id']}  {row['role']:<6}  {row['actor']:<24}  {state}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export one level on one date to GeoJSON, GeoPackage or Shapefile."""
    from projections.layers import DRIVERS, export_layer

    if args.level not in settings.level_scheme:
        print(f"jurisdictions export: unknown level {args.level!r}", file=sys.stderr)
        return 2
    file_format = args.format or Path(args.output).suffix.lstrip(".").lower()
    if file_format not in DRIVERS:
        print(f"jurisdictions export: format must be one of {', '.join(DRIVERS)}", file=sys.stderr)
        return 2
    day = args.date or settings.today()
    count = export_layer(settings.conninfo, args.level, day, Path(args.output), file_format)
    print(f"wrote {count} {args.level} units valid on {day} to {args.output}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Work out (and with --commit apply) the change set of a layer file: one level, or with
    --layers several tables of a GeoPackage as one change set.

    Prints a summary for people (counts, every problem on one line, the changes), or with
    --json the API's report; --report-geojson writes the report as GeoJSON for QGIS. Exit 1
    when there are problems, 2 when the file or the options cannot be used."""
    import json

    from domain.repair import RepairOptions, RepairOptionsError
    from jurisdictions.commands import import_layers
    from projections.imports import ImportFields, ImportScope, ImportScopeError, LayerError
    from projections.multilevel import LayerSpec, check_children, check_sliver, parse_layers

    try:
        if args.layers:
            if args.level is not None or args.layer is not None:
                msg = "give either --level (and --layer) or --layers, not both"
                raise ImportScopeError("layers_invalid", msg)
            specs = parse_layers(args.layers, settings.level_scheme)
        elif args.level is None:
            raise ImportScopeError("layers_invalid", "give --level, or --layers table:level,...")
        elif args.level not in settings.level_scheme:
            known = ", ".join(settings.level_scheme.names)
            print(f"jurisdictions import: unknown level {args.level!r} ({known})", file=sys.stderr)
            return 2
        else:
            specs = [LayerSpec(args.layer, args.level)]
        children = check_children(args.children)
        children_sliver = check_sliver(args.children_sliver_m2)
    except ImportScopeError as exc:
        print(f"jurisdictions import: {exc}", file=sys.stderr)
        return 2
    try:
        repair = RepairOptions.of(args.repair or [], args.sliver_m2)
    except RepairOptionsError as exc:
        print(f"jurisdictions import: {exc}", file=sys.stderr)
        return 2
    with running(settings, "cli") as services:
        try:
            outcome = import_layers(
                services,
                Path(args.file),
                specs,
                effective=args.effective,
                reason=args.reason,
                document=args.document,
                fields=ImportFields(args.code_field, args.name_field, args.parent_field),
                scope=ImportScope.of(args.mode, args.replace_parents or []),
                children=children,
                sliver_m2=children_sliver,
                repair=repair,
                actor=args.actor,
                dry_run=not args.commit,
            )
        except (LayerError, ImportScopeError) as exc:
            print(f"jurisdictions import: {exc}", file=sys.stderr)
            return 2
    report = outcome.report()
    if args.report_geojson:
        target = Path(args.report_geojson)
        try:
            target.write_text(
                json.dumps(outcome.geojson(report), ensure_ascii=False), encoding="utf-8"
            )
        except OSError as exc:
            print(f"jurisdictions import: cannot write {target}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"report as GeoJSON: {target}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(import_summary(report, args.file))
    if outcome.problems:
        return 1
    if not args.commit:
        print("dry run: nothing stored; add --commit to apply", file=sys.stderr)
    elif outcome.write is not None and not outcome.write.visible:
        print(f"stored; not yet projected (position {outcome.write.position})", file=sys.stderr)
    return 0


#: How many changed units the summary lists (the rest: --json or --report-geojson).
SUMMARY_CHANGES = 50


def import_summary(report: dict[str, Any], file: str) -> str:
    """The import report as people read it on a terminal: counts first, then every problem
    on one line (code, unit and name, where, m²), repairs and notes, then the changes."""
    from projections.import_report import describe_entry, describe_problem

    summary: dict[str, Any] = report["summary"]
    counts = ", ".join(
        f"{summary[k]} {k}"
        for k in ("established", "redrawn", "renamed", "transferred", "ended", "unchanged")
    )
    state = "applied" if report["applied"] else "dry run" if report["dry_run"] else "not applied"
    head = f"{summary['features']} {report['level']} features ({state}, mode {report['mode']})"
    area = f"+{summary['area_gained_m2']:,.1f} m² gained, -{summary['area_lost_m2']:,.1f} m² lost"
    found = ", ".join(f"{summary[k]} {k}" for k in ("problems", "repairs", "notes"))
    lines = [
        f"{file}: {head}",
        f"  changes: {counts}",
        f"  area: {area}",
        f"  found: {found}",
    ]
    for title in ("problems", "repairs", "notes"):
        items: list[dict[str, Any]] = report.get(title) or []
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {describe_problem(_as_problem(item))}" for item in items)
    if summary.get("not_checked"):
        waiting = ", ".join(summary["not_checked"])
        lines.append(f"checked once the problems above are fixed: the families of {waiting}")
    entries: list[dict[str, Any]] = report["entries"]
    if entries:
        lines.append("changes:")
        lines.extend(
            f"  {e['code']} {e['name']} ({e['level']}): {describe_entry(e)}"
            for e in entries[:SUMMARY_CHANGES]
        )
        if len(entries) > SUMMARY_CHANGES:
            more = len(entries) - SUMMARY_CHANGES
            lines.append(f"  ... and {more} more (--json or --report-geojson)")
    return "\n".join(lines)


def _as_problem(item: dict[str, Any]) -> dict[str, Any]:
    """A repair in the problems' shape, for one line of the summary."""
    if "repair" not in item:
        return item
    return {
        "code": item["repair"],
        "message": item.get("message", ""),
        "units": [item.get("code")],
        "names": [item.get("name")],
        "location_point": item.get("location"),
        "area_m2": item.get("area_m2"),
    }


#: The HTTP limits `serve` takes as flags too (each overrides its JL_* setting).
SERVER_LIMITS = ("max_header_bytes", "max_header_count", "header_timeout", "body_timeout")


def with_limits(args: argparse.Namespace, settings: Settings) -> Settings:
    """`settings` with the HTTP limits given as flags (checked as the settings check them)."""
    given = {name: getattr(args, name, None) for name in SERVER_LIMITS}
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return settings
    return type(settings).model_validate({**settings.model_dump(), **given})


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the API with uvicorn."""
    from jurisdictions.server import serve

    try:
        settings = with_limits(args, settings)
    except ValueError as exc:
        print(f"jurisdictions serve: bad limit: {exc}", file=sys.stderr)
        return 2

    print(f"Jurisdiction Ledger on http://{args.host}:{args.port}  (API docs: /docs)", flush=True)
    return serve(settings, args.host, args.port, args.workers)


def cmd_assign(args: argparse.Namespace, settings: Settings) -> int:
    """Assign records to units (or count them per unit) on Dask (docs/scaling.md)."""
    from jurisdictions.commands.bulk import assign

    return assign(args, settings)


def cmd_synth_records(args: argparse.Namespace, settings: Settings) -> int:
    """Write the seeded synthetic records library of the demo."""
    from jurisdictions.commands.bulk import synth_records

    return synth_records(args)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate, load the demo, project, serve.

    The demo is Shenzhen's: unless JL_TIME_ZONE says otherwise, its "today" is Beijing's.
    """
    if "JL_TIME_ZONE" not in os.environ:
        from jurisdictions.settings import get_settings

        os.environ["JL_TIME_ZONE"] = DEMO_TIME_ZONE  # the server's workers read it too
        get_settings.cache_clear()
        settings = settings.model_copy(update={"time_zone": DEMO_TIME_ZONE})
    cmd_migrate(args, settings)
    args.no_project = False
    cmd_demo(args, settings)
    return cmd_serve(args, settings)


def _day(text: str) -> date:
    """A YYYY-MM-DD argument (the one definition of a date: `domain.timeline.parse_day`)."""
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="jurisdictions",
        description="Jurisdiction Ledger: an event-sourced register of boundaries and grids. "
        "The database comes from DATABASE_URL.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    demo = sub.add_parser("demo", help="load the Shenzhen demo (idempotent) and project it")
    demo.add_argument("--no-project", action="store_true", help="store events only")
    demo.set_defaults(func=cmd_demo)

    project = sub.add_parser("project", help="apply stored events to the read model")
    project.add_argument("--follow", action="store_true", help="keep following new events")
    project.add_argument("--batch-size", type=int, default=None, help="events per transaction")
    project.set_defaults(func=cmd_project)

    rebuild = sub.add_parser("rebuild", help="rebuild the read model from zero")
    rebuild.add_argument("--batch-size", type=int, default=5000, help="events per transaction")
    rebuild.set_defaults(func=cmd_rebuild)

    sub.add_parser("status", help="event log head and projection position").set_defaults(
        func=cmd_status
    )

    tokens = sub.add_parser("tokens", help="create, revoke or list API tokens")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser("create", help="print a new token (shown once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--actor", required=True, help="who acts with it (recorded in events)")
    revoke = token_actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id")
    token_actions.add_parser("list", help="list tokens (never the secrets)")
    tokens.set_defaults(func=cmd_tokens)

    imp = sub.add_parser(
        "import", help="import a GeoJSON/GeoPackage layer of one level, or several levels"
    )
    imp.add_argument("file")
    imp.add_argument("--level", help="the level of every feature (one layer)")
    imp.add_argument("--effective", required=True, type=_day, help="YYYY-MM-DD")
    imp.add_argument("--reason", required=True)
    imp.add_argument("--document", default="")
    imp.add_argument("--actor", default="cli", help="recorded as the actor of every event")
    imp.add_argument("--code-field", default="code")
    imp.add_argument("--name-field", default="name")
    imp.add_argument("--parent-field", default="parent")
    imp.add_argument("--layer", help="the GeoPackage table to read, if it has several")
    imp.add_argument(
        "--mode",
        default="update",
        help="update (default): only the units in the file change; replace: also end the "
        "units of --replace-parents that the file leaves out",
    )
    imp.add_argument(
        "--replace-parents",
        action="append",
        metavar="CODES",
        help="with --mode replace: parent codes (comma-separated or repeated) whose missing "
        "children end; none for the top level",
    )
    imp.add_argument(
        "--layers",
        action="append",
        metavar="TABLE:LEVEL,...",
        help="several levels of one GeoPackage as one change set, e.g. "
        "communities:community,grids:grid (instead of --level and --layer)",
    )
    imp.add_argument(
        "--children",
        default="keep",
        help="keep (default): children of a unit whose boundary moves stay with it; follow: "
        "they follow by location (a child the new line cuts is reported)",
    )
    imp.add_argument(
        "--children-sliver-m2",
        metavar="M2",
        help="with --children follow: a child the new line cuts by at most this many m² "
        "follows the new edge (clipped or extended; default 0)",
    )
    imp.add_argument(
        "--repair",
        action="append",
        metavar="REPAIRS",
        help="repairs to make, each reported (comma-separated or repeated): make_valid, "
        "clip_to_parent, snap_to_neighbours (default: none; problems are reported)",
    )
    imp.add_argument(
        "--sliver-m2",
        default="0",
        metavar="M2",
        help="with snap_to_neighbours: close gaps, overlaps and overhangs of at most this many "
        "m² (default 0: only those narrower than a metre)",
    )
    imp.add_argument("--commit", action="store_true", help="apply (default: dry run)")
    imp.add_argument(
        "--json", action="store_true", help="print the full report as JSON (as the API answers)"
    )
    imp.add_argument(
        "--report-geojson",
        metavar="FILE",
        help="also write the report as GeoJSON (changes, problems, repairs, notes) for QGIS",
    )
    imp.set_defaults(func=cmd_import)

    export = sub.add_parser("export", help="export a level on a date to a GIS file")
    export.add_argument("--level", required=True)
    export.add_argument("--date", type=_day, help="YYYY-MM-DD (default today)")
    export.add_argument("--format", choices=("geojson", "gpkg", "shp"), help="default: from suffix")
    export.add_argument("output", help="file to write, e.g. streets.gpkg")
    export.set_defaults(func=cmd_export)

    assign = sub.add_parser(
        "assign",
        help="assign records (Parquet, GeoParquet, CSV) to units on Dask, or count them per unit",
        description="Assign every record to its units on a date (or on its own date), writing "
        "Parquet partition by partition; or with --aggregate count records (and sum columns) "
        "per unit and date. Runs on a LocalCluster of this machine's cores unless --scheduler "
        "(or the JL_DASK_SCHEDULER setting) names a Dask cluster (docs/scaling.md).",
    )
    assign.add_argument("input", help="a Parquet/GeoParquet or CSV file, or a directory of them")
    assign.add_argument("--output", required=True, help="directory for the results")
    assign.add_argument(
        "--date",
        action="append",
        type=_day,
        help="YYYY-MM-DD (default today); repeat with --aggregate for dates side by side",
    )
    assign.add_argument("--date-column", help="each record on its own date, from this column")
    assign.add_argument(
        "--levels", action="append", metavar="LEVELS", help="e.g. street,community (default all)"
    )
    assign.add_argument(
        "--aggregate", action="store_true", help="count records per unit and date instead"
    )
    assign.add_argument(
        "--sum", action="append", metavar="COLUMNS", help="with --aggregate: numeric columns to sum"
    )
    assign.add_argument(
        "--crs", default="EPSG:4326", help="of lon/lat: wgs84, gcj02, bd09 or e.g. EPSG:4547"
    )
    assign.add_argument("--id-column", default="id")
    assign.add_argument("--lon-column", default="lon", help="longitude, or x in a projected CRS")
    assign.add_argument("--lat-column", default="lat", help="latitude, or y in a projected CRS")
    assign.add_argument(
        "--scheduler",
        help="a Dask scheduler, tcp://host:8786 (default: the JL_DASK_SCHEDULER setting if set, "
        "else a LocalCluster on this machine)",
    )
    assign.add_argument(
        "--workers",
        type=int,
        help="local worker processes (default: JL_JOBS_WORKERS if set, else one per core)",
    )
    assign.add_argument("--json", action="store_true", help="print the result as JSON")
    assign.set_defaults(func=cmd_assign)

    synth = sub.add_parser(
        "synth-records",
        help="write a seeded SYNTHETIC records library for the Shenzhen demo (any size)",
    )
    synth.add_argument("--count", type=int, required=True, help="records to write")
    synth.add_argument("--output", required=True, help="directory for the Parquet files")
    synth.add_argument("--seed", type=int, default=20151, help="default 20151")
    synth.add_argument(
        "--partition-size", type=int, default=500_000, help="records per file (default 500000)"
    )
    synth.set_defaults(func=cmd_synth_records)

    for name, func, text in (
        ("serve", cmd_serve, "serve the API"),
        ("up", cmd_up, "migrate, load the demo, project, then serve"),
    ):
        serve = sub.add_parser(name, help=text)
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=8000)
        serve.add_argument("--workers", type=int, default=1)
        limits = serve.add_argument_group("HTTP limits (docs/http.md; default: the JL_* setting)")
        limits.add_argument("--max-header-bytes", type=int, help="431 beyond (JL_MAX_HEADER_BYTES)")
        limits.add_argument("--max-header-count", type=int, help="431 beyond (JL_MAX_HEADER_COUNT)")
        limits.add_argument(
            "--header-timeout", type=float, help="seconds for a request head (JL_HEADER_TIMEOUT)"
        )
        limits.add_argument(
            "--body-timeout", type=float, help="seconds a body may be silent (JL_BODY_TIMEOUT)"
        )
        serve.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jurisdictions` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    # Only now, past --help and argument errors: these load the heavy libraries.
    import psycopg
    import psycopg_pool
    from eventsourcing.persistence import OperationalError as StoreUnavailable

    from jurisdictions.settings import get_settings
    from projections.worker import ProjectionStalled

    # What a database that cannot be reached raises, through psycopg, its pool or the store.
    unreachable = (psycopg.OperationalError, psycopg_pool.PoolTimeout, StoreUnavailable)

    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"jurisdictions: bad settings: {exc}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(args, settings)
    except ProjectionStalled as exc:
        print(
            f"jurisdictions: {exc}; see `jurisdictions status` and docs/operations.md",
            file=sys.stderr,
        )
        return 1
    except unreachable as exc:
        parts = settings.database_parts()
        where = f"{parts['host']}:{parts['port']}/{parts['dbname']}"
        print(
            f"jurisdictions: cannot reach the database at {where} (DATABASE_URL): "
            f"{_first_line(exc)}",
            file=sys.stderr,
        )
        return 1
    return result


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message, without the connection string's password."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


if __name__ == "__main__":
    sys.exit(main())
