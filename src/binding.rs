//! Bindings: a customer locked to an affiliate for repeat conversions.

use chrono::{DateTime, Utc};

use crate::conversion::{Conversion, EventKind};
use crate::ids::{AffiliateId, ConversionId, CustomerId};

/// A customer bound to an affiliate: conversions after `bound_at` and before
/// `expires_at` are credited to it while the policy lets bindings hold.
///
/// ```
/// use attributor::{AffiliateId, Binding, EventKind};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let b = Binding {
///     customer: "player-1".parse()?,
///     affiliate: AffiliateId::new(3),
///     bound_at: at,
///     expires_at: Some(at + TimeDelta::days(90)),
///     event: EventKind::Registration,
///     conversion: "REG-1".parse()?,
/// };
/// assert!(b.is_live_at(at + TimeDelta::days(89)));
/// assert!(!b.is_live_at(at + TimeDelta::days(90)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Binding {
    /// The customer bound.
    pub customer: CustomerId,
    /// The affiliate the customer is bound to.
    pub affiliate: AffiliateId,
    /// When the binding was made: the time of the conversion that made it.
    pub bound_at: DateTime<Utc>,
    /// When it ends (exclusive); `None` for ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The event that bound.
    pub event: EventKind,
    /// The conversion that bound.
    pub conversion: ConversionId,
}

impl Binding {
    /// `bound_at <= at < expires_at`.
    pub fn is_live_at(&self, at: DateTime<Utc>) -> bool {
        self.bound_at <= at && self.expires_at.is_none_or(|end| at < end)
    }
}

/// Where bindings are kept.
///
/// # Contract
///
/// A store keeps each customer's bindings as a history ordered by
/// (`bound_at`, `conversion`).
///
/// * [`BindingStore::binding_before`] returns the latest binding of the
///   customer with `bound_at` strictly before `at` (the greatest
///   (`bound_at`, `conversion`) pair among them, conversion ids compared
///   byte by byte in UTF-8 as `Ord` on them does), expired or not, or `None`.
///   A binding therefore never applies to the conversion that made it, nor
///   to another conversion at the same instant; and a retried conversion
///   sees the same binding as its first try did.
/// * [`BindingStore::bind`] adds a binding. Writing a binding with the same
///   customer and conversion again replaces the earlier one, so the write is
///   idempotent. It never removes another conversion's binding.
///
/// Both take `&self`; a store shared by threads synchronises inside. An
/// `Err` means the backend failed and, for `bind`, that the binding may or
/// may not have been written (a retry is safe).
/// [`conformance::check_binding_store`](crate::conformance::check_binding_store)
/// checks an implementation against this contract.
pub trait BindingStore {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The customer's latest binding made strictly before `at`.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn binding_before(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<Option<Binding>, Self::Error>;

    /// Adds `binding` to its customer's history.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn bind(&self, binding: &Binding) -> Result<(), Self::Error>;

    /// A hint that `conversions` are about to be attributed, one after another.
    /// A backend may read what it will be asked about them (their customers'
    /// bindings) in one pass, where asking one at a time waits for each read in
    /// turn. It must not change any answer: a backend that keeps what it read
    /// must still answer with every write made since, such as a binding an
    /// earlier conversion of the same batch made. It reports no error; a
    /// failure is left to the call that follows. The default does nothing.
    /// [`Attributor::attribute_all`](crate::Attributor::attribute_all) calls
    /// it before each batch of 16.
    fn prefetch(&self, conversions: &[Conversion]) {
        let _ = conversions;
    }
}

macro_rules! forward_binding_store {
    ($($ty:ty),*) => {$(
        impl<T: BindingStore + ?Sized> BindingStore for $ty {
            type Error = T::Error;
            fn binding_before(&self, customer: &CustomerId, at: DateTime<Utc>) -> Result<Option<Binding>, Self::Error> {
                (**self).binding_before(customer, at)
            }
            fn bind(&self, binding: &Binding) -> Result<(), Self::Error> {
                (**self).bind(binding)
            }
            fn prefetch(&self, conversions: &[Conversion]) {
                (**self).prefetch(conversions)
            }
        }
    )*};
}

forward_binding_store!(&T, Box<T>, std::sync::Arc<T>);
