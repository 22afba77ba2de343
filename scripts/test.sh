#!/usr/bin/env bash
# Runs every test of hookstream: formatting, lints, unit tests, and the end-to-end tests,
# which drive the real binary against a real Apache Kafka broker and a real PostgreSQL
# server that this script starts on 127.0.0.1 (in fresh data directories) and stops at the end.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- restart      # extra arguments go to `cargo test`
#
# Environment: KAFKA_TEST_PORT (default 19192), PG_TEST_PORT (default 15532).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
[[ ${1:-} == -- ]] && shift

ensure_tools

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -q -- -D warnings

port=${KAFKA_TEST_PORT:-19192}
pg_port=${PG_TEST_PORT:-15532}
kafka_dir=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-test-kafka.XXXXXX")
pg_root=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-test-pg.XXXXXX")
chmod 755 "$pg_root" # the server runs as the postgres user when this runs as root
stop_services() {
  bash scripts/kafka.sh stop --port "$port" --dir "$kafka_dir" || true
  bash scripts/postgres.sh stop --port "$pg_port" --dir "$pg_root/data" || true
  rm -rf "$kafka_dir" "$pg_root"
}
trap stop_services EXIT

say "starting Kafka on 127.0.0.1:$port and PostgreSQL on 127.0.0.1:$pg_port"
# Every test creates its own ~33 topics: give the broker room for a few thousand partitions.
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1536m} bash scripts/kafka.sh start --port "$port" --dir "$kafka_dir" >/dev/null
export HOOKSTREAM_TEST_KAFKA=127.0.0.1:$port
HOOKSTREAM_TEST_POSTGRES=$(bash scripts/postgres.sh start --port "$pg_port" --dir "$pg_root/data")
export HOOKSTREAM_TEST_POSTGRES

say "building"
cargo build --workspace --all-targets --locked -q

say "tests"
cargo test --workspace --locked "$@"
