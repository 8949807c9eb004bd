//! The PostgreSQL backend against a real server, started for these tests
//! (see `tests/pg`): the same decisions as the memory stores, the round
//! trips each attribution takes, the registry's rules held by the
//! database, the schema's migrations, and bad input.
#![cfg(feature = "postgres")]

mod common;
mod pg;

use attributor::{
    AffiliateId, Attributor, Click, Conversion, CouponCode, CreditMode, EventKind, MemoryBindingStore,
    MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgAttributor, PgStore, Policy,
};
use common::{A, B, code, days, now, purchase};
use pg::proxy::Proxy;

#[tokio::test]
async fn a_code_and_a_click_are_credited_as_in_memory() {
    let server = server_or_skip!();
    let store = server.store("smoke").await;
    store.assign(code("MKBHD10"), A, now() - days(90)).await.unwrap();
    let click = Click::new("c-1".parse().unwrap(), B, now() - days(2)).customer("cust-1".parse().unwrap());
    store.insert_click(click).await.unwrap();
    let attributor = PgAttributor::new(store, Policy::coupon_first());
    let order = purchase("ORD-1", "cust-1").code(code("mkbhd-10"));
    let decision = attributor.attribute(&order).await.unwrap();

    let memory = Attributor::new(
        MemoryCodeRegistry::new(),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        Policy::coupon_first(),
    );
    memory
        .registry()
        .assign(code("MKBHD10"), A, now() - days(90))
        .unwrap();
    memory.clicks().insert(click).unwrap();
    assert_eq!(decision, memory.attribute(&order).unwrap());
    assert_eq!(decision.primary(), Some(A));
    assert_eq!(attributor.attribute(&order).await.unwrap(), decision);
}

/// A database with the schema, made outside any runtime: its connection
/// string.
fn database_blocking(server: &pg::Server, name: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = server.database(name).await;
        PgStore::migrate(&PgStore::connect_pool(&url, 2).unwrap())
            .await
            .unwrap();
        url
    })
}

#[test]
fn the_postgres_stores_pass_the_conformance_suite_the_memory_stores_pass() {
    use attributor::{PgBlockingStore, conformance};

    let server = server_or_skip!();
    let url = database_blocking(server, "conformance");
    let mut made = 0;
    let mut fresh = || {
        made += 1;
        PgBlockingStore::connect(&url, pg::program(&format!("check-{made}"))).unwrap()
    };
    conformance::check_code_registry(|assignments| {
        let store = fresh();
        for a in assignments {
            store.run(store.store().insert(*a)).unwrap().unwrap();
        }
        store
    })
    .unwrap();
    conformance::check_click_store(|clicks| {
        let store = fresh();
        let ingest = store.run(store.store().insert_clicks(clicks)).unwrap().unwrap();
        assert_eq!(ingest.added, clicks.len() as u64);
        store
    })
    .unwrap();
    conformance::check_binding_store(&mut fresh).unwrap();
    conformance::check_ledger(&mut fresh).unwrap();
}

