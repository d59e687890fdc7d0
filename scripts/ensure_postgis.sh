#!/usr/bin/env bash
# ensure_postgis.sh — make sure a PostgreSQL server with the PostGIS extension
# *available* is reachable, make sure the target database exists, and print the
# database URL to use as the last (and only) line of stdout.
#
# Usage:
#   DB_URL="$(scripts/ensure_postgis.sh)"
#
# It takes no arguments (except -h/--help), never prompts and needs no stdin.
# Progress messages go to stderr, prefixed "ensure_postgis:".
#
# Which server is used, first match wins:
#   a. $DATABASE_URL is set (postgresql[+driver]://user[:pass]@host[:port]/db):
#      wait up to $JL_WAIT_SECONDS (30) for it, create db if missing, check
#      PostGIS (apt-installing postgresql-<major>-postgis-3 when the host is
#      local and we are root), print $DATABASE_URL unchanged.
#   b. a server answers on 127.0.0.1:${PGPORT:-5432} (skipped when
#      JL_FORCE_PRIVATE_CLUSTER=1) and user "postgres" can log in over TCP
#      (trust, or PGPASSWORD): same PostGIS check, create
#      ${JL_DB_NAME:-jurisdictions}, print postgresql://postgres@127.0.0.1:<port>/<db>.
#      If it answers but refuses that login, fall through to c.
#   c. otherwise: apt-install postgresql (+ matching postgis) if missing, create
#      or reuse a private trust-auth cluster in ${JL_PGDATA:-<repo>/.pgdata}
#      listening on 127.0.0.1:${JL_PRIVATE_PORT:-5433}, start it if stopped,
#      create the db, print postgresql://postgres@127.0.0.1:<port>/<db>.
#      Stop it with:  runuser -u postgres -- <pg bin>/pg_ctl -D <pgdata> stop
#      (the command is printed to stderr).
#
# Environment: DATABASE_URL, PGPORT, JL_DB_NAME, JL_PGDATA, JL_PRIVATE_PORT,
#              JL_FORCE_PRIVATE_CLUSTER, JL_WAIT_SECONDS, PGPASSWORD (honoured
#              by psql as usual), JL_SETUP_LOG (where apt-get and initdb write
#              their output; default ${TMPDIR:-/tmp}/ensure_postgis.log; a
#              failure shows its last 30 lines).
set -euo pipefail

readonly PROG="ensure_postgis"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT

WAIT_SECONDS="${JL_WAIT_SECONDS:-30}"
DB_NAME="${JL_DB_NAME:-jurisdictions}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"

APT_UPDATED=0
# apt and initdb write hundreds of lines; they go here, and only a failure shows its tail.
QUIET_LOG="${JL_SETUP_LOG:-${TMPDIR:-/tmp}/ensure_postgis.log}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: ERROR: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    "") ;;
    *)
        usage
        die "unexpected argument: $1"
        ;;
esac

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command with root privileges: directly as root, else via password-less
# sudo. Returns 1 (without running anything) when neither is possible.
as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

can_be_root() {
    is_root || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# Run a command with its output appended to $QUIET_LOG; on failure show the log's tail.
quietly() {
    local rc=0
    printf '\n$ %s\n' "$*" >>"$QUIET_LOG" 2>/dev/null || QUIET_LOG=/dev/null
    "$@" </dev/null >>"$QUIET_LOG" 2>&1 || rc=$?
    if [[ "$rc" -ne 0 && "$QUIET_LOG" != /dev/null ]]; then
        tail -n 30 "$QUIET_LOG" >&2
    fi
    return "$rc"
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install $* by hand"
    can_be_root || die "need root (or password-less sudo) to apt-get install $*"
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        log "updating the package lists (apt-get update; output in $QUIET_LOG)"
        quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
            update -qq || die "apt-get update failed (see $QUIET_LOG)"
        APT_UPDATED=1
    fi
    log "installing $* (apt-get, a minute or two; output in $QUIET_LOG)"
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends "$@" || die "apt-get install $* failed (see $QUIET_LOG)"
    log "installed $*"
}

# Make psql and pg_isready available (installs postgresql-client if we can).
ensure_client_tools() {
    if command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1; then
        return 0
    fi
    # Debian keeps versioned binaries here even when the /usr/bin wrappers are gone.
    local bindir
    bindir="$(newest_pg_bindir psql || true)"
    if [[ -n "$bindir" && -x "$bindir/pg_isready" ]]; then
        PATH="$bindir:$PATH"
        return 0
    fi
    if can_be_root && command -v apt-get >/dev/null 2>&1; then
        apt_install postgresql-client
        command -v psql >/dev/null 2>&1 || die "postgresql-client installed but psql still not on PATH"
        return 0
    fi
    return 1
}

# Newest /usr/lib/postgresql/<major>/bin that contains the given program.
newest_pg_bindir() {
    local prog="$1" d best=""
    while IFS= read -r d; do
        [[ -x "$d/$prog" ]] && best="$d"
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V)
    [[ -n "$best" ]] || return 1
    printf '%s\n' "$best"
}

