//! `CouponCode::parse` plus a registry lookup at growing registry sizes,
//! with Zipf(1.1) queries, beside one probe of the same keys pre-normalised
//! into a plain hashbrown map with inline keys.

mod common;

use attributor::{AffiliateId, CodeRegistry, CouponCode};
use common::{Zipf, now};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const QUERIES: usize = 1 << 16;

fn sizes() -> Vec<usize> {
    match std::env::var("ATTRIBUTOR_BENCH_MAX") {
        Ok(max) => {
            let max: usize = max.parse().unwrap_or(10_000_000);
            [1_000, 100_000, 1_000_000, 10_000_000]
                .into_iter()
                .filter(|n| *n <= max)
                .collect()
        }
        Err(_) => vec![1_000, 100_000, 1_000_000, 10_000_000],
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for n in sizes() {
        let zipf = Zipf::new(n, 1.1);
        let ranks = zipf.queries(QUERIES, 42);
        drop(zipf);
        let typed: Vec<String> = ranks.iter().map(|i| common::typed(*i)).collect();
        let keys: Vec<CouponCode> = ranks.iter().map(|i| common::code(*i)).collect();

        let mut baseline: hashbrown::HashMap<CouponCode, AffiliateId> = hashbrown::HashMap::with_capacity(n);
        for i in 0..n {
            baseline.insert(common::code(i), common::owner(i));
        }
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("baseline/probe", n), |b| {
            b.iter(|| {
                next = (next + 1) & (QUERIES - 1);
                baseline.get(black_box(&keys[next])).copied()
            })
        });
        drop(baseline);

        let registry = common::registry(n);
        let t = now();
        let mut next = 0usize;
        group.bench_function(BenchmarkId::new("attributor", n), |b| {
            b.iter(|| {
                next = (next + 1) & (QUERIES - 1);
                let code = CouponCode::parse(black_box(&typed[next])).unwrap();
                registry.lookup(&code, t).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench
}
criterion_main!(benches);
