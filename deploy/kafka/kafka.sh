#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) for QMS Trail, run from its published jars.
#
#   deploy/kafka/kafka.sh fetch    copy the broker jars from Maven Central into deploy/kafka/libs/
#   deploy/kafka/kafka.sh start    fetch, format storage once, start in the background, create topics
#   deploy/kafka/kafka.sh stop     stop the broker (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT)
#   deploy/kafka/kafka.sh status   say whether it runs (exit 0) or not (exit 3)
#   deploy/kafka/kafka.sh topics   create the missing topics of deploy/kafka/topics.yaml
#   deploy/kafka/kafka.sh logs     tail the broker log
#   deploy/kafka/kafka.sh reset    stop and wipe the state directory (all events are lost)
#
# Environment:
#   KAFKA_PORT               client port (9092); KAFKA_CONTROLLER_PORT (port + 1)
#   KAFKA_HOST               listen/advertised address (127.0.0.1)
#   KAFKA_DATA_DIR           state directory (<repo>/var/kafka): server.properties, cluster.id,
#                            data/, broker.log, kafka.pid
#   KAFKA_HEAP_OPTS          (-Xms256m -Xmx512m); KAFKA_JVM_OPTS extra JVM flags
#   KAFKA_START_TIMEOUT      seconds to wait for the broker (60); KAFKA_STOP_TIMEOUT (30)
#   KAFKA_AUTO_CREATE_TOPICS broker auto.create.topics.enable (false)
#   KAFKA_BOOTSTRAP_SERVERS  when set to anything but this local broker's address, an external
#                            cluster is used: start only creates topics there, stop does nothing.
#   QMS_TOPIC_PREFIX, QMS_TOPIC_REPLICATION_FACTOR   passed on to the topic creation.
#   KAFKA_EXTRA_PROPERTIES   a file appended to the rendered server.properties (its keys win),
#                            e.g. a SASL_SSL listener beside the PLAINTEXT one
#   KAFKA_SCRAM_USERS        SCRAM credentials created when the storage is formatted, space
#                            separated: 'SCRAM-SHA-256=[name=qms,password=secret]'
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LIBS="$HERE/libs"
STAMP="$LIBS/.pom.sha256"

HOST="${KAFKA_HOST:-127.0.0.1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA_DIR="${KAFKA_DATA_DIR:-$REPO/var/kafka}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
LOCAL_BOOTSTRAP="$HOST:$PORT"

PID_FILE="$DATA_DIR/kafka.pid"
LOG_FILE="$DATA_DIR/broker.log"
PROPS="$DATA_DIR/server.properties"
CLUSTER_ID_FILE="$DATA_DIR/cluster.id"
LOG_DIRS="$DATA_DIR/data"
MARKER="$DATA_DIR/.qms-kafka-state"

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

python_bin() {
  if [[ -x "$REPO/.venv/bin/python" ]]; then echo "$REPO/.venv/bin/python"; else echo python3; fi
}

