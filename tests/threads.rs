//! The stores and the Attributor can be shared between threads.

use attributor::{
    Attributor, MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PolicySet,
};

fn shareable<T: Send + Sync>() {}

#[test]
fn memory_stores_and_the_attributor_are_send_and_sync() {
    shareable::<MemoryCodeRegistry>();
    shareable::<MemoryClickStore>();
    shareable::<MemoryBindingStore>();
    shareable::<MemoryLedger>();
    shareable::<PolicySet>();
    shareable::<Attributor<MemoryCodeRegistry, MemoryClickStore, MemoryBindingStore, MemoryLedger>>();
}

#[test]
fn readers_on_two_threads_see_a_writer_assign_codes() {
    use attributor::{AffiliateId, CodeLookup, CodeRegistry, CouponCode};
    use chrono::{TimeZone, Utc};
    let registry = MemoryCodeRegistry::new();
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let code = |i: usize| CouponCode::parse(&format!("W{i:05}X")).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..2_000 {
                registry.assign(code(i), AffiliateId::new(1), t).unwrap();
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                // Every code a reader finds is whole: active, owned by affiliate 1.
                for round in 0..20 {
                    for i in (round..2_000).step_by(97) {
                        match registry.lookup(&code(i), t).unwrap() {
                            CodeLookup::Active(a) => assert_eq!(a.affiliate, AffiliateId::new(1)),
                            CodeLookup::Unknown => {}
                            other => panic!("half-written code: {other:?}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(registry.len(), 2_000);
}
