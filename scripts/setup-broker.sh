#!/usr/bin/env bash
# Installs nisshi (a Kafka-protocol broker; crates.io, the renamed Tansu) for the replay and
# migration tests, into a cache outside the checkout, and reuses it when present: a build from
# scratch takes about 30 minutes on 2 cores. Prints the binary's path last.
#
#   STRATA_CACHE   the cache directory (default ~/.cache/strata)
set -euo pipefail
cache="${STRATA_CACHE:-$HOME/.cache/strata}"
root="$cache/nisshi-0.8.1"
bin="$root/bin/nisshi"
if [ -x "$bin" ]; then
    echo "setup-broker: nisshi 0.8.1 at $bin" >&2
    echo "$bin"
    exit 0
fi
echo "setup-broker: building nisshi 0.8.1 (about 30 minutes on 2 cores, once)" >&2
# It declares rustc 1.96; it builds and runs on 1.95.
CARGO_TARGET_DIR="$cache/nisshi-target" cargo install nisshi --version 0.8.1 --locked \
    --ignore-rust-version --root "$root" >&2
rm -rf "$cache/nisshi-target"
echo "setup-broker: nisshi 0.8.1 at $bin" >&2
echo "$bin"
