#!/usr/bin/env bash
# Creates `.venv/` with the independent Avro implementations the tests cross-check against:
# fastavro, and Confluent's own Python client with its Avro serializer and registry client.
# Idempotent: an existing environment with the packages is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "setup-python: installing python3-venv" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import fastavro' 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
.venv/bin/python -c 'import fastavro; print("setup-python: fastavro", fastavro.__version__)'
