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
const TRACKER: &[u8] = b"tracker-test";

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
    let secrets = Secrets {
        current: SECRET.to_vec(),
        previous: None,
        tracker: TRACKER.to_vec(),
    };
    let service = Service::new(backend, secrets, service::system_now);
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
    async fn post_signed(
        &self,
        path: &str,
        body: &str,
        secret: &[u8],
        at: DateTime<Utc>,
    ) -> reqwest::Response {
        let signature = PostbackSigner::new(secret).sign(at, body.as_bytes());
        self.http
            .post(format!("{}{path}", self.base))
            .header(attributor::TIMESTAMP_HEADER, at.timestamp().to_string())
            .header(attributor::SIGNATURE_HEADER, signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post_postback(&self, body: &str, secret: &[u8], signed_at: DateTime<Utc>) -> reqwest::Response {
        self.post_signed("/postbacks", body, secret, signed_at).await
    }

    /// A click, signed by the tracker now.
    async fn post_click(&self, click: &serde_json::Value) -> reqwest::Response {
        let body = click.to_string();
        self.post_signed("/clicks", &body, TRACKER, service::system_now())
            .await
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

/// The status of a refusal and whether it tells the caller to retry.
async fn refusal(response: reqwest::Response) -> (StatusCode, bool) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["retry"].as_bool().unwrap())
}

/// The clicks: reported by the tracker, again (the same click), with
/// another owner (a conflict), malformed, and planted by someone else.
async fn report_clicks(running: &Running, clicked_at: DateTime<Utc>) {
    let at = clicked_at.to_rfc3339();
    let click = serde_json::json!({ "id": "c-1", "affiliate": 9, "customer": "cust-1", "clicked_at": at });
    assert_eq!(running.post_click(&click).await.status(), StatusCode::CREATED);
    let again = running.post_click(&click).await;
    assert_eq!(again.status(), StatusCode::CREATED, "the same click again");
    let other = serde_json::json!({ "id": "c-1", "affiliate": 3, "customer": "cust-1", "clicked_at": at });
    assert_eq!(
        refusal(running.post_click(&other).await).await,
        (StatusCode::CONFLICT, false)
    );
    let bad = serde_json::json!({ "id": "c 2", "affiliate": 3, "clicked_at": at });
    assert_eq!(
        refusal(running.post_click(&bad).await).await,
        (StatusCode::BAD_REQUEST, false)
    );
    let undated = serde_json::json!({ "id": "c-3", "affiliate": 3 });
    assert_eq!(
        refusal(running.post_click(&undated).await).await,
        (StatusCode::BAD_REQUEST, false)
    );
    // Only the tracker says who clicked when: a click signed with another
    // secret (the postback one, say) is refused.
    let planted =
        serde_json::json!({ "id": "c-9", "affiliate": 666, "customer": "cust-1", "clicked_at": at });
    let planted = running
        .post_signed("/clicks", &planted.to_string(), SECRET, service::system_now())
        .await;
    assert_eq!(refusal(planted).await, (StatusCode::UNAUTHORIZED, false));
}

/// A click, a signed postback and its retry, a forged and a stale one, bad
/// input, the decision read back, and a graceful stop.
async fn tell_the_story(running: Running) {
    let now = service::system_now();
    report_clicks(&running, now - TimeDelta::hours(2)).await;

    let body = format!(
        "transaction_id=ORD-1&event=purchase&timestamp={}&click_id=c-1&customer_id=cust-1&code=mkbhd10\
         &amount=49.99&currency=USD",
        now.timestamp()
    );
    let first = running.post_postback(&body, SECRET, now).await;
    assert_eq!(first.status(), StatusCode::CREATED, "a postback recorded now");
    let decision: Decision = first.json().await.unwrap();
    // Coupon-first: the creator's code wins over the tracked click.
    assert_eq!(decision.primary(), Some(AffiliateId::new(7)), "{decision}");
    let again = running.post_postback(&body, SECRET, now).await;
    assert_eq!(again.status(), StatusCode::OK, "a retried postback");
    assert_eq!(again.json::<Decision>().await.unwrap(), decision);

    let forged = running
        .post_postback(&body.replace("ORD-1", "ORD-2"), b"guessed", now)
        .await;
    assert_eq!(refusal(forged).await, (StatusCode::UNAUTHORIZED, false));
    let stale = running
        .post_postback(&body.replace("ORD-1", "ORD-3"), SECRET, now - TimeDelta::hours(1))
        .await;
    assert_eq!(refusal(stale).await, (StatusCode::UNAUTHORIZED, false));
    let garbled = running
        .post_postback("transaction_id=ORD-4&event=nonsense", SECRET, now)
        .await;
    assert_eq!(refusal(garbled).await, (StatusCode::BAD_REQUEST, false));
    let huge = "x".repeat(service::BODY_LIMIT + 1);
    let huge = running.post_postback(&huge, SECRET, now).await;
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let read = running.get("/decisions/ORD-1").await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.json::<Decision>().await.unwrap(), decision);
    for refused in ["ORD-2", "ORD-3", "ORD-4"] {
        let read = running.get(&format!("/decisions/{refused}")).await;
        assert_eq!(
            refusal(read).await,
            (StatusCode::NOT_FOUND, false),
            "{refused} was not recorded"
        );
    }
    assert_eq!(running.get("/health").await.status(), StatusCode::OK);
    running.stop().await;
}