# psql wrapper: quiet, unaligned, tuples only, stop on error, no ~/.psqlrc.
q() {
    local conn="$1"
    shift
    psql -X -w -q -A -t -v ON_ERROR_STOP=1 -d "$conn" "$@"
}

# Wait until pg_isready says the server accepts connections.
# $1: connection string/URI. Returns 0 when ready, 1 on timeout.
wait_ready() {
    local conn="$1" deadline rc
    deadline=$((SECONDS + WAIT_SECONDS))
    while :; do
        rc=0
        pg_isready -q -t 3 -d "$conn" || rc=$?
        case "$rc" in
            0) return 0 ;;
            3) die "pg_isready rejected the connection parameters (bad URL?)" ;;
        esac
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

percent_decode() {
    local s="$1"
    printf '%b' "${s//%/\\x}"
}

# Create database $2 via maintenance connection $1 unless it exists.
ensure_database() {
    local maint="$1" db="$2" exists
    exists="$(q "$maint" -v db="$db" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)" || die "cannot query pg_database through the maintenance database"
    if [[ "$exists" == "1" ]]; then
        log "database \"$db\" exists"
        return 0
    fi
    log "creating database \"$db\""
    if ! q "$maint" -v db="$db" >/dev/null <<'SQL'
CREATE DATABASE :"db";
SQL
    then
        # A concurrent run may have won the race; only fail if it is still missing.
        exists="$(q "$maint" -v db="$db" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)" || true
        [[ "$exists" == "1" ]] || die "could not create database \"$db\" (does the user have CREATEDB?)"
    fi
}

postgis_available() {
    local conn="$1" r
    r="$(q "$conn" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")" ||
        die "cannot query pg_available_extensions"
    [[ "$r" == "1" ]]
}

server_major() {
    local conn="$1" num
    num="$(q "$conn" -c 'SHOW server_version_num')" || die "cannot read server_version_num"
    [[ "$num" =~ ^[0-9]+$ ]] || die "unexpected server_version_num: $num"
    printf '%s\n' "$((num / 10000))"
}

