#!/usr/bin/env bash
# Starts a Kafka-protocol broker (nisshi, in memory) on 127.0.0.1 for development, installing
# it first when missing (scripts/setup-broker.sh). Runs in the foreground; Ctrl-C stops it.
#
#   scripts/broker.sh [PORT]      default 9092; clients: bootstrap.servers=127.0.0.1:PORT
#                                 (and broker.address.family=v4)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-9092}"
nisshi="$(scripts/setup-broker.sh)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cd "$dir" # nisshi reads ./.env; start from an empty directory
echo "broker: 127.0.0.1:$port (data in memory; Ctrl-C stops it)" >&2
"$nisshi" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://nisshi/ \
    --group-initial-rebalance-delay 0s
