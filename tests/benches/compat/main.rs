//! The compatibility gate at scale: 100 subjects of 20 versions each, every version checked
//! against all earlier ones at BACKWARD_TRANSITIVE, as `cargo xtask check` does offline.
//! Goal: under a second for the whole run.
//!
//! Run: `cargo bench -p strata-tests --bench compat`.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use strata::avro::compat::{Level, Prepared, check_prepared};

/// Subject `s` at version `v`: a record of 10 base fields plus one field (with a default)
/// added per version, a nested record, an enum that gains a symbol every fifth version, and
/// an array.
fn schema(s: usize, v: usize) -> apache_avro::Schema {
    let mut fields: Vec<_> = (0..10)
        .map(|i| {
            let ty = ["int", "long", "string", "double", "boolean"][i % 5];
            json!({"name": format!("f{i}"), "type": ty})
        })
        .collect();
    for added in 1..v {
        fields.push(
            json!({"name": format!("added{added}"), "type": ["null", "string"], "default": null}),
        );
    }
    let symbols: Vec<String> = (0..3 + v / 5).map(|i| format!("S{i}")).collect();
    fields.push(json!({"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": symbols, "default": "S0"}}));
    fields.push(json!({"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": {"type": "array", "items": "long"}}]}}));
    let json = json!({"type": "record", "name": format!("Event{s}"), "namespace": "bench.compat", "fields": fields});
    apache_avro::Schema::parse_str(&json.to_string()).unwrap()
}

fn gate(c: &mut Criterion) {
    let subjects: Vec<Vec<apache_avro::Schema>> =
        (0..100).map(|s| (1..=20).map(|v| schema(s, v)).collect()).collect();
    c.bench_function("compat/100 subjects x 20 versions, BACKWARD_TRANSITIVE", |b| {
        b.iter(|| {
            let mut findings = 0;
            for versions in &subjects {
                let prepared: Vec<Prepared> =
                    versions.iter().map(|s| Prepared::new(s).unwrap()).collect();
                for n in 1..prepared.len() {
                    findings +=
                        check_prepared(Level::BackwardTransitive, &prepared[n], &prepared[..n])
                            .len();
                }
            }
            assert_eq!(findings, 0);
            black_box(findings)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = gate
}
criterion_main!(benches);
