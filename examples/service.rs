//! An HTTP service on the crate, the one a team would start from: it records
//! tracked clicks, verifies and attributes signed postbacks, and serves the
//! decisions.
//!
//! ```text
//! POST /clicks               a signed tracked click, as JSON    201, 409 if its id holds another click
//! POST /postbacks            a signed inbound postback          201 with the decision recorded now, 200 with the one recorded before
//! GET  /decisions/{id}       the decision recorded for an id    200, or 404
//! GET  /health               whether the stores answer          200, or 503
//! ```
//!
//! With `DATABASE_URL` set it keeps everything in PostgreSQL (the schema is
//! migrated at start; `ATTRIBUTOR_PROGRAM` names the program, `main` by
//! default), otherwise in memory:
//!
//! ```text
//! cargo run --features postgres,tracing --example service
//! DATABASE_URL=postgres://localhost/affiliates cargo run --features postgres,tracing --example service
//! ```
//!
//! Postbacks are signed with `POSTBACK_SECRET` (`POSTBACK_PREVIOUS_SECRET`
//! during a rotation), clicks with `TRACKER_SECRET`, the secret of the
//! tracker that reports them: `X-Attributor-Timestamp` carries the Unix
//! seconds and `X-Attributor-Signature` the HMAC-SHA256 of
//! `{timestamp}.{body}` (see `PostbackVerifier`). Without `DATABASE_URL`
//! the secrets default to `dev-secret`, for a first try; with it they must
//! be set. It listens on `ADDR` (`127.0.0.1:8080`), logs each decision at
//! debug level with `ATTRIBUTOR_DEBUG=1`, and on Ctrl-C or SIGTERM stops
//! taking connections and answers the requests in flight (for 30 seconds
//! at most).
//!
//! A request that a retry cannot mend (a bad signature, a stale one, a body
//! that does not parse) gets a 4xx; a store that failed for now (no
//! connection, a lost one) gets a 503, and the partner's retry is safe: a
//! retried postback gets the decision recorded the first time, with 200
//! rather than the 201 of the postback that recorded it, so that whatever
//! a new decision sets off (the partner's outbound postback, a payout)
//! happens once.
//! What a retry would meet again (a row that cannot be read, a schema of
//! another release) gets a 500 that says not to retry.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use attributor::{
    Attributed, Attributor, Click, ClickError, ConversionId, Decision, Ledger, MemoryBindingStore,
    MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgAttributor, PgError, PgStore, Policy, PolicySet,
    PostbackParser, PostbackVerifier, Recorded, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

/// The largest request body taken: a postback or a click is a few hundred
/// bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

type MemoryAttributor = Attributor<MemoryCodeRegistry, MemoryClickStore, MemoryBindingStore, MemoryLedger>;

/// Where the service keeps its stores.
// One a process, made once and shared: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// In this process: lost at exit, for a first try.
    Memory(MemoryAttributor),
    /// In PostgreSQL, shared by every replica.
    Postgres(PgAttributor),
}

impl Backend {
    /// The memory stores, attributing under `policies`.
    pub fn memory(policies: impl Into<PolicySet>) -> Self {
        Self::Memory(Attributor::new(
            MemoryCodeRegistry::new(),
            MemoryClickStore::new(),
            MemoryBindingStore::new(),
            MemoryLedger::new(),
            policies,
        ))
    }

    async fn insert_click(&self, click: Click) -> Result<(), Failure> {
        match self {
            Self::Memory(a) => a.clicks().insert(click).map_err(Failure::from),
            Self::Postgres(a) => a.store().insert_click(click).await.map_err(Failure::from),
        }
    }

    async fn attribute(&self, conversion: &attributor::Conversion) -> Result<Attributed, Failure> {
        match self {
            // The memory stores fail only in ways a retry meets again.
            Self::Memory(a) => a
                .attribute(conversion)
                .map_err(|e| Failure::Broken(e.to_string())),
            Self::Postgres(a) => a.attribute(conversion).await.map_err(Failure::from),
        }
    }

