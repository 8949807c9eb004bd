//! End to end: `Attributor::attribute` with memory stores holding 1M codes,
//! 10M clicks and 1M bindings, beside what a user would write by hand; and
//! read-only throughput on one and two threads sharing one `Attributor`:
//! `preview` (gather and resolve, no writes) and `attribute` on the
//! ledger-hit path (a retried postback).
//!
//! Groups: `attribute` and `threads`. Set `ATTRIBUTOR_BENCH_SCALE` to a
//! divisor (e.g. 10) for a quicker, smaller run.

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attributor::{
    AffiliateId, Attributor, ClickId, Conversion, ConversionId, CouponCode, CustomerId, EventKind,
    MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::{Rng, Zipf, now};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Conversions per batch: each batch starts with an empty ledger, so that
/// every conversion in it is new and the ledger stays small.
const BATCH: usize = 1 << 16;

struct Sizes {
    codes: usize,
    clicks: usize,
    customers: usize,
}

fn sizes() -> Sizes {
    let scale: usize = std::env::var("ATTRIBUTOR_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    Sizes {
        codes: 1_000_000 / scale,
        clicks: 10_000_000 / scale,
        customers: 1_000_000 / scale,
    }
}

/// A conversion as it arrives: strings from a postback or a checkout form.
struct Raw {
    id: String,
    customer: String,
    click: Option<String>,
    code: Option<String>,
    at: DateTime<Utc>,
}

fn raw_conversions(s: &Sizes) -> Vec<Raw> {
    let zipf = Zipf::new(s.codes, 1.1);
    let codes = zipf.queries(BATCH, 7);
    let mut rng = Rng::new(99);
    (0..BATCH)
        .map(|i| {
            let customer = rng.below(s.customers as u64) as usize;
            let per_customer = (s.clicks / s.customers) as u64;
            let click = (rng.below(2) == 0).then(|| {
                let k = rng.below(per_customer) as usize;
                common::click_id(customer + k * s.customers).to_string()
            });
            let code = (rng.below(10) < 6).then(|| common::typed(codes[i]));
            Raw {
                id: format!("ord-{i:08}"),
                customer: common::customer(customer).to_string(),
                click,
                code,
                at: now(),
            }
        })
        .collect()
}

/// The stores, built once for both groups.
struct World {
    registry: MemoryCodeRegistry,
    clicks: MemoryClickStore,
    bindings: MemoryBindingStore,
    naive: Naive,
    raw: Vec<Raw>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let s = sizes();
        let started = Instant::now();
        let world = World {
            registry: common::registry(s.codes),
            clicks: common::clicks(s.clicks, s.customers),
            bindings: common::bindings(s.customers),
            naive: Naive::build(&s),
            raw: raw_conversions(&s),
        };
        eprintln!(
            "built {} codes, {} clicks, {} bindings twice in {:?}",
            s.codes,
            s.clicks,
            s.customers,
            started.elapsed()
        );
        world
    })
}

fn policy() -> Policy {
    Policy::coupon_first()
}

/// What a backend does with a raw conversion before attributing it.
fn parse(raw: &Raw) -> Conversion {
    let mut c = Conversion::new(ConversionId::new(&raw.id).unwrap(), EventKind::Purchase, raw.at)
        .with_customer(CustomerId::new(&raw.customer).unwrap());
    if let Some(click) = &raw.click {
        c = c.with_click(ClickId::new(click).unwrap());
    }
    if let Some(code) = &raw.code {
        if let Ok(code) = CouponCode::parse(code) {
            c = c.with_code(code);
        }
    }
    c
}

// ---------------------------------------------------------------------------
// The baseline: what a user would write by hand.

