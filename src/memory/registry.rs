//! The in-memory code registry.

use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use smallvec::SmallVec;

use super::compact::{
    Chunks, OPEN, Packed, Padded, exact_nanos, from_nanos, prefetch, probe_control, read, read_batched,
    shard_of, to_nanos, write,
};
use crate::code::{CouponCode, MAX_CODE_LEN, Skeleton};
use crate::conversion::Conversion;
use crate::ids::{AffiliateId, Label};
use crate::registry::RegistryError;
use crate::registry::{
    CodeAssignment, CodeLookup, CodeRegistry, ConflictKind, CreditMode, ImportConflict, ImportMode,
    ImportOptions, ImportReport, ImportRow, NearCode, NearCodes,
};
use crate::rules::{self, ImportCheck, Reassignment, View};

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// A code registry in memory: the embedded default and the reference
/// implementation of [`CodeRegistry`].
///
/// Every write checks the registry's two invariants and, if it would break
/// one, is refused with a [`RegistryError`] and changes nothing:
///
/// * the intervals of one code never overlap;
/// * two codes with the same [`Skeleton`](crate::Skeleton) never belong to different
///   affiliates at overlapping times (the same affiliate may hold both).
///
/// # Layout and concurrency
///
/// Codes are spread over 64 shards by the hash of their skeleton, so that a
/// code and every code it could be confused with live in one shard. Each
/// shard sits behind its own reader-writer lock, on its own cache lines:
/// lookups on many threads rarely meet, and a writer of a code blocks only
/// the readers of the one shard it writes (an [`import`](Self::import), and
/// a family's write, hold them all). Two more locks come after a shard's,
/// never before: the near index's, which a new code takes briefly to add
/// its keys and a near lookup to read them, and the families', which a
/// lookup of a code without assignments of its own reads once any family
/// exists. Within a shard an assignment is a
/// 48-byte record (the code packed in 16 bytes, the start as a chrono
/// instant so that lookups skip calendar arithmetic, the end as
/// nanoseconds) in a chunked vector, and a hashbrown table of 4-byte
/// record indexes finds the first record of each code; a code's later
/// assignments are chained. A shard holds up to 2^28 - 1 records.
/// Labels are kept aside, only for the assignments that have one. So a
/// registry of one million codes takes about 61 bytes a code, and more
/// than as much again for the index that finds the codes one edit from a
/// typed one, one 8-byte entry for each code and each code it leaves with
/// a character removed ([`without_near_index`](Self::without_near_index)
/// leaves it out): 136 bytes a code of six characters in all, more for
/// longer codes. Families are few, kept in one map of their own.
///
/// The registry takes assignments between 1677-09-21 and 2262-04-11 (the
/// span of nanoseconds since 1970 in an `i64`, in which it keeps the end of
/// an interval) and refuses others with [`RegistryError::OutOfRange`], as
/// it does an assignment that ends in a leap second (`23:59:60`, whose
/// count of nanoseconds would be the next second's) and a revocation or
/// reassignment at one. A
/// lookup compares instants as [`CodeAssignment::is_active_at`] does.
/// [`MemoryCodeRegistry::codes_of`] scans every record.
///
/// ```
/// use attributor::{AffiliateId, CodeLookup, CodeRegistry, CouponCode, MemoryCodeRegistry};
/// use chrono::{TimeZone, Utc};
///
/// let registry = MemoryCodeRegistry::new();
/// let jan = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let jun = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
/// let code = CouponCode::parse("mkbhd-10")?;
/// registry.assign(code, AffiliateId::new(1), jan)?;
/// registry.reassign(code, AffiliateId::new(2), jun)?;
///
/// let owner = |t| match registry.lookup(&code, t) {
///     Ok(CodeLookup::Active(a)) => Some(a.affiliate),
///     _ => None,
/// };
/// assert_eq!(owner(jan), Some(AffiliateId::new(1)));
/// assert_eq!(owner(jun), Some(AffiliateId::new(2)));
/// assert_eq!(registry.history(&code).len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemoryCodeRegistry {
    shards: Box<[Padded<RwLock<Shard>>; SHARDS]>,
    /// The index of codes one edit apart, unless left out.
    near: Option<Padded<RwLock<NearIndex>>>,
    /// The families, locked after every shard a write locks.
    families: Padded<RwLock<Families>>,
    /// [`Families::lengths`], readable without the lock: a lookup of an
    /// unknown code reads the families only when there are some.
    family_lengths: AtomicU64,
    hasher: DefaultHashBuilder,
}

impl Default for MemoryCodeRegistry {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Padded::default())),
            near: Some(Padded::default()),
            families: Padded::default(),
            family_lengths: AtomicU64::new(0),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

/// The bits of a [`NearIndex`] entry that hold a record's index.
const REC_BITS: u32 = 28;
/// Where a [`NearIndex`] entry's key hash begins: above the record's index
/// and its shard's.
const KEY_SHIFT: u32 = REC_BITS + SHARDS.trailing_zeros();
const _: () = assert!(NONE < 1 << REC_BITS && KEY_SHIFT < 64);

