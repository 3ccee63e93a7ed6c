//! Compile-fail tests: every diagnostic the derives promise, one mistake per fixture in
//! `tests/ui/<kind>/<case>.rs`, with the expected compiler output beside it.
//!
//! Compiler output drifts across Rust versions; the `.stderr` files match the toolchain the
//! workspace's `rust-version` names. Regenerate with `TRYBUILD=overwrite cargo test --test ui`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*/*.rs");
}