# The project's topic tool, run from the repo root so `services` imports without installing.
topics_cli() {
  "$(python_bin)" -c 'import aiokafka, yaml' 2>/dev/null \
    || die "$(python_bin) lacks aiokafka/pyyaml: create the project venv (.venv) first"
  (cd "$REPO" && PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" \
    "$(python_bin)" -m services.common.topics "$@")
}

external_bootstrap() {
  # Set, and not simply naming the broker this script runs: an external cluster.
  local servers="${KAFKA_BOOTSTRAP_SERVERS:-}"
  [[ -n "$servers" && "$servers" != "$LOCAL_BOOTSTRAP" && "$servers" != "localhost:$PORT" ]]
}

pom_hash() { sha256sum "$HERE/pom.xml" | cut -d' ' -f1; }

cmd_fetch() {
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    say "broker jars present in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once, to fetch the broker jars)"
  command -v java >/dev/null || die "java not found (Kafka 4 needs Java 17+)"
  # A changed pom (new versions) must not leave old jars on the classpath.
  rm -rf "$LIBS"
  say "fetching broker jars from Maven Central into $LIBS"
  local mvn_log
  mvn_log="$(mktemp)"
  if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies >"$mvn_log" 2>&1; then
    cat "$mvn_log" >&2
    rm -f "$mvn_log"
    die "mvn could not fetch the broker jars"
  fi
  rm -f "$mvn_log"
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "mvn finished but no kafka_2.13 jar in $LIBS"
  pom_hash >"$STAMP"
  say "$(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# PID of our broker if it runs: the pid file's process must be a kafka.Kafka using our config.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  local args
  args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$args" == *kafka.Kafka* && "$args" == *"$PROPS"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

render_properties() {
  local template="$HERE/server.properties.template"
  sed -e "s|@HOST@|$HOST|g" \
    -e "s|@PORT@|$PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@LOG_DIRS@|$LOG_DIRS|g" \
    -e "s|@AUTO_CREATE_TOPICS@|${KAFKA_AUTO_CREATE_TOPICS:-false}|g" \
    "$template" >"$PROPS.tmp"
  if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
    [[ -r "$KAFKA_EXTRA_PROPERTIES" ]] || die "KAFKA_EXTRA_PROPERTIES: cannot read $KAFKA_EXTRA_PROPERTIES"
    printf '\n# From %s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$PROPS.tmp"
    cat "$KAFKA_EXTRA_PROPERTIES" >>"$PROPS.tmp"
  fi
  mv "$PROPS.tmp" "$PROPS"
}

# The JVM command line, as an array (setsid needs a program, not a shell function).
JAVA_CMD=()
java_cmd() {
  local -a heap extra
  read -r -a heap <<<"$HEAP_OPTS"
  read -r -a extra <<<"${KAFKA_JVM_OPTS:-}"
  JAVA_CMD=(java "${heap[@]}" "${extra[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$HERE/log4j2.yaml" -cp "$LIBS/*")
}

java_run() {
  java_cmd
  "${JAVA_CMD[@]}" "$@"
}

format_storage() {
  if [[ -f "$LOG_DIRS/meta.properties" ]]; then
    return 0
  fi
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    java_run kafka.tools.StorageTool random-uuid | tail -n 1 | tr -d '[:space:]' >"$CLUSTER_ID_FILE"
  fi
  local cluster_id
  cluster_id="$(cat "$CLUSTER_ID_FILE")"
  [[ -n "$cluster_id" ]] || die "could not generate a cluster id"
  say "formatting storage in $LOG_DIRS (cluster id $cluster_id)"
  # SCRAM users live in the cluster metadata: on KRaft they are created at format time.
  local -a scram=()
  local user
  for user in ${KAFKA_SCRAM_USERS:-}; do scram+=(--add-scram "$user"); done
  # No --standalone: controller.quorum.voters names the (static) quorum.
  java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" "${scram[@]}" >>"$LOG_FILE" 2>&1 \
    || { tail -n 20 "$LOG_FILE" >&2; die "storage format failed"; }
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ! port_open "$HOST" "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail_start "the broker exited during start-up"
    fi
    ((SECONDS < deadline)) || fail_start "port $PORT not open after ${START_TIMEOUT}s"
    sleep 0.5
  done
  local left=$((deadline - SECONDS))
  ((left > 0)) || left=1
  if "$(python_bin)" -c 'import aiokafka' 2>/dev/null; then
    topics_cli ping --bootstrap "$LOCAL_BOOTSTRAP" --timeout "$left" >/dev/null \
      || fail_start "no metadata from $LOCAL_BOOTSTRAP within ${START_TIMEOUT}s"
  else
    # Without aiokafka: the broker logs this line once it serves requests.
    until grep -q "Kafka Server started" "$LOG_FILE"; do
      kill -0 "$pid" 2>/dev/null || fail_start "the broker exited during start-up"
      ((SECONDS < deadline)) || fail_start "no 'Kafka Server started' after ${START_TIMEOUT}s"
      sleep 0.5
    done
  fi
}

fail_start() {
  printf 'kafka: error: %s; last lines of %s:\n' "$1" "$LOG_FILE" >&2
  tail -n 40 "$LOG_FILE" >&2 || true
  local pid
  if pid="$(running_pid)"; then stop_pid "$pid"; fi
  rm -f "$PID_FILE"
  exit 1
}

cmd_start() {
  if external_bootstrap; then
    say "external cluster $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS): no local broker"
    cmd_topics "$KAFKA_BOOTSTRAP_SERVERS"
    return 0
  fi
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid) at $LOCAL_BOOTSTRAP, state in $DATA_DIR"
    return 0
  fi
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$HOST" "$p"; then
      die "port $p on $HOST is already in use by another process (set KAFKA_PORT)"
    fi
  done
  cmd_fetch
  mkdir -p "$DATA_DIR" "$LOG_DIRS"
  touch "$MARKER"
  rm -f "$PID_FILE"
  render_properties
  format_storage

  say "starting broker at $LOCAL_BOOTSTRAP (controller $HOST:$CONTROLLER_PORT), log $LOG_FILE"
  printf '\n=== start %s ===\n' "$(date -Is)" >>"$LOG_FILE"
  local started=$SECONDS
  # Own session, no stdin: the broker outlives this shell and ignores its terminal's Ctrl-C.
  java_cmd
  setsid "${JAVA_CMD[@]}" kafka.Kafka "$PROPS" </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  sleep 0.5
  running_pid >/dev/null || kill -0 "$pid" 2>/dev/null || fail_start "the broker exited at once"
  wait_ready "$pid"
  say "ready after $((SECONDS - started))s (pid $pid)"
  cmd_topics "$LOCAL_BOOTSTRAP"
}

stop_pid() {
  local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "no exit after ${STOP_TIMEOUT}s, sending SIGKILL to $pid"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

cmd_stop() {
  if external_bootstrap; then
    say "external cluster $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS): nothing to stop"
    return 0
  fi
  local pid
  if pid="$(running_pid)"; then
    say "stopping broker (pid $pid)"
    stop_pid "$pid"
    kill -0 "$pid" 2>/dev/null && die "pid $pid still alive"
    say "stopped"
  else
    say "not running (state in $DATA_DIR)"
  fi
  rm -f "$PID_FILE"
}

cmd_status() {
  if external_bootstrap; then
    say "external cluster $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS)"
    return 0
  fi
  local pid
  if pid="$(running_pid)"; then
    say "running (pid $pid) at $LOCAL_BOOTSTRAP, state in $DATA_DIR"
  else
    say "not running (state in $DATA_DIR)"
    return 3
  fi
}

cmd_topics() {
  local bootstrap="${1:-${KAFKA_BOOTSTRAP_SERVERS:-$LOCAL_BOOTSTRAP}}"
  topics_cli create --bootstrap "$bootstrap"
}

cmd_reset() {
  cmd_stop
  [[ -e "$DATA_DIR" ]] || { say "nothing to wipe at $DATA_DIR"; return 0; }
  local real
  real="$(cd "$DATA_DIR" && pwd -P)"
  case "$real" in
    / | "$HOME" | "$REPO" | "$REPO/var") die "refusing to wipe $real" ;;
  esac
  # Only a directory this script created (or an empty one) is wiped.
  if [[ ! -e "$MARKER" && -n "$(ls -A "$DATA_DIR")" ]]; then
    die "$DATA_DIR does not look like a kafka.sh state directory (no $(basename "$MARKER"))"
  fi
  rm -rf "$DATA_DIR"
  say "wiped $DATA_DIR"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topics) cmd_topics ;;
  logs) tail -n "${2:-100}" "$LOG_FILE" ;;
  reset) cmd_reset ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
