#!/usr/bin/env bash
# Run a command with a Kafka broker: the one KAFKA_BOOTSTRAP_SERVERS names, or else a fresh
# local test broker (its own port and state directory) that is stopped again afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  export KAFKA_PORT="${KAFKA_TEST_PORT:-39092}"
  export KAFKA_DATA_DIR="$PWD/var/kafka-test"
  bash deploy/kafka/kafka.sh reset >/dev/null
  trap 'bash deploy/kafka/kafka.sh stop' EXIT
  bash deploy/kafka/kafka.sh start
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
fi
"$@"
