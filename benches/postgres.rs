//! The PostgreSQL backend against a server the bench starts (see
//! `tests/pg`), or the one `DATABASE_URL` names (its `attributor` schema is
//! migrated and a program of the bench's own is filled), each group beside
//! its baseline in the same run:
//!
//! * `postgres/attribute`: `PgAttributor::attribute`, one new conversion at
//!   a time, beside a naive attributor that asks the same schema one query
//!   per store call (the ledger, each code, the named click, the customer's
//!   click, an owner's click, the binding, the record, the bind);
//! * `postgres/attribute_all`: a page of 256 through `attribute_all`
//!   (pipelined) beside the same conversions one at a time;
//! * `postgres/clicks`: `insert_clicks` in bulk beside one insert a click.
//!
//! It also prints the round trips a conversion takes, counted by a proxy.
//! `ATTRIBUTOR_BENCH_CLICKS` sets the clicks stored (100000 by default; a
//! tenth as many customers, bindings for a fifth of them, 10000 codes).
//! Needs the `postgres` feature: `cargo bench --features postgres --bench
//! postgres`.

#[path = "../tests/pg/mod.rs"]
#[allow(unused_macros)]
mod pg;

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use attributor::{
    AffiliateId, Attribution, Binding, Click, ClickEvidence, ClickPick, CodeAssignment, CodeLookup,
    Conversion, CouponCode, CreditMode, CustomerId, Decision, EventKind, PgAttributor, PgStore, Policy, Step,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::{Rng, now};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls, Row};

const CODES: u64 = 10_000;
const PAGE: usize = 256;

/// The program the bench fills: its own, so that a database `DATABASE_URL`
/// names may hold others, and earlier runs.
fn program() -> String {
    format!("bench-{}", std::process::id())
}

fn clicks_wanted() -> u64 {
    std::env::var("ATTRIBUTOR_BENCH_CLICKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn code_of(n: u64) -> CouponCode {
    CouponCode::parse(&format!("CODE{n}X")).expect("a code")
}

fn customer_of(n: u64) -> CustomerId {
    format!("cust-{n}").parse().expect("a customer")
}

/// The database to use: `DATABASE_URL`, or a fresh one on a throwaway
/// server.
fn database(rt: &Runtime) -> Option<(String, Option<u16>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Some((url, None));
    }
    let server = pg::server()?;
    let url = rt.block_on(server.database("bench"));
    Some((url, Some(server.port)))
}

/// Fills a program of the store: codes (a tenth of them `IfInvolved`),
/// clicks, and bindings.
async fn fill(store: &PgStore, clicks: u64) {
    let customers = (clicks / 10).max(1);
    let mut rng = Rng::new(7);
    let rows: Vec<attributor::ImportRow> = (0..CODES)
        .map(|n| {
            let mode = if n % 10 == 0 {
                CreditMode::IfInvolved
            } else {
                CreditMode::Standard
            };
            attributor::ImportRow::new(
                code_of(n).as_str(),
                AffiliateId::new(1 + n % 500),
                now() - TimeDelta::days(400),
            )
            .with_mode(mode)
        })
        .collect();
    let report = store
        .import(rows, attributor::ImportOptions::all_or_nothing())
        .await
        .expect("the codes");
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts.first());
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..clicks {
        let at = now() - TimeDelta::seconds(rng.below(60 * 86_400) as i64);
        let click = Click::new(
            format!("k-{n}").parse().expect("a click id"),
            AffiliateId::new(1 + rng.below(500)),
            at,
        )
        .with_customer(customer_of(rng.below(customers)));
        batch.push(click);
        if batch.len() == 10_000 {
            store.insert_clicks(&batch).await.expect("clicks");
            batch.clear();
        }
    }
    store.insert_clicks(&batch).await.expect("clicks");
    let bindings: Vec<Binding> = (0..customers / 5)
        .map(|n| Binding {
            customer: customer_of(n * 5),
            affiliate: AffiliateId::new(1 + n % 500),
            bound_at: now() - TimeDelta::days(100),
            expires_at: Some(now() - TimeDelta::days(10)),
            event: EventKind::Registration,
            conversion: format!("reg-{n}").parse().expect("an id"),
        })
        .collect();
    store.import_bindings(&bindings).await.expect("bindings");
}

