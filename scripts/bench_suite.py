"""The whole benchmark suite in one run, written to one file.

Runs, one after another (never at the same time: they would measure each other):

1. `scripts.bench_service` on a scratch copy of the Shenzhen demo (single lookups against
   /healthz, batches against STRtree, a change set to visible, memory);
2. the same on a larger generated register (`scripts.demo.national`, made once in its own
   database and kept for the next run), to show how the figures grow with size;
3. `scripts.bench_read_model` (history against no history, rebuild against COPY);
4. `scripts.bench_tipg` (OGC items and tiles against tipg on the same view).

Every part prints its own figures as ratios against a baseline measured in the same run; this
script puts them under one heading each in `--output` (default ``docs/benchmark-latest.md``)
with the commands and the machine. Usage: ``python -m scripts.bench_suite [--quick]
[--skip tipg,read-model] [--national-scale 4]`` (`make bench-suite`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from jurisdictions.settings import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent
NATIONAL_DB = "jl_bench_national"


def _with_dbname(url: str, name: str) -> str:
    return url.rpartition("/")[0] + "/" + name


def national_register(server: str, scale: int) -> str:
    """A generated register `scale` times the demo's grids, made once (the generator skips
    what is stored, so an interrupted run resumes)."""
    url = _with_dbname(server, f"{NATIONAL_DB}_{scale}")
    admin = _with_dbname(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"{NATIONAL_DB}_{scale}",)
        ).fetchone()
        if not exists:
            name = sql.Identifier(f"{NATIONAL_DB}_{scale}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    env = {**os.environ, "DATABASE_URL": url}
    run([sys.executable, "-m", "jurisdictions.cli", "migrate"], env)
    provinces = max(1, scale)
    command = [sys.executable, "-m", "scripts.demo.national", "--provinces", str(provinces)]
    command += ["--streets-per-province", "40", "--communities-per-street", "10"]
    command += ["--grids-per-community", "40", "--years", "5", "--project"]
    run(command, env)
    return url


def run(command: list[str], env: dict[str, str] | None = None) -> str:
    """Run a part, its output shown as it goes and returned."""
    print(f"$ {' '.join(command)}", flush=True)
    done = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    print(done.stdout, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[2]} failed with exit code {done.returncode}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--skip", default="", help="comma-separated: national,read-model,tipg")
    parser.add_argument("--national-scale", type=int, default=4, help="x the demo's grids")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmark-latest.md")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    env = {**os.environ, "DATABASE_URL": server}
    python = sys.executable
    service = [python, "-m", "scripts.bench_service"]
    service += ["--duration", "3", "--rounds", "1", "--repeats", "1"] if args.quick else []
    sections: list[tuple[str, str, str]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "service.md"
        command = [*service, "--output", str(table)]
        run(command, env)
        sections.append(("Service, Shenzhen demo", " ".join(command), table.read_text()))
        if "national" not in skip:
            url = national_register(server, args.national_scale)
            command = [*service, "--workers", "1", "--database-url", url, "--output", str(table)]
            run(command, env)
            title = f"Service, generated register ({args.national_scale}x the demo's grids)"
            sections.append((title, " ".join(command), table.read_text()))
        if "read-model" not in skip:
            command = [python, "-m", "scripts.bench_read_model"]
            command += (
                ["--units", "2000", "--versions", "10", "--lookups", "300"] if args.quick else []
            )
            text = run(command, env)
            sections.append(
                ("Read model: history and rebuild", " ".join(command), f"```\n{text}```")
            )
        if "tipg" not in skip:
            run(["bash", "scripts/ensure_tipg.sh"], env)
            command = [python, "-m", "scripts.bench_tipg", "--scratch", "--output", str(table)]
            command += ["--duration", "3", "--repeats", "1"] if args.quick else []
            run(command, env)
            sections.append(
                ("OGC items and tiles against tipg", " ".join(command), table.read_text())
            )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"`python -m scripts.bench_suite{' --quick' if args.quick else ''}` (`make bench-suite`), "
        f"{stamp}, {os.cpu_count()} cores, {time.monotonic() - started:,.0f} s. Every figure is a "
        "ratio against a baseline measured in the same run; what they mean and earlier runs: "
        "`docs/benchmark-service.md`, `docs/benchmarks.md`."
    )
    lines = ["# Latest benchmark run", "", intro]
    if args.quick:
        lines += ["", "A smoke run (short durations, small sizes): its ratios are rough."]
    for title, shown, body in sections:
        shown = re.sub(r" --output \S+", "", shown.replace(python, "python"))
        lines += ["", f"## {title}", "", f"`{shown}`", "", body.strip()]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
