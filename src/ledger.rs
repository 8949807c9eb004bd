//! The record of decisions, keyed by conversion id.

use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ids::ConversionId;
use crate::policy::UniqueKey;

/// Whether an attribution recorded the decision it returned, or found it
/// recorded before: what tells a first postback from a retried one.
///
/// Of all the calls for one conversion id, at most one is told
/// [`Recorded::Now`], so acting on `Now` alone never acts twice. It can
/// act never: a call that records the decision and then fails (the
/// binding's write fails after the record, or the database's reply to a
/// committed record is lost) returns an error, and its retry finds the
/// decision recorded and says [`Recorded::Before`]. Where a lost action
/// matters more than a late one (a payout), keep your own mark of what
/// was acted on, keyed by conversion id, and check it for `Before` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// This call recorded the decision: it is new. Act on it: send the
    /// partner's outbound postback, book the payout.
    Now,
    /// The ledger held a decision for the conversion id already (a retried
    /// postback, one another process recorded first, or one a failed call
    /// recorded), and that decision is returned.
    Before,
}

/// What an attribution returns: the decision, and whether this call
/// recorded it.
///
/// ```
/// use attributor::{Attributor, Conversion, EventKind, MemoryBindingStore, MemoryClickStore,
///     MemoryCodeRegistry, MemoryLedger, Policy, Recorded};
/// use chrono::{TimeZone, Utc};
///
/// let attributor = Attributor::new(MemoryCodeRegistry::new(), MemoryClickStore::new(),
///     MemoryBindingStore::new(), MemoryLedger::new(), Policy::coupon_first());
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at);
///
/// let first = attributor.attribute(&order)?;
/// assert_eq!(first.recorded, Recorded::Now); // send the partner's postback
/// let retry = attributor.attribute(&order)?;
/// assert_eq!(retry.recorded, Recorded::Before); // already sent
/// assert_eq!(retry.decision, first.decision);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributed {
    /// The decision: the one recorded now, or the one recorded before.
    pub decision: Decision,
    /// Whether this call recorded it.
    pub recorded: Recorded,
}

impl Attributed {
    /// Whether this call recorded the decision ([`Recorded::Now`]).
    pub fn is_new(&self) -> bool {
        self.recorded == Recorded::Now
    }

    /// The decision.
    pub fn into_decision(self) -> Decision {
        self.decision
    }
}

/// The decision's sentence.
impl core::fmt::Display for Attributed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.decision.fmt(f)
    }
}

/// What [`Ledger::record_claiming`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
// As large as the `Option<Decision>` that `Ledger::record` returns: boxing
// the decision would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
pub enum Recording {
    /// It recorded the decision, and its claims.
    Recorded,
    /// A decision was recorded for the conversion id before: that one
    /// stands, and nothing was written.
    Earlier(Decision),
    /// Another conversion holds one of the keys: nothing was written.
    Taken {
        /// The key.
        key: UniqueKey,
        /// The conversion that holds it.
        by: ConversionId,
    },
}

impl From<Option<Decision>> for Recording {
    /// What [`Ledger::record`] returns, as a recording: `None` recorded.
    fn from(earlier: Option<Decision>) -> Self {
        earlier.map_or(Self::Recorded, Self::Earlier)
    }
}

/// Where decisions are recorded, so that a conversion reported twice (a
/// retried postback) is credited once.
///
/// # Contract
///
/// * [`Ledger::get`] returns the decision recorded for the conversion id, or
///   `None`.
/// * [`Ledger::record`] inserts the decision under `decision.conversion` only
///   if no decision is recorded for that id (insert-if-absent, atomic with
///   respect to other calls). It returns `None` when it inserted, and the
///   decision already recorded, unchanged, when there was one. A recorded
///   decision is never replaced.
///
/// * [`Ledger::record_claiming`] records a decision together with keys it
///   claims ([`UniqueKey`]), atomically: if a decision is recorded for its
///   id, it returns [`Recording::Earlier`] with it; else if another
///   conversion holds one of the keys, [`Recording::Taken`] with the first
///   such key (in the order given) and its holder; else it records the
///   decision, makes the conversion the holder of every key it does not
///   hold yet, and returns [`Recording::Recorded`]. Whatever it returns,
///   nothing else was written. A key once held is held for good.
/// * [`Ledger::holder`] returns the conversion that holds a key, or `None`.
///
/// All take `&self`. An `Err` means the backend failed and, for the
/// writes, that the decision may or may not have been recorded (a retry
/// is safe).
///
/// A ledger must keep claims even if its operator never asks for them: a
/// policy with [`Policy::with_once_per_customer`](crate::Policy::with_once_per_customer)
/// or [`Policy::with_once_per_click`](crate::Policy::with_once_per_click) relies on
/// them, and a ledger that ignored them would pay duplicates silently.
/// [`conformance::check_ledger`](crate::conformance::check_ledger) checks an
/// implementation against this contract.
pub trait Ledger {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The decision recorded for `id`.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error>;

    /// Records `decision` unless one is recorded for its conversion already;
    /// returns that earlier one if so.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error>;

    /// The conversion that holds `key`.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Self::Error>;

    /// Records `decision` and claims `claims` for its conversion, all or
    /// nothing (see the contract).
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, Self::Error>;

    /// A hint that `conversions` are about to be attributed, one after another.
    /// A backend may read what it will be asked about them (their ids) in one
    /// pass, where asking one at a time waits for each read in turn. It must
    /// not change any answer: a backend that keeps what it read must still
    /// answer with every write made since, such as the decision an earlier
    /// conversion of the same batch recorded. It reports no error; a failure is
    /// left to the call that follows. The default does nothing.
    /// [`Attributor::attribute_all`](crate::Attributor::attribute_all) calls
    /// it before each batch of 16.
    fn prefetch(&self, conversions: &[Conversion]) {
        let _ = conversions;
    }
}

macro_rules! forward_ledger {
    ($($ty:ty),*) => {$(
        impl<T: Ledger + ?Sized> Ledger for $ty {
            type Error = T::Error;
            fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error> {
                (**self).get(id)
            }
            fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
                (**self).record(decision)
            }
            fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
                (**self).holder(key)
            }
            fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, Self::Error> {
                (**self).record_claiming(decision, claims)
            }
            fn prefetch(&self, conversions: &[Conversion]) {
                (**self).prefetch(conversions)
            }
        }
    )*};
}

forward_ledger!(&T, Box<T>, std::sync::Arc<T>);
