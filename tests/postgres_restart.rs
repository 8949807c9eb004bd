//! A server restart in the middle of a run: the server is stopped as a
//! crash would stop it, and started again, while four tasks attribute the
//! same conversions and retry what fails. The run ends with the ledger a
//! fault-free run makes, each decision with its binding. (A test binary of
//! its own: it stops its server.)
#![cfg(feature = "postgres")]

mod pg;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attributor::{Conversion, Decision, PgAttributor, PgStore};
use pg::workload::{assert_ledger_is, policy, workload};

/// Attributes `conversion`, again after each failure a retry may cure.
async fn attribute_until_done(
    attributor: &PgAttributor,
    conversion: &Conversion,
    failures: &AtomicUsize,
) -> Decision {
    for _ in 0..600 {
        match attributor.attribute(conversion).await {
            Ok(decision) => return decision,
            Err(e) if e.is_transient() => {
                failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{}: {e}", conversion.id),
        }
    }
    panic!("{}: the server did not come back", conversion.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_in_the_middle_of_a_run_leaves_the_fault_free_ledger() {
    let server = server_or_skip!();
    let url = server.database("restart").await;
    let pool = PgStore::connect_pool(&url, 8).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    let w = workload(200);
    w.load(&store).await;
    let attributor = Arc::new(PgAttributor::new(store, policy()));
    let conversions = Arc::new(w.conversions.clone());
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (attributor, conversions) = (attributor.clone(), conversions.clone());
            let (done, failures) = (done.clone(), failures.clone());
            tokio::spawn(async move {
                let mut decisions = Vec::new();
                for c in conversions.iter() {
                    decisions.push(attribute_until_done(&attributor, c, &failures).await);
                    done.fetch_add(1, Ordering::Relaxed);
                    // Paced, so that the restart falls in the middle.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                decisions
            })
        })
        .collect();

    while done.load(Ordering::Relaxed) < conversions.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let server_ref: &'static pg::Server = server;
    tokio::task::spawn_blocking(move || server_ref.stop())
        .await
        .unwrap();
    let stopped_at = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::spawn_blocking(move || server_ref.start_again())
        .await
        .unwrap();

    let reference = w.reference();
    for task in tasks {
        let decisions = task.await.unwrap();
        for (got, want) in decisions.iter().zip(&reference) {
            assert_eq!(got, want, "every task gets the recorded decision:\n{got}\n{want}");
        }
    }
    assert!(
        stopped_at < 4 * conversions.len(),
        "the restart came after the run ({stopped_at} done)"
    );
    assert!(failures.load(Ordering::Relaxed) > 0, "no call saw the restart");
    assert_ledger_is(&url, "main", &reference).await;
}