#[derive(Clone)]
struct NaiveAssignment {
    affiliate: u64,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

#[derive(Clone)]
struct NaiveClick {
    id: String,
    affiliate: u64,
    at: DateTime<Utc>,
}

#[derive(Clone)]
struct NaiveBinding {
    affiliate: u64,
    expires: Option<DateTime<Utc>>,
}

#[derive(Clone)]
#[allow(dead_code)]
struct NaiveDecision {
    affiliate: Option<u64>,
    method: &'static str,
    losers: Vec<String>,
}

struct Naive {
    codes: HashMap<String, Vec<NaiveAssignment>>,
    clicks: HashMap<String, NaiveClick>,
    by_customer: HashMap<String, Vec<NaiveClick>>,
    bindings: HashMap<String, NaiveBinding>,
}

impl Naive {
    fn build(s: &Sizes) -> Self {
        let mut codes = HashMap::new();
        for i in 0..s.codes {
            codes.insert(
                common::code_text(i),
                vec![NaiveAssignment {
                    affiliate: common::owner(i).get(),
                    from: now() - TimeDelta::days(365),
                    until: None,
                }],
            );
        }
        let mut clicks = HashMap::new();
        let mut by_customer: HashMap<String, Vec<NaiveClick>> = HashMap::new();
        for i in 0..s.clicks {
            let c = common::click(i, s.customers);
            let naive = NaiveClick {
                id: c.id.to_string(),
                affiliate: c.affiliate.get(),
                at: c.clicked_at,
            };
            by_customer
                .entry(c.customer.unwrap().to_string())
                .or_default()
                .push(naive.clone());
            clicks.insert(naive.id.clone(), naive);
        }
        let mut bindings = HashMap::new();
        for i in 0..s.customers {
            let b = common::binding(i);
            bindings.insert(
                b.customer.to_string(),
                NaiveBinding {
                    affiliate: b.affiliate.get(),
                    expires: b.expires_at,
                },
            );
        }
        Self {
            codes,
            clicks,
            by_customer,
            bindings,
        }
    }

    fn attribute(&self, ledger: &mut HashMap<String, NaiveDecision>, raw: &Raw) -> NaiveDecision {
        if let Some(d) = ledger.get(&raw.id) {
            return d.clone();
        }
        let t = raw.at;
        let window = TimeDelta::days(30);
        let code_owner = raw.code.as_ref().and_then(|typed| {
            let key: String = typed.trim().replace(['-', '_', '.', ' '], "").to_uppercase();
            self.codes.get(&key).and_then(|history| {
                history
                    .iter()
                    .find(|a| a.from <= t && a.until.is_none_or(|u| t < u))
                    .map(|a| a.affiliate)
            })
        });
        let mut click = raw
            .click
            .as_ref()
            .and_then(|id| self.clicks.get(id))
            .filter(|c| c.at <= t && t - c.at <= window)
            .cloned();
        if let Some(list) = self.by_customer.get(&raw.customer) {
            for c in list {
                if c.at <= t && t - c.at <= window && click.as_ref().is_none_or(|best| c.at > best.at) {
                    click = Some(c.clone());
                }
            }
        }
        let binding = self
            .bindings
            .get(&raw.customer)
            .filter(|b| b.expires.is_none_or(|e| t < e))
            .map(|b| b.affiliate);
        let mut losers = Vec::new();
        let (affiliate, method) = if let Some(b) = binding {
            if code_owner.is_some() {
                losers.push("code: binding held".to_string());
            }
            (Some(b), "binding")
        } else if let Some(owner) = code_owner {
            if let Some(c) = &click {
                losers.push(format!("click {}: outranked by coupon", c.id));
            }
            (Some(owner), "coupon")
        } else if let Some(c) = &click {
            (Some(c.affiliate), "click")
        } else {
            (None, "none")
        };
        let decision = NaiveDecision {
            affiliate,
            method,
            losers,
        };
        ledger.insert(raw.id.clone(), decision.clone());
        decision
    }
}

// ---------------------------------------------------------------------------

/// The time `run` takes over `iters` conversions, in batches of at most
/// [`BATCH`] that each start with a fresh ledger from `fresh` (made outside
/// the timing), so that every conversion in a batch is new.
fn batched<T>(iters: u64, mut fresh: impl FnMut() -> T, mut run: impl FnMut(&mut T, &[Raw])) -> Duration {
    let raw = &world().raw;
    let mut spent = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        let n = (iters - done).min(BATCH as u64) as usize;
        let mut ledger = fresh();
        let start = Instant::now();
        run(&mut ledger, raw.get(..n).unwrap_or(raw));
        spent += start.elapsed();
        done += n as u64;
    }
    spent
}

