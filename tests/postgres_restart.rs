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
            Ok(decision) => return decision.decision,
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
    let failures = Arc::new(AtomicUsize::new(0));

    // Each task attributes a quarter of the run, then waits (the barrier)
    // until the server is down, then goes on: its next calls fail until
    // the server is back.
    let (ready, down) = (
        Arc::new(tokio::sync::Barrier::new(5)),
        Arc::new(tokio::sync::Barrier::new(5)),
    );
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (attributor, conversions) = (attributor.clone(), conversions.clone());
            let (ready, down, failures) = (ready.clone(), down.clone(), failures.clone());
            tokio::spawn(async move {
                let mut decisions = Vec::new();
                for (i, c) in conversions.iter().enumerate() {
                    if i == conversions.len() / 4 {
                        ready.wait().await;
                        down.wait().await;
                    }
                    decisions.push(attribute_until_done(&attributor, c, &failures).await);
                }
                decisions
            })
        })
        .collect();

    // All four tasks are a quarter through: crash-stop the server, let them
    // go on, and start it again.
    ready.wait().await;
    let server_ref: &'static pg::Server = server;
    tokio::task::spawn_blocking(move || server_ref.stop())
        .await
        .unwrap();
    down.wait().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::spawn_blocking(move || server_ref.start_again())
        .await
        .unwrap();

    let reference = w.reference();
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            reference,
            "every task gets the recorded decisions"
        );
    }
    assert!(
        failures.load(Ordering::Relaxed) >= 4,
        "each task met the stopped server"
    );
    assert_ledger_is(&url, "main", &reference).await;
}
