//! The in-memory binding store.

use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashMap};
use smallvec::SmallVec;

use super::compact::{Padded, read, shard_of, write};
use crate::binding::{Binding, BindingStore};
use crate::ids::CustomerId;

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// Each customer's bindings, ordered by (`bound_at`, `conversion`).
type Histories = HashMap<CustomerId, SmallVec<[Binding; 1]>>;

/// A binding store in memory: the embedded default and the reference
/// implementation of [`BindingStore`]. `Sync`; writes take `&self`.
///
/// Customers are spread over 64 shards by the hash of their id, each behind
/// its own cache-padded reader-writer lock; a customer's history holds one
/// binding inline.
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
#[derive(Debug)]
pub struct MemoryBindingStore {
    shards: Box<[Padded<RwLock<Histories>>; SHARDS]>,
    hasher: DefaultHashBuilder,
}

impl Default for MemoryBindingStore {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Padded::default())),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl MemoryBindingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, customer: &CustomerId) -> &RwLock<Histories> {
        // `shard_of` masks the hash below `SHARDS`: always in bounds.
        &self.shards[shard_of(self.hasher.hash_one(customer.as_bytes()), SHARDS)].0
    }

    /// The number of customers with a binding.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(&s.0).len()).sum()
    }

    /// Whether no customer is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every binding of `customer`, oldest first.
    pub fn history(&self, customer: &CustomerId) -> Vec<Binding> {
        read(self.shard(customer))
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
        let shard = read(self.shard(customer));
        let Some(history) = shard.get(customer) else {
            return Ok(None);
        };
        let before = history.partition_point(|b| b.bound_at < at);
        Ok(before.checked_sub(1).and_then(|i| history.get(i)).copied())
    }

    fn bind(&self, binding: &Binding) -> Result<(), Infallible> {
        let mut shard = write(self.shard(&binding.customer));
        let history = shard.entry(binding.customer).or_default();
        history.retain(|b| b.conversion != binding.conversion);
        let key = (binding.bound_at, binding.conversion);
        let at = history.partition_point(|b| (b.bound_at, b.conversion) < key);
        history.insert(at, *binding);
        Ok(())
    }
}
