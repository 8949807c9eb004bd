//! The in-memory binding store.

use std::convert::Infallible;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::binding::{Binding, BindingStore};
use crate::ids::CustomerId;

/// A binding store in memory: the embedded default and the reference
/// implementation of [`BindingStore`]. `Sync`; writes take `&self`.
///
/// ```
/// use attributor::{AffiliateId, Binding, BindingStore, EventKind, MemoryBindingStore};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let store = MemoryBindingStore::new();
/// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let customer = "player-1".parse()?;
/// store.bind(&Binding {
///     customer,
///     affiliate: AffiliateId::new(3),
///     bound_at: t,
///     expires_at: None,
///     event: EventKind::Registration,
///     conversion: "REG-1".parse()?,
/// })?;
/// assert!(store.binding_before(&customer, t)?.is_none());
/// assert_eq!(store.binding_before(&customer, t + TimeDelta::seconds(1))?.map(|b| b.affiliate), Some(AffiliateId::new(3)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryBindingStore {
    inner: RwLock<HashMap<CustomerId, SmallVec<[Binding; 1]>>>,
}

impl MemoryBindingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of customers with a binding.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no customer is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every binding of `customer`, oldest first.
    pub fn history(&self, customer: &CustomerId) -> Vec<Binding> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(customer)
            .map_or_else(Vec::new, |h| h.to_vec())
    }
}

impl BindingStore for MemoryBindingStore {
    type Error = Infallible;

    fn binding_before(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<Option<Binding>, Infallible> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let Some(history) = inner.get(customer) else {
            return Ok(None);
        };
        let before = history.partition_point(|b| b.bound_at < at);
        Ok(before.checked_sub(1).and_then(|i| history.get(i)).copied())
    }

    fn bind(&self, binding: &Binding) -> Result<(), Infallible> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let history = inner.entry(binding.customer).or_default();
        history.retain(|b| b.conversion != binding.conversion);
        let key = (binding.bound_at, binding.conversion);
        let at = history.partition_point(|b| (b.bound_at, b.conversion) < key);
        history.insert(at, *binding);
        Ok(())
    }
}
