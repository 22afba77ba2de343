#!/usr/bin/env bash
# A three-node Apache Kafka cluster on loopback (KRaft; every node broker and controller),
# for the broker fault tests: replication factor 3 and min.insync.replicas=2 by default.
# Each node is a scripts/kafka.sh broker with its own port pair and data directory.
#
# Usage: scripts/kafka-cluster.sh COMMAND [--base-port P] [--dir DIR]
#   start            start the three nodes (in parallel: a quorum needs two), wait for all
#   stop             stop every node
#   kill-node N      SIGKILL node N (1-3), as a crash would
#   start-node N     start node N again on its data
#   bootstrap        print the bootstrap list
#
# Node N listens on P + 2(N-1) (its controller on the next port); data in DIR/node-N.
# Defaults: P = 19500, DIR = .local/kafka/cluster-P.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
KAFKA=$SCRIPT_DIR/kafka.sh

die() { echo "kafka-cluster: $*" >&2; exit 1; }

cmd=${1:-}
[[ -n $cmd ]] || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
shift
node=
if [[ $cmd == kill-node || $cmd == start-node ]]; then
  node=${1:-}
  [[ $node =~ ^[1-3]$ ]] || die "$cmd needs a node number, 1 to 3"
  shift
fi
BASE=19500 DIR=
while (($#)); do
  case $1 in
    --base-port) BASE=${2:?--base-port needs a value}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    *) die "unexpected argument: $1" ;;
  esac
done
DIR=${DIR:-$ROOT/.local/kafka/cluster-$BASE}
mkdir -p "$DIR"

port() { echo $((BASE + 2 * ($1 - 1))); }
voters() { echo "1@127.0.0.1:$(($(port 1) + 1)),2@127.0.0.1:$(($(port 2) + 1)),3@127.0.0.1:$(($(port 3) + 1))"; }
bootstrap() { echo "127.0.0.1:$(port 1),127.0.0.1:$(port 2),127.0.0.1:$(port 3)"; }

cluster_id() {
  if [[ ! -s $DIR/cluster-id ]]; then
    bash "$KAFKA" run-class kafka.tools.StorageTool random-uuid >"$DIR/cluster-id"
  fi
  cat "$DIR/cluster-id"
}

start_node() {
  local n=$1
  KAFKA_NODE_ID=$n KAFKA_VOTERS=$(voters) KAFKA_CLUSTER_ID=$(cluster_id) \
    KAFKA_REPLICATION=${KAFKA_REPLICATION:-3} KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
    KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120} \
    bash "$KAFKA" start --port "$(port "$n")" --dir "$DIR/node-$n" >/dev/null
}

case $cmd in
  start)
    bash "$KAFKA" fetch >/dev/null
    cluster_id >/dev/null
    pids=()
    for n in 1 2 3; do
      start_node "$n" &
      pids+=($!)
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    ((failed == 0)) || { "$0" stop --base-port "$BASE" --dir "$DIR" || true; die "a node did not start"; }
    bootstrap ;;
  stop)
    # A node that lost its quorum may not finish a controlled shutdown: do not wait long.
    for n in 1 2 3; do
      KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-10} \
        bash "$KAFKA" stop --port "$(port "$n")" --dir "$DIR/node-$n" || true
    done ;;
  kill-node)
    pid_file=$DIR/node-$node/kafka.pid
    [[ -s $pid_file ]] || die "node $node is not running"
    kill -KILL "$(cat "$pid_file")"
    echo "kafka-cluster: killed node $node (pid $(cat "$pid_file"))" >&2 ;;
  start-node) start_node "$node" ;;
  bootstrap) bootstrap ;;
  *) die "unknown command: $cmd" ;;
esac
