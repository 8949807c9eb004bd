//! The in-memory code registry.

use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use smallvec::SmallVec;

use super::compact::{
    Chunks, OPEN, Packed, Padded, exact_nanos, from_nanos, prefetch, probe_control, read, read_batched,
    shard_of, to_nanos, write,
};
use crate::code::{CouponCode, Skeleton};
use crate::conversion::Conversion;
use crate::error::{CodeError, RegistryError};
use crate::ids::{AffiliateId, Label};
use crate::registry::{CodeAssignment, CodeLookup, CodeRegistry, CreditMode};

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// A code registry in memory: the embedded default and the reference
/// implementation of [`CodeRegistry`].
///
/// Every write checks the registry's two invariants and, if it would break
/// one, is refused with a [`RegistryError`] and changes nothing:
///
/// * the intervals of one code never overlap;
/// * two codes with the same [`Skeleton`] never belong to different
///   affiliates at overlapping times (the same affiliate may hold both).
///
/// # Layout and concurrency
///
/// Codes are spread over 64 shards by the hash of their skeleton, so that a
/// code and every code it could be confused with live in one shard. Each
/// shard sits behind its own reader-writer lock, on its own cache lines:
/// lookups on many threads rarely meet, and a writer blocks only the
/// readers of the one shard it writes (an [`import`](Self::import) writes
/// them all, once it has read its rows). Within a shard an assignment is a
/// 48-byte record (the code packed in 16 bytes, the start as a chrono
/// instant so that lookups skip calendar arithmetic, the end as
/// nanoseconds) in a chunked vector, and a hashbrown table of 4-byte
/// record indexes finds the first record of each code; a code's later
/// assignments are chained. A shard holds up to 2^28 - 1 records.
/// Labels are kept aside, only for the assignments that have one. So a
/// registry of one million codes takes about 61 bytes a code.
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
    hasher: DefaultHashBuilder,
}

impl Default for MemoryCodeRegistry {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Padded::default())),
            hasher: DefaultHashBuilder::default(),
        }
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

/// A registry's contents as the write checks see them.
trait View {
    /// The assignments of `code`, oldest first.
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]>;
    /// The other codes with `code`'s skeleton.
    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]>;
}

/// Checks that `new` can join the registry seen through `view`, as if the
/// assignment `replacing` (of the same code) were not there.
fn check(
    view: &impl View,
    new: &CodeAssignment,
    replacing: Option<&CodeAssignment>,
) -> Result<(), RegistryError> {
    if let Some(until) = new.valid_until {
        if until <= new.valid_from {
            return Err(RegistryError::EmptyInterval {
                code: new.code,
                from: new.valid_from,
                until,
            });
        }
    }
    if new.revoked && new.valid_until.is_none() {
        return Err(RegistryError::RevokedWithoutEnd { code: new.code });
    }
    // The start is kept as an instant, the end as nanoseconds.
    let unkept_start = Some(new.valid_from).filter(|t| to_nanos(*t).is_none());
    let unkept_end = new.valid_until.filter(|t| exact_nanos(*t).is_none());
    if let Some(at) = unkept_start.or(unkept_end) {
        return Err(RegistryError::OutOfRange { code: new.code, at });
    }
    let history = view.history_of(&new.code);
    if let Some(existing) = history.iter().find(|a| Some(*a) != replacing && a.overlaps(new)) {
        return Err(RegistryError::Overlap {
            code: new.code,
            existing: Box::new(*existing),
        });
    }
    for twin in view.twins_of(&new.code) {
        let clash = view
            .history_of(&twin)
            .into_iter()
            .find(|a| a.affiliate != new.affiliate && a.overlaps(new));
        if let Some(existing) = clash {
            return Err(RegistryError::Confusable {
                code: new.code,
                existing: Box::new(existing),
            });
        }
    }
    Ok(())
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

    /// Adds an assignment that [`check`] accepted.
    fn insert(
        &mut self,
        hash: u64,
        a: &CodeAssignment,
        rehash: impl Fn(&CouponCode) -> u64,
    ) -> Result<(), RegistryError> {
        let out_of_range = |at| RegistryError::OutOfRange { code: a.code, at };
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
                    }
                }
            }
        }
        Ok(())
    }

    /// The record of `code` active at `at`.
    fn active_mut(&mut self, hash: u64, code: &CouponCode, at: DateTime<Utc>) -> Option<&mut Rec> {
        let index = self.chain(hash, code).find(|(_, r)| r.is_active_at(at))?.0;
        self.recs.get_mut(index)
    }
}

