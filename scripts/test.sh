#!/usr/bin/env bash
# Runs every test of hookstream: formatting, lints, unit tests, and the end-to-end tests,
# which drive the real binary against a real Apache Kafka broker and a real PostgreSQL
# server that this script starts on 127.0.0.1 (in fresh data directories) and stops at the end.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- restart      # extra arguments go to `cargo test` (and skip fuzzing)
#
# Environment: KAFKA_TEST_PORT (default 19192), PG_TEST_PORT (default 15532).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
[[ ${1:-} == -- ]] && shift

ensure_tools
ensure_browser_tools

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -q -- -D warnings

# Every test creates its own ~33 topics: give the broker room for a few thousand partitions.
start_services "${KAFKA_TEST_PORT:-19192}" "${PG_TEST_PORT:-15532}" "-Xms512m -Xmx1536m" test

say "building"
cargo build --workspace --all-targets --locked -q

say "tests"
cargo test --workspace --locked "$@"

# A short fuzzing run of every target (scripts/fuzz.sh; longer runs are documented there).
# Only for the whole suite, and only where a nightly toolchain is or can be installed.
if (($# == 0)); then
  if cargo +nightly --version >/dev/null 2>&1 ||
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    bash "$ROOT/scripts/fuzz.sh" "${FUZZ_SECONDS:-30}"
  else
    say "WARNING: no nightly Rust toolchain here, so the fuzz targets did not run"
  fi
fi