    async fn decision(&self, id: &ConversionId) -> Result<Option<Decision>, Failure> {
        match self {
            Self::Memory(a) => a.ledger().get(id).map_err(|e| Failure::Broken(e.to_string())),
            Self::Postgres(a) => a.store().decision(id).await.map_err(Failure::from),
        }
    }

    async fn health(&self) -> Result<(), Failure> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Postgres(a) => {
                let client = a
                    .store()
                    .pool()
                    .get()
                    .await
                    .map_err(|e| Failure::Store(e.to_string()))?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| Failure::Store(e.to_string()))?;
                Ok(())
            }
        }
    }
}

/// The shared secrets requests are signed with.
pub struct Secrets {
    /// The operator's backend's current secret, for postbacks.
    pub current: Vec<u8>,
    /// The one being retired, during a rotation.
    pub previous: Option<Vec<u8>>,
    /// The tracker's, for clicks.
    pub tracker: Vec<u8>,
}

/// What every request sees.
pub struct Service {
    /// The stores.
    pub backend: Backend,
    /// Checks postbacks: the current secret, and the previous one during a
    /// rotation.
    postbacks: PostbackVerifier,
    /// Checks clicks: the tracker's secret.
    clicks: PostbackVerifier,
    /// The clock: the system's, or a test's.
    pub now: fn() -> DateTime<Utc>,
}

impl Service {
    /// A service on `backend` that checks requests against `secrets`. The
    /// verifiers keep the secrets, built once for every request.
    pub fn new(backend: Backend, secrets: Secrets, now: fn() -> DateTime<Utc>) -> Self {
        let mut postbacks = PostbackVerifier::new(&secrets.current);
        if let Some(previous) = &secrets.previous {
            postbacks = postbacks.with_previous_secret(previous);
        }
        Self {
            backend,
            postbacks,
            clicks: PostbackVerifier::new(&secrets.tracker),
            now,
        }
    }
}

/// The system's clock.
pub fn system_now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// Why a request was not served, and the status that tells the caller
/// whether to retry.
#[derive(Debug)]
enum Failure {
    /// The body or a parameter is wrong: do not retry.
    BadRequest(String),
    /// The signature is missing, wrong or out of its time window: do not
    /// retry the same request.
    Unauthorized(String),
    /// The click id holds another click.
    Conflict(String),
    /// Nothing under that id.
    NotFound,
    /// A store failed for now: retry.
    Store(String),
    /// Something a retry would meet again: the operator has to look.
    Broken(String),
}

impl From<PgError> for Failure {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Click(e) => Self::from(e),
            // A decision the ledger cannot keep: the same request fails again.
            PgError::Unwritable { .. } => Self::BadRequest(e.to_string()),
            // No connection (the server is down, or refuses them for now), a
            // lost one, a conflict: a retry may succeed.
            PgError::Connect(_) => Self::Store(e.to_string()),
            ref other if other.is_transient() => Self::Store(e.to_string()),
            // A row that cannot be read, a schema of another release.
            other => Self::Broken(other.to_string()),
        }
    }
}

impl From<ClickError> for Failure {
    fn from(e: ClickError) -> Self {
        match e {
            ClickError::Conflict { .. } => Self::Conflict(e.to_string()),
            _ => Self::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            Self::Conflict(m) => (StatusCode::CONFLICT, m),
            Self::NotFound => (StatusCode::NOT_FOUND, "no decision under that id".to_owned()),
            Self::Store(m) => {
                tracing::warn!("store failed: {m}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a store failed; retry".to_owned(),
                )
            }
            Self::Broken(m) => {
                tracing::error!("{m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the service cannot do this; do not retry".to_owned(),
                )
            }
        };
        let retry = status == StatusCode::SERVICE_UNAVAILABLE;
        (
            status,
            axum::Json(serde_json::json!({ "error": message, "retry": retry })),
        )
            .into_response()
    }
}

/// Checks a request's signature with `verifier`, at the service's now.
fn verify(
    service: &Service,
    verifier: &PostbackVerifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Failure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verifier
        .verify(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
            (service.now)(),
        )
        .map(|_| ())
        .map_err(|e| Failure::Unauthorized(e.to_string()))
}