/// The index of near lookups: for every code, one entry keyed by the code
/// and one by each code it leaves with a character removed. Two codes one
/// edit apart share a key (one removed from the longer, or one from each
/// at the changed or swapped place, or the shorter code itself), so the
/// codes near a typed one are among the entries under its own keys: one
/// probe a key, no scan. An entry is eight bytes: the key's hash in the
/// top 30 bits (enough to rehash the table by, and to tell most keys
/// apart), then the shard and the index of one of the code's records,
/// from which the code is read back and checked.
#[derive(Debug, Default)]
struct NearIndex {
    entries: HashTable<u64>,
}

/// A near index key's hash, in the 30 bits an entry keeps.
fn key_hash(hasher: &DefaultHashBuilder, key: &[u8]) -> u64 {
    let mut state = hasher.build_hasher();
    state.write(key);
    state.finish() >> KEY_SHIFT
}

/// The table hash of a key hash: its bits spread over the word, so that
/// both the slot (low bits) and the tag (high bits) depend on it.
fn spread(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl NearIndex {
    /// Adds `code`'s keys for the record `rec` of shard `shard`.
    fn add(&mut self, hasher: &DefaultHashBuilder, code: &CouponCode, shard: usize, rec: u32) {
        let place = (shard as u64) << REC_BITS | u64::from(rec);
        let mut add = |key: &[u8]| {
            let key = key_hash(hasher, key);
            self.entries
                .insert_unique(spread(key), key << KEY_SHIFT | place, |e| spread(e >> KEY_SHIFT));
        };
        add(code.as_bytes());
        for (bytes, len) in code.deletions() {
            add(bytes.get(..len).unwrap_or_default());
        }
    }

    /// The places (shard and record) of the codes that share a key with
    /// `code`: every code one edit from it, with some others, each once.
    /// Sixteen fit inline; where codes are dense (`SUMMER10` to `SUMMER19`
    /// all leave `SUMMER1` with a character removed), more spill to the
    /// heap.
    fn places(&self, hasher: &DefaultHashBuilder, code: &CouponCode) -> SmallVec<[u64; 16]> {
        // The keys' hashes first, with their control bytes on the way, so
        // that the probes' cache misses overlap rather than follow one
        // another.
        let mut keys: SmallVec<[u64; MAX_CODE_LEN + 1]> = SmallVec::new();
        keys.push(key_hash(hasher, code.as_bytes()));
        for (bytes, len) in code.deletions() {
            keys.push(key_hash(hasher, bytes.get(..len).unwrap_or_default()));
        }
        for key in &keys {
            probe_control(&self.entries, spread(*key));
        }
        let mut places = SmallVec::new();
        for &key in &keys {
            for e in self.entries.iter_hash(spread(key)) {
                let place = e & ((1 << KEY_SHIFT) - 1);
                if e >> KEY_SHIFT == key && !places.contains(&place) {
                    places.push(place);
                }
            }
        }
        places
    }
}

/// No next record; also one more than the most records a shard holds.
const NONE: u32 = (1 << 28) - 1;

/// The bits of [`Rec::link`] above the next record's index.
const FLAGS_SHIFT: u32 = 28;

const MODE_MASK: u8 = 0b11;
const REVOKED: u8 = 0b100;
const LABELLED: u8 = 0b1000;

/// One assignment, compact: 48 bytes. The start is kept as chrono keeps
/// it, so that a lookup hands it out without a calendar computation; the
/// end, often open, as nanoseconds.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Rec {
    code: Packed,
    affiliate: u64,
    /// Nanoseconds, or [`OPEN`] when open-ended.
    until: i64,
    from: DateTime<Utc>,
    /// The code's next assignment in time (or [`NONE`]) in the low 28 bits,
    /// the flags above. Last, so that a hint can reach the record's last
    /// bytes.
    link: u32,
}

impl Rec {
    /// Whether the assignment is active at `at`, in chrono's order of
    /// instants, as [`CodeAssignment::is_active_at`] decides.
    fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && (self.until == OPEN || at < from_nanos(self.until))
    }

    fn next(&self) -> u32 {
        self.link & NONE
    }

    fn set_next(&mut self, next: u32) {
        self.link = (self.link & !NONE) | (next & NONE);
    }

    fn flags(&self) -> u8 {
        (self.link >> FLAGS_SHIFT) as u8
    }

    fn set_flags(&mut self, flags: u8) {
        self.link = (self.link & NONE) | (u32::from(flags) << FLAGS_SHIFT);
    }
}

fn mode_bits(mode: CreditMode) -> u8 {
    match mode {
        CreditMode::Standard => 0,
        CreditMode::Always => 1,
        CreditMode::IfInvolved => 2,
    }
}

fn mode_of(flags: u8) -> CreditMode {
    match flags & MODE_MASK {
        1 => CreditMode::Always,
        2 => CreditMode::IfInvolved,
        _ => CreditMode::Standard,
    }
}

/// One shard: the records of the codes whose skeletons hash here.
#[derive(Debug, Default)]
struct Shard {
    recs: Chunks<Rec>,
    /// The first record of each code, hashed by the code's skeleton.
    heads: HashTable<u32>,
    /// Codes longer than a packed code holds, and their positions.
    long_codes: Vec<CouponCode>,
    long_index: HashMap<CouponCode, usize>,
    labels: HashMap<u32, Label>,
}

