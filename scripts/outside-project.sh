#!/usr/bin/env bash
# A new project outside this repository, made word for word from the README's section "Use
# strata in your own project" (its files are the section's code blocks), with strata checked
# out beside it: checks that its own xtask builds no librdkafka, axum or tokio, builds it, then
# runs `schemas`, `check`, and `register` and `check --registry` against strata's local
# registry. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
python3 scripts/readme-files.py README.md "Use strata in your own project" "$work/my-project"
# Until the crates are on crates.io, the README's `strata-es = "0.1"` dependencies resolve to
# this checkout: the one line a new user would not write.
cat >>"$work/my-project/Cargo.toml" <<PATCH

[patch.crates-io]
strata-es = { path = "$root/runtime" }
strata-es-macros = { path = "$root/macros" }
strata-es-xtask = { path = "$root/xtask" }
PATCH
# The same dependency versions as this repository's build, so its build cache serves.
cp Cargo.lock "$work/my-project/"
cd "$work/my-project"

echo "== outside project: the offline gate builds no librdkafka, axum or tokio"
heavy=$(cargo tree --edges normal --package xtask | grep -E "^[^a-z]*(rdkafka-sys|axum|tokio) " || true)
if [ -n "$heavy" ]; then
    echo "outside project: the xtask's dependencies include:" >&2
    echo "$heavy" >&2
    exit 1
fi

echo "== outside project: cargo xtask schemas"
# Writing, as a developer does (in CI, `schemas` only checks).
env -u CI cargo xtask schemas
test -f schemas/shop.carts-value/v1.avsc
test -f schemas/shop.carts-value/index.json
echo "== outside project: cargo xtask check"
cargo xtask check

echo "== outside project: cargo xtask register"
# The registry served by this repository's binary (a lean xtask has no `registry serve`).
cargo run --quiet --manifest-path "$root/Cargo.toml" --package strata-es-registry -- \
    --dir "$work/registry" --listen 127.0.0.1:0 >"$work/url" 2>"$work/registry.log" &
server=$!
for _ in $(seq 1 100); do
    [ -s "$work/url" ] && break
    sleep 0.1
done
url=$(head -n 1 "$work/url")
[ -n "$url" ] || { cat "$work/registry.log" >&2; echo "outside project: the registry did not start" >&2; exit 1; }
cargo xtask register --registry "$url"
cargo xtask check --registry "$url"
echo "outside project: schemas, check, register and check --registry passed"
