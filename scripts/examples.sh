#!/usr/bin/env bash
# Runs every example of `runtime/examples/` as a newcomer would: the offline ones as they are,
# the Kafka ones against the development broker (nisshi, as `scripts/broker.sh` starts it) on a
# free port, stopped at the end. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for example in versioned_events decode_encode; do
    echo "== example $example"
    cargo run --quiet -p strata-es --example "$example"
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Its own process group, so the broker goes down with the script that started it.
setsid scripts/broker.sh "$port" >/dev/null 2>&1 &
broker=$!
trap 'kill -- -$broker 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"
for example in replay_snapshot migrate_topic; do
    echo "== example $example"
    cargo run --quiet -p strata-es --features kafka --example "$example"
done
