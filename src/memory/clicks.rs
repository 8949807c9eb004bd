//! The in-memory click store.

use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::RwLock;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use smallvec::SmallVec;

use super::compact::{Chunks, Padded, from_nanos, read, saturating_nanos, shard_of, to_nanos, write};
use crate::clicks::{ClickQuery, ClickStore};
use crate::conversion::{Click, SubIds};
use crate::error::ClickError;
use crate::ids::{AffiliateId, ClickId, CustomerId};
use crate::policy::ClickPick;
use crate::resolve::ClickEvidence;

/// The number of shards of each kind: a power of two.
const SHARDS: usize = 64;

/// No customer.
const NONE: u32 = u32::MAX;

/// Bits of a global reference that name the shard.
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

/// A click store in memory: the embedded default and the reference
/// implementation of [`ClickStore`]. `Sync`; writes take `&self`.
///
/// # Layout and concurrency
///
/// Clicks are spread over 64 shards by the hash of their id, and customers
/// over 64 more by the hash of theirs; every shard has its own cache-padded
/// reader-writer lock. A click is a 28-byte record (affiliate, time in
/// nanoseconds, the offset of its id in a byte arena, its customer) in a
/// chunked vector, found by id through a hashbrown table of 4-byte record
/// indexes. Each customer keeps a list of (time, click) pairs sorted by
/// time, so a first-or-last query reads one list and one record. Sub ids
/// are kept aside, only for the clicks that have them. So ten million
/// clicks of a million customers take about 60 bytes a click plus the
/// length of its id.
///
/// Click times are kept as nanoseconds since 1970: clicks between
/// 1677-09-21 and 2262-04-11 are taken, others refused with
/// [`ClickError::OutOfRange`].
///
/// ```
/// use attributor::{AffiliateId, Click, ClickPick, ClickQuery, ClickStore, MemoryClickStore};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let store = MemoryClickStore::new();
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let customer = "cust-1".parse()?;
/// store.insert(Click::new("c-1".parse()?, AffiliateId::new(1), t).customer(customer))?;
/// store.insert(Click::new("c-2".parse()?, AffiliateId::new(2), t + TimeDelta::hours(1)).customer(customer))?;
///
/// let last = store.find(&ClickQuery {
///     customer,
///     from: t,
///     to: t + TimeDelta::days(1),
///     pick: ClickPick::Last,
///     affiliate: None,
///     exclude: None,
/// })?;
/// assert_eq!(last.map(|c| c.affiliate), Some(AffiliateId::new(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemoryClickStore {
    clicks: Box<[Padded<RwLock<ClickShard>>; SHARDS]>,
    customers: Box<[Padded<RwLock<CustomerShard>>; SHARDS]>,
    hasher: DefaultHashBuilder,
}

