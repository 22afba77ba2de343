#!/usr/bin/env bash
# Runs the end-to-end benchmark: builds hookstream and hookstream-bench in release mode,
# starts a fresh Kafka broker on 127.0.0.1 (in a temporary directory), runs the scenarios and
# stops the broker. Figures are printed as JSON lines and written, with SVG plots, to
# bench-results/ (see BENCHMARKS.md).
#
#   scripts/bench.sh                                   # every scenario
#   scripts/bench.sh --scenarios limit,fanout --scale 0.1   # arguments go to hookstream-bench
#
# Environment: KAFKA_BENCH_PORT (default 19292), PG_BENCH_PORT (default 15632).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

ensure_tools
say "building (release)"
cargo build --release --locked -q -p hookstream -p hookstream-bench
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

port=${KAFKA_BENCH_PORT:-19292}
pg_port=${PG_BENCH_PORT:-15632}
kafka_dir=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-bench-kafka.XXXXXX")
pg_root=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-bench-pg.XXXXXX")
chmod 755 "$pg_root" # the server runs as the postgres user when this runs as root
stop_services() {
  bash scripts/kafka.sh stop --port "$port" --dir "$kafka_dir" || true
  bash scripts/postgres.sh stop --port "$pg_port" --dir "$pg_root/data" || true
  rm -rf "$kafka_dir" "$pg_root"
}
trap stop_services EXIT

say "starting Kafka on 127.0.0.1:$port and PostgreSQL on 127.0.0.1:$pg_port"
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g} bash scripts/kafka.sh start --port "$port" --dir "$kafka_dir" >/dev/null
export HOOKSTREAM_TEST_KAFKA=127.0.0.1:$port
HOOKSTREAM_TEST_POSTGRES=$(bash scripts/postgres.sh start --port "$pg_port" --dir "$pg_root/data")
export HOOKSTREAM_TEST_POSTGRES
export HOOKSTREAM_BIN=$target/release/hookstream
HOOKSTREAM_BENCH_KAFKA_PID=$(<"$kafka_dir/kafka.pid")
export HOOKSTREAM_BENCH_KAFKA_PID

say "benchmark"
"$target/release/hookstream-bench" "$@"
