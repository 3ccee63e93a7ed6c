#!/usr/bin/env bash
# Runs every example of `runtime/examples/` as a newcomer would: the offline ones as they are,
# the Kafka ones against the development broker (nisshi, as `scripts/broker.sh` starts it) on a
# free port, stopped at the end. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
for example in versioned_events decode_encode; do
    echo "== example $example"
    cargo run --quiet -p strata-es --example "$example"
done
# Everything built and installed before the broker starts, so its start is only its start.
cargo build --quiet -p strata-es --features kafka --examples
scripts/setup-broker.sh >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
# Its own process group, so the broker goes down with the script that started it.
setsid scripts/broker.sh "$port" >"$log" 2>&1 &
broker=$!
trap 'kill -- -$broker 2>/dev/null || true; rm -f "$log"' EXIT
wait_started "$broker" "examples: the broker on port $port" "$log" port_open "$port"
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"
for example in replay_snapshot migrate_topic; do
    echo "== example $example"
    cargo run --quiet -p strata-es --features kafka --example "$example"
done
