//! The PostgreSQL backend's error.

use crate::clicks::ClickError;
use crate::registry::RegistryError;

/// The PostgreSQL backend failed, or refused what it was given.
///
/// Refused input changes nothing. A call that failed in the database may
/// or may not have done its work (a lost connection after a commit), and
/// a bulk write keeps the statements before the one that failed; each
/// method's docs say which. Retrying an attribution is always safe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string could not be read.
    #[error("connection string is not valid: {reason}")]
    Config {
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be had: the server is down or unreachable, the
    /// credentials were refused, or the pool gave up waiting.
    #[error("no connection to the database: {0}")]
    Connect(#[source] deadpool_postgres::PoolError),
    /// A statement failed: the server refused it (a check, a lost
    /// connection, a conflict that retries did not settle).
    #[error("statement {statement} failed: {source}")]
    Db {
        /// Which statement.
        statement: &'static str,
        /// The driver's error, with the server's SQLSTATE if it sent one.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database holds no attributor schema, or an older one than this
    /// crate needs: run [`PgStore::migrate`](crate::PgStore::migrate).
    #[error(
        "the database's attributor schema is at version {found}, this crate needs {expected}: run migrate"
    )]
    SchemaOutdated {
        /// The version found (0: none).
        found: i32,
        /// The version this crate needs.
        expected: i32,
    },
    /// The database's attributor schema is newer than this crate knows: a
    /// newer release migrated it. Refused, rather than read or written
    /// with the wrong rules.
    #[error(
        "the database's attributor schema is at version {found}, newer than version {known} this crate knows"
    )]
    SchemaTooNew {
        /// The version found.
        found: i32,
        /// The newest version this crate knows.
        known: i32,
    },
    /// A row read back could not be made into the crate's type: written by
    /// hand, or by another program, against the schema's rules.
    #[error("row {key:?} of table {table} cannot be read: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        what: String,
    },
    /// A value cannot be written: it cannot be turned into the row the
    /// schema keeps.
    #[error("{what} cannot be written: {reason}")]
    Unwritable {
        /// What was to be written.
        what: String,
        /// Why not.
        reason: String,
    },
    /// The registry refused the write: nothing was changed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The click store refused the click: nothing was changed.
    #[error(transparent)]
    Click(#[from] ClickError),
    /// A blocking call was made from inside an asynchronous runtime, where
    /// it would stall the runtime's thread: use the asynchronous store.
    #[error("a blocking PostgreSQL call was made inside an async runtime; use PgStore's async methods there")]
    InsideRuntime,
}

impl PgError {
    /// Whether the same call may succeed if made again: a lost connection,
    /// a server that is starting or shutting down, a serialization failure
    /// or deadlock that retries did not settle, a pool that timed out.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(deadpool_postgres::PoolError::Timeout(_)) => true,
            // A refused password or a missing database stays so.
            Self::Connect(deadpool_postgres::PoolError::Backend(e)) => is_transient(e),
            Self::Db { source, .. } => is_transient(source),
            _ => false,
        }
    }
}

/// A driver error that a retry of the same statement may not meet: a lost
/// or refused connection, a server starting or stopping, a serialization
/// failure or a deadlock.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            // A server that became a read-only standby (a failover), and a
            // statement cancelled for taking too long.
            SqlState::READ_ONLY_SQL_TRANSACTION,
            SqlState::QUERY_CANCELED,
        ]
        .contains(code),
        // No SQLSTATE: the connection broke if the cause is an IO error;
        // otherwise a value could not be converted, which a retry repeats.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Whether a statement failed because of concurrent transactions only, so
/// that running it again on the same connection may succeed.
pub(crate) fn is_conflict(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Names the statement a driver error came from.
pub(crate) fn db(statement: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |source| PgError::Db { statement, source }
}