impl Default for MemoryClickStore {
    fn default() -> Self {
        Self {
            clicks: Box::new(std::array::from_fn(|_| Padded::default())),
            customers: Box::new(std::array::from_fn(|_| Padded::default())),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

/// Ids one after another in chunks of at most this many bytes; an id never
/// spans two chunks.
const ARENA_CHUNK: usize = 1 << 16;

/// Short strings, appended and never removed.
#[derive(Debug, Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
}

impl Arena {
    /// Appends `bytes` (at most 255); returns their offset.
    fn push(&mut self, bytes: &[u8]) -> Option<u32> {
        if self
            .chunks
            .last()
            .is_none_or(|c| c.len() + bytes.len() > ARENA_CHUNK)
        {
            self.chunks.push(Vec::with_capacity(ARENA_CHUNK));
        }
        let chunk_index = self.chunks.len() - 1;
        let chunk = self.chunks.last_mut()?;
        let offset = chunk_index.checked_mul(ARENA_CHUNK)?.checked_add(chunk.len())?;
        chunk.extend_from_slice(bytes);
        u32::try_from(offset).ok()
    }

    fn get(&self, offset: u32, len: u8) -> &[u8] {
        let offset = offset as usize;
        let start = offset % ARENA_CHUNK;
        self.chunks
            .get(offset / ARENA_CHUNK)
            .and_then(|c| c.get(start..start + usize::from(len)))
            .unwrap_or_default()
    }
}

/// One click, compact: 28 bytes, 4-aligned.
#[derive(Clone, Copy, Debug)]
struct ClickRec {
    affiliate: [u32; 2],
    at: [u32; 2],
    id_offset: u32,
    /// A global customer reference, or [`NONE`].
    customer: u32,
    id_len: u8,
    has_subs: bool,
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

fn join(v: [u32; 2]) -> u64 {
    u64::from(v[0]) | (u64::from(v[1]) << 32)
}

impl ClickRec {
    fn at(&self) -> i64 {
        join(self.at) as i64
    }
}

#[derive(Debug, Default)]
struct ClickShard {
    recs: Chunks<ClickRec>,
    ids: Arena,
    by_id: HashTable<u32>,
    subs: HashMap<u32, SubIds>,
}

impl ClickShard {
    fn find(&self, hash: u64, id: &ClickId) -> Option<u32> {
        let want = id.as_bytes();
        self.by_id
            .find(hash, |&i| {
                self.recs
                    .get(i)
                    .is_some_and(|r| self.ids.get(r.id_offset, r.id_len) == want)
            })
            .copied()
    }
}

/// One of a customer's clicks: its time in nanoseconds and its global
/// reference, in 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Touch([u32; 3]);

impl Touch {
    fn new(at: i64, click: u32) -> Self {
        let [lo, hi] = split(at as u64);
        Self([lo, hi, click])
    }

    fn at(&self) -> i64 {
        join([self.0[0], self.0[1]]) as i64
    }

    fn click(&self) -> u32 {
        self.0[2]
    }
}

#[derive(Debug)]
struct CustomerRec {
    id_offset: u32,
    id_len: u8,
    /// Sorted by time; equal times in insertion order.
    touches: SmallVec<[Touch; 1]>,
}

#[derive(Debug, Default)]
struct CustomerShard {
    recs: Vec<CustomerRec>,
    ids: Arena,
    by_id: HashTable<u32>,
}

impl CustomerShard {
    fn find(&self, hash: u64, id: &CustomerId) -> Option<&CustomerRec> {
        let want = id.as_bytes();
        let index = *self.by_id.find(hash, |&i| {
            self.recs
                .get(i as usize)
                .is_some_and(|c| self.ids.get(c.id_offset, c.id_len) == want)
        })?;
        self.recs.get(index as usize)
    }
}

/// A global reference: the shard in the low bits, the index above.
fn global(shard: usize, index: u32) -> Option<u32> {
    let shifted = index
        .checked_shl(SHARD_BITS)
        .filter(|s| s >> SHARD_BITS == index)?;
    Some(shifted | shard as u32)
}

fn split_global(reference: u32) -> (usize, u32) {
    ((reference as usize) & (SHARDS - 1), reference >> SHARD_BITS)
}

impl MemoryClickStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    /// Records a click. Recording the same click again changes nothing.
    ///
    /// # Errors
    ///
    /// [`ClickError::Conflict`] if another click with this id is stored,
    /// [`ClickError::OutOfRange`] for a time the store cannot keep,
    /// [`ClickError::Full`] when a shard is full; the store is unchanged.
    pub fn insert(&self, click: Click) -> Result<(), ClickError> {
        let at = to_nanos(click.clicked_at).ok_or(ClickError::OutOfRange { id: click.id })?;
        let id_hash = self.hash(click.id.as_bytes());
        let click_shard_index = shard_of(id_hash, SHARDS);
        // Lock order: a click shard, then a customer shard. Readers never
        // hold two locks at once.
        let mut shard = write(&self.clicks[click_shard_index].0);
        if shard.find(id_hash, &click.id).is_some() {
            drop(shard);
            return if self.click(&click.id).ok().flatten() == Some(click) {
                Ok(())
            } else {
                Err(ClickError::Conflict { id: click.id })
            };
        }
        let full = ClickError::Full;
        let index = shard.recs.len();
        let click_ref = global(click_shard_index, index).ok_or(full)?;
        let ClickShard {
            recs,
            ids,
            by_id,
            subs,
        } = &mut *shard;
        // Bytes pushed to the arena by a write that fails later are never
        // referred to: harmless.
        let id_offset = ids.push(click.id.as_bytes()).ok_or(full)?;
        let customer = match click.customer {
            Some(c) => self.add_touch(&c, at, click_ref)?,
            None => NONE,
        };
        let rec = ClickRec {
            affiliate: split(click.affiliate.get()),
            at: split(at as u64),
            id_offset,
            customer,
            id_len: click.id.as_bytes().len() as u8,
            has_subs: !click.sub_ids.is_empty(),
        };
        let pushed = recs.push(rec).ok_or(full)?;
        by_id.insert_unique(id_hash, pushed, |&i| {
            recs.get(i)
                .map_or(0, |r| self.hasher.hash_one(ids.get(r.id_offset, r.id_len)))
        });
        if rec.has_subs {
            subs.insert(pushed, click.sub_ids);
        }
        Ok(())
    }

    /// Adds a touch to `customer`'s list; returns the customer's reference.
    fn add_touch(&self, customer: &CustomerId, at: i64, click_ref: u32) -> Result<u32, ClickError> {
        let hash = self.hash(customer.as_bytes());
        let shard_index = shard_of(hash, SHARDS);
        let mut shard = write(&self.customers[shard_index].0);
        let want = customer.as_bytes();
        let CustomerShard { recs, ids, by_id } = &mut *shard;
        let found = by_id
            .find(hash, |&i| {
                recs.get(i as usize)
                    .is_some_and(|c| ids.get(c.id_offset, c.id_len) == want)
            })
            .copied();
        let index = match found {
            Some(i) => i,
            None => {
                let index = u32::try_from(recs.len()).map_err(|_| ClickError::Full)?;
                global(shard_index, index).ok_or(ClickError::Full)?;
                let id_offset = ids.push(want).ok_or(ClickError::Full)?;
                recs.push(CustomerRec {
                    id_offset,
                    id_len: want.len() as u8,
                    touches: SmallVec::new(),
                });
                by_id.insert_unique(hash, index, |&i| {
                    recs.get(i as usize)
                        .map_or(0, |c| self.hasher.hash_one(ids.get(c.id_offset, c.id_len)))
                });
                index
            }
        };
        let rec = recs.get_mut(index as usize).ok_or(ClickError::Full)?;
        let position = rec.touches.partition_point(|t| t.at() <= at);
        rec.touches.insert(position, Touch::new(at, click_ref));
        global(shard_index, index).ok_or(ClickError::Full)
    }

    /// The click behind a global reference, given its customer.
    fn click_at(&self, reference: u32, customer: Option<CustomerId>) -> Option<Click> {
        let (shard_index, index) = split_global(reference);
        let shard = read(&self.clicks.get(shard_index)?.0);
        let rec = shard.recs.get(index)?;
        let id = ClickId::from_stored(shard.ids.get(rec.id_offset, rec.id_len))?;
        Some(Click {
            id,
            affiliate: AffiliateId::new(join(rec.affiliate)),
            clicked_at: from_nanos(rec.at()),
            customer,
            sub_ids: if rec.has_subs {
                shard.subs.get(&index).copied().unwrap_or_default()
            } else {
                SubIds::default()
            },
        })
    }

    /// The number of clicks stored.
    pub fn len(&self) -> usize {
        self.clicks.iter().map(|s| read(&s.0).recs.len() as usize).sum()
    }

    /// Whether no click is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClickStore for MemoryClickStore {
    type Error = Infallible;

    fn click(&self, id: &ClickId) -> Result<Option<Click>, Infallible> {
        let hash = self.hash(id.as_bytes());
        let (rec, subs) = {
            let shard = read(&self.clicks[shard_of(hash, SHARDS)].0);
            let Some(index) = shard.find(hash, id) else {
                return Ok(None);
            };
            let Some(rec) = shard.recs.get(index).copied() else {
                return Ok(None);
            };
            let subs = if rec.has_subs {
                shard.subs.get(&index).copied().unwrap_or_default()
            } else {
                SubIds::default()
            };
            (rec, subs)
        };
        let customer = if rec.customer == NONE {
            None
        } else {
            let (shard_index, index) = split_global(rec.customer);
            self.customers.get(shard_index).and_then(|s| {
                let shard = read(&s.0);
                let c = shard.recs.get(index as usize)?;
                CustomerId::from_stored(shard.ids.get(c.id_offset, c.id_len))
            })
        };
        Ok(Some(Click {
            id: *id,
            affiliate: AffiliateId::new(join(rec.affiliate)),
            clicked_at: from_nanos(rec.at()),
            customer,
            sub_ids: subs,
        }))
    }

    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Infallible> {
        Ok(self
            .best(query)
            .and_then(|(reference, _)| self.click_at(reference, Some(query.customer))))
    }

    fn click_evidence(&self, id: &ClickId) -> Result<Option<ClickEvidence>, Infallible> {
        let hash = self.hash(id.as_bytes());
        let shard = read(&self.clicks[shard_of(hash, SHARDS)].0);
        let rec = shard.find(hash, id).and_then(|index| shard.recs.get(index));
        Ok(rec.map(|rec| ClickEvidence {
            id: *id,
            affiliate: AffiliateId::new(join(rec.affiliate)),
            clicked_at: from_nanos(rec.at()),
        }))
    }

    fn find_evidence(&self, query: &ClickQuery) -> Result<Option<ClickEvidence>, Infallible> {
        Ok(self.best(query).map(|(_, evidence)| evidence))
    }
}

impl MemoryClickStore {
    /// The click that answers `query`, with its global reference.
    fn best(&self, query: &ClickQuery) -> Option<(u32, ClickEvidence)> {
        let (from, to) = (saturating_nanos(query.from), saturating_nanos(query.to));
        if from > to {
            return None;
        }
        let hash = self.hash(query.customer.as_bytes());
        // The candidates: the clicks at the best time in range, copied out so
        // that no two locks are held at once.
        // Sixteen held inline: a filtered query over a customer with more
        // clicks in range than that allocates.
        let mut candidates: SmallVec<[u32; 16]> = SmallVec::new();
        {
            let shard = read(&self.customers[shard_of(hash, SHARDS)].0);
            let customer = shard.find(hash, &query.customer)?;
            let start = customer.touches.partition_point(|t| t.at() < from);
            let end = customer.touches.partition_point(|t| t.at() <= to);
            let in_range = customer.touches.get(start..end).unwrap_or_default();
            match (query.affiliate, query.exclude) {
                // Without a filter only the best time matters.
                (None, None) => {
                    let best = match query.pick {
                        ClickPick::First => in_range.first(),
                        ClickPick::Last => in_range.last(),
                    };
                    if let Some(best) = best {
                        let same = in_range.iter().filter(|t| t.at() == best.at());
                        candidates.extend(same.map(Touch::click));
                    }
                }
                // With one, every click in range is a candidate, best first.
                _ => match query.pick {
                    ClickPick::First => candidates.extend(in_range.iter().map(Touch::click)),
                    ClickPick::Last => candidates.extend(in_range.iter().rev().map(Touch::click)),
                },
            }
        }
        let mut best: Option<(u32, ClickEvidence)> = None;
        for reference in candidates {
            let Some(click) = self.evidence_at(reference) else {
                continue;
            };
            if query.affiliate.is_some_and(|a| a != click.affiliate) || query.exclude == Some(click.affiliate)
            {
                continue;
            }
            match best {
                Some((_, b)) if b.clicked_at != click.clicked_at => break,
                Some((_, b)) if b.id <= click.id => {}
                _ => best = Some((reference, click)),
            }
        }
        best
    }

    /// The evidence of the click behind a global reference.
    fn evidence_at(&self, reference: u32) -> Option<ClickEvidence> {
        let (shard_index, index) = split_global(reference);
        let shard = read(&self.clicks.get(shard_index)?.0);
        let rec = shard.recs.get(index)?;
        Some(ClickEvidence {
            id: ClickId::from_stored(shard.ids.get(rec.id_offset, rec.id_len))?,
            affiliate: AffiliateId::new(join(rec.affiliate)),
            clicked_at: from_nanos(rec.at()),
        })
    }
}
