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
