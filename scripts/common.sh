# Shared by the project's scripts: repository root and the tools every script needs.
# shellcheck shell=bash

export ROOT
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }

# Installs Debian packages (none given: nothing to do).
apt_install() {
  (($#)) || return 0
  say "installing $*"
  if [[ $(id -u) -ne 0 ]]; then
    echo "need root to apt-get install $*" >&2
    return 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Installs what the scripts need and this machine lacks, from Debian's packages:
# Java 17 and Maven (for the Kafka broker), curl. Rust comes from rustup, not from here.
ensure_tools() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v curl >/dev/null || missing+=(curl)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v make >/dev/null || missing+=(build-essential)
  apt_install "${missing[@]}"
  if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (https://rustup.rs), version 1.85 or newer" >&2
    return 1
  fi
}

# What the portal's browser tests need: Debian's Chromium, and playwright-core from npm
# (tests/portal/package-lock.json) to drive it.
ensure_browser_tools() {
  local missing=()
  [[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || missing+=(chromium)
  command -v npm >/dev/null || missing+=(nodejs npm)
  apt_install "${missing[@]}"
  local modules=$ROOT/tests/portal/node_modules
  if [[ ! -d $modules/playwright-core || $ROOT/tests/portal/package-lock.json -nt $modules/.package-lock.json ]]; then
    say "installing the browser tests' packages (npm ci in tests/portal)"
    npm ci --prefix "$ROOT/tests/portal" --no-audit --no-fund --loglevel=error
  fi
}

# Waits until `curl -sf URL` succeeds, for at most $2 seconds.
wait_http() {
  local url=$1 seconds=${2:-60} i
  for ((i = 0; i < seconds * 5; i++)); do
    curl -sf -o /dev/null "$url" && return 0
    sleep 0.2
  done
  echo "no answer from $url after ${seconds}s" >&2
  return 1
}

# Starts a fresh Kafka broker on 127.0.0.1:$1 (heap $3) and a fresh PostgreSQL server on
# 127.0.0.1:$2, in temporary directories named after $4, both stopped and removed on exit.
# Exports HOOKSTREAM_TEST_KAFKA, HOOKSTREAM_TEST_POSTGRES and SERVICES_KAFKA_PID.
start_services() {
  SERVICES_KAFKA_PORT=$1 SERVICES_PG_PORT=$2
  local heap=$3 name=$4
  SERVICES_KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-$name-kafka.XXXXXX")
  SERVICES_PG_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-$name-pg.XXXXXX")
  chmod 755 "$SERVICES_PG_ROOT" # the server runs as the postgres user when this runs as root
  trap stop_services EXIT
  say "starting Kafka on 127.0.0.1:$SERVICES_KAFKA_PORT and PostgreSQL on 127.0.0.1:$SERVICES_PG_PORT"
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:-$heap} bash "$ROOT/scripts/kafka.sh" start \
    --port "$SERVICES_KAFKA_PORT" --dir "$SERVICES_KAFKA_DIR" >/dev/null
  export HOOKSTREAM_TEST_KAFKA=127.0.0.1:$SERVICES_KAFKA_PORT
  HOOKSTREAM_TEST_POSTGRES=$(bash "$ROOT/scripts/postgres.sh" start \
    --port "$SERVICES_PG_PORT" --dir "$SERVICES_PG_ROOT/data")
  export HOOKSTREAM_TEST_POSTGRES
  SERVICES_KAFKA_PID=$(<"$SERVICES_KAFKA_DIR/kafka.pid")
  export SERVICES_KAFKA_PID
}

stop_services() {
  bash "$ROOT/scripts/kafka.sh" stop --port "$SERVICES_KAFKA_PORT" --dir "$SERVICES_KAFKA_DIR" || true
  bash "$ROOT/scripts/postgres.sh" stop --port "$SERVICES_PG_PORT" --dir "$SERVICES_PG_ROOT/data" || true
  rm -rf "$SERVICES_KAFKA_DIR" "$SERVICES_PG_ROOT"
}