/// A shard seen with the hasher, for [`check`].
struct ShardView<'a> {
    shard: &'a Shard,
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
}

/// The hash of `code`'s skeleton: equal for confusable codes.
fn skeleton_hash(hasher: &DefaultHashBuilder, code: &CouponCode) -> u64 {
    let mut state = hasher.build_hasher();
    for word in code.skeleton_words() {
        state.write_u64(word);
    }
    state.finish()
}

/// Rows staged by an import, checked before anything is applied.
#[derive(Debug, Default)]
struct Staging {
    codes: HashMap<CouponCode, SmallVec<[CodeAssignment; 1]>>,
    skeletons: HashMap<Skeleton, SmallVec<[CouponCode; 1]>>,
}

impl Staging {
    fn insert(&mut self, a: CodeAssignment) {
        let history = self.codes.entry(a.code).or_default();
        if history.is_empty() {
            self.skeletons.entry(a.code.skeleton()).or_default().push(a.code);
        }
        history.push(a);
    }
}

impl View for Staging {
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.codes
            .get(code)
            .map_or_else(SmallVec::new, |h| h.iter().copied().collect())
    }

    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]> {
        self.skeletons
            .get(&code.skeleton())
            .map_or_else(SmallVec::new, |t| {
                t.iter().filter(|c| *c != code).copied().collect()
            })
    }
}

