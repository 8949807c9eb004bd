//! An HTTP service on the crate, the one a team would start from: it records
//! tracked clicks, verifies and attributes signed postbacks, and serves the
//! decisions.
//!
//! ```text
//! POST /clicks               a tracked click, as JSON           201, 409 if its id holds another click
//! POST /postbacks            a signed inbound postback          200 with the decision, first time or retried
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
//! during a rotation): `X-Timestamp` carries the Unix seconds and
//! `X-Signature` the HMAC-SHA256 of `{timestamp}.{body}` (see
//! `PostbackVerifier`). It listens on `ADDR` (`127.0.0.1:8080`), logs each
//! decision at debug level with `ATTRIBUTOR_DEBUG=1`, and stops on Ctrl-C
//! once the requests in flight are answered.
//!
//! A request that a retry cannot mend (a bad signature, a stale one, a body
//! that does not parse) gets a 4xx; a store that failed gets a 503, and the
//! partner's retry is safe: a retried postback gets the decision recorded
//! the first time, with 200.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use attributor::{
    AffiliateId, Attributor, Click, ClickError, ClickId, ConversionId, CustomerId, Decision, Ledger,
    MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgAttributor, PgError, PgStore,
    Policy, PolicySet, PostbackParser, PostbackVerifier, SIGNATURE_HEADER, SubIds, TIMESTAMP_HEADER,
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

    async fn attribute(&self, conversion: &attributor::Conversion) -> Result<Decision, Failure> {
        match self {
            Self::Memory(a) => a.attribute(conversion).map_err(|e| Failure::Store(e.to_string())),
            Self::Postgres(a) => a.attribute(conversion).await.map_err(Failure::from),
        }
    }

    async fn decision(&self, id: &ConversionId) -> Result<Option<Decision>, Failure> {
        match self {
            Self::Memory(a) => a.ledger().get(id).map_err(|e| Failure::Store(e.to_string())),
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

/// The shared secrets postbacks are signed with.
pub struct Secrets {
    /// The current secret.
    pub current: Vec<u8>,
    /// The one being retired, during a rotation.
    pub previous: Option<Vec<u8>>,
}

/// What every request sees.
pub struct Service {
    /// The stores.
    pub backend: Backend,
    /// The postback secrets.
    pub secrets: Secrets,
    /// The clock: the system's, or a test's.
    pub now: fn() -> DateTime<Utc>,
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
    /// A store failed: retry.
    Store(String),
}

impl From<PgError> for Failure {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Click(e) => Self::from(e),
            // A decision the ledger cannot keep: the same request fails again.
            PgError::Unwritable { .. } => Self::BadRequest(e.to_string()),
            other => Self::Store(other.to_string()),
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
        };
        let retry = status.is_server_error();
        (
            status,
            axum::Json(serde_json::json!({ "error": message, "retry": retry })),
        )
            .into_response()
    }
}

/// A tracked click as the tracker reports it; `clicked_at` defaults to now.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickBody {
    id: ClickId,
    affiliate: AffiliateId,
    #[serde(default)]
    clicked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    customer: Option<CustomerId>,
    #[serde(default)]
    sub_ids: SubIds,
}

async fn post_click(
    State(service): State<Arc<Service>>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let body: ClickBody = serde_json::from_slice(&body).map_err(|e| Failure::BadRequest(e.to_string()))?;
    let click = Click {
        id: body.id,
        affiliate: body.affiliate,
        clicked_at: body.clicked_at.unwrap_or_else(service.now),
        customer: body.customer,
        sub_ids: body.sub_ids,
    };
    service.backend.insert_click(click).await?;
    Ok((StatusCode::CREATED, axum::Json(click)).into_response())
}

async fn post_postback(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secrets = &service.secrets;
    let mut verifier = PostbackVerifier::new(&secrets.current);
    if let Some(previous) = &secrets.previous {
        verifier = verifier.previous_secret(previous);
    }
    verifier
        .verify(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            (service.now)(),
        )
        .map_err(|e| Failure::Unauthorized(e.to_string()))?;
    let conversion = PostbackParser::new()
        .parse(&body)
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    let decision = service.backend.attribute(&conversion).await?;
    Ok(axum::Json(decision).into_response())
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let debug = std::env::var_os("ATTRIBUTOR_DEBUG").is_some();
    tracing_subscriber::fmt()
        .with_max_level(if debug {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .init();
    let secrets = Secrets {
        current: match std::env::var("POSTBACK_SECRET") {
            Ok(secret) => secret.into_bytes(),
            Err(_) => {
                tracing::warn!("no POSTBACK_SECRET: using the development secret `dev-secret`");
                b"dev-secret".to_vec()
            }
        },
        previous: std::env::var("POSTBACK_PREVIOUS_SECRET")
            .ok()
            .map(String::into_bytes),
    };
    // One rule for every event here; see `PolicySet` for one per event.
    let backend = backend_from_env(PolicySet::new(Policy::coupon_first())).await?;
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let service = Service {
        backend,
        secrets,
        now: system_now,
    };
    serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: answering the requests in flight, then stopping");
    })
    .await?;
    Ok(())
}
