#!/usr/bin/env bash
# Brings up the whole pipeline on this machine and shows a webhook receive a change:
# an Apache Kafka broker (scripts/kafka.sh), PostgreSQL with an IGDB-like schema
# (scripts/postgres.sh, deploy/demo-schema.sql), `hookstream dev` (api, capture and
# dispatch in one process) and `hookstream sink` (a receiver that prints what it gets).
# Then it registers a webhook for Games, runs `UPDATE games …` in PostgreSQL, and prints
# the delivery; a change pushed to the HTTP ingest follows. Then it shows the delivery log,
# replays both changes to the webhook, and prints the dispatcher's delivery metrics.
#
#   scripts/demo.sh          # stays up until Ctrl-C, then stops everything it started
#   scripts/demo.sh --once   # stops as soon as the delivery arrived
#
# Ports on 127.0.0.1: Kafka 19092, PostgreSQL 15432, API 8080, ingest 8081, dispatch
# health 8082, sink 9000.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
once=false
[[ ${1:-} == --once ]] && once=true

ensure_tools
demo=$ROOT/.local/demo
mkdir -p "$demo"
pids=()
cleanup() {
  # The demo's webhook goes with the demo.
  if [[ -n ${webhook_id:-} ]]; then
    curl -sS -o /dev/null -X DELETE "http://127.0.0.1:8080/webhooks/$webhook_id" -H 'user-key: demo-key' || true
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${started_kafka:-false} == true ]]; then
    bash scripts/kafka.sh stop >/dev/null || true
  fi
  if [[ ${started_postgres:-false} == true ]]; then
    bash scripts/postgres.sh stop 2>/dev/null || true
  fi
}
trap cleanup EXIT

started_kafka=false
kafka_port=${KAFKA_PORT:-19092}
if bash scripts/kafka.sh status >/dev/null 2>&1; then
  say "using the Kafka broker of scripts/kafka.sh on 127.0.0.1:$kafka_port"
elif (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; then
  say "something already listens on 127.0.0.1:$kafka_port; using it as the Kafka broker"
else
  say "starting Kafka"
  bash scripts/kafka.sh start >/dev/null
  started_kafka=true
fi

started_postgres=false
pg="host=127.0.0.1 port=15432 user=postgres"
if ! psql "$pg dbname=postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  bash scripts/postgres.sh start >/dev/null
  started_postgres=true
fi
psql "$pg dbname=postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'igdb'" | grep -q 1 ||
  psql "$pg dbname=postgres" -qc 'CREATE DATABASE igdb'
psql "$pg dbname=igdb" -q -v ON_ERROR_STOP=1 -f deploy/demo-schema.sql >/dev/null

say "building hookstream"
cargo build -q -p hookstream
bin=${CARGO_TARGET_DIR:-$ROOT/target}/debug/hookstream

"$bin" keys hash demo-key --account demo --plan pro >"$demo/keys.toml"
export HOOKSTREAM_KAFKA__BROKERS=127.0.0.1:$kafka_port
export HOOKSTREAM_KAFKA__PARTITIONS=3
export HOOKSTREAM_API__LISTEN=127.0.0.1:8080
export HOOKSTREAM_API__KEYS_FILE=$demo/keys.toml
export HOOKSTREAM_API__DATA_DIR=$demo/data/api
export HOOKSTREAM_CAPTURE__LISTEN=127.0.0.1:8081
export HOOKSTREAM_CAPTURE__ADMIN_TOKEN=demo-admin-token
export HOOKSTREAM_DISPATCH__LISTEN=127.0.0.1:8082
export HOOKSTREAM_DISPATCH__DATA_DIR=$demo/data/dispatch
export HOOKSTREAM_CONFIG=$ROOT/deploy/demo.toml

say "starting the sink and hookstream dev"
"$bin" sink --listen 127.0.0.1:9000 >"$demo/sink.log" 2>&1 &
pids+=($!)
"$bin" dev >"$demo/dev.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:8080/readyz 60 || { tail -20 "$demo/dev.log"; exit 1; }
for ((i = 0; i < 300; i++)); do
  grep -q "PostgreSQL source started" "$demo/dev.log" && break
  sleep 0.2
done
grep -q "PostgreSQL source started" "$demo/dev.log" || { tail -20 "$demo/dev.log"; exit 1; }

say "POST /webhooks (user-key demo-key, category 1 = Game)"
registered=$(curl -sS -X POST http://127.0.0.1:8080/webhooks \
  -H 'user-key: demo-key' -H 'Content-Type: application/json' \
  -d '{"webhook": {"url": "http://127.0.0.1:9000/hook", "category": 1, "secret": "my-secret"}}')
echo "$registered"
webhook_id=$(grep -o '"id":[0-9]*' <<<"$registered" | cut -d: -f2)

# Waits for one more delivery than the sink had before, then prints the new ones.
deliveries() { grep -c "delivery #" "$demo/sink.log" || true; }
wait_delivery() {
  local before=$1 i
  for ((i = 0; i < 150; i++)); do
    if (($(deliveries) > before)); then
      sleep 0.2
      awk -v n="$before" '/delivery #/ {seen++} seen > n' "$demo/sink.log"
      return 0
    fi
    sleep 0.2
  done
  echo "no delivery arrived; hookstream dev said:" >&2
  tail -20 "$demo/dev.log" >&2
  return 1
}

say "UPDATE games … in PostgreSQL"
since=$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%SZ)
before=$(deliveries)
psql "$pg dbname=igdb" -qc "UPDATE games SET rating = 92.40 + (random() * 0.5)::numeric(3,2), updated_at = now() WHERE id = 1942"
say "waiting for the delivery"
wait_delivery "$before"

say "POST /v1/changes (the HTTP ingest, for systems that push their changes)"
before=$(deliveries)
curl -sS -X POST http://127.0.0.1:8081/v1/changes \
  -H 'Authorization: Bearer demo-admin-token' -H 'Content-Type: application/json' \
  -d '{"category": "game", "id": 7346, "op": "create", "data": {"id": 7346, "name": "The Legend of Zelda: Breath of the Wild"}}'
echo
wait_delivery "$before"

say "GET /webhooks/$webhook_id/deliveries (the delivery log: every attempt, newest first)"
for ((i = 0; i < 50; i++)); do
  log=$(curl -sS "http://127.0.0.1:8080/webhooks/$webhook_id/deliveries" -H 'user-key: demo-key')
  [[ $(grep -o '"attempt"' <<<"$log" | wc -l) -ge 2 ]] && break
  sleep 0.2
done
echo "$log"

say "hookstream replay --webhook $webhook_id --since $since (both changes again, marked X-Hookstream-Replay)"
before=$(deliveries)
"$bin" replay --webhook "$webhook_id" --since "$since"
wait_delivery "$before"

say "GET :8082/metrics (the dispatcher's Prometheus metrics, deliveries by result)"
curl -sS http://127.0.0.1:8082/metrics | grep '^hookstream_deliveries_total' || true

say "GET /portal (the portal for webhook owners: open http://127.0.0.1:8080/portal, sign in with demo-key)"
curl -sSf http://127.0.0.1:8080/portal | grep -o '<title>[^<]*</title>'

if $once; then
  say "delivered; stopping"
  exit 0
fi
say "the pipeline is up (logs in .local/demo/; the portal at http://127.0.0.1:8080/portal, key demo-key); try: psql \"$pg dbname=igdb\" -c \"UPDATE games SET name = name || '!' WHERE id = 1942\". Ctrl-C stops it."
tail -n 0 -f "$demo/sink.log" &
pids+=($!)
wait "${pids[1]}"