impl MemoryCodeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
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

    fn rehasher(&self) -> impl Fn(&CouponCode) -> u64 + '_ {
        |c| skeleton_hash(&self.hasher, c)
    }

    /// Adds an assignment as given.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the interval is empty or out of range, is marked
    /// revoked without an end, overlaps another assignment of the code, or
    /// makes the code confusable with another affiliate's code at an
    /// overlapping time. The registry is unchanged.
    pub fn insert(&self, assignment: CodeAssignment) -> Result<(), RegistryError> {
        let (hash, lock) = self.place(&assignment.code);
        let mut shard = Self::write(lock);
        check(
            &ShardView {
                shard: &shard,
                hasher: &self.hasher,
            },
            &assignment,
            None,
        )?;
        shard.insert(hash, &assignment, self.rehasher())
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
        let view = ShardView {
            shard: &shard,
            hasher: &self.hasher,
        };
        let current = view
            .history_of(&code)
            .into_iter()
            .find(|a| a.is_active_at(at))
            .ok_or(RegistryError::NotActive { code, at })?;
        // The new owner takes the rest of the interval, and with it a
        // revocation already set at its end.
        let next = CodeAssignment {
            affiliate,
            valid_from: at,
            ..current
        };
        check(&view, &next, Some(&current))?;
        let at_nanos = exact_nanos(at).ok_or(RegistryError::OutOfRange { code, at })?;
        // The insert below must not fail once the current record is cut.
        if !shard.has_room() {
            return Err(RegistryError::Full);
        }
        let rec = shard
            .active_mut(hash, &code, at)
            .ok_or(RegistryError::NotActive { code, at })?;
        if at == current.valid_from {
            rec.affiliate = affiliate.get();
            return Ok(());
        }
        rec.until = at_nanos;
        rec.set_flags(rec.flags() & !REVOKED);
        shard.insert(hash, &next, self.rehasher())
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
        let at_nanos = exact_nanos(at).ok_or(RegistryError::OutOfRange { code, at })?;
        let rec = shard
            .active_mut(hash, &code, at)
            .ok_or(RegistryError::NotActive { code, at })?;
        rec.until = at_nanos;
        rec.set_flags(rec.flags() | REVOKED);
        Ok(())
    }

    /// Every assignment of `code`, oldest first.
    pub fn history(&self, code: &CouponCode) -> Vec<CodeAssignment> {
        let (_, lock) = self.place(code);
        let shard = Self::read(lock);
        ShardView {
            shard: &shard,
            hasher: &self.hasher,
        }
        .history_of(code)
        .into_vec()
    }

    /// The codes `affiliate` has ever held, in canonical order. This scans
    /// every record.
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

    /// The number of codes with at least one assignment.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| Self::read(&s.0).heads.len()).sum()
    }

    /// Whether no code was ever assigned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads many assignments at once, as in a migration from another
    /// platform, and reports every row that could not be taken.
    ///
    /// Each row is checked against the registry and against the rows before
    /// it that were valid. A row conflicts when its code does not parse, its
    /// interval is empty, its owner is unknown (see
    /// [`ImportOptions::known_affiliates`]), its interval overlaps another
    /// assignment of the same code (a row that spells the code differently
    /// but means the same code is reported as
    /// [`ConflictKind::SpellingDuplicate`]), or its code is confusable with
    /// another affiliate's. Nothing is ever overwritten. In
    /// [`ImportMode::AllOrNothing`] nothing is applied if any row conflicts;
    /// in [`ImportMode::ApplyValid`] the valid rows are applied. The whole
    /// registry is locked for writing while the rows are checked and
    /// applied, so readers see it before or after, never halfway. The rows
    /// are read, and [`ImportOptions::known_affiliates`] asked about each
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
        let rows: Vec<(ImportRow, bool)> = rows
            .into_iter()
            .map(|row| {
                let known = options.known_affiliates.is_none_or(|known| known(row.affiliate));
                (row, known)
            })
            .collect();
        let mut shards: Vec<RwLockWriteGuard<'_, Shard>> =
            self.shards.iter().map(|s| Self::write(&s.0)).collect();
        let mut staged = Staging::default();
        let mut accepted: Vec<(usize, ImportRow, CodeAssignment)> = Vec::new();
        let mut report = ImportReport::default();
        for (index, (row, known)) in rows.into_iter().enumerate() {
            let checked = CouponCode::parse(&row.code)
                .map_err(ConflictKind::InvalidCode)
                .and_then(|code| {
                    let hash = skeleton_hash(&self.hasher, &code);
                    let shard = shards.get(shard_of(hash, SHARDS)).map(|g| &**g);
                    let view = shard.map(|shard| ShardView {
                        shard,
                        hasher: &self.hasher,
                    });
                    check_row(view.as_ref(), &staged, &accepted, code, &row, known)
                });
            match checked {
                Ok(assignment) => {
                    staged.insert(assignment);
                    accepted.push((index, row, assignment));
                }
                Err(kind) => report.conflicts.push(ImportConflict { row: index, kind }),
            }
        }
        report.rows = report.conflicts.len() + accepted.len();
        if matches!(options.mode, ImportMode::AllOrNothing) && report.conflicts.is_empty() {
            // All or nothing: a shard without room for all of its rows
            // refuses them before anything is written.
            let mut needed = [0usize; SHARDS];
            for (_, _, a) in &accepted {
                if let Some(n) = needed.get_mut(shard_of(skeleton_hash(&self.hasher, &a.code), SHARDS)) {
                    *n += 1;
                }
            }
            for (index, _, a) in &accepted {
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
        let apply = match options.mode {
            ImportMode::AllOrNothing => report.conflicts.is_empty(),
            ImportMode::ApplyValid => true,
        };
        if apply {
            for (index, _, assignment) in &accepted {
                let hash = skeleton_hash(&self.hasher, &assignment.code);
                let Some(shard) = shards.get_mut(shard_of(hash, SHARDS)) else {
                    continue;
                };
                match shard.insert(hash, assignment, self.rehasher()) {
                    Ok(()) => report.applied += 1,
                    // Only a full shard (2^28 - 1 records) gets here.
                    Err(e) => report.conflicts.push(ImportConflict {
                        row: *index,
                        kind: ConflictKind::Refused(e),
                    }),
                }
            }
            report.conflicts.sort_by_key(|c| c.row);
        }
        report
    }
}

