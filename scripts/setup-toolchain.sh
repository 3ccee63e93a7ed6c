#!/usr/bin/env bash
# Makes the toolchain `rust-toolchain.toml` pins (1.95.0) available. Where rustup can download
# it, rustup does so by itself; on a machine that cannot reach rustup's servers but whose one
# installed toolchain is that release (its `stable`, say), that toolchain is registered under
# the pinned name, as a link. Anything else is an error naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
host=$(cd / && rustc -vV | sed -n 's/^host: //p')
if [ -e "$rustup_home/toolchains/$pinned-$host" ]; then
    echo "setup-toolchain: $pinned ($host) present" >&2
    exit 0
fi
for candidate in "$rustup_home"/toolchains/*-"$host"; do
    [ -x "$candidate/bin/rustc" ] || continue
    version=$("$candidate/bin/rustc" --version | cut -d' ' -f2)
    if [ "$version" = "$pinned" ]; then
        ln -s "$candidate" "$rustup_home/toolchains/$pinned-$host"
        echo "setup-toolchain: $pinned is $(basename "$candidate"), linked" >&2
        exit 0
    fi
done
if rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy; then
    exit 0
fi
echo "setup-toolchain: rust $pinned is not installed and cannot be downloaded here" >&2
exit 1