/// Conversions never seen before: unique ids, random customers, a code
/// half the time, a click id a fifth of the time.
struct Stream {
    rng: Rng,
    customers: u64,
    clicks: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Stream {
    fn next(&mut self) -> Conversion {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut c = Conversion::new(
            format!("conv-{n}").parse().expect("an id"),
            EventKind::Purchase,
            now(),
        )
        .with_customer(customer_of(self.rng.below(self.customers)));
        if self.rng.below(2) == 0 {
            c = c.with_code(code_of(self.rng.below(CODES)));
        }
        if self.rng.below(5) == 0 {
            c = c.with_click(
                format!("k-{}", self.rng.below(self.clicks))
                    .parse()
                    .expect("a click id"),
            );
        }
        c
    }
}

/// What a user might write from the store traits, asynchronously: one
/// prepared query per store call, on the same schema.
struct Naive {
    client: Client,
    program: String,
    /// Each statement prepared once, as a careful user would.
    prepared: std::sync::Mutex<std::collections::HashMap<String, tokio_postgres::Statement>>,
}

fn at(s: i64, ns: i32) -> DateTime<Utc> {
    DateTime::from_timestamp(s, ns as u32).expect("an instant")
}

fn affiliate(n: i64) -> AffiliateId {
    AffiliateId::new(n as u64)
}

fn pair(t: DateTime<Utc>) -> (i64, i32) {
    (t.timestamp(), t.timestamp_subsec_nanos() as i32)
}

impl Naive {
    async fn connect(url: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("a connection");
        tokio::spawn(connection);
        Self {
            client,
            program: program(),
            prepared: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    async fn one(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Vec<Row> {
        let known = self.prepared.lock().expect("the cache").get(sql).cloned();
        let statement = match known {
            Some(statement) => statement,
            None => {
                let statement = self.client.prepare(sql).await.expect("a statement");
                self.prepared
                    .lock()
                    .expect("the cache")
                    .insert(sql.to_owned(), statement.clone());
                statement
            }
        };
        self.client.query(&statement, params).await.expect("a query")
    }

    async fn attribute(&self, conversion: &Conversion, policy: &Policy) -> Decision {
        let p = self.program.as_str();
        let mut attribution = Attribution::new(conversion, policy);
        loop {
            match attribution.next() {
                Step::Recorded(read) => {
                    let rows = self
                        .one(
                            "SELECT decision::text FROM attributor.ledger WHERE program = $1 AND conversion = $2",
                            &[&p, &read.conversion().as_str()],
                        )
                        .await;
                    read.answer(
                        rows.first()
                            .map(|r| serde_json::from_str(r.get(0)).expect("a decision")),
                    );
                }
                Step::Holder(_) => unreachable!("the bench's policies pay no conversion once"),
                Step::Near(_) => unreachable!("every code the bench enters is assigned"),
                Step::Code(read) => {
                    let code = *read.code();
                    let rows = self
                        .one(
                            "SELECT affiliate, valid_from_s, valid_from_ns, valid_until_s, valid_until_ns, revoked, mode
                             FROM attributor.code_assignments WHERE program = $1 AND skeleton = $2 AND code = $3
                             ORDER BY valid_from_s, valid_from_ns, made",
                            &[&p, &code.skeleton().as_str(), &code.as_str()],
                        )
                        .await;
                    let history: Vec<CodeAssignment> = rows
                        .iter()
                        .map(|r| {
                            let mut a =
                                CodeAssignment::new(code, affiliate(r.get(0)), at(r.get(1), r.get(2)));
                            a.valid_until = r.get::<_, Option<i64>>(3).map(|s| at(s, r.get(4)));
                            a.revoked = r.get(5);
                            a.mode = match r.get::<_, &str>(6) {
                                "always" => CreditMode::Always,
                                "if_involved" => CreditMode::IfInvolved,
                                _ => CreditMode::Standard,
                            };
                            a
                        })
                        .collect();
                    let lookup = CodeLookup::from_history(&history, read.at());
                    read.answer(lookup);
                }
                Step::Click(read) => {
                    let rows = self
                        .one(
                            "SELECT affiliate, clicked_at_s, clicked_at_ns FROM attributor.clicks
                             WHERE program = $1 AND id = $2",
                            &[&p, &read.id().as_str()],
                        )
                        .await;
                    let id = *read.id();
                    read.answer(rows.first().map(|r| ClickEvidence {
                        id,
                        affiliate: affiliate(r.get(0)),
                        clicked_at: at(r.get(1), r.get(2)),
                    }));
                }
                Step::Find(read) => {
                    let q = *read.query();
                    let order = match q.pick {
                        ClickPick::First => "ASC",
                        ClickPick::Last => "DESC",
                    };
                    let sql = format!(
                        "SELECT id, affiliate, clicked_at_s, clicked_at_ns FROM attributor.customer_clicks
                         WHERE program = $1 AND customer = $2
                           AND (clicked_at_s, clicked_at_ns) >= ($3, $4) AND (clicked_at_s, clicked_at_ns) <= ($5, $6)
                           AND ($7::bigint IS NULL OR affiliate <> $7) AND ($8::bigint IS NULL OR affiliate = $8)
                         ORDER BY clicked_at_s {order}, clicked_at_ns {order}, id LIMIT 1"
                    );
                    let (from, to) = (pair(q.from), pair(q.to));
                    let exclude = q.exclude.map(|a| a.get() as i64);
                    let only = q.affiliate.map(|a| a.get() as i64);
                    let rows = self
                        .one(
                            &sql,
                            &[
                                &p,
                                &q.customer.as_str(),
                                &from.0,
                                &from.1,
                                &to.0,
                                &to.1,
                                &exclude,
                                &only,
                            ],
                        )
                        .await;
                    read.answer(rows.first().map(|r| ClickEvidence {
                        id: r.get::<_, &str>(0).parse().expect("a click id"),
                        affiliate: affiliate(r.get(1)),
                        clicked_at: at(r.get(2), r.get(3)),
                    }));
                }
                Step::Binding(read) => {
                    let (s, ns) = pair(read.before());
                    let customer = *read.customer();
                    let rows = self
                        .one(
                            "SELECT conversion, affiliate, bound_at_s, bound_at_ns, expires_at_s, expires_at_ns, event
                             FROM attributor.bindings WHERE program = $1 AND customer = $2
                               AND (bound_at_s, bound_at_ns) < ($3, $4)
                             ORDER BY bound_at_s DESC, bound_at_ns DESC, conversion DESC LIMIT 1",
                            &[&p, &customer.as_str(), &s, &ns],
                        )
                        .await;
                    read.answer(rows.first().map(|r| Binding {
                        customer,
                        affiliate: affiliate(r.get(1)),
                        bound_at: at(r.get(2), r.get(3)),
                        expires_at: r.get::<_, Option<i64>>(4).map(|s| at(s, r.get(5))),
                        event: r.get::<_, &str>(6).parse().expect("an event"),
                        conversion: r.get::<_, &str>(0).parse().expect("an id"),
                    }));
                }
                Step::Record(write) => {
                    let d = write.decision();
                    let json = serde_json::to_string(d).expect("JSON");
                    let (s, ns) = pair(d.occurred_at);
                    let rows = self
                        .one(
                            "INSERT INTO attributor.ledger (program, conversion, occurred_at_s, occurred_at_ns, decision, recorded_by)
                             VALUES ($1, $2, $3, $4, $5::text::jsonb, 0) ON CONFLICT DO NOTHING RETURNING 1",
                            &[&p, &d.conversion.as_str(), &s, &ns, &json],
                        )
                        .await;
                    let earlier = if rows.is_empty() {
                        let rows = self
                            .one(
                                "SELECT decision::text FROM attributor.ledger WHERE program = $1 AND conversion = $2",
                                &[&p, &d.conversion.as_str()],
                            )
                            .await;
                        rows.first()
                            .map(|r| serde_json::from_str(r.get(0)).expect("a decision"))
                    } else {
                        None
                    };
                    write.answer(earlier);
                }
                Step::Bind(write) => {
                    let b = *write.binding();
                    let (s, ns) = pair(b.bound_at);
                    let (es, ens) = match b.expires_at.map(pair) {
                        Some((s, ns)) => (Some(s), Some(ns)),
                        None => (None, None),
                    };
                    self.one(
                        "INSERT INTO attributor.bindings VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (program, customer, conversion) DO UPDATE SET affiliate = EXCLUDED.affiliate",
                        &[
                            &p,
                            &b.customer.as_str(),
                            &b.conversion.as_str(),
                            &(b.affiliate.get() as i64),
                            &s,
                            &ns,
                            &es,
                            &ens,
                            &b.event.name(),
                        ],
                    )
                    .await;
                    write.answer();
                }
                Step::Done(done) => return done.into_decision(),
            }
        }
    }

    /// One click, in both click tables, one statement.
    async fn insert_click(&self, click: &Click) {
        let (s, ns) = pair(click.clicked_at);
        let customer = click.customer.map(|c| c.as_str().to_owned());
        self.one(
            "WITH c AS (INSERT INTO attributor.clicks (program, id, affiliate, clicked_at_s, clicked_at_ns, customer)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING customer)
             INSERT INTO attributor.customer_clicks SELECT $1, customer, $4, $5, $2, $3 FROM c WHERE customer IS NOT NULL",
            &[&self.program.as_str(), &click.id.as_str(), &(click.affiliate.get() as i64), &s, &ns, &customer],
        )
        .await;
    }
}

/// Times `iters` runs of `each` on the runtime.
fn timed<F, Fut>(rt: &Runtime, iters: u64, mut each: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            each().await;
        }
        start.elapsed()
    })
}

fn postgres(c: &mut Criterion) {
    let rt = runtime();
    let Some((url, port)) = database(&rt) else {
        pg::say("postgres bench skipped: no server");
        return;
    };
    let clicks = clicks_wanted();
    let (store, naive) = rt.block_on(async {
        let pool = PgStore::connect_pool(&url, 4).expect("a pool");
        PgStore::migrate(&pool).await.expect("the schema");
        let store = PgStore::open(pool, program().parse().expect("a program"))
            .await
            .expect("a store");
        let started = Instant::now();
        fill(&store, clicks).await;
        // As autovacuum would soon after a load: plans need the tables'
        // statistics.
        let client = store.pool().get().await.expect("a connection");
        client.batch_execute("ANALYZE").await.expect("statistics");
        drop(client);
        eprintln!(
            "filled {clicks} clicks in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        (store, Naive::connect(&url).await)
    });
    let policy = Policy::coupon_first();
    let attributor = PgAttributor::new(store.clone(), policy);
    let stream = || Stream {
        rng: Rng::new(NEXT_ID.load(Ordering::Relaxed)),
        customers: (clicks / 10).max(1),
        clicks,
    };

    // Round trips, counted by a proxy between a client and the server.
    if let Some(port) = port {
        rt.block_on(async {
            let proxy = pg::proxy::Proxy::start(port).await;
            let through = url.replace(&format!("port={port}"), &format!("port={}", proxy.port));
            let pool = PgStore::connect_pool(&through, 1).expect("a pool");
            let counted = PgAttributor::new(
                PgStore::open(pool, program().parse().expect("a program"))
                    .await
                    .expect("a store"),
                policy,
            );
            let mut s = stream();
            let conversion = s.next();
            let before = proxy.round_trips();
            counted.attribute(&conversion).await.expect("a decision");
            let miss = proxy.round_trips() - before;
            let before = proxy.round_trips();
            counted.attribute(&conversion).await.expect("a decision");
            let hit = proxy.round_trips() - before;
            let page: Vec<Conversion> = (0..PAGE).map(|_| s.next()).collect();
            let before = proxy.round_trips();
            counted.attribute_all(&page).await;
            let paged = proxy.round_trips() - before;
            eprintln!("round trips: a new conversion {miss}, a retried one {hit}, a page of {PAGE} {paged}");
            // The naive attributor, through the same proxy: 100 new
            // conversions.
            let naive = Naive::connect(&through).await;
            let before = proxy.round_trips();
            for _ in 0..100 {
                naive.attribute(&s.next(), &policy).await;
            }
            let trips = (proxy.round_trips() - before) as f64 / 100.0;
            eprintln!("round trips of the naive attributor: {trips:.2} a new conversion");
        });
    }

    // What a round trip and each statement cost here, one at a time.
    rt.block_on(async {
        const N: u32 = 500;
        let client = store.pool().get().await.expect("a connection");
        let trivial = client.prepare_cached("SELECT 1").await.expect("a statement");
        let started = Instant::now();
        for _ in 0..N {
            client.query(&trivial, &[]).await.expect("a round trip");
        }
        let round_trip = started.elapsed() / N;
        drop(client);
        let mut s = stream();
        let started = Instant::now();
        for _ in 0..N {
            attributor.preview(&s.next()).await.expect("a preview");
        }
        let gather = started.elapsed() / N;
        eprintln!("one at a time: SELECT 1 {round_trip:?}, the gather statement (a preview) {gather:?}");
    });

    let mut group = c.benchmark_group("postgres/attribute");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("baseline/naive", |b| {
        let mut s = stream();
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let conversion = s.next();
                let naive = &naive;
                async move {
                    naive.attribute(&conversion, &policy).await;
                }
            })
        })
    });
    group.bench_function("attributor", |b| {
        let mut s = stream();
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let conversion = s.next();
                let attributor = &attributor;
                async move {
                    attributor.attribute(&conversion).await.expect("a decision");
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("postgres/attribute_all");
    group.throughput(criterion::Throughput::Elements(PAGE as u64));
    group.bench_function("baseline/one_at_a_time", |b| {
        let mut s = stream();
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let page: Vec<Conversion> = (0..PAGE).map(|_| s.next()).collect();
                let attributor = &attributor;
                async move {
                    for conversion in &page {
                        attributor.attribute(conversion).await.expect("a decision");
                    }
                }
            })
        })
    });
    group.bench_function("attributor", |b| {
        let mut s = stream();
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let page: Vec<Conversion> = (0..PAGE).map(|_| s.next()).collect();
                let attributor = &attributor;
                async move {
                    for decision in attributor.attribute_all(&page).await {
                        decision.expect("a decision");
                    }
                }
            })
        })
    });
    group.finish();

    const BULK: usize = 2_000;
    let mut group = c.benchmark_group("postgres/clicks");
    group.throughput(criterion::Throughput::Elements(BULK as u64));
    let fresh = |tag: &'static str| {
        let mut n = 0u64;
        move || {
            n += 1;
            (0..BULK)
                .map(|i| {
                    Click::new(
                        format!("{tag}-{n}-{i}").parse().expect("a click id"),
                        AffiliateId::new(1),
                        now(),
                    )
                    .with_customer(customer_of(i as u64))
                })
                .collect::<Vec<Click>>()
        }
    };
    group.bench_function("baseline/row_by_row", |b| {
        let mut next = fresh("row");
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let clicks = next();
                let naive = &naive;
                async move {
                    for click in &clicks {
                        naive.insert_click(click).await;
                    }
                }
            })
        })
    });
    group.bench_function("attributor/insert_clicks", |b| {
        let mut next = fresh("bulk");
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let clicks = next();
                let store = &store;
                async move {
                    store.insert_clicks(&clicks).await.expect("clicks");
                }
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion().measurement_time(Duration::from_secs(8));
    targets = postgres
}
criterion_main!(benches);
