#!/usr/bin/env bash
# Runs every test of hookstream: formatting, lints, unit tests, and the end-to-end tests,
# which drive the real binary against a real Apache Kafka broker that this script starts
# on 127.0.0.1 (in a fresh data directory) and stops when it ends.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- restart      # extra arguments go to `cargo test`
#
# Environment: KAFKA_TEST_PORT (default 19192).
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
kafka_dir=$(mktemp -d "${TMPDIR:-/tmp}/hookstream-test-kafka.XXXXXX")
stop_kafka() {
  bash scripts/kafka.sh stop --port "$port" --dir "$kafka_dir" || true
  rm -rf "$kafka_dir"
}
trap stop_kafka EXIT

say "starting Kafka on 127.0.0.1:$port"
bash scripts/kafka.sh start --port "$port" --dir "$kafka_dir" >/dev/null
export HOOKSTREAM_TEST_KAFKA=127.0.0.1:$port

say "building"
cargo build --workspace --all-targets --locked -q

say "tests"
cargo test --workspace --locked "$@"
