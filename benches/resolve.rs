//! The pure resolver with evidence in hand, beside one hashbrown probe of a
//! hot, pre-normalised, inline key.

mod common;

use attributor::{
    AffiliateId, Binding, ClickEvidence, CodeAssignment, CodeLookup, Conversion, CouponCode, EventKind,
    Evidence, Policy, resolve,
};
use chrono::TimeDelta;
use common::now;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let t = now();
    let code = CouponCode::parse("MKBHD10").unwrap();
    let owner = CodeAssignment::new(code, AffiliateId::new(7), t - TimeDelta::days(100));
    let click = ClickEvidence {
        id: "9f1c2e4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b".parse().unwrap(),
        affiliate: AffiliateId::new(9),
        clicked_at: t - TimeDelta::hours(5),
    };
    let customer = "cust-0000042".parse().unwrap();
    let binding = Binding {
        customer,
        affiliate: AffiliateId::new(3),
        bound_at: t - TimeDelta::days(20),
        expires_at: None,
        event: EventKind::Registration,
        conversion: "reg-42".parse().unwrap(),
    };
    let base =
        Conversion::new("ORD-2026-000042".parse().unwrap(), EventKind::Purchase, t).with_customer(customer);
    let with_code = base.clone().with_code(code);
    let cases = [
        (
            "coupon",
            with_code.clone(),
            Evidence::new().with_code(code, CodeLookup::Active(owner)),
        ),
        ("click", base.clone(), Evidence::new().with_click(click)),
        (
            "both",
            with_code.clone(),
            Evidence::new()
                .with_code(code, CodeLookup::Active(owner))
                .with_click(click),
        ),
        (
            "binding",
            with_code,
            Evidence::new()
                .with_code(code, CodeLookup::Active(owner))
                .with_click(click)
                .with_binding(binding),
        ),
    ];
    let policy = Policy::coupon_first();

    // The baseline: one probe of a hot key in a small map with inline keys.
    let mut map = hashbrown::HashMap::new();
    for i in 0..1_000 {
        map.insert(common::code(i), AffiliateId::new(i as u64));
    }
    map.insert(code, AffiliateId::new(7));

    let mut group = c.benchmark_group("resolve");
    group.bench_function("baseline/probe", |b| {
        b.iter(|| map.get(black_box(&code)).copied())
    });
    for (name, conversion, evidence) in &cases {
        group.bench_function(format!("attributor/{name}"), |b| {
            b.iter(|| resolve(black_box(conversion), black_box(evidence), black_box(&policy)))
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
