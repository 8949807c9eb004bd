//! The record of decisions, keyed by conversion id.

use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ids::ConversionId;

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
/// Both take `&self`. An `Err` means the backend failed and, for `record`,
/// that the decision may or may not have been recorded (a retry is safe).
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
            fn prefetch(&self, conversions: &[Conversion]) {
                (**self).prefetch(conversions)
            }
        }
    )*};
}

forward_ledger!(&T, Box<T>, std::sync::Arc<T>);
