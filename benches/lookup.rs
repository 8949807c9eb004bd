//! `CouponCode::parse` plus a registry lookup at growing registry sizes,
//! with Zipf(1.1) queries, beside one probe of the same keys pre-normalised
//! into a plain hashbrown map with inline keys; and at a million codes, a
//! near lookup of a mistyped code beside an exact lookup in the same
//! registry, and exact lookups with and without families beside lookups
//! of codes a family answers for.

mod common;

use attributor::{AffiliateId, CodeAssignment, CodeRegistry, CouponCode, MemoryCodeRegistry};
use chrono::TimeDelta;
use common::{Rng, Zipf, now};
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

/// A code of eight characters drawn from every letter and digit, as a
/// program's generated codes are: sparse, where the numbered codes above
/// fill their space densely.
fn random_code(rng: &mut Rng) -> CouponCode {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let text: String = (0..8)
        .map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char)
        .collect();
    CouponCode::parse(&text).unwrap()
}

/// `code` with one edit a customer makes: a character changed, dropped,
/// doubled, or two neighbours swapped.
fn mistype(code: &CouponCode, rng: &mut Rng) -> CouponCode {
    let mut bytes = code.as_str().as_bytes().to_vec();
    let at = rng.below(bytes.len() as u64 - 1) as usize;
    match rng.below(4) {
        0 => bytes[at] = if bytes[at] == b'X' { b'Y' } else { b'X' },
        1 => {
            bytes.remove(at);
        }
        2 => bytes.insert(at, bytes[at]),
        _ => bytes.swap(at, at + 1),
    }
    CouponCode::parse(std::str::from_utf8(&bytes).unwrap()).unwrap()
}

fn near(c: &mut Criterion) {
    const N: usize = 1_000_000;
    if sizes().iter().all(|n| *n < N) {
        return;
    }
    let mut rng = Rng::new(7);
    let registry = MemoryCodeRegistry::new();
    let from = now() - TimeDelta::days(365);
    let mut codes = Vec::with_capacity(N);
    while codes.len() < N {
        let code = random_code(&mut rng);
        // A look-alike of another affiliate's code is refused: skip it.
        if registry.assign(code, common::owner(codes.len()), from).is_ok() {
            codes.push(code);
        }
    }
    let queries: Vec<CouponCode> = (0..QUERIES)
        .map(|_| codes[rng.below(N as u64) as usize])
        .collect();
    let mistyped: Vec<CouponCode> = queries.iter().map(|c| mistype(c, &mut rng)).collect();
    let t = now();
    let found = mistyped
        .iter()
        .filter(|c| !registry.near(c, t).unwrap().is_empty())
        .count();
    println!("near: {found} of {QUERIES} mistyped codes have a near code");
    let mut group = c.benchmark_group("near");
    let mut next = 0usize;
    group.bench_function(BenchmarkId::new("exact", N), |b| {
        b.iter(|| {
            next = (next + 1) & (QUERIES - 1);
            registry.lookup(black_box(&queries[next]), t).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("near", N), |b| {
        b.iter(|| {
            next = (next + 1) & (QUERIES - 1);
            registry.near(black_box(&mistyped[next]), t).unwrap()
        })
    });
    group.finish();
}

/// At a million codes: exact lookups before and after 200 families join
/// the registry, and lookups of codes that only a family answers for.
fn families(c: &mut Criterion) {
    const N: usize = 1_000_000;
    if sizes().iter().all(|n| *n < N) {
        return;
    }
    let registry = common::registry(N);
    let t = now();
    let mut rng = Rng::new(11);
    let queries: Vec<CouponCode> = (0..QUERIES)
        .map(|_| common::code(rng.below(N as u64) as usize))
        .collect();
    let mut group = c.benchmark_group("families");
    let mut next = 0usize;
    group.bench_function(BenchmarkId::new("exact/without", N), |b| {
        b.iter(|| {
            next = (next + 1) & (QUERIES - 1);
            registry.lookup(black_box(&queries[next]), t).unwrap()
        })
    });
    // Families whose codes meet none of the numbered ones (those start
    // with CR), at three prefix lengths.
    let prefix = |i: u64| match i % 3 {
        0 => format!("FAM{i:03}"),
        1 => format!("DEAL{i:03}X"),
        _ => format!("PARTNER{i:03}Z"),
    };
    for i in 0..200u64 {
        let prefix = prefix(i);
        let family = CodeAssignment::family(
            CouponCode::parse(&prefix).unwrap(),
            AffiliateId::new(i + 1),
            t - TimeDelta::days(30),
        );
        registry.insert(family).unwrap();
    }
    let members: Vec<CouponCode> = (0..QUERIES)
        .map(|q| {
            let prefix = prefix(rng.below(200));
            CouponCode::parse(&format!("{prefix}{}", q % 1000)).unwrap()
        })
        .collect();
    group.bench_function(BenchmarkId::new("exact/with", N), |b| {
        b.iter(|| {
            next = (next + 1) & (QUERIES - 1);
            registry.lookup(black_box(&queries[next]), t).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("member", N), |b| {
        b.iter(|| {
            next = (next + 1) & (QUERIES - 1);
            registry.lookup(black_box(&members[next]), t).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench, near, families
}
criterion_main!(benches);
