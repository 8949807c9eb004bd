//! The in-memory binding store.

use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;

use super::codec::{
    CUSTOM_EVENT, Reader, Sink, put_bytes, put_event, put_optional_time, put_time, put_u64, raw_time, time_of,
};
use super::compact::{Padded, prefetch, probe_control, read, read_batched, same_bytes, shard_of, write};
use crate::binding::{Binding, BindingStore};
use crate::conversion::Conversion;
use crate::ids::{AffiliateId, ConversionId, CustomerId};

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// The bytes an entry holds in the table's own slot; a longer encoding
/// goes to the heap.
const INLINE: usize = 62;

/// One customer's bindings, encoded: the customer's id (its length, then
/// its bytes), then each binding ([`put_kept`]), ordered by (`bound_at`,
/// `conversion`). An entry is one cache line: short encodings live in it,
/// longer ones behind it. A customer with one binding takes 36 bytes plus
/// its id and the conversion's (24 without an expiry), and a custom
/// event's label and its length; each further binding 35 bytes (23
/// without an expiry) plus its conversion's id.
#[derive(Debug)]
#[repr(align(64))]
enum Entry {
    /// An encoding of at most [`INLINE`] bytes.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer encoding.
    Spilled(Box<[u8]>),
}

const _: () = assert!(size_of::<Entry>() == 64);

impl Entry {
    fn new(encoding: &[u8]) -> Self {
        let mut bytes = [0; INLINE];
        match bytes.get_mut(..encoding.len()) {
            Some(head) => {
                head.copy_from_slice(encoding);
                Self::Inline {
                    len: encoding.len() as u8,
                    bytes,
                }
            }
            None => Self::Spilled(encoding.into()),
        }
    }

    fn encoding(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Spilled(bytes) => bytes,
        }
    }

    /// The encoding, when it is too long for the entry.
    fn spilled(&self) -> Option<&[u8]> {
        match self {
            Self::Inline { .. } => None,
            Self::Spilled(bytes) => Some(bytes),
        }
    }

    /// The customer's id, and the encoded bindings after it.
    fn split(&self) -> (&[u8], &[u8]) {
        let mut r = Reader(self.encoding());
        let customer = r.bytes().unwrap_or_default();
        (customer, r.0)
    }

    fn is_of(&self, customer: &CustomerId) -> bool {
        same_bytes(self.split().0, customer.as_bytes())
    }
}

/// Appends the encoding of `b` without its customer, which its entry names
/// once.
fn put_kept(out: &mut impl Sink, b: &Binding) {
    put_u64(out, b.affiliate.get());
    put_time(out, b.bound_at);
    put_optional_time(out, b.expires_at);
    put_event(out, &b.event);
    put_bytes(out, b.conversion.as_bytes());
}

/// The next encoded binding of `r`, read as far as its start: its
/// affiliate, its start, and a reader at the rest of it.
fn next_start<'a>(r: &mut Reader<'a>) -> Option<(AffiliateId, (i64, u32), Reader<'a>)> {
    let affiliate = r.affiliate()?;
    let start = r.raw_time()?;
    let rest = Reader(r.0);
    // Past the rest: the end, the event, the conversion.
    if r.u8()? != 0 {
        r.raw_time()?;
    }
    if r.u8()? == CUSTOM_EVENT {
        r.bytes()?;
    }
    r.bytes()?;
    Some((affiliate, start, rest))
}

/// The binding of `customer` whose encoding starts with `affiliate` and
/// `start` and goes on in `rest`.
fn binding_of(
    customer: CustomerId,
    affiliate: AffiliateId,
    start: (i64, u32),
    mut rest: Reader<'_>,
) -> Option<Binding> {
    Some(Binding {
        customer,
        affiliate,
        bound_at: time_of(start)?,
        expires_at: rest.optional_time()?,
        event: rest.event()?,
        conversion: ConversionId::from_stored(rest.bytes()?)?,
    })
}

/// Every binding of `entry`, oldest first, for `customer`.
fn bindings_of(entry: &Entry, customer: CustomerId) -> impl Iterator<Item = Binding> + '_ {
    let mut r = Reader(entry.split().1);
    core::iter::from_fn(move || {
        let (affiliate, start, rest) = next_start(&mut r)?;
        binding_of(customer, affiliate, start, rest)
    })
}

