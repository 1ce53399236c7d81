#!/usr/bin/env bash
# Throw-away PostgreSQL servers for the postgres module's tests (and anyone who wants one):
#
#   eval "$(scripts/pg-test-server.sh start)"   # starts both, prints `export ...` lines
#   scripts/pg-test-server.sh stop              # stops both (uses ENGRAM_PG_TEST_DIR)
#
# 1. PostgreSQL 15 from Debian's `postgresql` package (installed with apt-get if missing; run
#    as root): a fresh cluster made by initdb in a temporary directory, trust auth, listening
#    on 127.0.0.1 only (port ENGRAM_PG_PORT, default 55432) with its unix socket in that
#    directory, no fsync (a test cluster need not survive a crash).
# 2. PGlite (PostgreSQL compiled to WASM) with its pgvector extension, served over the wire
#    protocol by @electric-sql/pglite-socket on 127.0.0.1 (port ENGRAM_PGLITE_PORT, default
#    55433): pgvector is not packaged for this Debian, and the `vector` paths need it. The npm
#    packages are pinned by scripts/pglite/package-lock.json and installed with `npm ci` into
#    a cache directory (ENGRAM_PGLITE_CACHE, default ~/.cache/engram-pglite).
#
# Printed variables: ENGRAM_PG_DSN, ENGRAM_PGVECTOR_DSN, ENGRAM_PG_TEST_DIR. Nothing listens
# beyond the loopback interface.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pg_port="${ENGRAM_PG_PORT:-55432}"
lite_port="${ENGRAM_PGLITE_PORT:-55433}"
cache="${ENGRAM_PGLITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engram-pglite}"

log() { echo "pg-test-server: $*" >&2; }

pg_bin() {
  local b
  for b in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$b/initdb" ]; then echo "$b"; return 0; fi
  done
  return 1
}

install_postgres() {
  if pg_bin >/dev/null; then return 0; fi
  log "installing Debian's postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  pg_bin >/dev/null || { log "postgresql installed but no initdb found"; exit 1; }
}

install_pglite() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs and npm (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq nodejs npm >&2
  fi
  mkdir -p "$cache"
  # Reinstall when the pinned versions changed (the lockfile differs from the installed one).
  if ! cmp -s "$here/pglite/package-lock.json" "$cache/package-lock.json" || [ ! -d "$cache/node_modules/@electric-sql/pglite-socket" ]; then
    log "installing PGlite + pgvector into $cache (npm ci)"
    cp "$here/pglite/package.json" "$here/pglite/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

wait_ready() { # port name pid
  local i
  for i in $(seq 1 150); do
    if pg_isready -q -h 127.0.0.1 -p "$1" -U postgres 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then log "$2 exited before it was ready"; return 1; fi
    sleep 0.2
  done
  log "$2 did not become ready on port $1"
  return 1
}

start() {
  install_postgres
  install_pglite
  local bin dir
  bin="$(pg_bin)"
  dir="$(mktemp -d "${TMPDIR:-/tmp}/engram-pg-test.XXXXXX")"
  chmod 755 "$dir"
  chown postgres: "$dir"
  # A failure from here on must not leave a server running.
  trap 'ENGRAM_PG_TEST_DIR="$dir" stop; exit 1' ERR

  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; false; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 ||
    { cat "$dir/postgres.log" >&2; false; }

  # PGlite: -m lets pgx open more than one connection (the server multiplexes them onto its
  # one backend); the extension is loaded at start and created per database by the tests.
  (cd "$cache" && exec node node_modules/@electric-sql/pglite-socket/dist/scripts/server.js \
    --host=127.0.0.1 --port="$lite_port" -e @electric-sql/pglite-pgvector:vector -m 8 \
    >"$dir/pglite.log" 2>&1) &
  echo $! >"$dir/pglite.pid"
  wait_ready "$pg_port" postgres "$(head -1 "$dir/data/postmaster.pid")"
  wait_ready "$lite_port" pglite "$(cat "$dir/pglite.pid")" || { cat "$dir/pglite.log" >&2; false; }
  trap - ERR

  log "PostgreSQL $("$bin/postgres" --version | awk "{print \$3}") on 127.0.0.1:$pg_port, PGlite + pgvector on 127.0.0.1:$lite_port ($dir)"
  echo "export ENGRAM_PG_TEST_DIR='$dir'"
  echo "export ENGRAM_PG_DSN='postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable'"
  echo "export ENGRAM_PGVECTOR_DSN='postgres://postgres@127.0.0.1:$lite_port/postgres?sslmode=disable'"
}

stop() {
  local dir="${1:-${ENGRAM_PG_TEST_DIR:-}}"
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then log "stop: no test directory (ENGRAM_PG_TEST_DIR)"; return 0; fi
  local bin
  if [ -f "$dir/data/postmaster.pid" ] && bin="$(pg_bin)"; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/pglite.pid" ]; then
    local pid
    pid="$(cat "$dir/pglite.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*) echo "usage: $0 start|stop [dir]" >&2; exit 2 ;;
esac
