//! The in-memory binding store.

use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;

use super::compact::{Padded, prefetch, probe_control, read, read_batched, shard_of, write};
use crate::binding::{Binding, BindingStore};
use crate::conversion::{Conversion, EventKind};
use crate::ids::{AffiliateId, ConversionId, CustomerId};

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// One customer's bindings, ordered by (`bound_at`, `conversion`), kept
/// without the customer, which the entry names once.
#[derive(Debug)]
struct Entry {
    customer: CustomerId,
    history: SmallVec<[Kept; 1]>,
}

/// A binding without its customer.
#[derive(Clone, Copy, Debug)]
struct Kept {
    affiliate: AffiliateId,
    bound_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    event: EventKind,
    conversion: ConversionId,
}

impl Kept {
    fn of(b: &Binding) -> Self {
        Self {
            affiliate: b.affiliate,
            bound_at: b.bound_at,
            expires_at: b.expires_at,
            event: b.event,
            conversion: b.conversion,
        }
    }

    fn binding(&self, customer: CustomerId) -> Binding {
        Binding {
            customer,
            affiliate: self.affiliate,
            bound_at: self.bound_at,
            expires_at: self.expires_at,
            event: self.event,
            conversion: self.conversion,
        }
    }
}

/// The customers whose ids hash to one shard, found by that same hash.
type Shard = HashTable<Entry>;

/// The customer's latest binding made strictly before `at`, in `shard`.
fn latest_before<'a>(
    shard: &'a Shard,
    hash: u64,
    customer: &CustomerId,
    at: DateTime<Utc>,
) -> Option<&'a Kept> {
    let entry = shard.find(hash, |e| e.customer.as_bytes() == customer.as_bytes())?;
    let before = entry.history.partition_point(|b| b.bound_at < at);
    entry.history.get(before.checked_sub(1)?)
}

/// A binding store in memory: the embedded default and the reference
/// implementation of [`BindingStore`]. `Sync`; writes take `&self`.
///
/// Customers are spread over 64 shards by the hash of their id, each behind
/// its own cache-padded reader-writer lock. A shard is a hashbrown table
/// of entries found by the hash that chose the shard, so a lookup hashes
/// the id once; an entry names the customer once and holds one binding
/// inline.
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
    shards: Box<[Padded<RwLock<Shard>>; SHARDS]>,
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

    /// The hash of `customer` and its shard.
    fn place(&self, customer: &CustomerId) -> (u64, &RwLock<Shard>) {
        let hash = self.hasher.hash_one(customer.as_bytes());
        // `shard_of` masks the hash below `SHARDS`: always in bounds.
        (hash, &self.shards[shard_of(hash, SHARDS)].0)
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
        let (hash, lock) = self.place(customer);
        read(lock)
            .find(hash, |e| e.customer.as_bytes() == customer.as_bytes())
            .map_or_else(Vec::new, |e| {
                e.history.iter().map(|k| k.binding(*customer)).collect()
            })
    }
}

impl BindingStore for MemoryBindingStore {
    type Error = Infallible;

    fn binding_before(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<Option<Binding>, Infallible> {
        let (hash, lock) = self.place(customer);
        Ok(latest_before(&read(lock), hash, customer, at).map(|k| k.binding(*customer)))
    }

    /// Reads the bindings of the conversions' customers, a stage at a time:
    /// the table's control bytes, then the entries.
    fn prefetch(&self, conversions: &[Conversion]) {
        let keys = conversions.iter().filter_map(|c| {
            let hash = self.hasher.hash_one(c.customer.as_ref()?.as_bytes());
            Some((shard_of(hash, SHARDS), hash))
        });
        read_batched(&self.shards[..], keys, 2, |shard, &hash, stage| {
            if stage == 0 {
                probe_control(shard, hash);
            } else {
                // Each entry the control bytes point to, without waiting
                // to compare it, so that the reads of the batch's entries
                // overlap: the lines that hold its customer and the start
                // of its history. The rest of a binding kept inline cannot
                // be named without reading the entry, and a history of
                // more than one binding, kept apart, is left to the lookup.
                shard.find(hash, |e| {
                    prefetch(&e.history, |h| h.len());
                    for byte in e.customer.ends() {
                        prefetch(byte, |b| *b);
                    }
                    false
                });
            }
        });
    }

    fn bind(&self, binding: &Binding) -> Result<(), Infallible> {
        let (hash, lock) = self.place(&binding.customer);
        let mut shard = write(lock);
        let customer = binding.customer;
        let same = |e: &Entry| e.customer.as_bytes() == customer.as_bytes();
        let history = match shard.find_mut(hash, same) {
            Some(entry) => &mut entry.history,
            None => {
                let entry = Entry {
                    customer,
                    history: SmallVec::new(),
                };
                let hasher = &self.hasher;
                &mut shard
                    .insert_unique(hash, entry, |e| hasher.hash_one(e.customer.as_bytes()))
                    .into_mut()
                    .history
            }
        };
        history.retain(|b| b.conversion != binding.conversion);
        let key = (binding.bound_at, binding.conversion);
        let at = history.partition_point(|b| (b.bound_at, b.conversion) < key);
        history.insert(at, Kept::of(binding));
        Ok(())
    }
}
