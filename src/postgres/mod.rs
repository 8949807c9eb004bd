//! Durable, asynchronous, multi-process storage on PostgreSQL.

mod admin;
mod attribute;
mod blocking;
mod error;
mod sql;

use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Hook, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::join_all;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use admin::ClickIngest;
pub use attribute::PgAttributor;
pub use blocking::PgBlockingStore;
pub use error::PgError;

use crate::ids::ProgramId;
use error::{db, is_conflict};

/// The schema versions this crate ships, oldest first: each is applied once,
/// in order, by [`PgStore::migrate`].
const MIGRATIONS: [(i32, &str, &str); 3] = [
    (1, "schema", include_str!("migrations/0001_schema.sql")),
    (2, "claims", include_str!("migrations/0002_claims.sql")),
    (3, "near", include_str!("migrations/0003_near.sql")),
];

/// The server options a connection of the backend should have (as the
/// `options` of its connection string, or set for the role): the
/// statements are written for generic plans, and without this PostgreSQL
/// may plan the gather statement anew for every conversion, which takes
/// longer than running it. [`PgStore::connect_pool`] adds them; add them to
/// a pool of your own.
///
/// ```
/// use attributor::deadpool_postgres::tokio_postgres::Config;
///
/// let mut config: Config = "host=localhost dbname=affiliates".parse()?;
/// config.options(attributor::CONNECTION_OPTIONS);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const CONNECTION_OPTIONS: &str = "-c plan_cache_mode=force_generic_plan";

/// The newest schema version this crate knows, and needs.
pub const SCHEMA_VERSION: i32 = 3;

/// How many times a statement that lost to a concurrent transaction
/// (serialization failure, deadlock) is run again before its error is
/// returned.
const CONFLICT_RETRIES: u32 = 8;

