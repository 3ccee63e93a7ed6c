#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for development (trust authentication,
# user `postgres`, data in a temporary directory), installing Debian's packages first when
# missing (scripts/setup-postgres.sh). Runs in the foreground; Ctrl-C stops it and deletes it.
#
#   scripts/postgres.sh [PORT]    default 5432; clients: host=127.0.0.1 port=PORT user=postgres
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-5432}"
bin="$(scripts/setup-postgres.sh)"
dir="$(mktemp -d)"
as=()
if [ "$(id -u)" = 0 ]; then
    # initdb refuses root: the cluster runs as the `postgres` user the package creates.
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
trap '"${as[@]}" "$bin/pg_ctl" stop -D "$dir/data" -m fast >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
echo "postgres: host=127.0.0.1 port=$port user=postgres (data in $dir; Ctrl-C stops it)" >&2
"${as[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories=''