fn check_row(
    registry: Option<&ShardView<'_>>,
    staged: &Staging,
    accepted: &[(usize, ImportRow, CodeAssignment)],
    code: CouponCode,
    row: &ImportRow,
    known: bool,
) -> Result<CodeAssignment, ConflictKind> {
    if !known {
        return Err(ConflictKind::UnknownOwner {
            affiliate: row.affiliate,
        });
    }
    let mut assignment = CodeAssignment::new(code, row.affiliate, row.valid_from).mode(row.mode);
    assignment.valid_until = row.valid_until;
    assignment.label = row.label;
    let row_of = |clash: &CodeAssignment| {
        accepted
            .iter()
            .find(|(_, _, a)| a == clash)
            .map(|(i, r, _)| (*i, r))
    };
    let blame = |err: RegistryError, from_registry: bool| match err {
        RegistryError::EmptyInterval { .. } => ConflictKind::EmptyInterval,
        RegistryError::Overlap { existing, .. } => match (from_registry, row_of(&existing)) {
            (false, Some((i, r))) if r.code != row.code => ConflictKind::SpellingDuplicate {
                row: i,
                spelled: r.code.clone(),
            },
            (false, Some((i, _))) => ConflictKind::OverlapsRow { row: i },
            _ => ConflictKind::Overlaps { existing: *existing },
        },
        RegistryError::Confusable { existing, .. } => match (from_registry, row_of(&existing)) {
            (false, Some((i, _))) => ConflictKind::ConfusableWithRow {
                row: i,
                code: existing.code,
            },
            _ => ConflictKind::Confusable { existing: *existing },
        },
        other => ConflictKind::Refused(other),
    };
    if let Some(view) = registry {
        check(view, &assignment, None).map_err(|e| blame(e, true))?;
    }
    check(staged, &assignment, None).map_err(|e| blame(e, false))?;
    Ok(assignment)
}

impl CodeRegistry for MemoryCodeRegistry {
    type Error = Infallible;

    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Infallible> {
        let (hash, lock) = self.place(code);
        Ok(Self::read(lock).lookup(hash, code, at))
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

/// One row of a bulk [`MemoryCodeRegistry::import`]: a code as the other
/// platform spelled it, and its assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ImportRow {
    /// The code as exported, before normalisation.
    pub code: String,
    /// The owner.
    pub affiliate: AffiliateId,
    /// The first instant of ownership.
    pub valid_from: DateTime<Utc>,
    /// The end of ownership (exclusive), if any.
    pub valid_until: Option<DateTime<Utc>>,
    /// The credit mode.
    pub mode: CreditMode,
    /// The label, if any.
    pub label: Option<Label>,
}

impl ImportRow {
    /// An open-ended, [`CreditMode::Standard`] row without a label.
    pub fn new(code: &str, affiliate: AffiliateId, valid_from: DateTime<Utc>) -> Self {
        Self {
            code: code.to_owned(),
            affiliate,
            valid_from,
            valid_until: None,
            mode: CreditMode::Standard,
            label: None,
        }
    }

    /// Sets the end of ownership.
    pub fn until(mut self, valid_until: DateTime<Utc>) -> Self {
        self.valid_until = Some(valid_until);
        self
    }