/// One program's stores on PostgreSQL: the code registry, the clicks, the
/// bindings and the ledger, shared by every process that opens the same
/// program in the same database.
///
/// It is a handle: cheap to clone, safe to share between tasks. It holds a
/// [`deadpool_postgres::Pool`] of connections, which you may pass in
/// ([`PgStore::open`]) or have made from a connection string
/// ([`PgStore::connect`]). Attribution goes through a [`PgAttributor`];
/// the registry's, clicks' and bindings' administration are methods here;
/// [`PgBlockingStore`] gives the same stores to synchronous code, behind
/// the crate's store traits.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use attributor::{AffiliateId, CouponCode, PgStore};
/// use chrono::{TimeZone, Utc};
///
/// let from = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
///
/// let url = "postgres://attributor@localhost/affiliates";
/// PgStore::migrate(&PgStore::connect_pool(url, 4)?).await?; // once, at start; safe from every replica
/// let store = PgStore::connect(url, "acme-prop".parse()?).await?;
/// store.assign(CouponCode::parse("MKBHD10")?, AffiliateId::new(7), from).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    program: ProgramId,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("program", &self.program)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgStore {
    /// A pool of at most `max_size` connections to the database the
    /// connection string names (`postgres://user:password@host:port/db` or
    /// `host=... user=... dbname=...`), without TLS. Each connection
    /// prepares the backend's statements when it is made. Nothing is
    /// connected until a connection is asked for.
    ///
    /// # Errors
    ///
    /// [`PgError::Config`] if the connection string cannot be read.
    pub fn connect_pool(url: &str, max_size: usize) -> Result<Pool, PgError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| PgError::Config {
            reason: e.to_string(),
        })?;
        let options = match config.get_options() {
            Some(given) => format!("{given} {CONNECTION_OPTIONS}"),
            None => CONNECTION_OPTIONS.to_owned(),
        };
        config.options(&options);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(max_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    // Prepared together, in one round trip. A statement that
                    // fails here (no schema yet) is prepared when first used.
                    let _ = join_all(sql::PREPARED.map(|s| client.prepare_cached(s))).await;
                    Ok(())
                })
            }))
            .build()
            .map_err(|e| PgError::Config {
                reason: e.to_string(),
            })
    }

    /// Connects to the database at `url` (see [`PgStore::connect_pool`]; the pool
    /// holds up to 16 connections) and opens `program`.
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect_pool`] and [`PgStore::open`].
    pub async fn connect(url: &str, program: ProgramId) -> Result<Self, PgError> {
        Self::open(Self::connect_pool(url, 16)?, program).await
    }

    /// Opens `program` on `pool`, after checking that the database's
    /// schema is the one this crate knows. A pool of your own should give
    /// its connections [`CONNECTION_OPTIONS`], as
    /// [`PgStore::connect_pool`] does.
    ///
    /// # Errors
    ///
    /// [`PgError::Connect`] if no connection can be had;
    /// [`PgError::SchemaOutdated`] if the schema is missing or older (run
    /// [`PgStore::migrate`]); [`PgError::SchemaTooNew`] if a newer release
    /// of the crate migrated it.
    pub async fn open(pool: Pool, program: ProgramId) -> Result<Self, PgError> {
        let store = Self { pool, program };
        let client = store.client().await?;
        check_version(version(&client).await?)?;
        drop(client);
        Ok(store)
    }

    /// Brings the database's attributor schema (the `attributor` schema's
    /// tables) to this crate's version, applying each missing migration
    /// in order, in one transaction; when it is current, it only reads the
    /// version (so a role that may not change the schema can run it).
    /// Several processes may run it at once: one applies, the others wait
    /// and find nothing left to do. Returns the versions applied.
    ///
    /// # Errors
    ///
    /// [`PgError::SchemaTooNew`] if a newer release migrated the database
    /// (nothing is changed); [`PgError::Connect`] or [`PgError::Db`] if the
    /// database failed (the transaction is rolled back).
    pub async fn migrate(pool: &Pool) -> Result<Vec<i32>, PgError> {
        let mut attempt = 0;
        loop {
            match migrate_once(pool).await {
                Err(PgError::Db { source, .. }) if attempt < CONFLICT_RETRIES && racing_ddl(&source) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
                }
                other => return other,
            }
        }
    }

    /// The program this handle was opened for.
    pub fn program(&self) -> &ProgramId {
        &self.program
    }

    /// The pool of connections.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        self.pool.get().await.map_err(PgError::Connect)
    }
}

/// Refuses a schema version this crate does not know.
fn check_version(found: i32) -> Result<(), PgError> {
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(PgError::SchemaOutdated {
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Whether a statement failed because the attributor schema or its
/// migrations table does not exist.
fn missing_schema(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME)
}

/// Whether a migration failed because another process created the same
/// schema object at the same time, or won a serialization conflict: a
/// retry finds the object there.
fn racing_ddl(e: &tokio_postgres::Error) -> bool {
    is_conflict(e)
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::DUPLICATE_TABLE
                || *c == SqlState::DUPLICATE_SCHEMA
                || *c == SqlState::DUPLICATE_OBJECT
        )
}

/// The schema version the database holds: 0 when it has none.
async fn version(client: &deadpool_postgres::Object) -> Result<i32, PgError> {
    match client
        .query_one("SELECT coalesce(max(version), 0) FROM attributor.migrations", &[])
        .await
    {
        Ok(row) => row.try_get::<_, i32>(0).map_err(db("schema version")),
        Err(e) if missing_schema(&e) => Ok(0),
        Err(e) => Err(db("schema version")(e)),
    }
}

async fn migrate_once(pool: &Pool) -> Result<Vec<i32>, PgError> {
    const STATEMENT: &str = "migrate";
    let mut client = pool.get().await.map_err(PgError::Connect)?;
    // A current schema needs nothing, not even the rights to change it: a
    // replica whose role may only read and write rows runs this too.
    let found = version(&client).await?;
    if found >= SCHEMA_VERSION {
        check_version(found)?;
        return Ok(Vec::new());
    }
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(db(STATEMENT))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS attributor;
         CREATE TABLE IF NOT EXISTS attributor.migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         LOCK TABLE attributor.migrations IN SHARE ROW EXCLUSIVE MODE;",
    )
    .await
    .map_err(db(STATEMENT))?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM attributor.migrations", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db(STATEMENT))?;
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, name, text) in MIGRATIONS {
        if version <= found {
            continue;
        }
        tx.batch_execute(text).await.map_err(db(STATEMENT))?;
        tx.execute(
            "INSERT INTO attributor.migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .map_err(db(STATEMENT))?;
        applied.push(version);
    }
    tx.commit().await.map_err(db(STATEMENT))?;
    Ok(applied)
}

/// A number no other call is likely to choose: what a recording call marks
/// its row with, to tell its own insert from an earlier one.
fn nonce() -> i64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // A fresh `RandomState` is seeded from the operating system's
    // randomness (per thread, then stepped), so processes differ; the count
    // keeps calls in one process apart.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    i64::from_ne_bytes(hasher.finish().to_ne_bytes())
}
