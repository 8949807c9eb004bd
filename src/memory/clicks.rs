//! The in-memory click store.

use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::RwLock;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use smallvec::SmallVec;

use super::compact::{
    Chunks, Padded, exact_nanos, from_nanos, nanos_from, nanos_until, prefetch, probe_control, read,
    read_batched, same_bytes, touch_lines, write,
};
use crate::clicks::{ClickError, ClickQuery, ClickStore};
use crate::conversion::{Click, Conversion, SubIds};
use crate::ids::{AffiliateId, ClickId, CustomerId};
use crate::policy::ClickPick;
use crate::resolve::ClickEvidence;

/// The number of shards of each kind: a power of two.
const SHARDS: usize = 64;

/// A click store in memory: the embedded default and the reference
/// implementation of [`ClickStore`]. `Sync`; writes take `&self`.
///
/// # Layout and concurrency
///
/// The layout is customer-centric. Customers are spread over 64 shards by
/// the hash of their id; each shard is a hashbrown table of blocks, one
/// owned byte block a customer. A block holds, one after another, a small
/// header (the number of clicks, the bytes of click ids, the length of the
/// customer's id), the customer's id, then the customer's clicks sorted by
/// time (equal times in insertion order) as 21-byte touches (time in
/// nanoseconds, affiliate, where the click's id is, whether it has sub ids),
/// then free space, then the click ids, each behind its length, appended
/// from the end of the block towards its middle. An id's place is counted
/// from the end of the block, so it stays put when a touch is inserted in
/// the middle or the block grows (by a sixteenth, into a block of the exact
/// new size). So a first-or-last query reads a table slot and one block:
/// the customer's id, its touches and the chosen click's id.
///
/// Clicks are found by id through 64 more shards, by the hash of the click
/// id: hashbrown tables of 12-byte entries (32 bits of the click id's hash,
/// 32 bits of its customer's, the place of its id in the customer's block).
/// So a click by id reads a table slot, the customer's table slot and the
/// customer's block. A click without a customer lives in its click shard
/// instead, as a 24-byte record in a chunked vector with its id in a byte
/// arena, and its entry says so with a tag bit. Sub ids are kept aside in
/// the click shard, by click id, only for the clicks that have them. So ten
/// million clicks of a million customers take about 52 bytes a click plus
/// the length of its id (the index about 22, the touch and the id's length
/// byte 22, the customers' table slots, ids, headers and blocks' free space
/// the rest).
///
/// A click by id finds its touch by a binary search over the places of the
/// customer's ids, which are in order when the customer's clicks came in
/// time order, and otherwise by a scan of the customer's touches. One
/// customer's click ids may fill at most 1 GiB, and its block at most
/// 4 GiB; past that its clicks are refused with [`ClickError::Full`]. The
/// [`ClickStore::customer_click_evidence`] hint walks the ids of a
/// customer with at most 64 clicks; for a busier one it goes to the index.
///
/// Every shard has its own cache-padded reader-writer lock. Readers hold
/// one lock at a time: a click by id copies its candidate entries out of
/// the click shard before it reads a customer shard. (A
/// [`prefetch`](ClickStore::prefetch) holds several customer shards, but
/// only those it gets without waiting.) A writer locks the
/// click shard of the click's id, then, one at a time, customer shards; no
/// one takes a click shard while holding a customer shard, so writers
/// cannot deadlock. Entries and ids are never removed or moved within
/// their block's id area, so an entry copied out stays good.
///
/// Click times are kept as nanoseconds since 1970: clicks between
/// 1677-09-21 and 2262-04-11 are taken, others refused with
/// [`ClickError::OutOfRange`], as are clicks stamped in a leap second
/// (`23:59:60`), whose count of nanoseconds would be the next second's.
/// Queries take any bounds, leap seconds included.
///
/// ```
/// use attributor::{AffiliateId, Click, ClickPick, ClickQuery, ClickStore, MemoryClickStore};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let store = MemoryClickStore::new();
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let customer = "cust-1".parse()?;
/// store.insert(Click::new("c-1".parse()?, AffiliateId::new(1), t).with_customer(customer))?;
/// store.insert(Click::new("c-2".parse()?, AffiliateId::new(2), t + TimeDelta::hours(1)).with_customer(customer))?;
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

/// 32 bits of an id's hash: enough to place it in a table, and to find its
/// shard ([`shard_of_key`]).
fn key_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The shard of a key: bits 8 to 13 of the key, bits the table hash mixes
/// with the others.
fn shard_of_key(key: u32) -> usize {
    (key >> 8) as usize & (SHARDS - 1)
}