/// Whether the registry can keep an instant as an interval's start (as a
/// chrono instant, in range) or end (as nanoseconds, exactly).
fn keeps(t: DateTime<Utc>, end: bool) -> bool {
    if end {
        exact_nanos(t).is_some()
    } else {
        to_nanos(t).is_some()
    }
}

impl Shard {
    fn code_of(&self, rec: &Rec) -> Option<CouponCode> {
        match rec.code.long_index() {
            Some(i) => self.long_codes.get(i).copied(),
            None => rec.code.unpack(),
        }
    }

    fn is_code(&self, rec: &Rec, code: &CouponCode, packed: Option<Packed>) -> bool {
        match (packed, rec.code.long_index()) {
            (Some(p), None) => rec.code == p,
            (None, Some(i)) => self.long_codes.get(i) == Some(code),
            _ => false,
        }
    }

    /// The first record of `code`.
    fn head(&self, hash: u64, code: &CouponCode, packed: Option<Packed>) -> Option<u32> {
        self.heads
            .find(hash, |&i| {
                self.recs.get(i).is_some_and(|r| self.is_code(r, code, packed))
            })
            .copied()
    }

    /// The records of `code`, oldest first, with their indexes.
    fn chain(&self, hash: u64, code: &CouponCode) -> impl Iterator<Item = (u32, &Rec)> {
        let mut next = self.head(hash, code, Packed::of(code)).unwrap_or(NONE);
        core::iter::from_fn(move || {
            let index = next;
            let rec = self.recs.get(index)?;
            next = rec.next();
            Some((index, rec))
        })
    }

    fn assignment(&self, index: u32, rec: &Rec, code: CouponCode) -> CodeAssignment {
        CodeAssignment {
            code,
            affiliate: AffiliateId::new(rec.affiliate),
            valid_from: rec.from,
            valid_until: (rec.until != OPEN).then(|| from_nanos(rec.until)),
            revoked: rec.flags() & REVOKED != 0,
            mode: mode_of(rec.flags()),
            label: if rec.flags() & LABELLED != 0 {
                self.labels.get(&index).copied()
            } else {
                None
            },
            family: false,
        }
    }

    fn lookup(&self, hash: u64, code: &CouponCode, at: DateTime<Utc>) -> CodeLookup {
        let mut first = None;
        let mut latest_started = None;
        for (index, rec) in self.chain(hash, code) {
            first = first.or(Some((index, rec)));
            if rec.from > at {
                break;
            }
            if rec.is_active_at(at) {
                return CodeLookup::Active(self.assignment(index, rec, *code));
            }
            latest_started = Some((index, rec));
        }
        match (latest_started, first) {
            (Some((i, r)), _) if r.flags() & REVOKED != 0 => {
                CodeLookup::Revoked(self.assignment(i, r, *code))
            }
            (Some((i, r)), _) => CodeLookup::Expired(self.assignment(i, r, *code)),
            (None, Some((i, r))) => CodeLookup::NotYetActive(self.assignment(i, r, *code)),
            (None, None) => CodeLookup::Unknown,
        }
    }

    /// Whether one more record fits.
    fn has_room(&self) -> bool {
        self.recs.len() < NONE
    }

