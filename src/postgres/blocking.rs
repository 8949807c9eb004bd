//! The PostgreSQL stores behind the crate's synchronous store traits.

use std::future::Future;

use chrono::{DateTime, Utc};
use tokio::runtime::{Builder, Handle, Runtime};

use super::attribute::{self, RecordArgs};
use super::{PgError, PgStore};
use crate::binding::{Binding, BindingStore};
use crate::clicks::{ClickQuery, ClickStore};
use crate::code::CouponCode;
use crate::conversion::Click;
use crate::decision::Decision;
use crate::ids::{ClickId, ConversionId, CustomerId};
use crate::ledger::{Ledger, Recording};
use crate::policy::UniqueKey;
use crate::registry::{CodeLookup, CodeRegistry, NearCodes};
use crate::resolve::ClickEvidence;

/// A [`PgStore`] for synchronous code: it implements [`CodeRegistry`],
/// [`ClickStore`], [`BindingStore`] and [`Ledger`], each call waiting for
/// the database on a runtime of its own, so that the conformance suite
/// ([`conformance`](crate::conformance)), an
/// [`Experiment`](crate::Experiment) or a synchronous
/// [`Attributor`](crate::Attributor) can run on PostgreSQL. Each read is
/// the statement [`PgAttributor`](crate::PgAttributor) gathers with, with
/// the other parts left out.
///
/// The synchronous [`Attributor`](crate::Attributor) makes one round trip
/// a store call (about seven for a new conversion), where a
/// [`PgAttributor`](crate::PgAttributor) makes two; and through separate
/// calls its ledger and binding writes are two transactions, not one: a
/// failure between them leaves a decision without its binding until the
/// same `Attributor` retries (a [`PgAttributor`](crate::PgAttributor),
/// which writes both at once, does not repair it). Attribute with a
/// [`PgAttributor`](crate::PgAttributor) in production.
///
/// A call made inside an asynchronous runtime would stall the runtime's
/// thread; it fails with [`PgError::InsideRuntime`] instead.
///
/// ```no_run
/// use attributor::{conformance, PgBlockingStore, ProgramId};
///
/// // Your own checks of the PostgreSQL stores: a fresh program each time.
/// let url = "postgres://localhost/affiliates";
/// let mut n = 0;
/// conformance::check_ledger(|| {
///     n += 1;
///     let program: ProgramId = format!("check-{}-{n}", std::process::id()).parse().unwrap();
///     PgBlockingStore::connect(url, program).unwrap()
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PgBlockingStore {
    store: PgStore,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl PgBlockingStore {
    /// Connects to the database at `url` and opens `program`, as
    /// [`PgStore::connect`] does, on a runtime of its own.
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`]; [`PgError::InsideRuntime`] inside an
    /// asynchronous runtime.
    pub fn connect(url: &str, program: crate::ids::ProgramId) -> Result<Self, PgError> {
        let runtime = runtime()?;
        let store = runtime.block_on(PgStore::connect(url, program))?;
        Ok(Self {
            store,
            runtime: Some(runtime),
        })
    }

    /// `store`, for synchronous code.
    ///
    /// # Errors
    ///
    /// [`PgError::InsideRuntime`] inside an asynchronous runtime.
    pub fn new(store: PgStore) -> Result<Self, PgError> {
        Ok(Self {
            store,
            runtime: Some(runtime()?),
        })
    }

    /// The asynchronous store.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Runs `future` (say a [`PgStore`] method) to its end, and returns
    /// its output.
    ///
    /// # Errors
    ///
    /// [`PgError::InsideRuntime`] inside an asynchronous runtime.
    pub fn run<F: Future>(&self, future: F) -> Result<F::Output, PgError> {
        if Handle::try_current().is_ok() {
            return Err(PgError::InsideRuntime);
        }
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(future)),
            None => Err(PgError::InsideRuntime),
        }
    }

    /// Runs a fallible future, flattening the errors.
    fn call<T, F: Future<Output = Result<T, PgError>>>(&self, future: F) -> Result<T, PgError> {
        self.run(future)?
    }
}

impl Drop for PgBlockingStore {
    fn drop(&mut self) {
        // Dropped inside an asynchronous runtime, a runtime must not wait
        // for its tasks: let it go in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A runtime of one worker thread, for the blocking calls.
fn runtime() -> Result<Runtime, PgError> {
    if Handle::try_current().is_ok() {
        return Err(PgError::InsideRuntime);
    }
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| PgError::Config {
            reason: format!("cannot start a runtime: {e}"),
        })
}

impl CodeRegistry for PgBlockingStore {
    type Error = PgError;

    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, PgError> {
        self.call(self.store.lookup(code, at))
    }

    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, PgError> {
        self.call(self.store.near(code, at))
    }
}

impl ClickStore for PgBlockingStore {
    type Error = PgError;

    fn click(&self, id: &ClickId) -> Result<Option<Click>, PgError> {
        self.call(self.store.click(id))
    }

    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, PgError> {
        self.call(async {
            let client = self.store.client().await?;
            match attribute::find_evidence(&client, &self.store, query).await? {
                Some(found) => self.store.click_on(&client, &found.id).await,
                None => Ok(None),
            }
        })
    }

    fn click_evidence(&self, id: &ClickId) -> Result<Option<ClickEvidence>, PgError> {
        self.call(async {
            let client = self.store.client().await?;
            attribute::click_evidence(&client, &self.store, id).await
        })
    }

    fn find_evidence(&self, query: &ClickQuery) -> Result<Option<ClickEvidence>, PgError> {
        self.call(async {
            let client = self.store.client().await?;
            attribute::find_evidence(&client, &self.store, query).await
        })
    }
}

impl BindingStore for PgBlockingStore {
    type Error = PgError;

    fn binding_before(&self, customer: &CustomerId, at: DateTime<Utc>) -> Result<Option<Binding>, PgError> {
        self.call(self.store.binding_before(customer, at))
    }

    fn bind(&self, binding: &Binding) -> Result<(), PgError> {
        self.call(self.store.bind(binding))
    }
}

impl Ledger for PgBlockingStore {
    type Error = PgError;

    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, PgError> {
        self.call(self.store.decision(id))
    }

    fn record(&self, decision: &Decision) -> Result<Option<Decision>, PgError> {
        match self.record_claiming(decision, &[])? {
            Recording::Recorded => Ok(None),
            Recording::Earlier(earlier) => Ok(Some(earlier)),
            Recording::Taken { key, by } => Err(PgError::Corrupt {
                table: "attributor.claims",
                key: decision.conversion.to_string(),
                what: format!("recording without claims found {key:?} held by {by}"),
            }),
        }
    }

    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, PgError> {
        self.call(async {
            let client = self.store.client().await?;
            let held = attribute::holders(&client, &self.store, std::slice::from_ref(key)).await?;
            Ok(held.into_iter().next().map(|(_, by)| by))
        })
    }

    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, PgError> {
        self.call(async {
            let args = RecordArgs::without_binding(decision, claims)?;
            let client = self.store.client().await?;
            attribute::record(&client, &self.store, &args).await
        })
    }
}
