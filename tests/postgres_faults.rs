//! Exactly once across processes: many tasks on separate connections
//! attributing the same conversions, and connections broken between the
//! read and the write, end with the ledger a fault-free run makes, each
//! decision recorded once and with its binding.
#![cfg(feature = "postgres")]

mod pg;

use std::sync::Arc;

use attributor::{PgAttributor, PgStore};
use pg::proxy::Proxy;
use pg::workload::{assert_ledger_is, policy, workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_on_separate_connections_record_each_conversion_once() {
    let server = server_or_skip!();
    let url = server.database("sixteen").await;
    let pool = PgStore::connect_pool(&url, 16).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    let w = workload(240);
    w.load(&store).await;
    let attributor = Arc::new(PgAttributor::new(store, policy()));
    let conversions = Arc::new(w.conversions.clone());

    // Sixteen replicas receive the same postbacks: half one at a time,
    // half a page of 24 at a time.
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (attributor, conversions) = (attributor.clone(), conversions.clone());
            tokio::spawn(async move {
                if task % 2 == 0 {
                    let mut decisions = Vec::new();
                    for c in conversions.iter() {
                        decisions.push(attributor.attribute(c).await.unwrap());
                    }
                    decisions
                } else {
                    let mut decisions = Vec::new();
                    for page in conversions.chunks(24) {
                        decisions.extend(
                            attributor
                                .attribute_all(page)
                                .await
                                .into_iter()
                                .map(Result::unwrap),
                        );
                    }
                    decisions
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    let reference = w.reference();
    for decisions in &answers {
        assert_eq!(decisions, &reference, "every caller gets the recorded decision");
    }
    assert!(reference.iter().filter(|d| d.binding.is_some()).count() > 20);
    assert_ledger_is(&url, "main", &reference).await;
}

#[tokio::test]
async fn a_connection_broken_between_the_read_and_the_write_leaves_the_fault_free_ledger() {
    let server = server_or_skip!();
    let url = server.database("broken").await;
    PgStore::migrate(&PgStore::connect_pool(&url, 1).unwrap())
        .await
        .unwrap();
    let proxy = Proxy::start(server.port).await;
    let pool = PgStore::connect_pool(&proxy.url("broken"), 1).unwrap();
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    let w = workload(60);
    w.load(&store).await;
    let attributor = PgAttributor::new(store, policy());

    let mut failures = 0;
    for (i, conversion) in w.conversions.iter().enumerate() {
        // Two in three conversions lose their connection: before the
        // record statement reaches the server, or after it committed and
        // before its answer came back.
        match i % 3 {
            0 => proxy.cut_before(2),
            1 => proxy.cut_after(2),
            _ => {}
        }
        let first = attributor.attribute(conversion).await;
        if i % 3 != 2 {
            let e = first.expect_err("the connection was cut");
            assert!(e.is_transient(), "{e}");
            failures += 1;
            // Cut before the write: nothing recorded. Cut after it: recorded,
            // though the caller was told of a failure.
            let recorded = attributor.store().decision(&conversion.id).await.unwrap();
            assert_eq!(recorded.is_some(), i % 3 == 1, "{}", conversion.id);
            // The retry takes a new connection.
            attributor.attribute(conversion).await.unwrap();
        } else {
            first.unwrap();
        }
    }
    assert_eq!(failures, 40);
    assert_ledger_is(&url, "main", &w.reference()).await;
}
