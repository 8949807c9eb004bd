//! The PostgreSQL backend against a real server, started for these tests
//! (see `tests/pg`): the same decisions as the memory stores, the round
//! trips each attribution takes, the registry's rules held by the
//! database, the schema's migrations, and bad input.
#![cfg(feature = "postgres")]

mod common;
mod pg;

use chrono::TimeZone;

use attributor::{
    AffiliateId, Attributed, Attributor, Click, Conversion, CreditMode, EventKind, MemoryBindingStore,
    MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgAttributor, PgStore, Policy, Recorded,
};
use common::{A, B, code, days, now, purchase};

#[tokio::test]
async fn a_code_and_a_click_are_credited_as_in_memory() {
    let server = server_or_skip!();
    let store = server.store("smoke").await;
    store.assign(code("MKBHD10"), A, now() - days(90)).await.unwrap();
    let click =
        Click::new("c-1".parse().unwrap(), B, now() - days(2)).with_customer("cust-1".parse().unwrap());
    store.insert_click(click).await.unwrap();
    let attributor = PgAttributor::new(store, Policy::coupon_first());
    let order = purchase("ORD-1", "cust-1").with_code(code("mkbhd-10"));
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
    assert_eq!(decision.decision.primary(), Some(A));
    let retry = attributor.attribute(&order).await.unwrap();
    assert_eq!(
        (retry.decision, retry.recorded),
        (decision.decision, Recorded::Before)
    );
    let policy = Policy::coupon_first();
    let evidence = attributor.gather(&order, &policy).await.unwrap();
    assert_eq!((evidence.codes.len(), evidence.clicks.len()), (1, 1));
    assert_eq!(evidence, memory.gather(&order, &policy).unwrap());
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
                .with_mode(CreditMode::IfInvolved),
        )
        .await
        .unwrap();
    let customer = |c: Click| c.with_customer("cust-1".parse().unwrap());
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
    let (proxy, store) = server.proxied_store("round_trips").await;
    busy_store(&store).await;
    let attributor = PgAttributor::new(store, Policy::click_first());

    let order = purchase("ORD-1", "cust-1")
        .with_code(code("creator"))
        .with_click("named".parse().unwrap());
    let before = proxy.round_trips();
    let decision = attributor.attribute(&order).await.unwrap();
    assert_eq!(proxy.round_trips() - before, 2, "a ledger miss");
    // Everything was read in the one statement: the named click, the last
    // click, the owner's own click, the code and the (expired) binding.
    let subjects: Vec<String> = decision
        .decision
        .considered
        .iter()
        .map(|c| format!("{:?}", c.subject))
        .collect();
    assert_eq!(decision.decision.considered.len(), 5, "{subjects:?}");
    assert!(
        decision.decision.binding.is_none() && decision.decision.is_credited(),
        "{decision}"
    );

    let before = proxy.round_trips();
    let retry = attributor.attribute(&order).await.unwrap();
    assert_eq!(
        (retry.decision, retry.recorded),
        (decision.decision.clone(), Recorded::Before)
    );
    assert_eq!(proxy.round_trips() - before, 1, "a ledger hit");

    let before = proxy.round_trips();
    let preview = attributor.preview(&order.clone()).await.unwrap();
    assert_eq!(proxy.round_trips() - before, 1, "a preview");
    assert_eq!(preview, decision.decision);
    assert!(proxy.settled());
}