/// The hash a table places a key by: every bit of the key reaches both the
/// low bits (the bucket) and the top seven (the control byte).
fn table_hash(key: u32) -> u64 {
    let x = u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 32)
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
        let offset = u32::try_from(offset).ok()?;
        chunk.extend_from_slice(bytes);
        Some(offset)
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

/// A click without a customer, compact: 24 bytes, 4-aligned.
#[derive(Clone, Copy, Debug)]
struct LooseRec {
    affiliate: [u32; 2],
    at: [u32; 2],
    id_offset: u32,
    id_len: u8,
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

fn join(v: [u32; 2]) -> u64 {
    u64::from(v[0]) | (u64::from(v[1]) << 32)
}

/// The tag of an entry whose click has no customer: its place is the index
/// of a [`LooseRec`].
const LOOSE: u32 = 1 << 31;
/// The tag of an entry whose click has sub ids.
const SUBS: u32 = 1 << 30;
/// The bits of an entry's place below its tags; also the largest place.
const PLACE: u32 = SUBS - 1;

/// A click in the by-id index: 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// [`key_of`] the click id's hash.
    key: u32,
    /// [`key_of`] the customer id's hash, for a click with a customer.
    customer: u32,
    /// Tags ([`LOOSE`], [`SUBS`]) and, below them, the place of the click's
    /// id in its customer's block (see [`Block`]) or the index of its
    /// [`LooseRec`].
    place: u32,
}

impl Entry {
    fn loose(&self) -> bool {
        self.place & LOOSE != 0
    }

    fn has_subs(&self) -> bool {
        self.place & SUBS != 0
    }

    fn position(&self) -> u32 {
        self.place & PLACE
    }
}

#[derive(Debug, Default)]
struct ClickShard {
    by_id: HashTable<Entry>,
    loose: Chunks<LooseRec>,
    ids: Arena,
    subs: HashMap<ClickId, SubIds>,
}

#[derive(Debug, Default)]
struct CustomerShard {
    blocks: HashTable<Box<[u8]>>,
}

/// A click's fields as a customer's block keeps them.
#[derive(Clone, Copy, Debug)]
struct Touch {
    at: i64,
    affiliate: u64,
    /// The place of the click's id: see [`Block`].
    place: u32,
    has_subs: bool,
}

/// Bytes of a block's header: clicks (u32), bytes of the id area (u32),
/// length of the customer id (u8).
const HEAD: usize = 9;
/// Bytes of a touch: time (i64), affiliate (u64), place of the id (u32),
/// flags (u8).
const TOUCH: usize = 21;
/// The flag of a touch whose click has sub ids.
const TOUCH_SUBS: u8 = 1;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) -> Option<()> {
    bytes
        .get_mut(at..at.checked_add(value.len())?)?
        .copy_from_slice(value);
    Some(())
}

/// A customer's block, read: `[header][customer id][touches][free][ids]`,
/// where every id in the id area is its length (u8) then its bytes, and
/// the place of an id is the distance from its length byte to the end of
/// the block.
#[derive(Clone, Copy)]
struct Block<'a> {
    bytes: &'a [u8],
    /// The number of touches.
    len: usize,
    /// The bytes of the id area.
    ids: usize,
    /// Where the touches start.
    touches: usize,
}

impl<'a> Block<'a> {
    fn new(bytes: &'a [u8]) -> Option<Self> {
        let len = u32_at(bytes, 0)? as usize;
        let ids = u32_at(bytes, 4)? as usize;
        let touches = HEAD + usize::from(*bytes.get(8)?);
        Some(Self {
            bytes,
            len,
            ids,
            touches,
        })
    }

    /// The customer id of a block.
    fn customer(bytes: &[u8]) -> Option<&[u8]> {
        bytes.get(HEAD..HEAD + usize::from(*bytes.get(8)?))
    }

    fn offset(&self, i: usize) -> usize {
        self.touches + i * TOUCH
    }

    /// The time of touch `i`.
    fn at(&self, i: usize) -> Option<i64> {
        Some(u64_at(self.bytes, self.offset(i))? as i64)
    }

    fn touch(&self, i: usize) -> Option<Touch> {
        let o = self.offset(i);
        Some(Touch {
            at: u64_at(self.bytes, o)? as i64,
            affiliate: u64_at(self.bytes, o + 8)?,
            place: u32_at(self.bytes, o + 16)?,
            has_subs: *self.bytes.get(o + 20)? & TOUCH_SUBS != 0,
        })
    }

