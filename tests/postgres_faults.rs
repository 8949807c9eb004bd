//! Exactly once across processes: sixteen stores with connections of
//! their own (as sixteen processes would have) attributing the same
//! conversions, and connections broken around the record statement, end
//! with the ledger a fault-free run makes, each decision recorded once and
//! with its binding.
#![cfg(feature = "postgres")]

mod pg;

use std::sync::Arc;

use attributor::{PgAttributor, PgStore, Recorded};
use pg::workload::{assert_ledger_is, policy, workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_on_separate_connections_record_each_conversion_once() {
    let server = server_or_skip!();
    let url = server.database("sixteen").await;
    let pool = PgStore::connect_pool(&url, 1).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    let w = workload(240);
    w.load(&PgStore::open(pool, pg::program("main")).await.unwrap())
        .await;
    let conversions = Arc::new(w.conversions.clone());
    // Sixteen replicas receive the same postbacks: half one at a time,
    // half a page of 24 at a time.
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (url, conversions) = (url.clone(), conversions.clone());
            tokio::spawn(async move {
                // A store, and a connection, of its own.
                let pool = PgStore::connect_pool(&url, 1).unwrap();
                let store = PgStore::open(pool, pg::program("main")).await.unwrap();
                let attributor = PgAttributor::new(store, policy());
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
    for answer in &answers {
        let decisions: Vec<_> = answer.iter().map(|a| a.decision.clone()).collect();
        assert_eq!(decisions, reference, "every caller gets the recorded decision");
    }
    // Of the sixteen replicas, exactly one recorded each conversion, and was
    // told so; the others found it recorded.
    let mut recorded_now: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for answer in &answers {
        for a in answer {
            let count = recorded_now.entry(a.decision.conversion).or_default();
            *count += usize::from(a.recorded == Recorded::Now);
        }
    }
    assert!(recorded_now.len() > 200);
    for (id, count) in &recorded_now {
        assert_eq!(*count, 1, "{id} was recorded now by {count} replicas");
    }
    assert!(reference.iter().filter(|d| d.binding.is_some()).count() > 20);
    assert_ledger_is(&url, "main", &reference).await;
}

#[tokio::test]
async fn a_connection_broken_around_the_record_statement_leaves_the_fault_free_ledger() {
    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("broken").await;
    let url = server.url("broken");
    let w = workload(60);
    w.load(&store).await;
    let attributor = PgAttributor::new(store, policy());

    for (i, conversion) in w.conversions.iter().enumerate() {
        // Two in three conversions lose their connection after the gather
        // statement was answered: before the record statement reaches the
        // server, or after it committed and before its answer came back.
        let before = proxy.round_trips();
        match i % 3 {
            0 => proxy.cut_before(2),
            1 => proxy.cut_after(2),
            _ => {}
        }
        let first = attributor.attribute(conversion).await;
        if i % 3 == 2 {
            first.unwrap();
            continue;
        }
        let e = first.expect_err("the connection was cut");
        assert!(e.is_transient(), "{e}");
        assert_eq!(
            proxy.round_trips() - before,
            2,
            "the gather statement was answered"
        );
        assert!(proxy.settled(), "the cut was made");
        // Cut before the write: nothing recorded. Cut after it: recorded,
        // though the caller was told of a failure.
        let recorded = attributor.store().decision(&conversion.id).await.unwrap();
        assert_eq!(recorded.is_some(), i % 3 == 1, "{}", conversion.id);
        // The retry takes a new connection.
        attributor.attribute(conversion).await.unwrap();
    }
    assert!(proxy.settled());
    assert_ledger_is(&url, "main", &w.reference()).await;
}
