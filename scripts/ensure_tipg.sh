#!/usr/bin/env bash
# ensure_tipg.sh: a separate virtualenv with tipg (developmentseed's OGC Features and Tiles
# server), used only by `make bench-tipg` as the baseline. Kept apart from .venv so its pins
# (asyncpg, starlette, pydantic) never meet the project's. Idempotent, never asks; prints the
# environment's python on stdout, progress on stderr.
set -euo pipefail

TIPG_VERSION="${TIPG_VERSION:-1.6.1}"
UVICORN_VERSION="${UVICORN_VERSION:-0.54.0}"
VENV="${TIPG_VENV:-.venv-tipg}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.installed-tipg-$TIPG_VERSION-uvicorn-$UVICORN_VERSION"

log() { printf 'ensure_tipg: %s\n' "$*" >&2; }

if [ ! -e "$STAMP" ]; then
    log "installing tipg $TIPG_VERSION and uvicorn $UVICORN_VERSION into $VENV"
    test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tipg==$TIPG_VERSION" "uvicorn[standard]==$UVICORN_VERSION" >&2
    rm -f "$VENV"/.installed-tipg-*
    touch "$STAMP"
fi
echo "$VENV/bin/python"
