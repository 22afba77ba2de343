#!/usr/bin/env bash
# Fuzzes the Avro decoders and the registration parsers with cargo-fuzz (libFuzzer, nightly
# Rust). Targets are in fuzz/fuzz_targets/; the corpus grows in fuzz/corpus/ (not committed),
# and a crash is written to fuzz/artifacts/ — turn it into a regression test, then fix it.
#
#   scripts/fuzz.sh            # every target for 30 s (what scripts/test.sh runs)
#   scripts/fuzz.sh 3600       # every target for an hour
#   scripts/fuzz.sh 600 avro_decode
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT/fuzz"
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(avro_decode registration)

if ! cargo +nightly --version >/dev/null 2>&1; then
  say "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal >/dev/null
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo +nightly install cargo-fuzz --locked --quiet
fi
# A target dir of its own: sanitizer builds must not mix with the workspace's.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookstream/fuzz-target}
for target in "${targets[@]}"; do
  say "fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  log=$(mktemp)
  status=0
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY' "$log" || true
  if ((status != 0)); then
    tail -40 "$log" >&2
    echo "fuzz: $target failed (exit $status); a crashing input is in fuzz/artifacts/$target/" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