/// Codes, clicks and a binding that make every part of the gather
/// statement answer: an `IfInvolved` code whose owner's click is not the
/// last one, a click named by id, and a binding.
async fn busy_store(store: &PgStore) {
    store
        .insert(
            attributor::CodeAssignment::new(code("CREATOR"), A, now() - days(90))
                .mode(CreditMode::IfInvolved),
        )
        .await
        .unwrap();
    let customer = |c: Click| c.customer("cust-1".parse().unwrap());
    let clicks = [
        customer(Click::new("owner".parse().unwrap(), A, now() - days(5))),
        customer(Click::new("latest".parse().unwrap(), B, now() - days(1))),
        Click::new("named".parse().unwrap(), common::C, now() - days(3)),
    ];
    store.insert_clicks(&clicks).await.unwrap();
    store
        .bind(&attributor::Binding {
            customer: "cust-1".parse().unwrap(),
            affiliate: common::C,
            bound_at: now() - days(400),
            expires_at: Some(now() - days(35)),
            event: EventKind::Registration,
            conversion: "REG-0".parse().unwrap(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_conversion_takes_two_round_trips_and_a_retried_one_takes_one() {
    let server = server_or_skip!();
    let url = server.database("round_trips").await;
    PgStore::migrate(&PgStore::connect_pool(&url, 1).unwrap())
        .await
        .unwrap();
    let proxy = Proxy::start(server.port).await;
    let pool = PgStore::connect_pool(&proxy.url("round_trips"), 1).unwrap();
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    busy_store(&store).await;
    let attributor = PgAttributor::new(store, Policy::click_first());

    let order = purchase("ORD-1", "cust-1")
        .code(code("creator"))
        .click("named".parse().unwrap());
    let before = proxy.round_trips();
    let decision = attributor.attribute(&order).await.unwrap();
    assert_eq!(proxy.round_trips() - before, 2, "a ledger miss");
    // Everything was read in the one statement: the named click, the last
    // click, the owner's own click, the code and the (expired) binding.
    let subjects: Vec<String> = decision
        .considered
        .iter()
        .map(|c| format!("{:?}", c.subject))
        .collect();
    assert_eq!(decision.considered.len(), 5, "{subjects:?}");
    assert!(decision.binding.is_none() && decision.is_credited(), "{decision}");

    let before = proxy.round_trips();
    assert_eq!(attributor.attribute(&order).await.unwrap(), decision);
    assert_eq!(proxy.round_trips() - before, 1, "a ledger hit");

    let before = proxy.round_trips();
    let preview = attributor.preview(&order.clone()).await.unwrap();
    assert_eq!(proxy.round_trips() - before, 1, "a preview");
    assert_eq!(preview, decision);
}

#[tokio::test]
async fn a_page_of_conversions_is_pipelined_two_round_trips_a_wave() {
    let server = server_or_skip!();
    let url = server.database("pipelined").await;
    PgStore::migrate(&PgStore::connect_pool(&url, 1).unwrap())
        .await
        .unwrap();
    let proxy = Proxy::start(server.port).await;
    let store = PgStore::open(
        PgStore::connect_pool(&proxy.url("pipelined"), 1).unwrap(),
        pg::program("main"),
    )
    .await
    .unwrap();
    store.assign(code("MKBHD10"), A, now() - days(90)).await.unwrap();
    let attributor = PgAttributor::new(
        store,
        Policy::coupon_first().bind_on(attributor::EventKinds::PURCHASE),
    );
    // Warm the connection: its statements are prepared when it is made.
    attributor.attribute(&purchase("warm", "nobody")).await.unwrap();

    let page: Vec<Conversion> = (0..64)
        .map(|i| purchase(&format!("P-{i}"), &format!("cust-{i}")).code(code("MKBHD10")))
        .collect();
    let before = proxy.round_trips();
    let decisions: Vec<_> = attributor
        .attribute_all(&page)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(proxy.round_trips() - before, 2, "64 customers: one wave");
    assert!(decisions.iter().all(|d| d.primary() == Some(A)));

    // One customer three times, and one conversion twice: three waves.
    let mut page: Vec<Conversion> = (0..3)
        .map(|i| {
            common::conversion(&format!("R-{i}"), EventKind::Purchase, "regular", now() + days(i))
                .code(code("MKBHD10"))
        })
        .collect();
    page.push(page[0].clone());
    let before = proxy.round_trips();
    let decisions: Vec<_> = attributor
        .attribute_all(&page)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        proxy.round_trips() - before,
        2 * 3 + 1,
        "three waves, and a fourth that finds R-0 recorded"
    );
    assert_eq!(decisions[3], decisions[0]);
    // The later ones saw the binding the first one made.
    assert_eq!(
        decisions[1].credits[0].method,
        attributor::Method::Binding,
        "{}",
        decisions[1]
    );
}
