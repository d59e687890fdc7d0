#!/usr/bin/env bash
# ensure_test_tools.sh: install the programs the end-to-end tests drive as real clients
# (GDAL's ogrinfo/ogr2ogr for OGC API Features; Chromium for the map pages), from Debian's
# packages when missing. Idempotent, never asks. Progress on stderr.
set -euo pipefail

log() { printf 'ensure_test_tools: %s\n' "$*" >&2; }

missing=()
command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Chinese glyphs for the map screenshots (names are Chinese); tests read text, not pixels.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        log "missing ${missing[*]} and not root: install them with apt to run every test"
        exit 0
    fi
else
    SUDO=""
fi
log "installing ${missing[*]} with apt"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq -o DPkg::Lock::Timeout=300 >&2
$SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