    /// Adds an assignment that [`check`] accepted; when its code is new
    /// here, says the record's index, for the near index.
    fn insert(
        &mut self,
        hash: u64,
        a: &CodeAssignment,
        rehash: impl Fn(&CouponCode) -> u64,
    ) -> Result<Option<u32>, RegistryError> {
        let out_of_range = |at| RegistryError::OutOfRange {
            code: a.code,
            family: false,
            at,
        };
        to_nanos(a.valid_from).ok_or(out_of_range(a.valid_from))?;
        if !self.has_room() {
            return Err(RegistryError::Full);
        }
        let until = match a.valid_until {
            Some(t) => exact_nanos(t).ok_or(out_of_range(t))?,
            None => OPEN,
        };
        let packed = match Packed::of(&a.code) {
            Some(p) => p,
            None => match self.long_index.get(&a.code) {
                Some(i) => Packed::long(*i),
                None => {
                    self.long_codes.push(a.code);
                    let i = self.long_codes.len() - 1;
                    self.long_index.insert(a.code, i);
                    Packed::long(i)
                }
            },
        };
        // Where the new record goes in the code's chain.
        let mut before: Option<u32> = None;
        let mut after = NONE;
        // Equal starts go after the records already there: an empty interval
        // left by a revocation at its very start then precedes its successor.
        for (index, rec) in self.chain(hash, &a.code) {
            if rec.from <= a.valid_from {
                before = Some(index);
            } else {
                after = index;
                break;
            }
        }
        let flags = mode_bits(a.mode)
            | if a.revoked { REVOKED } else { 0 }
            | if a.label.is_some() { LABELLED } else { 0 };
        let rec = Rec {
            code: packed,
            affiliate: a.affiliate.get(),
            from: a.valid_from,
            until,
            link: after | u32::from(flags) << FLAGS_SHIFT,
        };
        let index = self.recs.push(rec).ok_or(RegistryError::Full)?;
        if let Some(label) = a.label {
            self.labels.insert(index, label);
        }
        match before {
            Some(b) => {
                if let Some(prev) = self.recs.get_mut(b) {
                    prev.set_next(index);
                }
            }
            None => {
                let Shard {
                    recs,
                    heads,
                    long_codes,
                    ..
                } = self;
                let code_of = |i: &u32| {
                    recs.get(*i).and_then(|r| match r.code.long_index() {
                        Some(l) => long_codes.get(l).copied(),
                        None => r.code.unpack(),
                    })
                };
                let existing = heads.find_mut(hash, |i| code_of(i) == Some(a.code));
                match existing {
                    Some(slot) => *slot = index,
                    None => {
                        heads.insert_unique(hash, index, |i| code_of(i).map_or(0, |c| rehash(&c)));
                        return Ok(Some(index));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The record of `code` active at `at`.
    fn active_mut(&mut self, hash: u64, code: &CouponCode, at: DateTime<Utc>) -> Option<&mut Rec> {
        let index = self.chain(hash, code).find(|(_, r)| r.is_active_at(at))?.0;
        self.recs.get_mut(index)
    }
}

/// The families (`MKBHD*`): few, kept apart from the codes' shards, each
/// with its history as a code has.
#[derive(Debug, Default)]
struct Families {
    /// Each family's history, oldest first, by prefix.
    by_prefix: HashMap<CouponCode, SmallVec<[CodeAssignment; 1]>>,
    /// The prefixes by their skeleton.
    by_skeleton: HashMap<Skeleton, SmallVec<[CouponCode; 1]>>,
    /// Bit `n` is set when a family's prefix has `n` characters.
    lengths: u64,
}

/// The first `len` characters of `code`, as a code (`None` below the
/// shortest a code may be).
fn prefix_of(code: &CouponCode, len: usize) -> Option<CouponCode> {
    CouponCode::from_canonical(code.as_bytes().get(..len)?)
}

/// The lengths set in `lengths` that are at most `max`, longest first.
fn lengths_upto(lengths: u64, max: usize) -> impl Iterator<Item = usize> {
    (0..=max.min(63)).rev().filter(move |n| lengths & (1 << n) != 0)
}

impl Families {
    fn history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.by_prefix
            .get(prefix)
            .map_or_else(SmallVec::new, |h| h.iter().copied().collect())
    }

    /// The answer for `code`, which has no assignment of its own: the
    /// family with the longest prefix of it decides, as a code's history
    /// would. Allocates nothing.
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> CodeLookup {
        for len in lengths_upto(self.lengths, code.len()) {
            let history = prefix_of(code, len).and_then(|p| self.by_prefix.get(&p));
            if let Some(history) = history {
                return CodeLookup::from_history(history, at);
            }
        }
        CodeLookup::Unknown
    }

    /// The assignments of the families that may meet `new`.
    fn meeting(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]> {
        if new.family {
            // Few: all of them.
            return self
                .by_prefix
                .values()
                .flatten()
                .filter(|a| a.meets(new))
                .copied()
                .collect();
        }
        let mut found = SmallVec::new();
        for len in lengths_upto(self.lengths, new.code.len()) {
            let Some(skeleton) = prefix_of(&new.code, len).map(|p| p.skeleton()) else {
                continue;
            };
            for prefix in self.by_skeleton.get(&skeleton).into_iter().flatten() {
                found.extend(self.by_prefix.get(prefix).into_iter().flatten().copied());
            }
        }
        found
    }

    /// Adds an assignment that [`check`] accepted, after those of its
    /// family that start at or before it.
    fn insert(&mut self, a: CodeAssignment) {
        let history = self.by_prefix.entry(a.code).or_default();
        if history.is_empty() {
            self.by_skeleton
                .entry(a.code.skeleton())
                .or_default()
                .push(a.code);
            self.lengths |= 1 << a.code.len();
        }
        let at = history.partition_point(|e| e.valid_from <= a.valid_from);
        history.insert(at, a);
    }

    /// The assignment of the family `prefix` active at `at`.
    fn active_mut(&mut self, prefix: &CouponCode, at: DateTime<Utc>) -> Option<&mut CodeAssignment> {
        self.by_prefix
            .get_mut(prefix)?
            .iter_mut()
            .find(|a| a.is_active_at(at))
    }
}

/// A shard seen with the hasher, for [`check`].
struct ShardView<'a> {
    shard: &'a Shard,
    families: &'a Families,
    hasher: &'a DefaultHashBuilder,
}

impl View for ShardView<'_> {
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        let hash = skeleton_hash(self.hasher, code);
        self.shard
            .chain(hash, code)
            .map(|(i, r)| self.shard.assignment(i, r, *code))
            .collect()
    }

    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]> {
        let skeleton = code.skeleton();
        let hash = skeleton_hash(self.hasher, code);
        self.shard
            .heads
            .iter_hash(hash)
            .filter_map(|i| self.shard.recs.get(*i).and_then(|r| self.shard.code_of(r)))
            .filter(|c| c != code && c.skeleton() == skeleton)
            .collect()
    }

    fn family_history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.families.history(prefix)
    }

    /// The families only: a family's write sees every shard
    /// ([`ShardsView`]).
    fn clashes_of(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]> {
        self.families.meeting(new)
    }
}

