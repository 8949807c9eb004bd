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

/// Runs `test` on its own thread and fails if it takes longer than a
/// minute: a deadlock fails the test instead of hanging the run.
fn within_a_minute(test: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(()) => worker.join().unwrap(),
        // The worker panicked: its panic is the failure.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: the test did not finish in a minute")
        }
    }
}

#[test]
fn pages_attributed_on_two_threads_finish_beside_writers_of_every_kind() {
    for _ in 0..20 {
        within_a_minute(pages_beside_writers);
    }
}

fn pages_beside_writers() {
    use attributor::{
        AffiliateId, Click, ClickId, Conversion, CouponCode, CustomerId, EventKind, ImportOptions, ImportRow,
        Policy,
    };
    use chrono::{TimeDelta, TimeZone, Utc};
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let customer = |i: usize| format!("cust-{}", i % 50).parse::<CustomerId>().unwrap();
    let code = |i: usize| CouponCode::parse(&format!("P{:04}X", i % 300)).unwrap();
    let attributor = Attributor::new(
        MemoryCodeRegistry::new(),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        Policy::coupon_first(),
    );
    let page = |thread: usize| -> Vec<Conversion> {
        (0..400)
            .map(|i| {
                let id = format!("t{thread}-{i}").parse().unwrap();
                Conversion::new(id, EventKind::Purchase, t + TimeDelta::days(1))
                    .with_customer(customer(i * 7 + thread))
                    .with_code(code(i))
            })
            .collect()
    };
    let pages = [page(0), page(1)];
    std::thread::scope(|s| {
        // Writers: clicks of the same customers, codes one at a time, and
        // imports, which lock every registry shard at once.
        s.spawn(|| {
            for i in 0..2_000 {
                let id: ClickId = format!("k{i}").parse().unwrap();
                let click = Click::new(id, AffiliateId::new(9), t).with_customer(customer(i));
                attributor.clicks().insert(click).unwrap();
            }
        });
        s.spawn(|| {
            for round in 0..20 {
                for i in (round..300).step_by(20) {
                    let _ = attributor.registry().assign(code(i), AffiliateId::new(1), t);
                }
                let rows =
                    (0..10).map(|i| ImportRow::new(&format!("imp-{round}-{i}"), AffiliateId::new(2), t));
                attributor
                    .registry()
                    .import(rows, ImportOptions::all_or_nothing());
            }
        });
        for conversions in &pages {
            s.spawn(|| {
                for decision in attributor.attribute_all(conversions) {
                    decision.unwrap();
                }
            });
        }
    });
    assert_eq!(attributor.ledger().len(), 800);
}

#[test]
fn an_import_may_read_the_registry_it_imports_into() {
    use attributor::{AffiliateId, CodeRegistry, CouponCode, ImportOptions, ImportRow};
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;
    within_a_minute(|| {
        let registry = Arc::new(MemoryCodeRegistry::new());
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        registry
            .assign(CouponCode::parse("SPRING10").unwrap(), AffiliateId::new(1), t)
            .unwrap();
        // The rows copy the codes of affiliate 1 to a new spelling, looking
        // each one up as they go; the owner check reads the registry too.
        let source = Arc::clone(&registry);
        let rows = ["SPRING10", "SUMMER20"].into_iter().map(move |text| {
            let code = CouponCode::parse(text).unwrap();
            let owner = source
                .lookup(&code, t)
                .unwrap()
                .assignment()
                .map_or(2, |a| a.affiliate.get());
            ImportRow::new(&format!("NEW-{text}"), AffiliateId::new(owner), t)
        });
        let reader = Arc::clone(&registry);
        let known = move |a: AffiliateId| {
            let probe = CouponCode::parse("SPRING10").unwrap();
            reader.lookup(&probe, t).is_ok() && a.get() <= 2
        };
        let report = registry.import(
            rows,
            ImportOptions::all_or_nothing().with_known_affiliates(&known),
        );
        assert_eq!((report.applied, report.conflicts.len()), (2, 0));
        let owner = |text: &str| {
            let code = CouponCode::parse(text).unwrap();
            registry
                .lookup(&code, t)
                .unwrap()
                .assignment()
                .map(|a| a.affiliate)
        };
        assert_eq!(owner("NEWSPRING10"), Some(AffiliateId::new(1)));
        assert_eq!(owner("NEWSUMMER20"), Some(AffiliateId::new(2)));
    });
}
