//! Data sets for the benches: seeded, so every run measures the same work.
#![allow(dead_code)]

use attributor::{
    AffiliateId, Binding, BindingStore, Click, CouponCode, CustomerId, EventKind, MemoryBindingStore,
    MemoryClickStore, MemoryCodeRegistry,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::Criterion;
use std::time::Duration;

/// Noon on 1 June 2026: "now" in every bench.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// Short, quiet criterion settings for a 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// splitmix64: a small seeded generator, so no runtime dependency is needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf-distributed ranks over `0..n` with exponent `s`, by inverting the
/// cumulative distribution: rank 0 is the most popular.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += (k as f64).powf(-s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Self { cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|p| *p < u).min(self.cdf.len() - 1)
    }

    /// `count` samples, scrambled so that popular ranks are not popular
    /// positions in the key space.
    pub fn queries(&self, count: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::new(seed);
        let n = self.cdf.len();
        (0..count).map(|_| scramble(self.sample(&mut rng), n)).collect()
    }
}

/// A bijection on `0..n` that spreads neighbours apart.
pub fn scramble(i: usize, n: usize) -> usize {
    // An odd multiplier is a bijection modulo a power of two; fold the rest.
    let m = n.next_power_of_two();
    let mut x = i;
    loop {
        x = x.wrapping_mul(0x9E37_79B1).wrapping_add(0x7F4A_7C15) & (m - 1);
        if x < n {
            return x;
        }
    }
}

/// Characters that are their own skeleton, so distinct codes built from
/// them are never confusable with each other.
const ALPHABET: &[u8] = b"ABCDEFGHIJKMNOPRSTVWXYZ3479";

/// The canonical text of code number `i`: a prefix and at least four more
/// characters, unique per `i`.
pub fn code_text(i: usize) -> String {
    let mut out = String::from("CR");
    let mut x = i;
    for _ in 0..4 {
        out.push(ALPHABET[x % ALPHABET.len()] as char);
        x /= ALPHABET.len();
    }
    while x > 0 {
        out.push(ALPHABET[x % ALPHABET.len()] as char);
        x /= ALPHABET.len();
    }
    out
}

/// Code number `i` as a customer types it: lower case, with a hyphen.
pub fn typed(i: usize) -> String {
    let text = code_text(i).to_lowercase();
    format!("{}-{}", &text[..2], &text[2..])
}

pub fn code(i: usize) -> CouponCode {
    CouponCode::parse(&code_text(i)).unwrap()
}

/// The affiliate that owns code `i`: a thousand affiliates.
pub fn owner(i: usize) -> AffiliateId {
    AffiliateId::new((i % 1000) as u64 + 1)
}

pub fn registry(n: usize) -> MemoryCodeRegistry {
    let registry = MemoryCodeRegistry::new();
    let from = now() - TimeDelta::days(365);
    for i in 0..n {
        registry.assign(code(i), owner(i), from).unwrap();
    }
    registry
}

pub fn customer(i: usize) -> CustomerId {
    CustomerId::new(&format!("cust-{i:07}")).unwrap()
}

pub fn click_id(i: usize) -> attributor::ClickId {
    attributor::ClickId::new(&format!("clk-{i:09}")).unwrap()
}

/// Click `i` of `customers` customers: spread over the last 60 days.
pub fn click(i: usize, customers: usize) -> Click {
    let mut rng = Rng::new(i as u64);
    let ago = TimeDelta::seconds(rng.below(60 * 86_400) as i64);
    Click::new(click_id(i), owner(rng.below(1_000_000) as usize), now() - ago)
        .with_customer(customer(i % customers))
}

pub fn clicks(n: usize, customers: usize) -> MemoryClickStore {
    let store = MemoryClickStore::new();
    for i in 0..n {
        store.insert(click(i, customers)).unwrap();
    }
    store
}

pub fn binding(i: usize) -> Binding {
    Binding {
        customer: customer(i),
        affiliate: owner(i * 7),
        bound_at: now() - TimeDelta::days(100),
        expires_at: Some(now() + TimeDelta::days(if i % 2 == 0 { 1 } else { -1 } * 50)),
        event: EventKind::Registration,
        conversion: attributor::ConversionId::new(&format!("reg-{i}")).unwrap(),
    }
}

pub fn bindings(n: usize) -> MemoryBindingStore {
    let store = MemoryBindingStore::new();
    for i in 0..n {
        store.bind(&binding(i)).unwrap();
    }
    store
}