/// The hash of `code`'s skeleton: equal for confusable codes.
fn skeleton_hash(hasher: &DefaultHashBuilder, code: &CouponCode) -> u64 {
    let mut state = hasher.build_hasher();
    for word in code.skeleton_words() {
        state.write_u64(word);
    }
    state.finish()
}

/// Every shard, locked for writing, seen with the hasher: the registry as an
/// import checks it.
struct ShardsView<'a> {
    shards: &'a [RwLockWriteGuard<'a, Shard>],
    families: &'a Families,
    hasher: &'a DefaultHashBuilder,
}

impl ShardsView<'_> {
    fn view(&self, code: &CouponCode) -> Option<ShardView<'_>> {
        let hash = skeleton_hash(self.hasher, code);
        self.shards.get(shard_of(hash, SHARDS)).map(|shard| ShardView {
            shard,
            families: self.families,
            hasher: self.hasher,
        })
    }
}

impl View for ShardsView<'_> {
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.view(code).map(|v| v.history_of(code)).unwrap_or_default()
    }

    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]> {
        self.view(code).map(|v| v.twins_of(code)).unwrap_or_default()
    }

    fn family_history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.families.history(prefix)
    }

    /// For a family, the families and every code that meets it: a scan of
    /// every shard's codes, as a family's write is rare.
    fn clashes_of(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]> {
        let mut found = self.families.meeting(new);
        if new.family {
            for shard in self.shards {
                for (index, rec) in shard.recs.iter_indexed() {
                    let Some(code) = shard.code_of(rec) else { continue };
                    let a = shard.assignment(index, rec, code);
                    if a.meets(new) {
                        found.push(a);
                    }
                }
            }
        }
        found
    }
}

