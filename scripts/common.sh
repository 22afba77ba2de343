# Shared by the project's scripts: repository root and the tools every script needs.
# shellcheck shell=bash

export ROOT
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }

# Installs what the scripts need and this machine lacks, from Debian's packages:
# Java 17 and Maven (for the Kafka broker), curl. Rust comes from rustup, not from here.
ensure_tools() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v curl >/dev/null || missing+=(curl)
  command -v cmake >/dev/null || missing+=(cmake)
  command -v make >/dev/null || missing+=(build-essential)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
      echo "need root to apt-get install ${missing[*]}" >&2
      return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (https://rustup.rs), version 1.85 or newer" >&2
    return 1
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
