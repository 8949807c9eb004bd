//! The same randomly drawn workload through the memory stores and through
//! PostgreSQL: code histories (with look-alike codes the registry must
//! refuse for other affiliates), clicks, conversions under every kind of
//! policy (some paying conversions once a customer or a click), retried
//! postbacks and conversions that arrive out of order, one
//! at a time and a page at a time. Every registry write must be taken or
//! refused alike, every decision and the ledgers and bindings left behind
//! must be equal.
#![cfg(all(feature = "postgres", feature = "proptest"))]

mod pg;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use attributor::deadpool_postgres::Pool;
use attributor::{
    Attributor, BindingStore, CodeAssignment, Conversion, CouponCode, CustomerId, Ledger, MemoryBindingStore,
    MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgAttributor, PgError, PgStore, strategies,
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// The conversions attributed, over every case.
static ATTRIBUTED: AtomicUsize = AtomicUsize::new(0);

/// The duplicates among them (a policy pays some conversions once).
static DUPLICATES: AtomicUsize = AtomicUsize::new(0);

/// What CI must attribute at least.
const AT_LEAST: usize = 2_000;

/// A workload: the registry's histories, clicks, the conversions in time
/// order, the policies, and how they arrive.
#[derive(Debug, Clone)]
struct Workload {
    assignments: Vec<CodeAssignment>,
    clicks: Vec<attributor::Click>,
    conversions: Vec<Conversion>,
    policies: attributor::PolicySet,
    /// Conversions (by index) sent again after the others: retries.
    retries: Vec<usize>,
    /// Whether neighbours swap places in the arrival order.
    swaps: Vec<bool>,
}

impl Workload {
    /// The conversions as they arrive: out of order where neighbours
    /// swapped, with the retries at the end.
    fn arrivals(&self) -> Vec<Conversion> {
        let mut order: Vec<Conversion> = self.conversions.clone();
        for (i, swap) in self.swaps.iter().enumerate() {
            if *swap && i + 1 < order.len() {
                order.swap(i, i + 1);
            }
        }
        let retried = self
            .retries
            .iter()
            .filter_map(|i| self.conversions.get(*i).cloned());
        order.into_iter().chain(retried).collect()
    }
}

fn workload() -> impl Strategy<Value = Workload> {
    // Codes a customer could mistake for two of the pool's: the registry
    // takes them for the same affiliate only.
    let look_alikes = ["ALPHAIO", "8RAVO2O"]
        .map(|c| proptest::option::weighted(0.7, strategies::history(CouponCode::parse(c).unwrap())));
    // Families over some of the pool's codes, which answer for them when
    // they have no assignment of their own, and for their mistyped
    // spellings; the registry refuses those that meet another affiliate's
    // code.
    let families = ["ALPH", "BRAVO", "CHA", "F0X"].map(|prefix| {
        let history = strategies::history(CouponCode::parse(prefix).unwrap());
        proptest::option::weighted(
            0.5,
            history.prop_map(|h| {
                h.into_iter()
                    .map(|a| CodeAssignment { family: true, ..a })
                    .collect::<Vec<_>>()
            }),
        )
    });
    (
        strategies::assignments(),
        (look_alikes, families),
        strategies::clicks(),
        strategies::conversions(),
        strategies::policy_set(),
        prop::collection::vec(0usize..20, 0..6),
        prop::collection::vec(prop::bool::weighted(0.2), 20),
    )
        .prop_map(
            |(mut assignments, (look_alikes, families), clicks, conversions, policies, retries, swaps)| {
                assignments.extend(look_alikes.into_iter().flatten().flatten());
                assignments.extend(families.into_iter().flatten().flatten());
                Workload {
                    assignments,
                    clicks,
                    conversions,
                    policies,
                    retries,
                    swaps,
                }
            },
        )
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn check(pool: &Pool, case: usize, w: &Workload) -> Result<(), TestCaseError> {
    let memory = Attributor::new(
        MemoryCodeRegistry::new(),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        w.policies.clone(),
    );
    runtime().block_on(async {
        let store = PgStore::open(pool.clone(), pg::program(&format!("case-{case}")))
            .await
            .unwrap();
        for a in &w.assignments {
            let in_memory = memory.registry().insert(*a);
            let in_postgres = store.insert(*a).await;
            match (&in_memory, &in_postgres) {
                (Ok(()), Ok(())) => {}
                // The same rule refused it (which earlier assignment it
                // names may differ among several).
                (Err(m), Err(PgError::Registry(p)))
                    if std::mem::discriminant(m) == std::mem::discriminant(p) => {}
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "{a:?}: memory {in_memory:?}, postgres {in_postgres:?}"
                    )));
                }
            }
        }
        for c in &w.clicks {
            memory.clicks().insert(*c).unwrap();
        }
        let ingest = store.insert_clicks(&w.clicks).await.unwrap();
        prop_assert_eq!(ingest.added, w.clicks.len() as u64);

        let postgres = PgAttributor::new(store.clone(), w.policies.clone());
        let arrivals = w.arrivals();
        let (one_by_one, page) = arrivals.split_at(arrivals.len() / 2);
        for conversion in one_by_one {
            let want = memory.attribute(conversion).unwrap();
            let got = postgres.attribute(conversion).await.unwrap();
            prop_assert_eq!(&got, &want, "{}", conversion.id);
        }
        let want: Vec<_> = memory.attribute_all(page).map(Result::unwrap).collect();
        let got: Vec<_> = postgres
            .attribute_all(page)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(got, want);
        ATTRIBUTED.fetch_add(arrivals.len(), Ordering::Relaxed);

        // The ledgers and the bindings left behind.
        for conversion in &w.conversions {
            let want = memory.ledger().get(&conversion.id).unwrap();
            if want.as_ref().is_some_and(|d| d.duplicate.is_some()) {
                DUPLICATES.fetch_add(1, Ordering::Relaxed);
            }
            prop_assert_eq!(store.decision(&conversion.id).await.unwrap(), want);
        }
        let ns = TimeDelta::nanoseconds(1);
        let mut instants: Vec<DateTime<Utc>> = w
            .conversions
            .iter()
            .flat_map(|c| [c.occurred_at - ns, c.occurred_at, c.occurred_at + ns])
            .collect();
        instants.push(DateTime::<Utc>::MAX_UTC);
        for n in 1..=5 {
            let customer: CustomerId = format!("cust-{n}").parse().unwrap();
            for at in &instants {
                let want = memory.bindings().binding_before(&customer, *at).unwrap();
                prop_assert_eq!(store.binding_before(&customer, *at).await.unwrap(), want);
            }
        }
        Ok(())
    })
}

#[test]
fn memory_and_postgres_make_the_same_decisions_and_ledgers() {
    let server = server_or_skip!();
    let pool = runtime().block_on(async {
        let url = server.database("differential").await;
        let pool = PgStore::connect_pool(&url, 8).unwrap();
        PgStore::migrate(&pool).await.unwrap();
        pool
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptests.regressions",
        ))),
        ..Config::default()
    });
    let case = AtomicUsize::new(0);
    runner
        .run(&workload(), |w| {
            check(&pool, case.fetch_add(1, Ordering::Relaxed), &w)
        })
        .unwrap();
    let (attributed, duplicates) = (
        ATTRIBUTED.load(Ordering::Relaxed),
        DUPLICATES.load(Ordering::Relaxed),
    );
    if cases >= 200 {
        assert!(attributed >= AT_LEAST, "only {attributed} conversions attributed");
        assert!(duplicates >= 10, "only {duplicates} duplicates recorded");
    }
    eprintln!("{attributed} conversions attributed through both, {duplicates} of them duplicates");
}