impl MemoryCodeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry without the index of codes one edit apart, which
    /// takes 75 bytes a code of six characters, more than the assignments
    /// themselves: its near lookups ([`CodeRegistry::near`]) find
    /// look-alikes, which need no index, but never a code one edit away,
    /// short of the contract (the conformance suite's near checks fail).
    ///
    /// ```
    /// use attributor::{AffiliateId, CodeRegistry, CouponCode, MemoryCodeRegistry, Nearness};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let code = |s| CouponCode::parse(s).unwrap();
    /// for registry in [MemoryCodeRegistry::new(), MemoryCodeRegistry::without_near_index()] {
    ///     registry.assign(code("BOSS20"), AffiliateId::new(1), t)?;
    ///     let look_alike = registry.near(&code("B0SS20"), t)?;
    ///     assert_eq!(look_alike[0].nearness, Nearness::LookAlike);
    /// }
    /// let (full, lean) = (MemoryCodeRegistry::new(), MemoryCodeRegistry::without_near_index());
    /// for registry in [&full, &lean] {
    ///     registry.assign(code("BOSS20"), AffiliateId::new(1), t)?;
    /// }
    /// assert_eq!(full.near(&code("BOSS2"), t)?[0].nearness, Nearness::OneEdit);
    /// assert!(lean.near(&code("BOSS2"), t)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_near_index() -> Self {
        Self {
            near: None,
            ..Self::default()
        }
    }

    /// The hash of `code`'s skeleton and its shard.
    fn place(&self, code: &CouponCode) -> (u64, &RwLock<Shard>) {
        let hash = skeleton_hash(&self.hasher, code);
        // `shard_of` masks the hash below `SHARDS`: always in bounds.
        (hash, &self.shards[shard_of(hash, SHARDS)].0)
    }

    fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
        read(lock)
    }

    fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
        write(lock)
    }

    fn read_near(lock: &RwLock<NearIndex>) -> RwLockReadGuard<'_, NearIndex> {
        read(lock)
    }

    fn rehasher(&self) -> impl Fn(&CouponCode) -> u64 + '_ {
        |c| skeleton_hash(&self.hasher, c)
    }

    fn read_families(&self) -> RwLockReadGuard<'_, Families> {
        read(&self.families.0)
    }

    /// Every shard, locked for writing in order, then the families: what a
    /// family's write and an import hold.
    fn write_all(&self) -> (Vec<RwLockWriteGuard<'_, Shard>>, RwLockWriteGuard<'_, Families>) {
        let shards = self.shards.iter().map(|s| Self::write(&s.0)).collect();
        (shards, write(&self.families.0))
    }

    /// Publishes the families' lengths to lookups.
    fn publish(&self, families: &Families) {
        self.family_lengths.store(families.lengths, Ordering::Release);
    }

    /// Adds an assignment as given: of a code, or of a family
    /// ([`CodeAssignment::family`]).
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the interval is empty or out of range, is marked
    /// revoked without an end, overlaps another assignment of the code (or
    /// family), or makes a code confusable with another affiliate's code or
    /// family at an overlapping time: a family may not hold a code
    /// confusable with another affiliate's code ([`Skeleton`](crate::Skeleton)),
    /// nor share one with another affiliate's family. The registry is
    /// unchanged. A family's write checks every code, so it takes time in
    /// proportion to the registry and holds every shard meanwhile.
    pub fn insert(&self, assignment: CodeAssignment) -> Result<(), RegistryError> {
        if assignment.family {
            let (shards, mut families) = self.write_all();
            let view = ShardsView {
                shards: &shards,
                families: &families,
                hasher: &self.hasher,
            };
            rules::check(&view, &assignment, None, keeps)?;
            families.insert(assignment);
            self.publish(&families);
            return Ok(());
        }
        let (hash, lock) = self.place(&assignment.code);
        let mut shard = Self::write(lock);
        let families = self.read_families();
        let view = ShardView {
            shard: &shard,
            families: &families,
            hasher: &self.hasher,
        };
        rules::check(&view, &assignment, None, keeps)?;
        drop(families);
        let new = shard.insert(hash, &assignment, self.rehasher())?;
        if let (Some(rec), Some(near)) = (new, &self.near) {
            write(&near.0).add(&self.hasher, &assignment.code, shard_of(hash, SHARDS), rec);
        }
        Ok(())
    }

    /// Gives `code` to `affiliate` from `from` on, open-ended, in
    /// [`CreditMode::Standard`]. Use [`MemoryCodeRegistry::insert`] for
    /// anything else.
    ///
    /// # Errors
    ///
    /// As [`MemoryCodeRegistry::insert`].
    pub fn assign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        from: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        self.insert(CodeAssignment::new(code, affiliate, from))
    }

    /// Hands `code` to `affiliate` at `at`: the assignment active at `at`
    /// ends there, and a new one opens at `at` until the old one's end,
    /// with the same credit mode and label. At the old one's very start,
    /// the old one is replaced.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotActive`] if no assignment is active at `at`;
    /// [`RegistryError::Confusable`] if the new owner would hold a code
    /// confusable with another affiliate's. The registry is unchanged.
    pub fn reassign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        let (hash, lock) = self.place(&code);
        let mut shard = Self::write(lock);
        let families = self.read_families();
        let view = ShardView {
            shard: &shard,
            families: &families,
            hasher: &self.hasher,
        };
        let (old, next) = match rules::reassign(&view, (code, false), affiliate, at, keeps)? {
            Reassignment::Replace { old, .. } => (old, None),
            Reassignment::Cut { old, next, .. } => (old, Some(next)),
        };
        // The insert below must not fail once the current record is cut
        // (checked for a replacement too, as it always was).
        if !shard.has_room() {
            return Err(RegistryError::Full);
        }
        drop(families);
        let rec = shard
            .active_mut(hash, &code, old.valid_from)
            .ok_or(RegistryError::NotActive {
                code,
                family: false,
                at,
            })?;
        let Some(next) = next else {
            rec.affiliate = affiliate.get();
            return Ok(());
        };
        rec.until = exact_nanos(at).ok_or(RegistryError::OutOfRange {
            code,
            family: false,
            at,
        })?;
        rec.set_flags(rec.flags() & !REVOKED);
        // The code is known: nothing new for the near index.
        shard.insert(hash, &next, self.rehasher()).map(drop)
    }

    /// Revokes `code` at `at`: the assignment active at `at` ends there, and
    /// lookups from `at` on answer [`CodeLookup::Revoked`].
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotActive`] if no assignment is active at `at`.
    pub fn revoke(&self, code: CouponCode, at: DateTime<Utc>) -> Result<(), RegistryError> {
        let (hash, lock) = self.place(&code);
        let mut shard = Self::write(lock);
        let families = self.read_families();
        let view = ShardView {
            shard: &shard,
            families: &families,
            hasher: &self.hasher,
        };
        let (old, _) = rules::revoke(&view, (code, false), at, keeps)?;
        drop(families);
        let rec = shard
            .active_mut(hash, &code, old.valid_from)
            .ok_or(RegistryError::NotActive {
                code,
                family: false,
                at,
            })?;
        rec.until = exact_nanos(at).ok_or(RegistryError::OutOfRange {
            code,
            family: false,
            at,
        })?;
        rec.set_flags(rec.flags() | REVOKED);
        Ok(())
    }

    /// Every assignment of `code`, oldest first.
    pub fn history(&self, code: &CouponCode) -> Vec<CodeAssignment> {
        let (_, lock) = self.place(code);
        let shard = Self::read(lock);
        let families = Families::default();
        ShardView {
            shard: &shard,
            families: &families,
            hasher: &self.hasher,
        }
        .history_of(code)
        .into_vec()
    }

    /// Hands the family `prefix` to `affiliate` at `at`, as
    /// [`MemoryCodeRegistry::reassign`] does a code.
    ///
    /// # Errors
    ///
    /// As [`MemoryCodeRegistry::reassign`].
    pub fn reassign_family(
        &self,
        prefix: CouponCode,
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        let (shards, mut families) = self.write_all();
        let view = ShardsView {
            shards: &shards,
            families: &families,
            hasher: &self.hasher,
        };
        let change = rules::reassign(&view, (prefix, true), affiliate, at, keeps)?;
        let (old, replacement, next) = match change {
            Reassignment::Replace { old, new } => (old, new, None),
            Reassignment::Cut { old, cut, next } => (old, cut, Some(next)),
        };
        let not_active = RegistryError::NotActive {
            code: prefix,
            family: true,
            at,
        };
        *families.active_mut(&prefix, old.valid_from).ok_or(not_active)? = replacement;
        if let Some(next) = next {
            families.insert(next);
        }
        Ok(())
    }

    /// Revokes the family `prefix` at `at`, as [`MemoryCodeRegistry::revoke`]
    /// does a code.
    ///
    /// # Errors
    ///
    /// As [`MemoryCodeRegistry::revoke`].
    pub fn revoke_family(&self, prefix: CouponCode, at: DateTime<Utc>) -> Result<(), RegistryError> {
        let (shards, mut families) = self.write_all();
        let view = ShardsView {
            shards: &shards,
            families: &families,
            hasher: &self.hasher,
        };
        let (old, revoked) = rules::revoke(&view, (prefix, true), at, keeps)?;
        let not_active = RegistryError::NotActive {
            code: prefix,
            family: true,
            at,
        };
        *families.active_mut(&prefix, old.valid_from).ok_or(not_active)? = revoked;
        Ok(())
    }

    /// Every assignment of the family `prefix`, oldest first.
    pub fn family_history(&self, prefix: &CouponCode) -> Vec<CodeAssignment> {
        self.read_families().history(prefix).into_vec()
    }

    /// The codes `affiliate` has ever held, in canonical order, families
    /// aside (see [`MemoryCodeRegistry::family_history`]). This scans every
    /// record.
    pub fn codes_of(&self, affiliate: AffiliateId) -> Vec<CouponCode> {
        let mut codes = Vec::new();
        for lock in self.shards.iter() {
            let shard = Self::read(&lock.0);
            codes.extend(
                shard
                    .recs
                    .iter()
                    .filter(|r| r.affiliate == affiliate.get())
                    .filter_map(|r| shard.code_of(r)),
            );
        }
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// The number of codes with at least one assignment of their own
    /// (families are not counted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| Self::read(&s.0).heads.len()).sum()
    }

    /// Whether no code was ever assigned (families aside).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads many assignments at once, as in a migration from another
    /// platform, and reports every row that could not be taken.
    ///
    /// Each row is checked against the registry and against the rows before
    /// it that were valid. A row conflicts when its code does not parse, its
    /// interval is empty, its owner is unknown (see
    /// [`ImportOptions::with_known_affiliates`]), its interval overlaps another
    /// assignment of the same code (a row that spells the code differently
    /// but means the same code is reported as
    /// [`ConflictKind::SpellingDuplicate`]), or its code is confusable with
    /// another affiliate's. Nothing is ever overwritten. In
    /// [`ImportMode::AllOrNothing`] nothing is applied if any row conflicts;
    /// in [`ImportMode::ApplyValid`] the valid rows are applied. The whole
    /// registry is locked for writing while the rows are checked and
    /// applied, so readers see it before or after, never halfway. The rows
    /// are read, and [`ImportOptions::with_known_affiliates`] asked about each
    /// one, before that: either may read the registry.
    ///
    /// ```
    /// use attributor::{AffiliateId, ConflictKind, ImportOptions, ImportRow, MemoryCodeRegistry};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let rows = [
    ///     ImportRow::new("SPRING10", AffiliateId::new(1), t),
    ///     ImportRow::new("spring-10", AffiliateId::new(2), t), // the same code
    ///     ImportRow::new("SPR1NG10", AffiliateId::new(3), t),  // confusable
    ///     ImportRow::new("SUMMER", AffiliateId::new(3), t),
    /// ];
    /// let registry = MemoryCodeRegistry::new();
    /// let report = registry.import(rows.clone(), ImportOptions::all_or_nothing());
    /// assert_eq!(report.applied, 0);
    /// assert_eq!(report.conflicts.len(), 2);
    /// assert!(matches!(report.conflicts[0].kind, ConflictKind::SpellingDuplicate { row: 0, .. }));
    /// assert!(registry.is_empty());
    ///
    /// let report = registry.import(rows, ImportOptions::apply_valid());
    /// assert_eq!(report.applied, 2);
    /// assert_eq!(registry.len(), 2);
    /// ```
    pub fn import<I>(&self, rows: I, options: ImportOptions<'_>) -> ImportReport
    where
        I: IntoIterator<Item = ImportRow>,
    {
        // The caller's rows and owner check run before any lock is taken,
        // so that either may read this registry.
        let rows = options.known(rows);
        let (mut shards, mut families) = self.write_all();
        let ImportCheck { accepted, conflicts } = rules::check_import(
            rows,
            &ShardsView {
                shards: &shards,
                families: &families,
                hasher: &self.hasher,
            },
            keeps,
        );
        let mut report = ImportReport {
            conflicts,
            ..ImportReport::default()
        };
        report.rows = report.conflicts.len() + accepted.len();
        if matches!(options.mode(), ImportMode::AllOrNothing) && report.conflicts.is_empty() {
            // All or nothing: a shard without room for all of its rows
            // refuses them before anything is written.
            let mut needed = [0usize; SHARDS];
            for (_, a) in accepted.iter().filter(|(_, a)| !a.family) {
                if let Some(n) = needed.get_mut(shard_of(skeleton_hash(&self.hasher, &a.code), SHARDS)) {
                    *n += 1;
                }
            }
            for (index, a) in accepted.iter().filter(|(_, a)| !a.family) {
                let shard_index = shard_of(skeleton_hash(&self.hasher, &a.code), SHARDS);
                let room = shards
                    .get(shard_index)
                    .map_or(0, |s| (NONE as usize).saturating_sub(s.recs.len() as usize));
                if needed.get(shard_index).is_some_and(|n| *n > room) {
                    report.conflicts.push(ImportConflict {
                        row: *index,
                        kind: ConflictKind::Refused(RegistryError::Full),
                    });
                }
            }
        }
        let apply = match options.mode() {
            ImportMode::AllOrNothing => report.conflicts.is_empty(),
            ImportMode::ApplyValid => true,
        };
        if apply {
            let mut near = self.near.as_ref().map(|n| write(&n.0));
            for (index, assignment) in &accepted {
                if assignment.family {
                    families.insert(*assignment);
                    report.applied += 1;
                    continue;
                }
                let hash = skeleton_hash(&self.hasher, &assignment.code);
                let Some(shard) = shards.get_mut(shard_of(hash, SHARDS)) else {
                    continue;
                };
                match shard.insert(hash, assignment, self.rehasher()) {
                    Ok(new) => {
                        report.applied += 1;
                        if let (Some(rec), Some(near)) = (new, near.as_mut()) {
                            near.add(&self.hasher, &assignment.code, shard_of(hash, SHARDS), rec);
                        }
                    }
                    // Only a full shard (2^28 - 1 records) gets here.
                    Err(e) => report.conflicts.push(ImportConflict {
                        row: *index,
                        kind: ConflictKind::Refused(e),
                    }),
                }
            }
            report.conflicts.sort_by_key(|c| c.row);
            self.publish(&families);
        }
        report
    }
}

