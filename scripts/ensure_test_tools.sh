#!/usr/bin/env bash
# ensure_test_tools.sh: install the programs the end-to-end tests drive as real clients
# (GDAL's ogrinfo/ogr2ogr for OGC API Features; Chromium for the map pages; QGIS's Python
# bindings for the README's QGIS recipe), from Debian's packages when missing. Idempotent, never
# asks. One progress line on stderr; apt's own output only when it fails.
set -euo pipefail

log() { printf 'ensure_test_tools: %s\n' "$*" >&2; }

missing=()
command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Chinese glyphs for the map screenshots (names are Chinese); tests read text, not pixels.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
# QGIS 3.22 (PyQGIS for Debian's /usr/bin/python3, and its data providers: OAPIF, GDAL, vector
# tiles), without the desktop application or its recommends (modem and keyring services): 71
# packages, 103 MB to download, 890 MB installed (python3-qgis needs plotly, hence SciPy), about
# 75 s on a 2-core machine.
lean=()
[ -e /usr/lib/python3/dist-packages/qgis/core/__init__.py ] || lean+=(python3-qgis)
[ -e /usr/lib/qgis/plugins/libprovider_wfs.so ] || lean+=(qgis-providers)

if [ ${#missing[@]} -eq 0 ] && [ ${#lean[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        log "missing ${missing[*]} ${lean[*]} and not root: install them with apt to run every test"
        exit 0
    fi
else
    SUDO=""
fi
log "installing ${missing[*]} ${lean[*]} with apt"
export DEBIAN_FRONTEND=noninteractive
output=$(mktemp)
trap 'rm -f "$output"' EXIT
run_apt() {
    if ! $SUDO apt-get -q -o DPkg::Lock::Timeout=300 "$@" >"$output" 2>&1; then
        cat "$output" >&2
        exit 1
    fi
}
run_apt update
[ ${#missing[@]} -eq 0 ] || run_apt install -y "${missing[@]}"
[ ${#lean[@]} -eq 0 ] || run_apt install -y --no-install-recommends "${lean[@]}"