/// The customers whose ids hash to one shard, found by that same hash.
type Shard = HashTable<Entry>;

/// The customer's latest binding made strictly before `at`, in `shard`.
fn latest_before(shard: &Shard, hash: u64, customer: &CustomerId, at: DateTime<Utc>) -> Option<Binding> {
    let entry = shard.find(hash, |e| e.is_of(customer))?;
    let at = raw_time(at);
    let mut r = Reader(entry.split().1);
    let mut latest = None;
    while let Some((affiliate, start, rest)) = next_start(&mut r) {
        if start >= at {
            break;
        }
        latest = Some((affiliate, start, rest));
    }
    let (affiliate, start, rest) = latest?;
    binding_of(*customer, affiliate, start, rest)
}

/// A binding store in memory: the embedded default and the reference
/// implementation of [`BindingStore`]. `Sync`; writes take `&self`.
///
/// Customers are spread over 64 shards by the hash of their id, each behind
/// its own cache-padded reader-writer lock. A shard is a hashbrown table
/// of entries found by the hash that chose the shard, so a lookup hashes
/// the id once. An entry is one 64-byte cache line holding the customer's
/// bindings encoded: ids as their bytes, instants as seconds and
/// nanoseconds, the event as a tag, the customer's id once. A customer
/// whose encoding outgrows 62 bytes (long ids, or a second binding) has it
/// on the heap, behind its entry. A lookup reads the table's control
/// bytes and one entry, and for such a customer one more block.
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
            .find(hash, |e| e.is_of(customer))
            .map_or_else(Vec::new, |e| bindings_of(e, *customer).collect())
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
        Ok(latest_before(&read(lock), hash, customer, at))
    }

    /// Reads the bindings of the conversions' customers, a stage at a time:
    /// the table's control bytes, then the entries (one cache line each),
    /// then the start of the encodings too long for their entry.
    fn prefetch(&self, conversions: &[Conversion]) {
        let keys = conversions.iter().filter_map(|c| {
            let hash = self.hasher.hash_one(c.customer.as_ref()?.as_bytes());
            Some((shard_of(hash, SHARDS), hash))
        });
        read_batched(&self.shards[..], keys, 3, |shard, &hash, stage| match stage {
            0 => probe_control(shard, hash),
            // Each entry the control bytes point to, without waiting to
            // compare it, so that the reads of the batch's entries overlap.
            1 => {
                shard.find(hash, |e| {
                    prefetch(e, |e| e.encoding().len());
                    false
                });
            }
            _ => {
                shard.find(hash, |e| {
                    if let Some(first) = e.spilled().and_then(|b| b.first()) {
                        prefetch(first, |b| *b);
                    }
                    false
                });
            }
        });
    }

    fn bind(&self, binding: &Binding) -> Result<(), Infallible> {
        let (hash, lock) = self.place(&binding.customer);
        let customer = binding.customer;
        // A binding written again, as a retry does, is already there: a read
        // finds it without the write lock or a new encoding.
        let held = read(lock)
            .find(hash, |e| e.is_of(&customer))
            .is_some_and(|e| bindings_of(e, customer).any(|b| b == *binding));
        if held {
            return Ok(());
        }
        let mut shard = write(lock);
        let entry = shard.find_mut(hash, |e| e.is_of(&customer));
        // The customer's bindings with this one in its place (replacing
        // one of the same conversion), encoded on the stack.
        let key = (binding.bound_at, binding.conversion);
        let mut history: SmallVec<[Binding; 4]> = entry
            .as_deref()
            .map(|e| {
                bindings_of(e, customer)
                    .filter(|b| b.conversion != binding.conversion)
                    .collect()
            })
            .unwrap_or_default();
        let at = history.partition_point(|b| (b.bound_at, b.conversion) < key);
        history.insert(at, *binding);
        let mut encoding: SmallVec<[u8; 256]> = SmallVec::new();
        put_bytes(&mut encoding, customer.as_bytes());
        for b in &history {
            put_kept(&mut encoding, b);
        }
        let new = Entry::new(&encoding);
        match entry {
            Some(entry) => *entry = new,
            None => {
                let hasher = &self.hasher;
                shard.insert_unique(hash, new, |e| hasher.hash_one(e.split().0));
            }
        }
        Ok(())
    }
}
