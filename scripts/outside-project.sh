#!/usr/bin/env bash
# A new project outside this repository, made word for word from the README's section "Use
# strata in your own project" (its files are the section's code blocks), with strata checked
# out beside it: checks that its own xtask builds no librdkafka, axum or tokio, builds it, then
# runs `schemas`, `check`, and `register` and `check --registry` against strata's local
# registry; a command the lean xtask leaves out must name the feature that brings it. Run by
# scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
root=$PWD
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
python3 scripts/readme-files.py README.md "Use strata in your own project" "$work/my-project"
# The README's `[patch.crates-io]` points at a checkout in `../strata`: this one.
sed -i "s|\"\.\./strata/|\"$root/|" "$work/my-project/Cargo.toml"
grep -q "path = \"$root/runtime\"" "$work/my-project/Cargo.toml" ||
    { echo "outside project: the README's Cargo.toml has no [patch.crates-io] for strata-es" >&2; exit 1; }
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

echo "== outside project: a command the lean xtask leaves out names the feature that brings it"
for left_out in "read-models list:postgres" "migrate --from a --to b:kafka" "registry serve:registry-server"; do
    command=${left_out%:*}
    feature=${left_out##*:}
    if said=$(cargo xtask $command 2>&1); then
        echo "outside project: \`cargo xtask $command\` ran in a lean xtask" >&2
        exit 1
    fi
    if ! grep -q "needs the \`$feature\` feature" <<<"$said"; then
        echo "outside project: \`cargo xtask $command\` did not name the \`$feature\` feature:" >&2
        echo "$said" >&2
        exit 1
    fi
done

echo "== outside project: cargo xtask register"
# The registry served by this repository's binary (a lean xtask has no `registry serve`), built
# before it is started: on a cold cache the build takes minutes, the start a moment.
cargo build --quiet --manifest-path "$root/Cargo.toml" --package strata-es-registry --bin strata-registry
"$(target_dir "$root/Cargo.toml")/debug/strata-registry" \
    --dir "$work/registry" --listen 127.0.0.1:0 >"$work/url" 2>"$work/registry.log" &
server=$!
wait_started "$server" "outside project: the local registry" "$work/registry.log" test -s "$work/url"
url=$(head -n 1 "$work/url")
cargo xtask register --registry "$url"
cargo xtask check --registry "$url"
echo "outside project: schemas, check, register and check --registry passed"