fn attribute(c: &mut Criterion) {
    let w = world();
    let mut group = c.benchmark_group("attribute");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("baseline/naive", |b| {
        b.iter_custom(|iters| {
            batched(iters, HashMap::new, |ledger, raws| {
                for raw in raws {
                    black_box(w.naive.attribute(ledger, raw));
                }
            })
        })
    });
    let attributor = || Attributor::new(&w.registry, &w.clicks, &w.bindings, MemoryLedger::new(), policy());
    group.bench_function("attributor", |b| {
        b.iter_custom(|iters| {
            batched(iters, attributor, |attributor, raws| {
                for raw in raws {
                    black_box(attributor.attribute(&parse(raw)).unwrap());
                }
            })
        })
    });
    // The same conversions a page at a time, as a queue consumer takes
    // them: parsed into a reused page, then attributed with `attribute_all`.
    group.bench_function("attributor/all", |b| {
        let mut page: Vec<Conversion> = Vec::with_capacity(PAGE);
        b.iter_custom(|iters| {
            batched(iters, attributor, |attributor, raws| {
                for raws in raws.chunks(PAGE) {
                    page.clear();
                    page.extend(raws.iter().map(parse));
                    for decision in attributor.attribute_all(&page) {
                        black_box(decision.unwrap());
                    }
                }
            })
        })
    });
    group.finish();
}

/// Conversions per page for `attribute_all`.
const PAGE: usize = 256;

/// Runs `op` on `threads` threads, splitting `iters` calls between them;
/// returns the wall time.
fn parallel(threads: usize, iters: u64, op: impl Fn(usize) + Sync) -> Duration {
    let per_thread = iters.div_ceil(threads as u64) as usize;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let op = &op;
            s.spawn(move || {
                for i in 0..per_thread {
                    op((t * 7_919 + i) % BATCH);
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let w = world();
    let ledger = MemoryLedger::new();
    let attributor = Attributor::new(&w.registry, &w.clicks, &w.bindings, &ledger, policy());
    let conversions: Vec<Conversion> = w.raw.iter().map(parse).collect();
    let mut group = c.benchmark_group("threads");
    group.throughput(criterion::Throughput::Elements(1));
    for n in [1, 2] {
        group.bench_function(format!("preview/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, |i| {
                    black_box(attributor.preview(&conversions[i]).unwrap());
                })
            })
        });
    }

    // The ledger-hit path of `attribute` (a retried postback): record every
    // conversion once, then attribute them again.
    for c in &conversions {
        attributor.attribute(c).unwrap();
    }
    for n in [1, 2] {
        group.bench_function(format!("attribute_retry/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, |i| {
                    black_box(attributor.attribute(&conversions[i]).unwrap());
                })
            })
        });
    }

    // One reader while a writer keeps assigning new codes.
    static NEXT_CODE: AtomicUsize = AtomicUsize::new(0);
    group.bench_function("preview/1_with_writer", |b| {
        b.iter_custom(|iters| {
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let from = now() - TimeDelta::days(1);
                    while !stop.load(Ordering::Relaxed) {
                        let i = sizes().codes + NEXT_CODE.fetch_add(1, Ordering::Relaxed);
                        let _ = w.registry.assign(common::code(i), AffiliateId::new(1), from);
                    }
                });
                let elapsed = parallel(1, iters, |i| {
                    black_box(attributor.preview(&conversions[i]).unwrap());
                });
                stop.store(true, Ordering::Relaxed);
                elapsed
            })
        })
    });
    group.finish();
    eprintln!(
        "the writer assigned {} codes during the run",
        NEXT_CODE.load(Ordering::Relaxed)
    );
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = attribute, threads
}
criterion_main!(benches);
