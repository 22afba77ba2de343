#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker + controller) for
# development and tests. No Docker and no Kafka tarball: the broker runs from
# jars that Maven resolves from scripts/kafka/pom.xml.
#
# Usage: scripts/kafka.sh COMMAND [options]
#   fetch                          resolve the Kafka jars (once per pom change)
#   start  [--port N] [--dir DIR]  start the broker in the background, wait until ready
#   stop   [--port N] [--dir DIR]  stop the broker recorded in DIR/kafka.pid
#   status [--port N] [--dir DIR]  is it running? (exit 0 yes, 3 no)
#   bootstrap [--port N]           print the bootstrap address
#   topics [--port N] ARGS...      TopicCommand against the local broker
#   run-class CLASS ARGS...        run any Kafka main class with the broker classpath
#
# Environment:
#   KAFKA_PORT            PLAINTEXT port (default 19092); the controller uses port+1
#   KAFKA_DIR             data dir (default .local/kafka/run-<port> in the repo)
#   KAFKA_HEAP_OPTS       broker heap (default -Xms256m -Xmx512m)
#   KAFKA_OPTS            extra JVM options for the broker
#   KAFKA_EXTRA_CONFIG    extra server.properties lines, key=value separated by whitespace
#   KAFKA_NODE_ID         node id (default 1); with KAFKA_VOTERS and KAFKA_CLUSTER_ID, a
#                         node of a cluster (scripts/kafka-cluster.sh sets all three)
#   KAFKA_VOTERS          controller.quorum.voters (default: this node alone)
#   KAFKA_CLUSTER_ID      the cluster id to format new storage with (default: a random one)
#   KAFKA_REPLICATION     replicas of Kafka's internal topics and the default for others
#                         (default 1; 3 also sets min.insync.replicas=2)
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (default 30)
#   JAVA                  java binary (default: java on PATH, Java 17+)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
POM=$SCRIPT_DIR/kafka/pom.xml
LOG4J_CONFIG=$SCRIPT_DIR/kafka/log4j2.yaml
JAVA=${JAVA:-java}

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)
[[ -n $KAFKA_VERSION ]] || { echo "kafka: no <kafka.version> in $POM" >&2; exit 1; }
KAFKA_HOME=$ROOT/.local/kafka/$KAFKA_VERSION
LIB_DIR=$KAFKA_HOME/lib
CLASSPATH_FILE=$KAFKA_HOME/classpath.txt

PORT=${KAFKA_PORT:-19092}
DIR=${KAFKA_DIR:-}

die() { echo "kafka: $*" >&2; exit 1; }

# --- options -----------------------------------------------------------------