impl CodeRegistry for MemoryCodeRegistry {
    type Error = Infallible;

    /// A code's own history decides; a code without one, the family with
    /// the longest prefix of it, when there are families.
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Infallible> {
        let (hash, lock) = self.place(code);
        let found = Self::read(lock).lookup(hash, code, at);
        if found == CodeLookup::Unknown && self.family_lengths.load(Ordering::Acquire) != 0 {
            return Ok(self.read_families().lookup(code, at));
        }
        Ok(found)
    }

    /// The look-alikes of `code` live in its shard, under its skeleton's
    /// hash; the codes one edit away are found through the near index, by
    /// a probe for each of `code`'s keys (one more than its length), under
    /// one read lock, then read back from their shards and checked. Only
    /// the candidates are looked up at `at`.
    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, Infallible> {
        let mut near = NearCodes::new();
        let mut consider = |candidate: CouponCode, hash: u64, shard: &Shard| {
            let Some(nearness) = NearCode::nearness(code, &candidate) else {
                return;
            };
            if near.iter().any(|n: &NearCode| n.assignment.code == candidate) {
                return;
            }
            if let CodeLookup::Active(assignment) = shard.lookup(hash, &candidate, at) {
                near.push(NearCode {
                    typed: *code,
                    assignment,
                    nearness,
                });
            }
        };
        // Look-alikes: the codes under the same skeleton hash.
        {
            let (hash, lock) = self.place(code);
            let shard = Self::read(lock);
            let twins = shard
                .heads
                .iter_hash(hash)
                .filter_map(|i| shard.recs.get(*i).and_then(|r| shard.code_of(r)));
            for twin in twins {
                consider(twin, hash, &shard);
            }
        }
        // One edit away: the places that share a key, read back.
        let places: SmallVec<[u64; 16]> = match &self.near {
            Some(index) => Self::read_near(&index.0).places(&self.hasher, code),
            None => SmallVec::new(),
        };
        for place in places {
            let rec = (place & u64::from(NONE)) as u32;
            let Some(lock) = self.shards.get((place >> REC_BITS) as usize) else {
                continue;
            };
            let shard = Self::read(&lock.0);
            let Some(candidate) = shard.recs.get(rec).and_then(|r| shard.code_of(r)) else {
                continue;
            };
            consider(candidate, skeleton_hash(&self.hasher, &candidate), &shard);
        }
        near.sort_unstable_by_key(|n| n.assignment.code);
        Ok(near)
    }

    /// Reads what a lookup of the conversions' codes reads, a stage at a
    /// time: the index's control bytes, its slots, then the first record
    /// of each code.
    fn prefetch(&self, conversions: &[Conversion]) {
        let keys = conversions.iter().flat_map(|c| {
            c.codes.iter().map(move |code| {
                let hash = skeleton_hash(&self.hasher, code);
                (shard_of(hash, SHARDS), hash)
            })
        });
        read_batched(&self.shards[..], keys, 3, |shard, &hash, stage| match stage {
            0 => probe_control(&shard.heads, hash),
            // The slots; then the records they point to, without waiting to
            // compare their codes, so that the batch's reads overlap.
            1 => {
                shard.heads.find(hash, |i| {
                    prefetch(i, |i| *i);
                    false
                });
            }
            _ => {
                shard.heads.find(hash, |&i| {
                    if let Some(rec) = shard.recs.get(i) {
                        // Its first and last bytes (`repr(C)`): a record
                        // may straddle two lines.
                        prefetch(rec, |r| r.affiliate);
                        prefetch(&rec.link, |l| *l);
                    }
                    false
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Rec;

    #[test]
    fn an_assignment_record_takes_48_bytes() {
        assert_eq!(size_of::<Rec>(), 48);
    }
}