async fn post_click(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    // Only the tracker may say who clicked when: a click earns credit.
    verify(&service, &service.clicks, &headers, &body)?;
    // The click as the tracker stamped it (`clicked_at` is required), so
    // that a retried report is the same click.
    let click: Click = serde_json::from_slice(&body).map_err(|e| Failure::BadRequest(e.to_string()))?;
    service.backend.insert_click(click).await?;
    Ok((StatusCode::CREATED, axum::Json(click)).into_response())
}

async fn post_postback(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    verify(&service, &service.postbacks, &headers, &body)?;
    let conversion = PostbackParser::new()
        .parse(&body)
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    let attributed = service.backend.attribute(&conversion).await?;
    let status = match attributed.recorded {
        // New: here a real service would send the partner's postback.
        Recorded::Now => StatusCode::CREATED,
        Recorded::Before => StatusCode::OK,
    };
    Ok((status, axum::Json(attributed.decision)).into_response())
}

async fn get_decision(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id: ConversionId = id
        .parse()
        .map_err(|e: attributor::IdError| Failure::BadRequest(e.to_string()))?;
    match service.backend.decision(&id).await? {
        Some(decision) => Ok(axum::Json(decision).into_response()),
        None => Err(Failure::NotFound),
    }
}

async fn health(State(service): State<Arc<Service>>) -> Result<&'static str, Failure> {
    service.backend.health().await?;
    Ok("ok")
}

/// The routes.
pub fn router(service: Service) -> Router {
    Router::new()
        .route("/clicks", post(post_click))
        .route("/postbacks", post(post_postback))
        .route("/decisions/{id}", get(get_decision))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(service))
}

/// Serves `service` on `listener` until `shutdown` completes, then answers
/// the requests in flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Service,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The stores `DATABASE_URL` names, migrated, or the memory stores.
pub async fn backend_from_env(policies: PolicySet) -> Result<Backend, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        tracing::info!("no DATABASE_URL: keeping everything in memory");
        return Ok(Backend::memory(policies));
    };
    let pool = PgStore::connect_pool(&url, 16)?;
    let applied = PgStore::migrate(&pool).await?;
    tracing::info!("schema migrated (versions applied: {applied:?})");
    let program = std::env::var("ATTRIBUTOR_PROGRAM").unwrap_or_else(|_| "main".to_owned());
    let store = PgStore::open(pool, program.parse()?).await?;
    Ok(Backend::Postgres(PgAttributor::new(store, policies)))
}

/// The secret in `name`; without it, the development secret, but only for
/// the memory stores.
fn secret(name: &str, durable: bool) -> Result<Vec<u8>, String> {
    match std::env::var(name) {
        Ok(secret) if !secret.is_empty() => Ok(secret.into_bytes()),
        _ if durable => Err(format!("{name} must be set when DATABASE_URL is")),
        _ => {
            tracing::warn!("no {name}: using the development secret `dev-secret`");
            Ok(b"dev-secret".to_vec())
        }
    }
}

/// Ctrl-C or, on Unix, SIGTERM.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let debug = std::env::var("ATTRIBUTOR_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0");
    tracing_subscriber::fmt()
        .with_max_level(if debug {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .init();
    let durable = std::env::var_os("DATABASE_URL").is_some();
    let secrets = Secrets {
        current: secret("POSTBACK_SECRET", durable)?,
        previous: std::env::var("POSTBACK_PREVIOUS_SECRET")
            .ok()
            .map(String::into_bytes),
        tracker: secret("TRACKER_SECRET", durable)?,
    };
    // One rule for every event here; see `PolicySet` for one per event.
    let backend = backend_from_env(PolicySet::new(Policy::coupon_first())).await?;
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let service = Service::new(backend, secrets, system_now);
    let stopping = Arc::new(tokio::sync::Notify::new());
    let told = stopping.clone();
    let serving = serve(listener, service, async move {
        stop_requested().await;
        tracing::info!("stopping: answering the requests in flight");
        told.notify_one();
    });
    // A request that never ends does not keep the service from stopping.
    tokio::select! {
        served = serving => served?,
        _ = async {
            stopping.notified().await;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        } => tracing::warn!("stopped with requests still in flight after 30 seconds"),
    }
    Ok(())
}
