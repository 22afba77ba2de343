#!/usr/bin/env bash
# A throwaway PostgreSQL server from Debian's packages, with wal_level=logical, on 127.0.0.1.
#
#   scripts/postgres.sh start [--port N] [--dir DIR]   # initdb if needed, start, wait until ready
#   scripts/postgres.sh stop  [--port N] [--dir DIR]   # stop by the server's own PID file
#
# Defaults: port 15432 (env PG_PORT), data in .local/postgres/run-<port> (env PG_DIR),
# wal_level logical (env PG_WAL_LEVEL, for testing what capture says about another level).
# Connect with: host=127.0.0.1 port=<port> user=postgres dbname=postgres (trust auth, loopback).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd=${1:-}
shift || true
port=${PG_PORT:-15432}
dir=""
while (($#)); do
  case $1 in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
dir=$(realpath -m "${dir:-${PG_DIR:-$ROOT/.local/postgres/run-$port}}")
# As root the server runs as the postgres user, which must be able to reach the data
# directory. If a parent is closed to it (a private checkout), use a stand-in under /tmp
# derived from the requested path, so that start and stop agree on it.
resolve_dir() {
  if [[ $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1; then
    mkdir -p "$(dirname "$dir")"
    if ! (cd / && runuser -u postgres -- test -x "$(dirname "$dir")") 2>/dev/null; then
      dir=/tmp/hookstream-postgres-$(printf %s "$dir" | sha256sum | cut -c1-12)
    fi
  fi
}

bindir() {
  local found
  found=$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null | sort -V | tail -1)
  [[ -n $found ]] && dirname "$found"
}

ensure_postgres() {
  if [[ -z $(bindir) ]]; then
    say "installing PostgreSQL from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

# initdb and postgres refuse to run as root: run them as the packages' postgres user then.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

start() {
  ensure_postgres
  resolve_dir
  local bin
  bin=$(bindir)
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  if [[ ! -f $dir/PG_VERSION ]]; then
    as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = ${PG_WAL_LEVEL:-logical}
max_replication_slots = 64
max_wal_senders = 16
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    say "PostgreSQL already running on 127.0.0.1:$port"
  else
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
  fi
  echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
}

stop() {
  resolve_dir
  local bin
  bin=$(bindir) || true
  if [[ -n $bin && -f $dir/postmaster.pid ]]; then
    as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    say "PostgreSQL stopped"
  else
    say "PostgreSQL not running in $dir"
  fi
}

case $cmd in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|restart [--port N] [--dir DIR]" >&2; exit 2 ;;
esac