is_local_host() {
    case "$1" in
        "" | localhost | 127.0.0.1 | ::1 | "[::1]" | /*) return 0 ;;
        *) return 1 ;;
    esac
}

# Make sure PostGIS is available on the server behind $1; $2 = host (for the
# "is it this machine?" decision).
ensure_postgis() {
    local conn="$1" host="$2" major
    if postgis_available "$conn"; then
        log "PostGIS is available"
        return 0
    fi
    major="$(server_major "$conn")"
    if is_local_host "$host" && can_be_root && command -v apt-get >/dev/null 2>&1; then
        log "PostGIS missing on local PostgreSQL $major; installing postgresql-$major-postgis-3"
        apt_install "postgresql-$major-postgis-3"
        if postgis_available "$conn"; then
            log "PostGIS is available"
            return 0
        fi
        die "installed postgresql-$major-postgis-3 but the server still does not list postgis in" \
            "pg_available_extensions (is the server on ${host:-the socket} really this machine's" \
            "Debian PostgreSQL $major?)"
    fi
    if is_local_host "$host"; then
        die "PostGIS is not available on PostgreSQL $major at ${host:-local socket}; install" \
            "postgresql-$major-postgis-3 (needs root/apt) or point DATABASE_URL at a PostGIS server"
    fi
    die "PostGIS is not available on the remote server $host (PostgreSQL $major); install" \
        "PostGIS there, or use a postgis/postgis image"
}

# --------------------------------------------------------------------------
# a. DATABASE_URL
# --------------------------------------------------------------------------
use_database_url() {
    local url="$DATABASE_URL" re scheme authority path query dbname hostport host
    re='^(postgres|postgresql)(\+[A-Za-z0-9_]+)?://([^/?]*)(/([^?]*))?(\?.*)?$'
    [[ "$url" =~ $re ]] ||
        die "DATABASE_URL must look like postgresql://user[:pass]@host[:port]/dbname (got something else)"
    scheme="postgresql"
    authority="${BASH_REMATCH[3]}"
    path="${BASH_REMATCH[5]}"
    query="${BASH_REMATCH[6]}"
    [[ -n "$path" ]] || die "DATABASE_URL has no database name"
    dbname="$(percent_decode "$path")"

    # Host: after the last '@', before the port; [v6] brackets allowed.
    hostport="${authority##*@}"
    [[ "$authority" == *@* ]] || hostport="$authority"
    if [[ "$hostport" == \[* ]]; then
        host="${hostport%%]*}"
        host="${host#[}"
    else
        host="${hostport%%:*}"
    fi
    # host=... in the query string overrides (e.g. a socket directory).
    if [[ "$query" =~ [?\&]host=([^\&]*) ]]; then
        host="$(percent_decode "${BASH_REMATCH[1]}")"
    fi
    host="$(percent_decode "$host")"

    local libpq_url="${scheme}://${authority}/${path}${query}"
    local maint="${scheme}://${authority}/postgres${query}"

    ensure_client_tools || die "psql/pg_isready not found and cannot install postgresql-client"
    log "using DATABASE_URL (host ${host:-<local socket>}, database \"$dbname\")"
    wait_ready "$maint" ||
        die "server from DATABASE_URL (${host:-local socket}) not ready after ${WAIT_SECONDS}s"

    if ! q "$maint" -c 'SELECT 1' >/dev/null 2>&1; then
        log "cannot connect to maintenance db \"postgres\"; trying template1"
        maint="${scheme}://${authority}/template1${query}"
        q "$maint" -c 'SELECT 1' >/dev/null ||
            die "cannot connect to the server from DATABASE_URL (wrong user/password?)"
    fi
    ensure_database "$maint" "$dbname"
    ensure_postgis "$libpq_url" "$host"
    printf '%s\n' "$DATABASE_URL"
}

# --------------------------------------------------------------------------
# b. local server on 127.0.0.1:$PGPORT
# --------------------------------------------------------------------------
try_local_server() {
    local port="${PGPORT:-5432}" rc=0
    command -v pg_isready >/dev/null 2>&1 || return 1
    pg_isready -q -t 3 -h 127.0.0.1 -p "$port" || rc=$?
    if [[ "$rc" -eq 1 ]]; then
        log "server on 127.0.0.1:$port is starting up; waiting"
        wait_ready "postgresql://postgres@127.0.0.1:${port}/postgres" || return 1
        rc=0
    fi
    [[ "$rc" -eq 0 ]] || return 1

    local maint="postgresql://postgres@127.0.0.1:${port}/postgres"
    log "found a server on 127.0.0.1:$port; trying user postgres over TCP"
    if ! q "$maint" -c 'SELECT 1' >/dev/null 2>&1; then
        # E.g. a stock Debian cluster (scram over TCP): do not fail, fall back
        # to a private cluster (set PGPASSWORD or DATABASE_URL to use it instead).
        log "a server answers on 127.0.0.1:$port but user postgres cannot log in over TCP" \
            "without a password (set PGPASSWORD or DATABASE_URL to use it)"
        return 1
    fi
    ensure_postgis "$maint" 127.0.0.1
    ensure_database "$maint" "$DB_NAME"
    printf 'postgresql://postgres@127.0.0.1:%s/%s\n' "$port" "$DB_NAME"
}

# --------------------------------------------------------------------------
# c. private cluster
# --------------------------------------------------------------------------
# Run a command as the postgres system user (or as ourselves when not root:
# then the cluster simply belongs to us).
as_pg() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

private_cluster() {
    local pgdata="${JL_PGDATA:-$REPO_ROOT/.pgdata}" port="${JL_PRIVATE_PORT:-5433}"
    local bindir major
    [[ "$pgdata" == /* ]] || pgdata="$PWD/$pgdata"
    pgdata="${pgdata%/}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "JL_PRIVATE_PORT must be a number (got: $port)"

    # Binaries: reuse the major the cluster was made with, else the newest.
    if [[ -f "$pgdata/PG_VERSION" ]]; then
        major="$(tr -d '[:space:]' <"$pgdata/PG_VERSION")"
        bindir="/usr/lib/postgresql/$major/bin"
        if [[ ! -x "$bindir/postgres" ]]; then
            if can_be_root && command -v apt-get >/dev/null 2>&1; then
                apt_install "postgresql-$major"
            fi
            [[ -x "$bindir/postgres" ]] ||
                die "$pgdata was made by PostgreSQL $major whose binaries are missing" \
                    "(install postgresql-$major or delete $pgdata)"
        fi
    else
        if ! bindir="$(newest_pg_bindir initdb)"; then
            log "no PostgreSQL server binaries found; installing postgresql"
            apt_install postgresql
            bindir="$(newest_pg_bindir initdb)" || die "postgresql installed but no initdb found"
        fi
        major="$(basename "$(dirname "$bindir")")"
    fi
    PATH="$bindir:$PATH"
    ensure_client_tools || true

    if [[ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]]; then
        log "PostGIS files for PostgreSQL $major missing; installing postgresql-$major-postgis-3"
        apt_install "postgresql-$major-postgis-3"
    fi

    if is_root; then
        id postgres >/dev/null 2>&1 || die "system user 'postgres' missing (is the postgresql package installed?)"
    fi

    # Create / initialise the data directory.
    if [[ ! -f "$pgdata/PG_VERSION" ]]; then
        if [[ -d "$pgdata" ]] && [[ -n "$(ls -A "$pgdata")" ]]; then
            die "$pgdata exists, is not empty and is not a PostgreSQL data directory; remove it or set JL_PGDATA"
        fi
        log "initialising private PostgreSQL $major cluster in $pgdata (port $port)"
        mkdir -p "$pgdata"
        if is_root; then
            chown postgres:postgres "$pgdata"
        fi
        chmod 700 "$pgdata"
        as_pg test -w "$pgdata" ||
            die "user postgres cannot reach $pgdata (a parent directory is not searchable by it?);" \
                "set JL_PGDATA to a path under e.g. /tmp or /var/lib"
        quietly as_pg "$bindir/initdb" -D "$pgdata" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 ||
            quietly as_pg "$bindir/initdb" -D "$pgdata" --auth=trust -U postgres -E UTF8 --locale=C ||
            die "initdb failed (see $QUIET_LOG)"

        # unix_socket_directories: the data dir, unless the socket path would
        # exceed the ~107-byte sun_path limit; then TCP only.
        local sockdir="$pgdata"
        if ((${#pgdata} + 18 > 107)); then
            log "data dir path too long for a Unix socket; the private server will be TCP-only"
            sockdir=""
        fi
        as_pg tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/ensure_postgis.sh ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${sockdir//\'/\'\'}'
EOF
    else
        log "reusing private cluster in $pgdata"
    fi

    # Start it unless running.
    local st=0
    as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || st=$?
    if [[ "$st" -eq 0 ]]; then
        log "private cluster already running"
        local pidport
        pidport="$(sed -n 4p "$pgdata/postmaster.pid" 2>/dev/null || true)"
        if [[ "$pidport" =~ ^[0-9]+$ && "$pidport" != "$port" ]]; then
            log "note: it runs on port $pidport, not $port; using $pidport"
            port="$pidport"
        fi
    else
        log "starting private cluster (log: $pgdata/server.log)"
        if ! as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
            tail -n 20 "$pgdata/server.log" >&2 2>/dev/null || true
            die "could not start the private cluster in $pgdata on port $port (port in use?)"
        fi
    fi
    local stop_prefix=""
    is_root && stop_prefix="runuser -u postgres -- "
    log "stop it with: ${stop_prefix}$bindir/pg_ctl -D $pgdata stop"

    local maint="postgresql://postgres@127.0.0.1:${port}/postgres"
    wait_ready "$maint" || die "private cluster on 127.0.0.1:$port not ready after ${WAIT_SECONDS}s"
    ensure_postgis "$maint" 127.0.0.1
    ensure_database "$maint" "$DB_NAME"
    printf 'postgresql://postgres@127.0.0.1:%s/%s\n' "$port" "$DB_NAME"
}

main() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        use_database_url
        return
    fi
    if [[ "${JL_FORCE_PRIVATE_CLUSTER:-0}" == "1" ]]; then
        log "JL_FORCE_PRIVATE_CLUSTER=1: not looking for a server on 127.0.0.1:${PGPORT:-5432}"
    else
        ensure_client_tools || true
        if try_local_server; then
            return
        fi
        log "no usable server on 127.0.0.1:${PGPORT:-5432}; using a private cluster"
    fi
    private_cluster
}

main
