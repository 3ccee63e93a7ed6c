#!/usr/bin/env bash
# The fuzz crate (`fuzz/`, its own workspace: cargo-fuzz builds it with nightly and
# sanitizers) must not rot: it is built here with the pinned toolchain, and where a nightly
# toolchain is installed, the decode target also runs for FUZZ_SECONDS (default 30) from the
# committed corpus, through cargo-fuzz (installed into ~/.cargo/bin when missing). New inputs
# go to a temporary directory, never into the committed corpus. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
echo "fuzz: building the fuzz targets (stable)" >&2
cargo build --locked --quiet --bins
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain installed; built, not run" >&2
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install --locked --quiet cargo-fuzz
fi
found=$(mktemp -d)
trap 'rm -rf "$found"' EXIT
seconds="${FUZZ_SECONDS:-30}"
echo "fuzz: running the decode target for $seconds s (nightly, address sanitizer)" >&2
cargo +nightly fuzz run decode "$found" corpus/decode -- \
    -max_total_time="$seconds" -rss_limit_mb=512 -print_final_stats=1