    /// The id at `place`.
    fn id(&self, place: u32) -> Option<&'a [u8]> {
        id_at(self.bytes, place)
    }

    /// The first touch whose time is not `before`.
    fn partition(&self, before: impl Fn(i64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.at(mid).is_some_and(&before) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The place of the id of touch `i`.
    fn place(&self, i: usize) -> Option<u32> {
        u32_at(self.bytes, self.offset(i) + 16)
    }

    /// The touch whose id is at `place`. Places grow with insertion, so
    /// when clicks came in time order the touches are sorted by place too
    /// and a binary search finds it; otherwise, a scan.
    fn touch_at(&self, place: u32) -> Option<Touch> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.place(mid)?.cmp(&place) {
                std::cmp::Ordering::Equal => return self.touch(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        (0..self.len).find_map(|i| (self.place(i)? == place).then(|| self.touch(i))?)
    }
}

/// The id at `place` of a block.
fn id_at(bytes: &[u8], place: u32) -> Option<&[u8]> {
    let start = bytes.len().checked_sub(place as usize)?;
    let len = usize::from(*bytes.get(start)?);
    bytes.get(start + 1..start + 1 + len)
}

/// The touch of the click with id `want` at `place` of a block. Checking
/// that a touch has this place too makes sure that `place` is where an id
/// starts in this block, not inside another id.
fn touch_of(bytes: &[u8], place: u32, want: &[u8]) -> Option<Touch> {
    if id_at(bytes, place)? != want {
        return None;
    }
    Block::new(bytes)?.touch_at(place)
}

/// A new block for `customer`, with no clicks and room for exactly one
/// touch and an id of `id_len` bytes.
fn new_block(customer: &[u8], id_len: usize) -> Option<Box<[u8]>> {
    let cid_len = u8::try_from(customer.len()).ok()?;
    let mut bytes = vec![0u8; HEAD + customer.len() + TOUCH + 1 + id_len];
    put(&mut bytes, 8, &[cid_len])?;
    put(&mut bytes, HEAD, customer)?;
    Some(bytes.into_boxed_slice())
}

/// Adds a click to a customer's block, after the touches at or before its
/// time; returns the place of its id. Fails (with the block unchanged) when
/// the block cannot grow further.
fn add_touch(block: &mut Box<[u8]>, touch: Touch, id: &[u8]) -> Option<u32> {
    let old = Block::new(block)?;
    let (old_len, old_ids) = (old.len, old.ids);
    let id_len = u8::try_from(id.len()).ok()?;
    let record = 1 + id.len();
    let ids = old_ids.checked_add(record)?;
    let place = u32::try_from(ids).ok().filter(|p| *p <= PLACE)?;
    let len = u32::try_from(old_len.checked_add(1)?).ok()?;
    let position = old.partition(|at| at <= touch.at);
    let cut = old.offset(position);
    let end = old.offset(old_len);
    let used = end.checked_add(TOUCH)?.checked_add(ids)?;
    let mut encoded = [0u8; TOUCH];
    put(&mut encoded, 0, &touch.at.to_le_bytes())?;
    put(&mut encoded, 8, &touch.affiliate.to_le_bytes())?;
    put(&mut encoded, 16, &place.to_le_bytes())?;
    put(&mut encoded, 20, &[if touch.has_subs { TOUCH_SUBS } else { 0 }])?;
    if used > block.len() {
        // Grow by a sixteenth, into a block of the exact new size; the ids
        // move to the new end, their places unchanged.
        let size = used.checked_add(used / 16)?;
        u32::try_from(size).ok()?;
        let mut grown = vec![0u8; size];
        put(&mut grown, 0, block.get(..cut)?)?;
        put(&mut grown, cut, &encoded)?;
        put(&mut grown, cut + TOUCH, block.get(cut..end)?)?;
        let id_area = block.get(block.len().checked_sub(old_ids)?..)?;
        put(&mut grown, size.checked_sub(old_ids)?, id_area)?;
        put(&mut grown, size.checked_sub(ids)?, &[id_len])?;
        put(&mut grown, size.checked_sub(ids)? + 1, id)?;
        put(&mut grown, 0, &len.to_le_bytes())?;
        put(&mut grown, 4, &place.to_le_bytes())?;
        *block = grown.into_boxed_slice();
    } else {
        // Check every range before the first change.
        let size = block.len();
        let start = size.checked_sub(ids)?;
        block.get(cut..end + TOUCH)?;
        block.get(start..start + record)?;
        if let Some(moved) = block.get_mut(cut..end + TOUCH) {
            moved.copy_within(..end - cut, TOUCH);
        }
        put(block, cut, &encoded)?;
        put(block, start, &[id_len])?;
        put(block, start + 1, id)?;
        put(block, 0, &len.to_le_bytes())?;
        put(block, 4, &place.to_le_bytes())?;
    }
    Some(place)
}

/// A click found by id.
struct Found {
    affiliate: u64,
    at: i64,
    customer: Option<CustomerId>,
    subs: SubIds,
}

impl MemoryClickStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    /// The table hash of a block, from its customer id.
    fn block_hash(&self, block: &[u8]) -> u64 {
        Block::customer(block).map_or(0, |id| table_hash(key_of(self.hash(id))))
    }

    fn click_shard(&self, key: u32) -> &RwLock<ClickShard> {
        // `shard_of_key` masks the key below `SHARDS`: always in bounds.
        &self.clicks[shard_of_key(key)].0
    }

    fn customer_shard(&self, key: u32) -> &RwLock<CustomerShard> {
        &self.customers[shard_of_key(key)].0
    }

    /// Records a click. Recording the same click again changes nothing.
    ///
    /// # Errors
    ///
    /// [`ClickError::Conflict`] if another click with this id is stored,
    /// [`ClickError::OutOfRange`] for a time the store cannot keep,
    /// [`ClickError::Full`] when a shard is full; the store is unchanged.
    pub fn insert(&self, click: Click) -> Result<(), ClickError> {
        let at = exact_nanos(click.clicked_at).ok_or(ClickError::OutOfRange { id: click.id })?;
        let full = ClickError::Full;
        let want = click.id.as_bytes();
        let key = key_of(self.hash(want));
        // Lock order: a click shard, then customer shards one at a time.
        // Readers hold one lock at a time, except a prefetch, which never
        // waits for a lock.
        let mut shard = write(self.click_shard(key));
        let seen = shard
            .by_id
            .iter_hash(table_hash(key))
            .filter(|e| e.key == key)
            .any(|e| self.entry_is(&shard, e, want));
        if seen {
            drop(shard);
            return if self.click(&click.id).ok().flatten() == Some(click) {
                Ok(())
            } else {
                Err(ClickError::Conflict { id: click.id })
            };
        }
        let has_subs = !click.sub_ids.is_empty();
        let subs_tag = if has_subs { SUBS } else { 0 };
        let ClickShard {
            by_id,
            loose,
            ids,
            subs,
        } = &mut *shard;
        let entry = match click.customer {
            Some(customer) => {
                let touch = Touch {
                    at,
                    affiliate: click.affiliate.get(),
                    place: 0,
                    has_subs,
                };
                let (customer, place) = self.add_touch(&customer, touch, want).ok_or(full)?;
                Entry {
                    key,
                    customer,
                    place: place | subs_tag,
                }
            }
            None => {
                let index = loose.len();
                if index > PLACE {
                    return Err(full);
                }
                // Bytes pushed to the arena by a write that fails later are
                // never referred to: harmless.
                let id_offset = ids.push(want).ok_or(full)?;
                loose
                    .push(LooseRec {
                        affiliate: split(click.affiliate.get()),
                        at: split(at as u64),
                        id_offset,
                        id_len: want.len() as u8,
                    })
                    .ok_or(full)?;
                Entry {
                    key,
                    customer: 0,
                    place: index | LOOSE | subs_tag,
                }
            }
        };
        by_id.insert_unique(table_hash(key), entry, |e| table_hash(e.key));
        if has_subs {
            subs.insert(click.id, click.sub_ids);
        }
        Ok(())
    }

    /// Whether `entry` is the click with id `want`. For a click with a
    /// customer, takes that customer's shard for a moment.
    fn entry_is(&self, shard: &ClickShard, entry: &Entry, want: &[u8]) -> bool {
        if entry.loose() {
            shard
                .loose
                .get(entry.position())
                .is_some_and(|r| shard.ids.get(r.id_offset, r.id_len) == want)
        } else {
            let customers = read(self.customer_shard(entry.customer));
            customers
                .blocks
                .find(table_hash(entry.customer), |b| {
                    touch_of(b, entry.position(), want).is_some()
                })
                .is_some()
        }
    }

    /// Adds a click to `customer`'s block; returns the customer's key and
    /// the place of the click's id, or `None` (the store unchanged) when
    /// the block is full.
    fn add_touch(&self, customer: &CustomerId, touch: Touch, id: &[u8]) -> Option<(u32, u32)> {
        let want = customer.as_bytes();
        let key = key_of(self.hash(want));
        let hash = table_hash(key);
        let mut shard = write(self.customer_shard(key));
        let place = match shard.blocks.find_mut(hash, |b| Block::customer(b) == Some(want)) {
            Some(block) => add_touch(block, touch, id)?,
            None => {
                let mut block = new_block(want, id.len())?;
                let place = add_touch(&mut block, touch, id)?;
                shard.blocks.insert_unique(hash, block, |b| self.block_hash(b));
                place
            }
        };
        Some((key, place))
    }

    /// The click with id `id`; its customer if `customer`, and its sub ids.
    fn locate(&self, id: &ClickId, customer: bool) -> Option<Found> {
        let want = id.as_bytes();
        let key = key_of(self.hash(want));
        // Candidates copied out, so that no two locks are held at once.
        let mut candidates: SmallVec<[Entry; 4]> = SmallVec::new();
        let mut subs = SubIds::default();
        {
            let shard = read(self.click_shard(key));
            for entry in shard.by_id.iter_hash(table_hash(key)).filter(|e| e.key == key) {
                if entry.loose() {
                    let Some(rec) = shard.loose.get(entry.position()) else {
                        continue;
                    };
                    if shard.ids.get(rec.id_offset, rec.id_len) == want {
                        return Some(Found {
                            affiliate: join(rec.affiliate),
                            at: join(rec.at) as i64,
                            customer: None,
                            subs: if customer && entry.has_subs() {
                                shard.subs.get(id).copied().unwrap_or_default()
                            } else {
                                SubIds::default()
                            },
                        });
                    }
                } else {
                    if customer && entry.has_subs() {
                        subs = shard.subs.get(id).copied().unwrap_or(subs);
                    }
                    candidates.push(*entry);
                }
            }
        }
        candidates.into_iter().find_map(|entry| {
            let place = entry.position();
            let shard = read(self.customer_shard(entry.customer));
            let bytes = shard
                .blocks
                .find(table_hash(entry.customer), |b| touch_of(b, place, want).is_some())?;
            let touch = touch_of(bytes, place, want)?;
            Some(Found {
                affiliate: touch.affiliate,
                at: touch.at,
                customer: if customer {
                    Some(CustomerId::from_stored(Block::customer(bytes)?)?)
                } else {
                    None
                },
                subs: if touch.has_subs { subs } else { SubIds::default() },
            })
        })
    }

    /// The number of clicks stored.
    pub fn len(&self) -> usize {
        self.clicks.iter().map(|s| read(&s.0).by_id.len()).sum()
    }

    /// Whether no click is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClickStore for MemoryClickStore {
    type Error = Infallible;

    fn click(&self, id: &ClickId) -> Result<Option<Click>, Infallible> {
        Ok(self.locate(id, true).map(|found| Click {
            id: *id,
            affiliate: AffiliateId::new(found.affiliate),
            clicked_at: from_nanos(found.at),
            customer: found.customer,
            sub_ids: found.subs,
        }))
    }

    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Infallible> {
        Ok(self.best(query).map(|(evidence, has_subs)| {
            let sub_ids = if has_subs {
                let key = key_of(self.hash(evidence.id.as_bytes()));
                read(self.click_shard(key))
                    .subs
                    .get(&evidence.id)
                    .copied()
                    .unwrap_or_default()
            } else {
                SubIds::default()
            };
            Click {
                id: evidence.id,
                affiliate: evidence.affiliate,
                clicked_at: evidence.clicked_at,
                customer: Some(query.customer),
                sub_ids,
            }
        }))
    }

    fn click_evidence(&self, id: &ClickId) -> Result<Option<ClickEvidence>, Infallible> {
        Ok(self.locate(id, false).map(|found| ClickEvidence {
            id: *id,
            affiliate: AffiliateId::new(found.affiliate),
            clicked_at: from_nanos(found.at),
        }))
    }

    fn find_evidence(&self, query: &ClickQuery) -> Result<Option<ClickEvidence>, Infallible> {
        Ok(self.best(query).map(|(evidence, _)| evidence))
    }

    fn customer_click_evidence(
        &self,
        customer: &CustomerId,
        id: &ClickId,
    ) -> Result<Option<ClickEvidence>, Infallible> {
        // The customer's block first: one table slot and one block, which
        // the customer's click query reads next anyway; the index if the
        // click is not there.
        if let Some(touch) = self.touch_in_block_of(customer, id) {
            return Ok(Some(ClickEvidence {
                id: *id,
                affiliate: AffiliateId::new(touch.affiliate),
                clicked_at: from_nanos(touch.at),
            }));
        }
        self.click_evidence(id)
    }

    /// Reads the blocks of the conversions' customers, a stage at a time:
    /// the table's control bytes, its slots, then the blocks. (A click
    /// named by a conversion without a customer is left to its lookup.)
    fn prefetch(&self, conversions: &[Conversion]) {
        let keys = conversions
            .iter()
            .filter_map(|c| c.customer.as_ref())
            .map(|customer| {
                let key = key_of(self.hash(customer.as_bytes()));
                (shard_of_key(key), key)
            });
        read_batched(&self.customers[..], keys, 3, |shard, &key, stage| {
            let hash = table_hash(key);
            match stage {
                // The control bytes; the slots; the blocks.
                0 => probe_control(&shard.blocks, hash),
                1 => {
                    shard.blocks.find(hash, |b| {
                        prefetch(b, |b| b.len());
                        false
                    });
                }
                // Every block the slots point to, without waiting to
                // compare its customer, so that the batch's reads overlap
                // (a block whose tag matches by chance is read for nothing).
                _ => {
                    shard.blocks.find(hash, |b| {
                        touch_lines(b);
                        false
                    });
                }
            }
        });
    }
}

/// The most clicks of a customer [`MemoryClickStore::touch_in_block_of`]
/// walks through; past that, the index is quicker.
const HINT_WALK: usize = 64;

impl MemoryClickStore {
    /// The touch of click `id` if `customer` has at most [`HINT_WALK`]
    /// clicks and it is one of them, by a walk over the ids in the
    /// customer's block.
    fn touch_in_block_of(&self, customer: &CustomerId, id: &ClickId) -> Option<Touch> {
        self.with_block(customer, |bytes, block| {
            if block.len > HINT_WALK {
                return None;
            }
            // The id area: each id is its length, then its bytes.
            let mut at = bytes.len().checked_sub(block.ids)?;
            while at < bytes.len() {
                let len = usize::from(*bytes.get(at)?);
                if same_bytes(bytes.get(at + 1..at + 1 + len)?, id.as_bytes()) {
                    let place = u32::try_from(bytes.len() - at).ok()?;
                    return block.touch_at(place);
                }
                at += 1 + len;
            }
            None
        })
    }

    /// `read_block` applied to `customer`'s block (its bytes, and read), under
    /// its shard's read lock; `None` for a customer without clicks.
    fn with_block<T>(
        &self,
        customer: &CustomerId,
        read_block: impl FnOnce(&[u8], Block<'_>) -> Option<T>,
    ) -> Option<T> {
        let want = customer.as_bytes();
        let key = key_of(self.hash(want));
        let shard = read(self.customer_shard(key));
        let bytes = shard
            .blocks
            .find(table_hash(key), |b| Block::customer(b) == Some(want))?;
        read_block(bytes, Block::new(bytes)?)
    }

    /// The click that answers `query`, and whether it has sub ids.
    fn best(&self, query: &ClickQuery) -> Option<(ClickEvidence, bool)> {
        let (from, to) = (nanos_from(query.from)?, nanos_until(query.to)?);
        if from > to {
            return None;
        }
        self.with_block(&query.customer, |_, block| {
            let start = block.partition(|at| at < from);
            let end = block.partition(|at| at <= to);
            // The clicks in range, best first.
            let best = match query.pick {
                ClickPick::First => pick(block, start..end, query),
                ClickPick::Last => pick(block, (start..end).rev(), query),
            };
            let (touch, id) = best?;
            Some((
                ClickEvidence {
                    id: ClickId::from_stored(id)?,
                    affiliate: AffiliateId::new(touch.affiliate),
                    clicked_at: from_nanos(touch.at),
                },
                touch.has_subs,
            ))
        })
    }
}

/// The best of a block's touches in `order` (best first) for `query`: the
/// first that passes the filters sets the best time, and among the touches
/// at that time the smallest id wins.
fn pick<'a>(
    block: Block<'a>,
    order: impl Iterator<Item = usize>,
    query: &ClickQuery,
) -> Option<(Touch, &'a [u8])> {
    let mut best: Option<(Touch, &[u8])> = None;
    for i in order {
        let Some(touch) = block.touch(i) else {
            continue;
        };
        let affiliate = AffiliateId::new(touch.affiliate);
        if query.affiliate.is_some_and(|a| a != affiliate) || query.exclude == Some(affiliate) {
            continue;
        }
        if best.is_some_and(|(b, _)| b.at != touch.at) {
            break;
        }
        let Some(id) = block.id(touch.place) else {
            continue;
        };
        match best {
            Some((_, b)) if b <= id => {}
            _ => best = Some((touch, id)),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::ids::SubId;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
    }

    /// A small deterministic generator.
    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    /// The answer of `query` by brute force over `clicks`.
    fn naive(clicks: &[Click], query: &ClickQuery) -> Option<Click> {
        let mut matching: Vec<&Click> = clicks
            .iter()
            .filter(|c| c.customer == Some(query.customer))
            .filter(|c| query.from <= c.clicked_at && c.clicked_at <= query.to)
            .filter(|c| query.affiliate.is_none_or(|a| a == c.affiliate))
            .filter(|c| query.exclude != Some(c.affiliate))
            .collect();
        matching.sort_by(|a, b| match query.pick {
            ClickPick::First => a.clicked_at.cmp(&b.clicked_at).then(a.id.cmp(&b.id)),
            ClickPick::Last => b.clicked_at.cmp(&a.clicked_at).then(a.id.cmp(&b.id)),
        });
        matching.first().map(|c| **c)
    }

    #[test]
    fn blocks_grow_and_insert_in_the_middle_and_answer_like_brute_force() {
        let store = MemoryClickStore::new();
        let customers: Vec<CustomerId> = (0..5).map(|i| format!("cust-{i}").parse().unwrap()).collect();
        let mut clicks = Vec::new();
        let mut state = 7;
        for i in 0..600 {
            // Times out of order, with many ties; ids of varied lengths.
            let at = t0() + TimeDelta::minutes((next(&mut state) % 40) as i64);
            let id: ClickId = format!("k{}-{}", next(&mut state) % 1000, i).parse().unwrap();
            let mut click = Click::new(id, AffiliateId::new(next(&mut state) % 4), at);
            if i % 7 != 3 {
                click = click.with_customer(customers[(next(&mut state) % 5) as usize]);
            }
            if i % 5 == 0 {
                click = click.with_sub_ids(SubIds::default().with(2, SubId::new("s").unwrap()));
            }
            store.insert(click).unwrap();
            // Inserting the same click again is a no-op.
            store.insert(click).unwrap();
            clicks.push(click);
        }
        assert_eq!(store.len(), clicks.len());
        // A customer hint never changes the answer: with few clicks (a walk
        // over the block), with many (the index), and for someone else.
        let mut hints = customers.clone();
        hints.push("stranger".parse().unwrap());
        for c in &clicks {
            for hint in &hints {
                assert_eq!(
                    store.customer_click_evidence(hint, &c.id).unwrap(),
                    store.click_evidence(&c.id).unwrap(),
                );
            }
        }
        let busy: CustomerId = "busy".parse().unwrap();
        for i in 0..(HINT_WALK + 10) {
            let at = t0() + TimeDelta::minutes((next(&mut state) % 40) as i64);
            let click =
                Click::new(format!("busy-{i}").parse().unwrap(), AffiliateId::new(9), at).with_customer(busy);
            store.insert(click).unwrap();
            assert_eq!(
                store.customer_click_evidence(&busy, &click.id).unwrap(),
                Some(ClickEvidence::from(click))
            );
            clicks.push(click);
        }
        for c in &clicks {
            assert_eq!(store.click(&c.id).unwrap(), Some(*c));
            assert_eq!(store.click_evidence(&c.id).unwrap(), Some(ClickEvidence::from(c)));
            let other = Click {
                affiliate: AffiliateId::new(99),
                ..*c
            };
            assert_eq!(store.insert(other), Err(ClickError::Conflict { id: c.id }));
        }
        assert_eq!(store.len(), clicks.len());
        assert_eq!(store.click(&"absent".parse().unwrap()).unwrap(), None);
        for customer in &customers {
            for (from, to) in [(0, 40), (5, 5), (10, 20), (39, 100), (20, 10)] {
                for pick in [ClickPick::First, ClickPick::Last] {
                    for (affiliate, exclude) in
                        [(None, None), (Some(1), None), (None, Some(2)), (Some(3), Some(3))]
                    {
                        let query = ClickQuery {
                            customer: *customer,
                            from: t0() + TimeDelta::minutes(from),
                            to: t0() + TimeDelta::minutes(to),
                            pick,
                            affiliate: affiliate.map(AffiliateId::new),
                            exclude: exclude.map(AffiliateId::new),
                        };
                        let want = naive(&clicks, &query);
                        assert_eq!(store.find(&query).unwrap(), want, "{query:?}");
                        assert_eq!(
                            store.find_evidence(&query).unwrap(),
                            want.as_ref().map(ClickEvidence::from)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_block_keeps_its_ids_in_place_as_it_grows() {
        let mut block = new_block(b"cust", 3).unwrap();
        let mut places = Vec::new();
        for (i, at) in [5i64, 1, 9, 5, 0, 7].into_iter().enumerate() {
            let id = format!("id{i}");
            let touch = Touch {
                at,
                affiliate: i as u64,
                place: 0,
                has_subs: i == 2,
            };
            places.push((add_touch(&mut block, touch, id.as_bytes()).unwrap(), id));
            for (place, id) in &places {
                assert_eq!(id_at(&block, *place), Some(id.as_bytes()));
            }
        }
        let read = Block::new(&block).unwrap();
        assert_eq!(Block::customer(&block), Some(&b"cust"[..]));
        let times: Vec<i64> = (0..read.len).map(|i| read.at(i).unwrap()).collect();
        assert_eq!(times, [0, 1, 5, 5, 7, 9]);
        // Equal times keep their insertion order.
        assert_eq!(read.touch(2).unwrap().affiliate, 0);
        assert_eq!(read.touch(3).unwrap().affiliate, 3);
        let (place, _) = &places[2];
        let touch = read.touch_at(*place).unwrap();
        assert_eq!((touch.at, touch.affiliate, touch.has_subs), (9, 2, true));
        for (place, _) in &places {
            assert_eq!(read.touch_at(*place).map(|t| t.place), Some(*place));
        }
        assert!(read.touch_at(1).is_none());
    }

    #[test]
    fn clicks_in_time_order_are_found_by_place() {
        let mut block = new_block(b"c", 2).unwrap();
        let mut places = Vec::new();
        for i in 0..300u64 {
            let touch = Touch {
                at: (i / 3) as i64,
                affiliate: i,
                place: 0,
                has_subs: false,
            };
            places.push(add_touch(&mut block, touch, format!("k{i}").as_bytes()).unwrap());
        }
        let read = Block::new(&block).unwrap();
        for (i, place) in places.iter().enumerate() {
            assert_eq!(read.touch_at(*place).map(|t| t.affiliate), Some(i as u64));
        }
    }

    fn leap_second() -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc()
    }

    #[test]
    fn a_click_stamped_in_a_leap_second_is_refused_and_changes_nothing() {
        let store = MemoryClickStore::new();
        let customer: CustomerId = "p".parse().unwrap();
        let click =
            Click::new("k".parse().unwrap(), AffiliateId::new(1), leap_second()).with_customer(customer);
        assert_eq!(store.insert(click), Err(ClickError::OutOfRange { id: click.id }));
        assert_eq!(store.click(&click.id), Ok(None));
        assert_eq!(store.len(), 0);
        // The same id at an ordinary instant is taken afterwards.
        let ordinary = Click::new(click.id, AffiliateId::new(1), t0()).with_customer(customer);
        assert_eq!(store.insert(ordinary), Ok(()));
        assert_eq!(store.click(&click.id), Ok(Some(ordinary)));
    }

    #[test]
    fn queries_bounded_by_leap_seconds_or_instants_out_of_range_answer_like_brute_force() {
        let leap = leap_second();
        let first_kept = DateTime::from_timestamp_nanos(i64::MIN);
        let customer: CustomerId = "p".parse().unwrap();
        let clicks: Vec<Click> = [
            leap - TimeDelta::milliseconds(600),
            leap - TimeDelta::nanoseconds(1_000_000_001),
            leap + TimeDelta::milliseconds(600),
            first_kept,
            DateTime::from_timestamp_nanos(i64::MAX - 1),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            Click::new(format!("c{i}").parse().unwrap(), AffiliateId::new(1), at).with_customer(customer)
        })
        .collect();
        let store = MemoryClickStore::new();
        for click in &clicks {
            store.insert(*click).unwrap();
        }
        let bounds = [
            DateTime::<Utc>::MIN_UTC,
            Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1601, 1, 1, 0, 0, 0).unwrap(),
            first_kept,
            leap - TimeDelta::milliseconds(600),
            leap - TimeDelta::milliseconds(100),
            leap,
            leap + TimeDelta::milliseconds(300),
            leap + TimeDelta::milliseconds(600),
            Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap(),
            DateTime::<Utc>::MAX_UTC,
        ];
        for from in bounds {
            for to in bounds {
                for pick in [ClickPick::First, ClickPick::Last] {
                    let query = ClickQuery {
                        customer,
                        from,
                        to,
                        pick,
                        affiliate: None,
                        exclude: None,
                    };
                    let found = store.find(&query).unwrap().map(|c| c.id);
                    assert_eq!(
                        found,
                        naive(&clicks, &query).map(|c| c.id),
                        "{from} to {to}, {pick:?}"
                    );
                }
            }
        }
    }
}
