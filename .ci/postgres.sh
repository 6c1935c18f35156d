#!/usr/bin/env bash
# A private PostgreSQL 15 server for the journal tests, so they never touch a system cluster.
#   .ci/postgres.sh start DIR PORT   init (once) and start a cluster in DIR on 127.0.0.1:PORT, create
#                                    database loomflow_test, print its URI on stdout
#   .ci/postgres.sh stop DIR         stop it (fast); no error when it is not running
# Layout of DIR: data/ (the cluster), socket/ (its unix socket, so nothing lands in /var/run),
# postgres.log. Authentication is trust for user "loomflow": the server listens on loopback only.
# Run as root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
# Progress goes to stderr; stdout carries only the URI, so callers can write URI=$(... start ...).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
DB_USER=loomflow
DB_NAME=loomflow_test
READY_ATTEMPTS=120  # × 0.25 s: a cold start on a slow CI machine takes a few seconds at most

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Runs a server-side command (initdb, pg_ctl) as the user that owns the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

usage() {
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
}

# The port a running cluster listens on (line 4 of postmaster.pid), empty when unknown.
running_port() { sed -n 4p "$1/data/postmaster.pid" 2>/dev/null || true; }

is_running() { [ -f "$1/data/PG_VERSION" ] && as_owner "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1; }

prepare_dir() {
  local dir=$1
  mkdir -p "$dir/socket"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (install postgresql-15)"
    chown -R postgres:postgres "$dir"
  fi
  chmod 700 "$dir"
}

init_cluster() {
  local dir=$1
  [ -f "$dir/data/PG_VERSION" ] && return 0
  log "initdb in $dir/data"
  as_owner "$PG_BIN/initdb" -D "$dir/data" --username="$DB_USER" --auth=trust --encoding=UTF8 --locale=C \
    --no-instructions >&2 || die "initdb failed (is $dir reachable by the server's OS user?)"
}

start_server() {
  local dir=$1 port=$2
  log "starting on 127.0.0.1:$port"
  # -W: return at once; wait_ready below polls with a bound instead of pg_ctl's fixed timeout.
  as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -W \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir/socket'" start >&2 ||
    die "pg_ctl start failed; see $dir/postgres.log"
}

wait_ready() {
  local dir=$1 port=$2 attempt
  for ((attempt = 1; attempt <= READY_ATTEMPTS; attempt++)); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres; then
      return 0
    fi
    # A server that died during startup will never become ready: stop waiting and show why.
    if [ "$attempt" -gt 4 ] && ! is_running "$dir"; then
      tail -n 20 "$dir/postgres.log" >&2 || true
      die "the server exited during startup"
    fi
    sleep 0.25
  done
  tail -n 20 "$dir/postgres.log" >&2 || true
  die "the server did not accept connections on 127.0.0.1:$port"
}

create_database() {
  local port=$1 exists
  exists=$("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -XAtq \
    -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")
  [ "$exists" = "1" ] && return 0
  log "creating database $DB_NAME"
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" -E UTF8 "$DB_NAME" >&2
}

cmd_start() {
  [ $# -eq 2 ] || usage
  local dir port=$2
  [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)  # absolute: pg_ctl and the socket path must not depend on the cwd
  if is_running "$dir"; then
    local current
    current=$(running_port "$dir")
    [ "$current" = "$port" ] || die "a server already runs in $dir on port $current, not $port"
    log "already running in $dir"
  else
    prepare_dir "$dir"
    init_cluster "$dir"
    start_server "$dir" "$port"
  fi
  wait_ready "$dir" "$port"
  create_database "$port"
  echo "postgres://$DB_USER@127.0.0.1:$port/$DB_NAME"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir=$1
  if ! is_running "$dir"; then
    log "not running in $dir"
    return 0
  fi
  as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >&2
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac
