//! Compact building blocks shared by the memory stores: chunked vectors,
//! packed codes, instants as integers, cache-padded shards.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use smallvec::SmallVec;

use crate::code::CouponCode;

/// How many records one chunk holds. Growing by chunks keeps the slack of a
/// store below one chunk, where a doubling `Vec` may hold twice what it uses.
const CHUNK: usize = 1024;

/// A vector that grows by fixed chunks of `N`, indexed by `u32`.
#[derive(Debug, Clone)]
pub(crate) struct Chunks<T, const N: usize = CHUNK> {
    chunks: Vec<Vec<T>>,
    len: u32,
}

impl<T, const N: usize> Default for Chunks<T, N> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T, const N: usize> Chunks<T, N> {
    /// Appends `value`; returns its index, or `None` when full (`u32::MAX` items).
    pub(crate) fn push(&mut self, value: T) -> Option<u32> {
        let index = self.len;
        if index == u32::MAX {
            return None;
        }
        if self.chunks.last().is_none_or(|c| c.len() == N) {
            self.chunks.push(Vec::with_capacity(N));
        }
        self.chunks.last_mut()?.push(value);
        self.len += 1;
        Some(index)
    }

    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        let i = index as usize;
        self.chunks.get(i / N)?.get(i % N)
    }

    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        let i = index as usize;
        self.chunks.get_mut(i / N)?.get_mut(i % N)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// Each value with its index.
    pub(crate) fn iter_indexed(&self) -> impl Iterator<Item = (u32, &T)> {
        (0u32..).zip(self.iter())
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }
}

/// The value of a canonical code character: `0-9` are 1 to 10, `A-Z` 11 to
/// 36; 0 ends a code.
const DIGITS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'0'..=b'9' => b as u8 - b'0' + 1,
            b'A'..=b'Z' => b as u8 - b'A' + 11,
            _ => 0,
        };
        b += 1;
    }
    table
};

fn char_of(d: u64) -> u8 {
    match d {
        1..=10 => b'0' + (d - 1) as u8,
        11..=36 => b'A' + (d - 11) as u8,
        _ => b'?',
    }
}

/// The most characters a packed code holds: twelve per limb, in base 37.
pub(crate) const PACKED_CHARS: usize = 24;

/// `37^0` to `37^11`: the weights of a limb's characters.
const POWERS_OF_37: [u64; PACKED_CHARS / 2] = {
    let mut powers = [1u64; PACKED_CHARS / 2];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 37;
        i += 1;
    }
    powers
};

/// A coupon code in 16 bytes: up to [`PACKED_CHARS`] characters in two
/// base-37 limbs. A longer code is kept aside and referred to by index, with
/// `u64::MAX` (never a valid limb) in the high limb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Packed(pub(crate) [u64; 2]);

impl Packed {
    pub(crate) fn of(code: &CouponCode) -> Option<Self> {
        if code.len() > PACKED_CHARS {
            return None;
        }
        // Twelve characters a limb, from the zero-padded bytes (a zero is
        // worth nothing): each digit times its power of 37, independent
        // products where Horner's rule would chain a multiplication a
        // character.
        let mut limbs = [0u64; 2];
        for (limb, chunk) in limbs.iter_mut().zip(code.padded().chunks_exact(PACKED_CHARS / 2)) {
            *limb = chunk
                .iter()
                .zip(POWERS_OF_37)
                .map(|(b, p)| u64::from(DIGITS[usize::from(*b)]) * p)
                .sum();
        }
        Some(Self(limbs))
    }

    pub(crate) fn long(index: usize) -> Self {
        Self([index as u64, u64::MAX])
    }

    /// The index of a long code kept aside.
    pub(crate) fn long_index(self) -> Option<usize> {
        (self.0[1] == u64::MAX).then_some(self.0[0] as usize)
    }

    /// The code, for a packed (not long) code.
    pub(crate) fn unpack(self) -> Option<CouponCode> {
        let mut out = [0u8; PACKED_CHARS];
        let mut len = 0;
        for mut limb in self.0 {
            while limb > 0 {
                *out.get_mut(len)? = char_of(limb % 37);
                len += 1;
                limb /= 37;
            }
        }
        CouponCode::from_canonical(out.get(..len)?)
    }
}

/// The end of an open-ended interval.
pub(crate) const OPEN: i64 = i64::MAX;

/// An instant as nanoseconds since 1970, if it is within the range stores
/// keep: 1677-09-21 to 2262-04-11, the end excluded (it marks open-ended).
/// A leap second counts as the second after it.
pub(crate) fn to_nanos(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt().filter(|n| *n != OPEN)
}

/// [`to_nanos`] of an instant a store keeps as nanoseconds alone, which
/// must read back as the same instant: `None` for a leap second too.
pub(crate) fn exact_nanos(t: DateTime<Utc>) -> Option<i64> {
    if t.timestamp_subsec_nanos() >= NANOS_PER_SEC {
        return None;
    }
    to_nanos(t)
}

/// Nanoseconds in a second; chrono holds a leap second as a second's
/// nanoseconds running past it.
pub(crate) const NANOS_PER_SEC: u32 = 1_000_000_000;

/// `t` as nanoseconds since 1970, in 128 bits so that every instant fits.
/// No count stands for a leap second, so one is replaced by the nearest
/// count after it, the next second's first nanosecond (`late` false), or
/// before it, the last nanosecond of the second it extends (`late` true).
fn wide_nanos(t: DateTime<Utc>, late: bool) -> i128 {
    let nanos = t.timestamp_subsec_nanos();
    let nanos = if nanos < NANOS_PER_SEC {
        i128::from(nanos)
    } else if late {
        i128::from(NANOS_PER_SEC) - 1
    } else {
        i128::from(NANOS_PER_SEC)
    };
    i128::from(t.timestamp()) * i128::from(NANOS_PER_SEC) + nanos
}

/// The least count [`exact_nanos`] can give that is of an instant at or after
/// `t`, or `None` when every such count is of an instant before `t`: the
/// lower bound of a range query, exact for every `t`, leap seconds and
/// instants out of range included.
pub(crate) fn nanos_from(t: DateTime<Utc>) -> Option<i64> {
    let n = wide_nanos(t, false);
    if n < i128::from(i64::MIN) {
        return Some(i64::MIN);
    }
    i64::try_from(n).ok()
}

/// The greatest count [`exact_nanos`] can give that is of an instant at or
/// before `t`, or `None` when every such count is of an instant after
/// `t`: the upper bound of a range query, exact as [`nanos_from`] is.
pub(crate) fn nanos_until(t: DateTime<Utc>) -> Option<i64> {
    let n = wide_nanos(t, true);
    if n > i128::from(i64::MAX) {
        return Some(i64::MAX);
    }
    i64::try_from(n).ok()
}

pub(crate) fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// A value on its own cache lines, so that locks of neighbouring shards do
/// not share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// A shard's read lock. A panic elsewhere cannot leave a shard half-written
/// (every write checks first, then changes the shard without failing), so a
/// poisoned lock is taken as it is.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// A shard's read lock if it can be had without waiting; see [`read`].
fn try_read<T>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
    match lock.try_read() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Reads the control bytes `table` probes for `hash`, and nothing they
/// point to: the first stage of a prefetch.
pub(crate) fn probe_control<T>(table: &HashTable<T>, hash: u64) {
    table.find(hash, |_| std::hint::black_box(false));
}

/// Whether `a` equals `b`, where most unequal ids of one length differ in
/// their last eight bytes: those are compared as one word first, so that a
/// walk past many ids rarely calls `memcmp`.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(x), Some(y)) if x != y => false,
        _ => a == b,
    }
}

/// A shard's write lock; see [`read`].
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// How many keys [`read_batched`] reads under one set of shard locks; the
/// [`Attributor`](crate::Attributor) hands the stores 16 conversions at a
/// time too.
pub(crate) const PREFETCH_BATCH: usize = 16;

/// Calls `touch(shard, key, stage)` for each stage in `0..stages` and each
/// `(shard index, key)` of `keys`: every key's stage 0, then every key's
/// stage 1, and so on, at most [`PREFETCH_BATCH`] keys at a time. A key
/// whose index is out of range is skipped.
///
/// A lookup is a chain of dependent reads (a table's control bytes, its
/// slot, what the slot points to), and each read of a large store misses
/// the cache. Done one key at a time, the misses follow one another. Done a
/// stage at a time, with each stage reading one more link of the chain for
/// every key, the misses of different keys overlap. A stage should
/// [`prefetch`] what the next reads, or load it and throw the value away:
/// one that compares what it loaded, and branches on it, makes each key a
/// chain again, and the processor then has only two or three keys' misses
/// in flight. A prefetch is better than a load where the stage can name
/// the value without reading it (a slot, a record), since a load that
/// misses holds up the instructions after it.
///
/// For each batch it takes the read locks of the batch's shards first and
/// releases them after the last stage. Taking a lock is an atomic
/// read-modify-write, which waits for every load before it, so no lock is
/// taken between the stages. It only tries each lock: the keys of a shard
/// that is being written, or that a writer waits for, are skipped, since a
/// hint may be dropped. So a prefetch never waits while it holds a lock,
/// and can neither deadlock nor hold a writer up behind another shard.
pub(crate) fn read_batched<T, K>(
    shards: &[Padded<RwLock<T>>],
    keys: impl IntoIterator<Item = (usize, K)>,
    stages: usize,
    mut touch: impl FnMut(&T, &K, usize),
) {
    let mut keys = keys.into_iter().peekable();
    while keys.peek().is_some() {
        let batch: SmallVec<[(usize, K); PREFETCH_BATCH]> = keys.by_ref().take(PREFETCH_BATCH).collect();
        let mut wanted: SmallVec<[usize; PREFETCH_BATCH]> = batch.iter().map(|(s, _)| *s).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let guards: SmallVec<[(usize, RwLockReadGuard<'_, T>); PREFETCH_BATCH]> = wanted
            .iter()
            .filter_map(|&s| Some((s, try_read(&shards.get(s)?.0)?)))
            .collect();
        let batch: SmallVec<[(&T, K); PREFETCH_BATCH]> = batch
            .into_iter()
            .filter_map(|(s, key)| Some((&*guards.iter().find(|(g, _)| *g == s)?.1, key)))
            .collect();
        for stage in 0..stages {
            for (shard, key) in &batch {
                touch(shard, key, stage);
            }
        }
    }
}

/// Starts bringing the cache line that holds the first byte of `value`
/// into the cache, and returns without waiting for it.
///
/// On x86 with SSE this is a prefetch instruction. Unlike a load, it does
/// not hold up the instructions after it until the line arrives, so a whole
/// batch's lines can be on their way at once. Where safe Rust has no prefetch
/// instruction, `load` reads `value` instead and its result is thrown away.
#[inline(always)]
pub(crate) fn prefetch<T, U>(value: &T, load: impl FnOnce(&T) -> U) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    {
        let _ = load;
        safe_arch::prefetch_t0(value);
    }
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    std::hint::black_box(load(value));
}

/// Reads every cache line of `bytes`, or of its first and last KiB when it
/// is longer than 2 KiB, so that a read soon after finds them in cache.
///
/// These are loads, not [`prefetch`]es: measured on the click store's
/// blocks, prefetching their lines gained nothing over loading them.
pub(crate) fn touch_lines(bytes: &[u8]) {
    const LINE: usize = 64;
    const EDGE: usize = 1024;
    let long = bytes.len() > 2 * EDGE;
    let head = if long {
        bytes.get(..EDGE).unwrap_or_default()
    } else {
        bytes
    };
    let tail = if long {
        bytes.get(bytes.len().saturating_sub(EDGE)..).unwrap_or_default()
    } else {
        &[]
    };
    let lines = |b: &[u8]| b.iter().step_by(LINE).chain(b.last()).fold(0u8, |a, b| a ^ b);
    std::hint::black_box(lines(head) ^ lines(tail));
}

/// The shard of a hash among `n` (a power of two), from bits the hash table
/// itself does not use for placement.
pub(crate) fn shard_of(hash: u64, n: usize) -> usize {
    (hash >> 40) as usize & (n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_codes_round_trip() {
        for s in [
            "ABC",
            "MKBHD10",
            "ZZZZZZZZZZZZ",
            "ZZZZZZZZZZZZ9",
            "999999999999999999999999",
            "A0A",
        ] {
            let code = CouponCode::parse(s).unwrap();
            let packed = Packed::of(&code).unwrap();
            assert_eq!(packed.long_index(), None);
            assert_eq!(packed.unpack(), Some(code), "{s}");
        }
        let long = CouponCode::parse(&"X".repeat(25)).unwrap();
        assert_eq!(Packed::of(&long), None);
        assert_eq!(Packed::long(7).long_index(), Some(7));
    }

    #[test]
    fn same_bytes_is_equality() {
        let ids: [&[u8]; 7] = [
            b"",
            b"clk-1",
            b"clk-000000001",
            b"clk-000000002",
            b"dlk-000000001",
            b"clk-0000000010",
            b"xclk-000000001",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn chunks_index_across_chunk_boundaries() {
        let mut c: Chunks<u32> = Chunks::default();
        for i in 0..(CHUNK as u32 * 2 + 5) {
            assert_eq!(c.push(i), Some(i));
        }
        assert_eq!(c.get(CHUNK as u32), Some(&(CHUNK as u32)));
        assert_eq!(c.get(c.len()), None);
        assert_eq!(c.iter().count(), CHUNK * 2 + 5);
    }
}