fn mkbhd() -> CouponCode {
    CouponCode::parse("MKBHD10").unwrap()
}

#[tokio::test]
async fn the_service_on_the_memory_stores_attributes_signed_postbacks_once() {
    let backend = Backend::memory(Policy::coupon_first());
    if let Backend::Memory(a) = &backend {
        let since = common::now() - TimeDelta::days(9000);
        a.registry().assign(mkbhd(), AffiliateId::new(7), since).unwrap();
    }
    tell_the_story(start(backend).await).await;
}

#[tokio::test]
async fn the_service_on_postgres_attributes_signed_postbacks_once_and_says_when_to_retry() {
    let server = server_or_skip!();
    let store = server.store("service").await;
    let since = common::now() - TimeDelta::days(9000);
    store.assign(mkbhd(), AffiliateId::new(7), since).await.unwrap();
    let backend = || Backend::Postgres(PgAttributor::new(store.clone(), Policy::coupon_first()));
    tell_the_story(start(backend()).await).await;

    let running = start(backend()).await;
    let now = service::system_now();
    let postback = |id: &str| {
        format!(
            "transaction_id={id}&event=purchase&timestamp={}&customer_id=c",
            now.timestamp()
        )
    };

    // A ledger row written by hand against the rules: a retry would meet it
    // again, so a 500 that says not to retry.
    let admin = server.store_client("service").await;
    admin
        .execute(
            "INSERT INTO attributor.ledger (program, conversion, occurred_at_s, occurred_at_ns, decision, \
             recorded_by) VALUES ('main', 'ORD-BAD', 0, 0, '{\"credits\": 7}', 0)",
            &[],
        )
        .await
        .unwrap();
    let broken = running.post_postback(&postback("ORD-BAD"), SECRET, now).await;
    assert_eq!(refusal(broken).await, (StatusCode::INTERNAL_SERVER_ERROR, false));

    // The database refuses connections: a 503 the partner may retry, and
    // the retry, once the database is back, records the conversion.
    let superuser = server.store_client("postgres").await;
    superuser
        .batch_execute("ALTER DATABASE service ALLOW_CONNECTIONS false")
        .await
        .unwrap();
    superuser
        .batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'service'")
        .await
        .unwrap();
    assert_eq!(
        refusal(running.get("/health").await).await,
        (StatusCode::SERVICE_UNAVAILABLE, true)
    );
    let refused = running.post_postback(&postback("ORD-9"), SECRET, now).await;
    assert_eq!(refusal(refused).await, (StatusCode::SERVICE_UNAVAILABLE, true));
    superuser
        .batch_execute("ALTER DATABASE service ALLOW_CONNECTIONS true")
        .await
        .unwrap();
    let retried = running.post_postback(&postback("ORD-9"), SECRET, now).await;
    assert_eq!(
        retried.status(),
        StatusCode::CREATED,
        "the refused postback was not recorded"
    );
    assert_eq!(running.get("/decisions/ORD-9").await.status(), StatusCode::OK);
    running.stop().await;
}