# Parses --port/--dir; sets REST to the remaining arguments.
REST=()
parse_opts() {
  REST=()
  while (($#)); do
    case $1 in
      --port) (($# >= 2)) || die "--port needs a value"; PORT=$2; shift 2 ;;
      --port=*) PORT=${1#*=}; shift ;;
      --dir) (($# >= 2)) || die "--dir needs a value"; DIR=$2; shift 2 ;;
      --dir=*) DIR=${1#*=}; shift ;;
      *) REST+=("$1"); shift ;;
    esac
  done
}

# Derives paths from PORT and DIR once options are parsed.
setup_paths() {
  if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65534)); then die "bad port: $PORT"; fi
  CONTROLLER_PORT=$((PORT + 1))
  BOOTSTRAP=127.0.0.1:$PORT
  DIR=${DIR:-$ROOT/.local/kafka/run-$PORT}
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  PROPS=$DIR/server.properties
  PID_FILE=$DIR/kafka.pid
  DATA_DIR=$DIR/data
  LOG_DIR=$DIR/logs
  OUT_FILE=$DIR/kafka.out
}

no_extra_args() { ((${#REST[@]} == 0)) || die "unexpected argument: ${REST[0]}"; }

# --- fetch -------------------------------------------------------------------

# Resolves the runtime jars into .local/kafka/<version>/lib. Skipped when the
# jars are there and the pom is unchanged (its hash is kept next to them).
fetch() {
  local want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ -d $LIB_DIR && -f $KAFKA_HOME/pom.sha256 && $(<"$KAFKA_HOME/pom.sha256") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found on PATH"
  mkdir -p "$KAFKA_HOME"

  # One fetch at a time; re-check once we hold the lock.
  exec 9>"$KAFKA_HOME/.fetch.lock"
  flock 9
  if [[ -d $LIB_DIR && -f $KAFKA_HOME/pom.sha256 && $(<"$KAFKA_HOME/pom.sha256") == "$want" ]]; then
    exec 9>&-
    return 0
  fi

  echo "kafka: fetching Kafka $KAFKA_VERSION jars with Maven..." >&2
  local tmp=$KAFKA_HOME/lib.tmp
  rm -rf "$tmp"
  if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_HOME/fetch.log" 2>&1; then
    tail -n 40 "$KAFKA_HOME/fetch.log" >&2
    rm -rf "$tmp"
    die "Maven could not resolve the Kafka jars (full log: $KAFKA_HOME/fetch.log)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar in $tmp"

  # Swap in the new lib dir so a stale or partial one is never used.
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  printf '%s\n' "$LIB_DIR"/*.jar | paste -sd: - >"$CLASSPATH_FILE"
  echo "$want" >"$KAFKA_HOME/pom.sha256"
  exec 9>&-
  local jars=("$LIB_DIR"/*.jar)
  echo "kafka: ${#jars[@]} jars in $LIB_DIR" >&2
}

# --- process helpers ---------------------------------------------------------

# True if PID is alive (zombies count as dead).
alive() {
  local state
  if [[ -r /proc/$1/stat ]]; then
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# Prints the PID from the pid file if that process is our broker for this
# dir; guards against a stale file whose PID was reused by something else.
broker_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid args
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  else
    args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
  fi
  [[ $args == *"kafka.Kafka $PROPS"* ]] || return 1
  echo "$pid"
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Runs a Kafka main class with the fetched classpath and a small, fast-start JVM.
run_class() {
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.log.target=Console -Dkafka.logs.dir="$ROOT/.local/kafka" \
    -cp "$LIB_DIR/*" "$@"
}

# True once the broker answers an ApiVersions request.
api_ok() {
  timeout 20 "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.log.target=Console -Dkafka.logs.dir="$ROOT/.local/kafka" \
    -cp "$LIB_DIR/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$BOOTSTRAP" >/dev/null 2>&1
}

# Milliseconds since the epoch (whole seconds where bash lacks EPOCHREALTIME).
now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
  else
    echo $(($(date +%s) * 1000))
  fi
}

show_logs() {
  local f
  for f in "$LOG_DIR/server.log" "$OUT_FILE"; do
    [[ -s $f ]] || continue
    echo "----- last 50 lines of $f -----" >&2
    tail -n 50 "$f" >&2
  done
}

# Waits until the broker PID has logged its started line, listens on the port
# and answers ApiVersions. Returns 1 on timeout; exits 1 if the process dies.
wait_ready() {
  local pid=$1 t0
  t0=$(now_ms)
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      show_logs
      rm -f "$PID_FILE"
      die "broker (pid $pid) exited during startup"
    fi
    if grep -q "Kafka Server started" "$LOG_DIR/server.log" 2>/dev/null &&
        port_open "$PORT" && api_ok; then
      local ms=$(($(now_ms) - t0))
      echo "kafka: ready in $((ms / 1000)).$((ms % 1000 / 100))s (pid $pid)" >&2
      return 0
    fi
    sleep 0.25
  done
  show_logs
  echo "kafka: broker (pid $pid) not ready after ${KAFKA_START_TIMEOUT:-60}s" >&2
  return 1
}

# --- commands ----------------------------------------------------------------

# Serialises start/stop on one data dir (fd 8, held until this script exits).
DIR_LOCKED=
lock_dir() {
  [[ -n $DIR_LOCKED ]] && return 0
  mkdir -p "$DIR"
  exec 8>"$DIR/.lock"
  flock -w 120 8 || die "timed out waiting for $DIR/.lock"
  DIR_LOCKED=1
}

write_props() {
  local node=${KAFKA_NODE_ID:-1} replicas=${KAFKA_REPLICATION:-1} min_isr=1
  ((replicas >= 3)) && min_isr=2
  cat >"$PROPS" <<EOF
# Written by scripts/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=${KAFKA_VOTERS:-$node@127.0.0.1:$CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR

# Replicas of the internal topics: 1 on a single node, KAFKA_REPLICATION in a cluster.
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=$replicas
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replicas
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$min_isr
# Fewer internal partitions: quicker first consumer group / transaction.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
EOF
  if [[ -n ${KAFKA_EXTRA_CONFIG:-} ]]; then
    echo "# From KAFKA_EXTRA_CONFIG" >>"$PROPS"
    tr -s ' \t' '\n' <<<"$KAFKA_EXTRA_CONFIG" | sed '/^$/d' >>"$PROPS"
  fi
}

cmd_start() {
  fetch
  lock_dir
  mkdir -p "$LOG_DIR"
  command -v "$JAVA" >/dev/null || die "java not found (Java 17+ needed)"

  local pid
  if pid=$(broker_pid); then
    if port_open "$PORT"; then
      echo "kafka: already running (pid $pid)" >&2
    else
      echo "kafka: already starting (pid $pid), waiting" >&2
      wait_ready "$pid" || die "still running; see $DIR or run: $0 stop"
    fi
    echo "$BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"
  port_open "$PORT" && die "port $PORT is in use by another process"
  port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is in use by another process"

  write_props
  # Format the storage once; a fresh random cluster id per data dir.
  if [[ ! -f $DATA_DIR/meta.properties ]]; then
    local cluster_id=${KAFKA_CLUSTER_ID:-}
    [[ -n $cluster_id ]] || cluster_id=$(run_class kafka.tools.StorageTool random-uuid)
    run_class kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
      >"$LOG_DIR/format.log" 2>&1 || { cat "$LOG_DIR/format.log" >&2; die "storage format failed"; }
  fi

  # Keep the previous run's logs one generation back.
  [[ -f $LOG_DIR/server.log ]] && mv -f "$LOG_DIR/server.log" "$LOG_DIR/server.log.1"
  [[ -f $OUT_FILE ]] && mv -f "$OUT_FILE" "$OUT_FILE.1"

  # shellcheck disable=SC2086  # option strings are meant to be split
  nohup "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.log.target=File \
    -Dkafka.logs.dir="$LOG_DIR" ${KAFKA_OPTS:-} \
    -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" >"$OUT_FILE" 2>&1 </dev/null 8>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "kafka: started Kafka $KAFKA_VERSION (pid $pid), data in $DIR" >&2

  # A broker that never became ready is stopped, so a failed start leaves
  # nothing behind.
  if ! wait_ready "$pid"; then
    cmd_stop
    exit 1
  fi
  echo "$BOOTSTRAP"
}

cmd_stop() {
  local pid
  [[ -d $DIR ]] && lock_dir
  if ! pid=$(broker_pid); then
    if [[ -f $PID_FILE ]]; then
      rm -f "$PID_FILE"
      echo "kafka: not running (removed stale $PID_FILE)" >&2
    else
      echo "kafka: not running ($DIR)" >&2
    fi
    return 0
  fi

  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    echo "kafka: pid $pid still alive after ${KAFKA_STOP_TIMEOUT:-30}s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  echo "kafka: stopped (pid $pid)" >&2
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    if port_open "$PORT"; then
      echo "running: pid $pid, bootstrap $BOOTSTRAP, dir $DIR"
    else
      echo "starting: pid $pid, bootstrap $BOOTSTRAP (not accepting connections yet), dir $DIR"
    fi
    return 0
  fi
  echo "not running: bootstrap would be $BOOTSTRAP, dir $DIR"
  return 3
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
  (($#)) || { usage >&2; exit 2; }
  local cmd=$1
  shift
  case $cmd in
    fetch)
      parse_opts "$@"; no_extra_args; fetch
      echo "$LIB_DIR" ;;
    start)  parse_opts "$@"; no_extra_args; setup_paths; cmd_start ;;
    stop)   parse_opts "$@"; no_extra_args; setup_paths; cmd_stop ;;
    status) parse_opts "$@"; no_extra_args; setup_paths; cmd_status ;;
    bootstrap) parse_opts "$@"; no_extra_args; setup_paths; echo "$BOOTSTRAP" ;;
    topics)
      # A leading --port belongs to us; the rest goes to TopicCommand.
      local args=()
      while (($#)) && [[ $1 == --port || $1 == --port=* ]]; do
        if [[ $1 == --port ]]; then PORT=${2:-}; shift 2 || die "--port needs a value"
        else PORT=${1#*=}; shift; fi
      done
      args=("$@")
      setup_paths; fetch
      run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" ${args[@]+"${args[@]}"} ;;
    run-class|exec)
      (($#)) || die "run-class needs a main class"
      fetch
      run_class "$@" ;;
    -h|--help|help) usage ;;
    *) usage >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"
