//! The HTTP service of `examples/service.rs`, started on a loopback port and
//! driven over HTTP with a real client: on the memory stores, and on
//! PostgreSQL where the machine has it.
#![cfg(all(feature = "postgres", feature = "postback", feature = "tracing"))]

mod common;
mod pg;

#[allow(dead_code)]
#[path = "../examples/service.rs"]
mod service;

use attributor::{AffiliateId, CouponCode, Decision, PgAttributor, Policy, PostbackSigner};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use service::{Backend, Secrets, Service};
use tokio::sync::oneshot;

const SECRET: &[u8] = b"whsec-test";

struct Running {
    base: String,
    http: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the service on a free loopback port.
async fn start(backend: Backend) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let service = Service {
        backend,
        secrets: Secrets {
            current: SECRET.to_vec(),
            previous: None,
        },
        now: service::system_now,
    };
    let task = tokio::spawn(service::serve(listener, service, async {
        let _ = stopped.await;
    }));
    Running {
        base,
        http: reqwest::Client::new(),
        stop,
        task,
    }
}

impl Running {
    async fn post_postback(&self, body: &str, secret: &[u8], signed_at: DateTime<Utc>) -> reqwest::Response {
        let signature = PostbackSigner::new(secret).sign(signed_at, body.as_bytes());
        self.http
            .post(format!("{}/postbacks", self.base))
            .header(attributor::TIMESTAMP_HEADER, signed_at.timestamp().to_string())
            .header(attributor::SIGNATURE_HEADER, signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post_click(&self, json: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/clicks", self.base))
            .json(&json)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Stops the service: it answers what is in flight and returns.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, bool) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["retry"].as_bool().unwrap())
}

/// A click, a signed postback and its retry, a forged and a stale one, bad
/// input, the decision read back, and a graceful stop.
async fn tell_the_story(running: Running) {
    let now = service::system_now();
    let click = serde_json::json!({
        "id": "c-1", "affiliate": 9, "customer": "cust-1",
        "clicked_at": (now - TimeDelta::hours(2)).to_rfc3339(),
    });
    assert_eq!(
        running.post_click(click.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        running.post_click(click).await.status(),
        StatusCode::CREATED,
        "the same click again"
    );
    let other = serde_json::json!({ "id": "c-1", "affiliate": 3, "customer": "cust-1" });
    assert_eq!(
        error_of(running.post_click(other).await).await,
        (StatusCode::CONFLICT, false)
    );
    let bad = serde_json::json!({ "id": "c 2", "affiliate": 3 });
    assert_eq!(
        error_of(running.post_click(bad).await).await,
        (StatusCode::BAD_REQUEST, false)
    );

    let body = format!(
        "transaction_id=ORD-1&event=purchase&timestamp={}&click_id=c-1&customer_id=cust-1&code=mkbhd10\
         &amount=49.99&currency=USD",
        now.timestamp()
    );
    let first = running.post_postback(&body, SECRET, now).await;
    assert_eq!(first.status(), StatusCode::OK);
    let decision: Decision = first.json().await.unwrap();
    // Coupon-first: the creator's code wins over the blogger's click.
    assert_eq!(decision.primary(), Some(AffiliateId::new(7)), "{decision}");
    let again = running.post_postback(&body, SECRET, now).await;
    assert_eq!(again.status(), StatusCode::OK, "a retried postback");
    assert_eq!(again.json::<Decision>().await.unwrap(), decision);

    let forged = body.replace("ORD-1", "ORD-2");
    let forged = running.post_postback(&forged, b"guessed", now).await;
    assert_eq!(error_of(forged).await, (StatusCode::UNAUTHORIZED, false));
    let stale = body.replace("ORD-1", "ORD-3");
    let stale = running
        .post_postback(&stale, SECRET, now - TimeDelta::hours(1))
        .await;
    assert_eq!(error_of(stale).await, (StatusCode::UNAUTHORIZED, false));
    let garbled = running
        .post_postback("transaction_id=ORD-4&event=nonsense", SECRET, now)
        .await;
    assert_eq!(error_of(garbled).await, (StatusCode::BAD_REQUEST, false));
    let huge = "x".repeat(service::BODY_LIMIT + 1);
    assert_eq!(
        running.post_postback(&huge, SECRET, now).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let read = running.get("/decisions/ORD-1").await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.json::<Decision>().await.unwrap(), decision);
    for refused in ["ORD-2", "ORD-3", "ORD-4"] {
        let read = running.get(&format!("/decisions/{refused}")).await;
        assert_eq!(
            error_of(read).await,
            (StatusCode::NOT_FOUND, false),
            "{refused} was not recorded"
        );
    }
    let health = running.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    running.stop().await;
}

#[tokio::test]
async fn the_service_on_the_memory_stores_attributes_signed_postbacks_once() {
    let backend = Backend::memory(Policy::coupon_first());
    if let Backend::Memory(a) = &backend {
        a.registry()
            .assign(
                CouponCode::parse("MKBHD10").unwrap(),
                AffiliateId::new(7),
                common::now() - TimeDelta::days(9000),
            )
            .unwrap();
    }
    tell_the_story(start(backend).await).await;
}

#[tokio::test]
async fn the_service_on_postgres_attributes_signed_postbacks_once_and_asks_for_a_retry_when_the_database_fails()
 {
    let server = server_or_skip!();
    let store = server.store("service").await;
    store
        .assign(
            CouponCode::parse("MKBHD10").unwrap(),
            AffiliateId::new(7),
            common::now() - TimeDelta::days(9000),
        )
        .await
        .unwrap();
    tell_the_story(
        start(Backend::Postgres(PgAttributor::new(
            store.clone(),
            Policy::coupon_first(),
        )))
        .await,
    )
    .await;

    // The database refuses connections: a 503 the partner may retry, and
    // the retry, once the database is back, records the conversion.
    let running = start(Backend::Postgres(PgAttributor::new(
        store.clone(),
        Policy::coupon_first(),
    )))
    .await;
    let admin = server.store_client("postgres").await;
    admin
        .batch_execute("ALTER DATABASE service ALLOW_CONNECTIONS false")
        .await
        .unwrap();
    admin
        .batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'service'")
        .await
        .unwrap();
    let now = service::system_now();
    let body = format!(
        "transaction_id=ORD-9&event=purchase&timestamp={}&customer_id=cust-9",
        now.timestamp()
    );
    assert_eq!(
        error_of(running.get("/health").await).await,
        (StatusCode::SERVICE_UNAVAILABLE, true)
    );
    let refused = running.post_postback(&body, SECRET, now).await;
    assert_eq!(error_of(refused).await, (StatusCode::SERVICE_UNAVAILABLE, true));
    admin
        .batch_execute("ALTER DATABASE service ALLOW_CONNECTIONS true")
        .await
        .unwrap();
    let retried = running.post_postback(&body, SECRET, now).await;
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(running.get("/decisions/ORD-9").await.status(), StatusCode::OK);
    running.stop().await;
}
