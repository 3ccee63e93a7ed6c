#!/usr/bin/env bash
# PostgreSQL for the read-model tests: Debian's server packages, installed when missing.
# Prints the directory of its programs (initdb, pg_ctl); the tests start a throwaway cluster
# from it on a free port in a temporary directory, and stop it.
set -euo pipefail

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin="$(find_bin)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "setup-postgres: installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
    bin="$(find_bin)"
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "setup-postgres: no initdb after installing postgresql" >&2
    exit 1
fi
# initdb refuses to run as root: the tests run the cluster as the `postgres` user then, which
# the package creates.
if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "setup-postgres: running as root, but there is no \`postgres\` user to run the cluster" >&2
    exit 1
fi
echo "$bin"
