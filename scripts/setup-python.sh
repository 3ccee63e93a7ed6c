#!/usr/bin/env bash
# Creates `.venv/` with the independent Avro implementations the tests cross-check against:
# fastavro and Apache Avro's own Python implementation (`tests/python/requirements.txt`).
# Idempotent: an existing environment is reused.
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
# Idempotent and quick when everything is installed already.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
.venv/bin/python -c 'import fastavro, avro; print("setup-python: fastavro", fastavro.__version__, "avro", avro.__version__)'