    /// Sets the credit mode.
    pub fn mode(mut self, mode: CreditMode) -> Self {
        self.mode = mode;
        self
    }
}

/// Whether an import with conflicts applies anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportMode {
    /// Nothing is applied if any row conflicts.
    #[default]
    AllOrNothing,
    /// The valid rows are applied; the others are reported.
    ApplyValid,
}

/// How [`MemoryCodeRegistry::import`] runs.
#[derive(Clone, Copy, Default)]
pub struct ImportOptions<'a> {
    mode: ImportMode,
    known_affiliates: Option<&'a dyn Fn(AffiliateId) -> bool>,
}

impl core::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("mode", &self.mode)
            .field("checks_owners", &self.known_affiliates.is_some())
            .finish()
    }
}

impl<'a> ImportOptions<'a> {
    /// Apply nothing if any row conflicts.
    pub fn all_or_nothing() -> Self {
        Self::default()
    }

    /// Apply the valid rows and report the others.
    pub fn apply_valid() -> Self {
        Self {
            mode: ImportMode::ApplyValid,
            ..Self::default()
        }
    }

    /// Refuse rows whose owner `is_known` does not recognise, reported as
    /// [`ConflictKind::UnknownOwner`]. Without it every owner is accepted.
    pub fn known_affiliates(mut self, is_known: &'a dyn Fn(AffiliateId) -> bool) -> Self {
        self.known_affiliates = Some(is_known);
        self
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The rows read.
    pub rows: usize,
    /// The rows applied.
    pub applied: usize,
    /// Every row that could not be taken, in row order.
    pub conflicts: Vec<ImportConflict>,
}

/// A row that could not be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportConflict {
    /// The row's position in the input, from zero.
    pub row: usize,
    /// What is wrong with it.
    pub kind: ConflictKind,
}

/// What is wrong with an import row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The code does not parse.
    InvalidCode(CodeError),
    /// The interval ends at or before it starts.
    EmptyInterval,
    /// The owner is not a known affiliate.
    UnknownOwner {
        /// The owner given.
        affiliate: AffiliateId,
    },
    /// The interval overlaps an assignment already in the registry.
    Overlaps {
        /// That assignment.
        existing: CodeAssignment,
    },
    /// The interval overlaps an earlier row of the same code.
    OverlapsRow {
        /// The earlier row.
        row: usize,
    },
    /// An earlier row spells the same code differently (case, separators,
    /// full-width forms) with an overlapping interval.
    SpellingDuplicate {
        /// The earlier row.
        row: usize,
        /// How that row spelled it.
        spelled: String,
    },
    /// The code is confusable with another affiliate's code in the registry.
    Confusable {
        /// That affiliate's assignment.
        existing: CodeAssignment,
    },
    /// The code is confusable with another affiliate's code in an earlier row.
    ConfusableWithRow {
        /// The earlier row.
        row: usize,
        /// Its code.
        code: CouponCode,
    },
    /// The registry refused the row for another reason, such as an instant
    /// out of its range.
    Refused(RegistryError),
}

impl core::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidCode(e) => write!(f, "{e}"),
            Self::EmptyInterval => f.write_str("interval ends before it starts"),
            Self::UnknownOwner { affiliate } => write!(f, "owner {affiliate} is not a known affiliate"),
            Self::Overlaps { existing } => write!(
                f,
                "overlaps the assignment of {} to affiliate {} from {}",
                existing.code, existing.affiliate, existing.valid_from
            ),
            Self::OverlapsRow { row } => write!(f, "overlaps row {row}"),
            Self::SpellingDuplicate { row, spelled } => {
                write!(f, "the same code as row {row}, spelled {spelled:?}")
            }
            Self::Confusable { existing } => write!(
                f,
                "confusable with code {} of affiliate {}",
                existing.code, existing.affiliate
            ),
            Self::ConfusableWithRow { row, code } => write!(f, "confusable with code {code} of row {row}"),
            Self::Refused(e) => write!(f, "{e}"),
        }
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