#[tokio::test]
async fn a_page_of_conversions_is_pipelined_two_round_trips_a_wave() {
    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("pipelined").await;
    store.assign(code("MKBHD10"), A, now() - days(90)).await.unwrap();
    let attributor = PgAttributor::new(
        store,
        Policy::coupon_first().with_bind_on(attributor::EventKinds::PURCHASE),
    );
    // Warm the connection: its statements are prepared when it is made.
    attributor.attribute(&purchase("warm", "nobody")).await.unwrap();

    let page: Vec<Conversion> = (0..64)
        .map(|i| purchase(&format!("P-{i}"), &format!("cust-{i}")).with_code(code("MKBHD10")))
        .collect();
    let before = proxy.round_trips();
    let decisions: Vec<_> = attributor
        .attribute_all(&page)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(proxy.round_trips() - before, 2, "64 customers: one wave");
    assert!(decisions.iter().all(|d| d.decision.primary() == Some(A)));

    // One customer three times, and one conversion twice: three waves.
    let mut page: Vec<Conversion> = (0..3)
        .map(|i| {
            common::conversion(&format!("R-{i}"), EventKind::Purchase, "regular", now() + days(i))
                .with_code(code("MKBHD10"))
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
    assert_eq!(decisions[3].decision, decisions[0].decision);
    assert_eq!(decisions[3].recorded, Recorded::Before, "R-0 again");
    assert!(decisions[..3].iter().all(Attributed::is_new));
    assert!(proxy.settled());
    // The later ones saw the binding the first one made.
    assert_eq!(
        decisions[1].decision.credits[0].method,
        attributor::Method::Binding,
        "{}",
        decisions[1]
    );
}

#[tokio::test]
async fn a_reassigned_and_revoked_code_reads_back_as_in_memory() {
    use attributor::{CodeLookup, CodeRegistry};

    let server = server_or_skip!();
    let store = server.store("registry_history").await;
    let memory = MemoryCodeRegistry::new();
    let jan = now() - days(150);
    let mkbhd = code("MKBHD10");
    store.assign(mkbhd, A, jan).await.unwrap();
    memory.assign(mkbhd, A, jan).unwrap();
    store.reassign(mkbhd, B, jan + days(30)).await.unwrap();
    memory.reassign(mkbhd, B, jan + days(30)).unwrap();
    store.revoke(mkbhd, jan + days(60)).await.unwrap();
    memory.revoke(mkbhd, jan + days(60)).unwrap();
    // Reassigned at its very start: the owner is replaced.
    let spring = code("SPRING");
    store.assign(spring, A, jan).await.unwrap();
    memory.assign(spring, A, jan).unwrap();
    store.reassign(spring, common::C, jan).await.unwrap();
    memory.reassign(spring, common::C, jan).unwrap();

    for c in [mkbhd, spring] {
        assert_eq!(store.history(&c).await.unwrap(), memory.history(&c));
        for at in [
            jan - days(1),
            jan,
            jan + days(29),
            jan + days(30),
            jan + days(59),
            jan + days(60),
        ] {
            assert_eq!(
                store.lookup(&c, at).await.unwrap(),
                memory.lookup(&c, at).unwrap()
            );
        }
    }
    assert!(matches!(
        store.lookup(&mkbhd, jan + days(60)).await.unwrap(),
        CodeLookup::Revoked(_)
    ));
    // SPRING, reassigned at its very start, was never A's.
    assert_eq!(store.codes_of(A).await.unwrap(), vec![mkbhd]);
    assert_eq!(store.codes_of(A).await.unwrap(), memory.codes_of(A));
    assert_eq!(store.codes_of(B).await.unwrap(), vec![mkbhd]);
    assert_eq!(store.codes_of(common::C).await.unwrap(), vec![spring]);

    // Refusals change nothing.
    let refused = store.revoke(code("NEVER"), jan).await.unwrap_err();
    assert!(matches!(
        refused,
        attributor::PgError::Registry(attributor::RegistryError::NotActive { .. })
    ));
    let refused = store.reassign(mkbhd, A, jan + days(90)).await.unwrap_err();
    assert!(matches!(
        refused,
        attributor::PgError::Registry(attributor::RegistryError::NotActive { .. })
    ));
    assert_eq!(store.history(&mkbhd).await.unwrap(), memory.history(&mkbhd));
}

#[tokio::test]
async fn programs_in_one_database_are_apart() {
    let server = server_or_skip!();
    let url = server.database("programs").await;
    let pool = PgStore::connect_pool(&url, 4).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    let acme = PgStore::open(pool.clone(), pg::program("acme")).await.unwrap();
    let globex = PgStore::open(pool, pg::program("globex")).await.unwrap();
    // The same code, and look-alikes, in two programs, for two affiliates.
    acme.assign(code("BOSS20"), A, now() - days(9)).await.unwrap();
    globex.assign(code("BOSS20"), B, now() - days(9)).await.unwrap();
    globex
        .assign(code("B0SS2O"), common::C, now() - days(9))
        .await
        .unwrap_err();
    acme.assign(code("8OSS20"), A, now() - days(9)).await.unwrap();
    let order = purchase("ORD-1", "cust-1").with_code(code("BOSS20"));
    let in_acme = PgAttributor::new(acme, Policy::coupon_first())
        .attribute(&order)
        .await
        .unwrap();
    let in_globex = PgAttributor::new(globex, Policy::coupon_first())
        .attribute(&order)
        .await
        .unwrap();
    assert_eq!(
        (in_acme.decision.primary(), in_globex.decision.primary()),
        (Some(A), Some(B))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_to_give_out_look_alike_codes_cannot_both_win() {
    let server = server_or_skip!();
    let (one, two) = two_processes(server, "look_alikes").await;
    let at = now() - days(1);
    for round in 0..20 {
        let (a, b) = (format!("BOSS{round}X"), format!("8O55{round}X"));
        let (first, second) = tokio::join!(one.assign(code(&a), A, at), two.assign(code(&b), B, at),);
        let refused = one_wins(round, first, second);
        assert!(
            matches!(
                refused,
                attributor::PgError::Registry(attributor::RegistryError::Confusable { .. })
            ),
            "{refused}"
        );
        // And one code, given twice at once, has one owner.
        let c = format!("SOLO{round}");
        let (first, second) = tokio::join!(one.assign(code(&c), A, at), two.assign(code(&c), B, at));
        one_wins(round, first, second);
        assert_eq!(one.history(&code(&c)).await.unwrap().len(), 1);
    }
}

/// Asserts that exactly one of two racing writes won; the loser's error.
fn one_wins(
    round: u32,
    first: Result<(), attributor::PgError>,
    second: Result<(), attributor::PgError>,
) -> attributor::PgError {
    match (first, second) {
        (Ok(()), Err(e)) | (Err(e), Ok(())) => e,
        (first, second) => panic!("round {round}: {first:?} and {second:?}"),
    }
}

/// Two "processes" on one new database, each with a pool of its own.
async fn two_processes(server: &pg::Server, name: &str) -> (PgStore, PgStore) {
    let url = server.database(name).await;
    PgStore::migrate(&PgStore::connect_pool(&url, 1).unwrap())
        .await
        .unwrap();
    let one = PgStore::connect(&url, pg::program("main")).await.unwrap();
    let two = PgStore::connect(&url, pg::program("main")).await.unwrap();
    (one, two)
}

#[tokio::test]
async fn an_import_reports_the_same_conflicts_as_the_memory_registry() {
    use attributor::{ImportOptions, ImportRow};

    let server = server_or_skip!();
    let store = server.store("import").await;
    let memory = MemoryCodeRegistry::new();
    let t = now() - days(100);
    store.assign(code("TAKEN1"), A, t).await.unwrap();
    memory.assign(code("TAKEN1"), A, t).unwrap();
    let rows = vec![
        ImportRow::new("SPRING10", A, t),
        ImportRow::new("spring-10", B, t), // the same code, spelled otherwise
        ImportRow::new("SPR1NG10", common::C, t), // confusable with row 0
        ImportRow::new("TAKEN1", B, t),    // overlaps the registry
        ImportRow::new("TAKENI", B, t),    // confusable with the registry
        ImportRow::new("no good!", A, t),  // does not parse
        ImportRow::new("EMPTY", A, t).with_valid_until(t), // an empty interval
        ImportRow::new("SUMMER", B, t).with_mode(CreditMode::Always),
        ImportRow::new("OUTSIDER", AffiliateId::new(99), t),
    ];
    let known = |a: AffiliateId| a != AffiliateId::new(99);

    let report = store
        .import(
            rows.clone(),
            ImportOptions::all_or_nothing().with_known_affiliates(&known),
        )
        .await
        .unwrap();
    let want = memory.import(
        rows.clone(),
        ImportOptions::all_or_nothing().with_known_affiliates(&known),
    );
    assert_eq!(report, want);
    assert_eq!((report.applied, report.conflicts.len()), (0, 7));
    assert!(
        store.history(&code("SUMMER")).await.unwrap().is_empty(),
        "all or nothing"
    );

    let report = store
        .import(
            rows.clone(),
            ImportOptions::apply_valid().with_known_affiliates(&known),
        )
        .await
        .unwrap();
    assert_eq!(
        report,
        memory.import(rows, ImportOptions::apply_valid().with_known_affiliates(&known))
    );
    assert_eq!(report.applied, 2);
    assert_eq!(
        store.history(&code("SUMMER")).await.unwrap(),
        memory.history(&code("SUMMER"))
    );
    assert_eq!(
        store.history(&code("SPRING10")).await.unwrap(),
        memory.history(&code("SPRING10"))
    );
}

#[tokio::test]
async fn clicks_in_bulk_are_added_once_and_conflicts_reported() {
    let server = server_or_skip!();
    let store = server.store("click_bulk").await;
    let click = |id: &str, affiliate, customer: Option<&str>| {
        let c = Click::new(id.parse().unwrap(), affiliate, now() - days(1));
        match customer {
            Some(customer) => c.with_customer(customer.parse().unwrap()),
            None => c,
        }
    };
    let mut clicks: Vec<Click> = (0..12_000)
        .map(|i| click(&format!("k-{i}"), A, Some(&format!("cust-{}", i % 1000))))
        .collect();
    clicks.push(click("anonymous", B, None));
    let ingest = store.insert_clicks(&clicks).await.unwrap();
    assert_eq!(
        (ingest.added, ingest.unchanged, ingest.conflicts.len()),
        (12_001, 0, 0)
    );

    // Again: nothing to do. One with another owner: a conflict. Two of one
    // new id in one call: the first counts.
    let again = vec![
        clicks[5],
        click("k-6", B, Some("cust-6")),
        click("fresh", A, None),
        click("fresh", B, None),
    ];
    let ingest = store.insert_clicks(&again).await.unwrap();
    assert_eq!(
        (ingest.added, ingest.unchanged, ingest.conflicts.clone()),
        (1, 1, vec![1, 3])
    );
    assert_eq!(
        store.click(&"fresh".parse().unwrap()).await.unwrap(),
        Some(again[2])
    );
    assert_eq!(
        store.click(&"k-6".parse().unwrap()).await.unwrap(),
        Some(clicks[6])
    );
    let refused = store.insert_click(again[1]).await.unwrap_err();
    assert!(matches!(
        refused,
        attributor::PgError::Click(attributor::ClickError::Conflict { .. })
    ));
    store.insert_click(clicks[7]).await.unwrap();
}

#[tokio::test]
async fn bindings_imported_from_another_system_hold_for_later_conversions() {
    use attributor::{Binding, Method};

    let server = server_or_skip!();
    let store = server.store("binding_import").await;
    let bindings: Vec<Binding> = (0..7_000)
        .map(|i| Binding {
            customer: format!("player-{i}").parse().unwrap(),
            affiliate: AffiliateId::new(1 + i % 3),
            bound_at: now() - days(400),
            expires_at: None,
            event: EventKind::Registration,
            conversion: format!("legacy-{i}").parse().unwrap(),
        })
        .collect();
    store.import_bindings(&bindings).await.unwrap();
    // Imported twice, with a change: the later one replaces it.
    let moved = Binding {
        affiliate: common::C,
        ..bindings[10]
    };
    store.import_bindings(&[bindings[10], moved]).await.unwrap();
    assert_eq!(
        store.binding_before(&bindings[10].customer, now()).await.unwrap(),
        Some(moved)
    );
    let attributor = PgAttributor::new(store, Policy::coupon_first());
    let deposit = common::conversion("DEP-1", EventKind::Deposit, "player-4", now());
    let decision = attributor.attribute(&deposit).await.unwrap();
    assert_eq!(decision.decision.credits[0].method, Method::Binding);
    assert_eq!(decision.decision.primary(), Some(bindings[4].affiliate));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrating_twice_changes_nothing_and_four_processes_may_migrate_at_once() {
    let server = server_or_skip!();
    let url = server.database("migrate").await;
    let migrations: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::migrate(&PgStore::connect_pool(&url, 1).unwrap()).await })
        })
        .collect();
    let mut applied = Vec::new();
    for m in migrations {
        applied.push(m.await.unwrap().unwrap());
    }
    applied.sort();
    // One process applies every version; the others find them applied.
    let every: Vec<i32> = (1..=attributor::SCHEMA_VERSION).collect();
    assert_eq!(applied, [vec![], vec![], vec![], every]);
    let pool = PgStore::connect_pool(&url, 1).unwrap();
    assert_eq!(PgStore::migrate(&pool).await.unwrap(), Vec::<i32>::new());
    PgStore::open(pool, pg::program("main")).await.unwrap();
}

#[tokio::test]
async fn a_database_without_the_schema_or_with_a_newer_one_is_refused() {
    use attributor::PgError;

    let server = server_or_skip!();
    let url = server.database("versions").await;
    let pool = PgStore::connect_pool(&url, 2).unwrap();
    let err = PgStore::open(pool.clone(), pg::program("main"))
        .await
        .unwrap_err();
    let current = attributor::SCHEMA_VERSION;
    assert!(
        matches!(err, PgError::SchemaOutdated { found: 0, expected } if expected == current),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("the database's attributor schema is at version 0, this crate needs {current}: run migrate")
    );

    PgStore::migrate(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO attributor.migrations (version, name) VALUES ($1, 'from the future')",
            &[&(current + 1)],
        )
        .await
        .unwrap();
    let err = PgStore::open(pool.clone(), pg::program("main"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PgError::SchemaTooNew { found, known } if found == current + 1 && known == current),
        "{err}"
    );
    let err = PgStore::migrate(&pool).await.unwrap_err();
    assert!(
        matches!(err, PgError::SchemaTooNew { found, known } if found == current + 1 && known == current),
        "{err}"
    );
    let versions: i64 = client
        .query_one("SELECT count(*) FROM attributor.migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        i64::from(current) + 1,
        "a refused migration changes nothing"
    );
}

#[tokio::test]
async fn a_bad_connection_string_and_a_server_that_is_down_are_typed_errors() {
    use attributor::PgError;

    let err = PgStore::connect("postgres://[::1", pg::program("main"))
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::Config { .. }), "{err}");
    assert!(!err.is_transient());
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("host=127.0.0.1 port={port} user=postgres dbname=none connect_timeout=2");
    let err = PgStore::connect(&url, pg::program("main")).await.unwrap_err();
    assert!(matches!(err, PgError::Connect(_)), "{err}");
    assert!(err.is_transient(), "a server that is down may come back");
    assert!(
        err.to_string().starts_with("no connection to the database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_row_written_by_hand_against_the_rules_is_named_when_read_and_nothing_is_half_written() {
    use attributor::PgError;

    let server = server_or_skip!();
    let store = server.store("hand_written").await;
    let client = store.pool().get().await.unwrap();
    client
        .execute(
            "INSERT INTO attributor.ledger (program, conversion, occurred_at_s, occurred_at_ns, decision, recorded_by)
             VALUES ('main', 'ORD-BAD', 0, 0, '{\"credits\": 7}', 0)",
            &[],
        )
        .await
        .unwrap();
    let err = store.decision(&"ORD-BAD".parse().unwrap()).await.unwrap_err();
    assert!(
        matches!(
            err,
            PgError::Corrupt {
                table: "attributor.ledger",
                ..
            }
        ),
        "{err}"
    );
    let attributor = PgAttributor::new(
        store.clone(),
        Policy::coupon_first().with_bind_on(attributor::EventKinds::PURCHASE),
    );
    let err = attributor
        .attribute(&purchase("ORD-BAD", "cust-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::Corrupt { .. }), "{err}");

    // The schema's checks refuse what breaks the registry's rules.
    client
        .execute("INSERT INTO attributor.code_skeletons VALUES ('main', 'X')", &[])
        .await
        .unwrap();
    let revoked_without_end = "INSERT INTO attributor.code_assignments VALUES \
         ('main', 'X', 'X', 1, 1, 0, 0, NULL, NULL, true, 'standard', NULL)";
    let err = client.execute(revoked_without_end, &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION),
        "{err}"
    );

    // A binding the database refuses takes its decision down with it: one
    // transaction records both, or neither.
    client
        .batch_execute("ALTER TABLE attributor.bindings ADD CONSTRAINT no_seven CHECK (affiliate <> 7)")
        .await
        .unwrap();
    store
        .assign(code("SEVEN7"), AffiliateId::new(7), now() - days(9))
        .await
        .unwrap();
    let order = purchase("ORD-7", "cust-7").with_code(code("SEVEN7"));
    let err = attributor.attribute(&order).await.unwrap_err();
    assert!(
        matches!(
            err,
            PgError::Db {
                statement: "record",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        store.decision(&order.id).await.unwrap(),
        None,
        "nothing half written"
    );
    let customer = "cust-7".parse().unwrap();
    assert_eq!(
        store.binding_before(&customer, now() + days(1)).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn instants_from_the_earliest_to_the_latest_are_kept_exactly() {
    use attributor::{Binding, CodeAssignment, CodeLookup, CustomerId};
    use chrono::{DateTime, TimeDelta, Utc};

    let server = server_or_skip!();
    let store = server.store("far_instants").await;
    let (earliest, latest) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let ns = TimeDelta::nanoseconds(1);

    let customer: CustomerId = "ancient".parse().unwrap();
    let binding = Binding {
        customer,
        affiliate: A,
        bound_at: earliest,
        expires_at: Some(latest),
        event: EventKind::Registration,
        conversion: "first".parse().unwrap(),
    };
    store.bind(&binding).await.unwrap();
    assert_eq!(store.binding_before(&customer, earliest).await.unwrap(), None);
    assert_eq!(
        store.binding_before(&customer, earliest + ns).await.unwrap(),
        Some(binding)
    );

    let forever = CodeAssignment::new(code("FOREVER"), A, earliest).with_valid_until(latest);
    store.insert(forever).await.unwrap();
    assert_eq!(
        store.lookup(&forever.code, latest - ns).await.unwrap(),
        CodeLookup::Active(forever)
    );
    assert_eq!(
        store.lookup(&forever.code, latest).await.unwrap(),
        CodeLookup::Expired(forever)
    );

    for (id, at) in [("dawn", earliest), ("dusk", latest)] {
        let click = Click::new(id.parse().unwrap(), B, at).with_customer(customer);
        store.insert_click(click).await.unwrap();
        assert_eq!(store.click(&click.id).await.unwrap(), Some(click));
    }

    // A conversion in the year 200000 binds its customer from then on.
    let far = Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap() + TimeDelta::nanoseconds(7);
    let attributor = PgAttributor::new(
        store.clone(),
        Policy::click_first().with_bind_on(attributor::EventKinds::PURCHASE),
    );
    let order = Conversion::new("FAR".parse().unwrap(), EventKind::Purchase, far)
        .with_customer("future".parse().unwrap())
        .with_code(code("FOREVER"));
    let decision = attributor.attribute(&order).await.unwrap();
    assert_eq!(decision.decision.binding.map(|b| b.bound_at), Some(far));
    assert_eq!(store.decision(&order.id).await.unwrap(), Some(decision.decision));
}

#[tokio::test]
async fn a_decision_whose_json_would_not_read_back_exactly_is_refused_and_nothing_recorded() {
    use chrono::{NaiveDate, Timelike};

    let server = server_or_skip!();
    let store = server.store("odd_leap").await;
    // An instant inside a leap second in the middle of a minute, which
    // chrono holds but writes in JSON as the next second.
    let odd = NaiveDate::from_ymd_opt(2026, 6, 1)
        .and_then(|d| d.and_hms_nano_opt(12, 0, 59, 1_500_000_000))
        .and_then(|t| t.with_second(30))
        .unwrap()
        .and_utc();
    let attributor = PgAttributor::new(store.clone(), Policy::coupon_first());
    let order = Conversion::new("ODD".parse().unwrap(), EventKind::Purchase, odd);
    let err = attributor.attribute(&order).await.unwrap_err();
    assert!(matches!(err, attributor::PgError::Unwritable { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.decision(&order.id).await.unwrap(), None);
    // One at a minute's end is kept.
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .unwrap()
        .and_utc();
    let order = Conversion::new("LEAP".parse().unwrap(), EventKind::Purchase, leap);
    let decision = attributor.attribute(&order).await.unwrap();
    assert_eq!(
        attributor.attribute(&order).await.unwrap().decision,
        decision.decision
    );
    assert_eq!(decision.decision.occurred_at, leap);
}

#[tokio::test]
async fn a_database_that_does_not_exist_is_not_worth_retrying() {
    let server = server_or_skip!();
    let url = format!("{} connect_timeout=5", server.url("no_such_database"));
    let err = PgStore::connect(&url, pg::program("main")).await.unwrap_err();
    assert!(matches!(err, attributor::PgError::Connect(_)), "{err}");
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn migrate_is_a_read_for_a_role_that_may_not_change_the_schema_once_it_is_current() {
    let server = server_or_skip!();
    let url = server.database("least_privilege").await;
    let pool = PgStore::connect_pool(&url, 1).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    client
        .batch_execute(
            "DROP ROLE IF EXISTS replica; CREATE ROLE replica LOGIN;
             GRANT USAGE ON SCHEMA attributor TO replica;
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA attributor TO replica;",
        )
        .await
        .unwrap();
    let as_replica = url.replace("user=postgres", "user=replica");
    let pool = PgStore::connect_pool(&as_replica, 1).unwrap();
    assert_eq!(PgStore::migrate(&pool).await.unwrap(), Vec::<i32>::new());
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    let decision = PgAttributor::new(store, Policy::coupon_first())
        .attribute(&purchase("ORD-1", "cust-1"))
        .await
        .unwrap();
    assert!(!decision.decision.is_credited());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn look_alike_codes_are_refused_under_repeatable_read_too() {
    let server = server_or_skip!();
    let url = server.database("repeatable").await;
    let pool = PgStore::connect_pool(&url, 1).unwrap();
    PgStore::migrate(&pool).await.unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("ALTER DATABASE repeatable SET default_transaction_isolation = 'repeatable read'")
        .await
        .unwrap();
    let one = PgStore::connect(&url, pg::program("main")).await.unwrap();
    let two = PgStore::connect(&url, pg::program("main")).await.unwrap();
    let at = now() - days(1);
    for round in 0..20 {
        // The skeleton's row exists before the race: the code was held once.
        // Round 0 tries MK8HD0X and MKBHDOX: both read as MKBHD0X.
        let old = format!("MKBHD{round}X");
        one.insert(
            attributor::CodeAssignment::new(code(&old), A, at - days(100)).with_valid_until(at - days(50)),
        )
        .await
        .unwrap();
        let (first, second) = tokio::join!(
            one.assign(code(&format!("MK8HD{round}X")), B, at),
            two.assign(code(&format!("MKBHD{round}X").replace('0', "O")), common::C, at),
        );
        one_wins(round, first, second);
    }
}

#[test]
fn the_blocking_store_finds_a_click_on_a_pool_of_one_connection() {
    use attributor::{ClickPick, ClickQuery, ClickStore, PgBlockingStore};

    let server = server_or_skip!();
    let url = database_blocking(server, "blocking_one");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(PgStore::open(
            PgStore::connect_pool(&url, 1).unwrap(),
            pg::program("main"),
        ))
        .unwrap();
    drop(runtime);
    let blocking = PgBlockingStore::new(store).unwrap();
    let click = Click::new("c-1".parse().unwrap(), A, now()).with_customer("cust-1".parse().unwrap());
    blocking
        .run(blocking.store().insert_click(click))
        .unwrap()
        .unwrap();
    let found = blocking.find(&ClickQuery {
        customer: "cust-1".parse().unwrap(),
        from: now() - days(1),
        to: now(),
        pick: ClickPick::Last,
        affiliate: None,
        exclude: None,
    });
    assert_eq!(found.unwrap(), Some(click));
}

#[tokio::test]
async fn a_database_at_schema_version_1_is_refused_until_migrate_brings_it_up_with_near_keys_for_its_codes() {
    use attributor::PgError;

    let server = server_or_skip!();
    let url = server.database("upgrade").await;
    let pool = PgStore::connect_pool(&url, 2).unwrap();
    // What the first release's migrate left.
    let client = pool.get().await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA attributor;
             CREATE TABLE attributor.migrations (version integer PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now());
             {}
             INSERT INTO attributor.migrations (version, name) VALUES (1, 'schema');
             INSERT INTO attributor.code_skeletons VALUES ('main', 'BOSSZO'), ('main', 'SVMMERZG');
             INSERT INTO attributor.code_assignments VALUES
                 ('main', 'BOSSZO', 'BOSS20', 1, 1, 1767225600, 0, NULL, NULL, false, 'standard', NULL),
                 ('main', 'SVMMERZG', 'SUMMER26', 1, 2, 1767225600, 0, NULL, NULL, false, 'standard', NULL);",
            include_str!("../src/postgres/migrations/0001_schema.sql")
        ))
        .await
        .unwrap();
    let err = PgStore::open(pool.clone(), pg::program("main"))
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::SchemaOutdated { found: 1, .. }), "{err}");
    assert_eq!(PgStore::migrate(&pool).await.unwrap(), vec![2, 3]);
    let store = PgStore::open(pool, pg::program("main")).await.unwrap();
    // The codes made before version 3 get their near lookup keys.
    let near = |typed: &'static str| {
        let store = &store;
        async move {
            store
                .near(&code(typed), now())
                .await
                .unwrap()
                .iter()
                .map(|n| (n.assignment.code, n.assignment.affiliate))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(near("BOSS2").await, [(code("BOSS20"), A)]);
    assert_eq!(near("SUMMRE26").await, [(code("SUMMER26"), B)]);
    assert_eq!(near("SUMER26").await, [(code("SUMMER26"), B)]);
    assert_eq!(near("SUMMMER26").await, [(code("SUMMER26"), B)]);
    assert_eq!(near("B0SS20").await, [(code("BOSS20"), A)]);
}

/// A policy that pays a player's first deposit once.
fn ftd_once() -> Policy {
    Policy::coupon_first().with_once_per_customer(attributor::EventKinds::FIRST_DEPOSIT)
}

fn ftd(id: &str, player: &str) -> Conversion {
    common::conversion(id, EventKind::FirstDeposit, player, now()).with_code(code("BONUS"))
}

#[tokio::test]
async fn a_second_first_deposit_is_a_duplicate_in_two_round_trips_and_its_retry_in_one() {
    use attributor::{Duplicate, Uniqueness};

    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("duplicates").await;
    store.assign(code("BONUS"), A, now() - days(90)).await.unwrap();
    let attributor = PgAttributor::new(store.clone(), ftd_once());
    let first = attributor.attribute(&ftd("FTD-1", "player")).await.unwrap();
    assert_eq!(first.decision.primary(), Some(A));

    let before = proxy.round_trips();
    let second = attributor.attribute(&ftd("FTD-2", "player")).await.unwrap();
    assert_eq!(
        proxy.round_trips() - before,
        2,
        "the holder is read with the ledger"
    );
    assert_eq!(
        second.decision.duplicate,
        Some(Duplicate {
            of: "FTD-1".parse().unwrap(),
            by: Uniqueness::Customer
        })
    );
    assert!(second.decision.credits.is_empty() && second.decision.considered.is_empty());

    let before = proxy.round_trips();
    let retry = attributor.attribute(&ftd("FTD-2", "player")).await.unwrap();
    assert_eq!(
        (retry.decision, retry.recorded),
        (second.decision.clone(), Recorded::Before)
    );
    assert_eq!(
        proxy.round_trips() - before,
        1,
        "a retried duplicate is a ledger hit"
    );
    assert_eq!(
        store.decision(&"FTD-2".parse().unwrap()).await.unwrap(),
        Some(second.decision)
    );
    assert!(proxy.settled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_with_first_deposits_of_one_player_pay_exactly_one() {
    let server = server_or_skip!();
    let (one, two) = two_processes(server, "duplicate_race").await;
    one.assign(code("BONUS"), A, now() - days(90)).await.unwrap();
    let (one, two) = (
        PgAttributor::new(one, ftd_once()),
        PgAttributor::new(two, ftd_once()),
    );
    for round in 0..20 {
        let player = format!("player-{round}");
        let (a, b) = (
            ftd(&format!("FTD-{round}-a"), &player),
            ftd(&format!("FTD-{round}-b"), &player),
        );
        let (a, b) = tokio::join!(one.attribute(&a), two.attribute(&b));
        let (a, b) = (a.unwrap(), b.unwrap());
        let (paid, duplicate) = if a.decision.is_credited() { (a, b) } else { (b, a) };
        assert_eq!(paid.decision.primary(), Some(A), "round {round}: {paid}");
        assert_eq!(
            duplicate.decision.duplicate.map(|d| d.of),
            Some(paid.decision.conversion),
            "round {round}: {duplicate}"
        );
        assert!(!duplicate.decision.is_credited());
        // What each process returned is what the database holds.
        for d in [&paid, &duplicate] {
            assert_eq!(
                one.store()
                    .decision(&d.decision.conversion)
                    .await
                    .unwrap()
                    .as_ref(),
                Some(&d.decision)
            );
        }
    }
}

#[tokio::test]
async fn a_page_with_two_conversions_on_one_click_pays_the_first_as_memory_does() {
    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("click_once_page").await;
    let click = attributor::Click::new("k-1".parse().unwrap(), B, now() - days(1));
    store.insert_clicks(&[click]).await.unwrap();
    let policy = Policy::click_first().with_once_per_click(attributor::EventKinds::ALL);
    let attributor = PgAttributor::new(store, policy);
    // Two customers: one wave, whose records run in page order, so that
    // the second finds the click taken, reads who took it, and is recorded
    // once more, as a duplicate: the wave's two round trips and two more.
    let page: Vec<Conversion> = ["first", "second"]
        .iter()
        .map(|who| purchase(&format!("ORD-{who}"), who).with_click(click.id))
        .collect();
    // Warm the connection: its statements are prepared when it is made.
    attributor.attribute(&purchase("warm", "nobody")).await.unwrap();
    let before = proxy.round_trips();
    let decisions: Vec<_> = attributor
        .attribute_all(&page)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decisions[0].decision.primary(), Some(B));
    assert_eq!(
        decisions[1].decision.duplicate.map(|d| d.of),
        Some("ORD-first".parse().unwrap())
    );
    assert_eq!(proxy.round_trips() - before, 4);
    assert!(proxy.settled());
}

#[tokio::test]
async fn mistyped_codes_are_read_and_named_as_in_memory_in_the_same_two_round_trips() {
    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("near").await;
    let policy = Policy::coupon_first().with_look_alikes(true);
    let memory = Attributor::new(
        MemoryCodeRegistry::new(),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        policy,
    );
    let creator = attributor::CodeAssignment::new(code("MKBHDI0"), A, now() - days(90))
        .with_mode(CreditMode::IfInvolved);
    let owners_click =
        Click::new("own".parse().unwrap(), A, now() - days(9)).with_customer("cust-1".parse().unwrap());
    let later_click =
        Click::new("later".parse().unwrap(), B, now() - days(1)).with_customer("cust-1".parse().unwrap());
    for (c, a) in [("BOSS20", A), ("BOSS21", B), ("SOL10", A), ("S0L10", A)] {
        store.assign(code(c), a, now() - days(90)).await.unwrap();
        memory.registry().assign(code(c), a, now() - days(90)).unwrap();
    }
    store.insert(creator).await.unwrap();
    memory.registry().insert(creator).unwrap();
    store.insert_clicks(&[owners_click, later_click]).await.unwrap();
    memory.clicks().insert(owners_click).unwrap();
    memory.clicks().insert(later_click).unwrap();
    let attributor = PgAttributor::new(store, policy);
    attributor.attribute(&purchase("warm", "nobody")).await.unwrap();

    let orders = [
        // A look-alike, read as BOSS20.
        purchase("O-1", "cust-2").with_code(code("B0SS20")),
        // Two codes one edit away: named, not credited.
        purchase("O-2", "cust-2").with_code(code("BOSS2")),
        // Two look-alikes: named, not guessed between.
        purchase("O-3", "cust-2").with_code(code("5OL1O")),
        // An if-involved look-alike: its owner's click, not the last one, is read.
        purchase("O-4", "cust-1").with_code(code("MKBHD10")),
    ];
    for order in &orders {
        let before = proxy.round_trips();
        let decision = attributor.attribute(order).await.unwrap();
        assert_eq!(proxy.round_trips() - before, 2, "{decision}");
        assert_eq!(decision, memory.attribute(order).unwrap());
        let evidence = attributor.gather(order, &policy).await.unwrap();
        assert_eq!(evidence, memory.gather(order, &policy).unwrap());
    }
    let decided: Vec<_> = attributor
        .attribute_all(&orders)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decided[0].decision.primary(), Some(A));
    assert_eq!(decided[1].decision.candidates.len(), 2, "{}", decided[1]);
    assert_eq!(decided[2].decision.candidates.len(), 2, "{}", decided[2]);
    assert!(!decided[2].decision.is_credited());
    assert_eq!(decided[3].decision.primary(), Some(A), "{}", decided[3]);
    let near = attributor.store().near(&code("BOSSS20"), now()).await.unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].assignment.code, code("BOSS20"));
    assert!(proxy.settled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_to_give_out_a_family_and_a_code_in_it_cannot_both_win() {
    let server = server_or_skip!();
    let (one, two) = two_processes(server, "families_race").await;
    let at = now() - days(1);
    for round in 0..20 {
        // A family of A and a code of B in it (or a look-alike of one).
        let prefix = format!("FAM{round}X");
        let member = if round % 2 == 0 {
            format!("FAM{round}X10")
        } else {
            format!("FAM{round}XI0")
        };
        let family = attributor::CodeAssignment::family(code(&prefix), A, at);
        let (first, second) = tokio::join!(one.insert(family), two.assign(code(&member), B, at));
        let refused = one_wins(round, first, second);
        assert!(
            matches!(
                refused,
                attributor::PgError::Registry(attributor::RegistryError::Confusable { .. })
            ),
            "{refused}"
        );
        // Two families of two affiliates, one inside the other.
        let (outer, inner) = (format!("NEST{round}"), format!("NEST{round}IN"));
        let (first, second) = tokio::join!(
            one.insert(attributor::CodeAssignment::family(code(&outer), A, at)),
            two.insert(attributor::CodeAssignment::family(code(&inner), B, at)),
        );
        one_wins(round, first, second);
    }
}

#[tokio::test]
async fn families_are_written_refused_imported_and_answered_as_in_memory() {
    use attributor::{CodeAssignment, CodeRegistry, ImportOptions, ImportRow};

    let server = server_or_skip!();
    let (proxy, store) = server.proxied_store("families").await;
    let memory = MemoryCodeRegistry::new();
    let t = now() - days(100);
    let writes = [
        CodeAssignment::family(code("MKBHD"), A, t),
        CodeAssignment::family(code("MKBHDVIP"), A, t).with_mode(CreditMode::Always),
        CodeAssignment::new(code("MKBHDLIVE"), A, t).with_valid_until(now() - days(50)),
        CodeAssignment::new(code("MKBHD10"), B, t),  // in A's family
        CodeAssignment::family(code("MK8HD"), B, t), // a look-alike family
        CodeAssignment::family(code("MKBHD"), B, t), // the same family, twice at once
        CodeAssignment::new(code("TECH10"), B, t),
        CodeAssignment::family(code("TECH"), A, t), // over B's code
    ];
    for a in writes {
        let in_memory = memory.insert(a);
        let in_postgres = store.insert(a).await;
        match (&in_memory, &in_postgres) {
            (Ok(()), Ok(())) => {}
            (Err(m), Err(attributor::PgError::Registry(p))) => assert_eq!(m, p),
            _ => panic!("{a:?}: memory {in_memory:?}, postgres {in_postgres:?}"),
        }
    }
    // Handing the VIP family to B would put it inside A's: refused alike.
    let refused = memory
        .reassign_family(code("MKBHDVIP"), B, now() - days(10))
        .unwrap_err();
    match store.reassign_family(code("MKBHDVIP"), B, now() - days(10)).await {
        Err(attributor::PgError::Registry(e)) => assert_eq!(e, refused),
        other => panic!("{other:?}"),
    }
    store.revoke_family(code("MKBHD"), now() - days(5)).await.unwrap();
    memory.revoke_family(code("MKBHD"), now() - days(5)).unwrap();
    for prefix in ["MKBHD", "MKBHDVIP"] {
        assert_eq!(
            store.family_history(&code(prefix)).await.unwrap(),
            memory.family_history(&code(prefix))
        );
    }
    let rows = vec![ImportRow::new("mkbhd-x*", B, t), ImportRow::new("SALE*", B, t)];
    let report = store
        .import(rows.clone(), ImportOptions::apply_valid())
        .await
        .unwrap();
    assert_eq!(report, memory.import(rows, ImportOptions::apply_valid()));
    assert_eq!(report.applied, 1, "{report:?}");

    for c in [
        "MKBHD10",
        "MKBHDVIP1",
        "MKBHDLIVE",
        "MKBHD",
        "SALE50",
        "MKBH",
        "TECH10",
    ] {
        for when in [now() - days(60), now() - days(7), now()] {
            let before = proxy.round_trips();
            let got = store.lookup(&code(c), when).await.unwrap();
            assert_eq!(proxy.round_trips() - before, 1);
            assert_eq!(got, memory.lookup(&code(c), when).unwrap(), "{c} at {when}");
        }
    }
    assert!(proxy.settled());
}

#[tokio::test]
async fn a_click_window_that_reaches_past_the_earliest_instant_still_finds_the_click() {
    use chrono::{TimeDelta, TimeZone, Utc};

    let server = server_or_skip!();
    let store = server.store("endless_window").await;
    let endless = Policy::click_first()
        .with_click_window(TimeDelta::seconds(i64::MAX / 1_000))
        .unwrap();
    let attributor = PgAttributor::new(store.clone(), endless);
    let memory = Attributor::new(
        MemoryCodeRegistry::new(),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        endless,
    );
    // A click long ago, by the converting customer. The window reaches
    // further back than chrono's earliest instant, so the query's bound is
    // that instant.
    let dawn = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
    assert!(now().checked_sub_signed(endless.click_window()).is_none());
    let click = Click::new("dawn".parse().unwrap(), B, dawn).with_customer("cust-1".parse().unwrap());
    store.insert_click(click).await.unwrap();
    memory.clicks().insert(click).unwrap();
    let order = purchase("ORD-1", "cust-1");
    let got = attributor.attribute(&order).await.unwrap();
    assert_eq!(got.decision.primary(), Some(B), "{got}");
    assert_eq!(got.decision, memory.attribute(&order).unwrap().decision);
}
