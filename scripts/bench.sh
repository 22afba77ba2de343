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

start_services "${KAFKA_BENCH_PORT:-19292}" "${PG_BENCH_PORT:-15632}" "-Xms1g -Xmx1g" bench
export HOOKSTREAM_BIN=$target/release/hookstream
export HOOKSTREAM_BENCH_KAFKA_PID=$SERVICES_KAFKA_PID

say "benchmark"
"$target/release/hookstream-bench" "$@"
