//! The in-memory ledger.

use std::hash::BuildHasher;
use std::sync::{RwLock, RwLockWriteGuard};

use smallvec::SmallVec;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::codec;
use super::compact::{Padded, prefetch, probe_control, read, read_batched, shard_of, touch_lines, write};
use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ids::ConversionId;
use crate::ledger::{Ledger, Recording};
use crate::policy::{Policy, UniqueKey};

/// Who holds each key of one claims shard.
type Claims = HashMap<UniqueKey, ConversionId>;

/// The number of claims shards: a power of two.
const CLAIM_SHARDS: usize = 16;

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// The usual size of a chunk of encoded decisions.
const CHUNK: usize = 1 << 16;

/// The cache lines of a recorded decision that a hint reads: a decision
/// with a code and a click takes about 170 bytes.
const DECISION_LINES: usize = 4;

/// Room a chunk must have left for the next decision to go in it; a larger
/// decision grows the chunk instead.
const ROOM: usize = 1 << 12;

/// A ledger in memory: the embedded default and the reference implementation
/// of [`Ledger`]. `Sync`; writes take `&self`.
///
/// Decisions are spread over 64 shards by the hash of their conversion id,
/// each behind its own cache-padded lock. A shard keeps each decision in a
/// compact byte encoding (ids as their bytes, instants as seconds and
/// nanoseconds, enums as one-byte tags, the policy as an index into the
/// few distinct policies the shard has seen), back to back in chunks of
/// 64 KiB, found through a hashbrown table of 12-byte slots (a position
/// and 32 bits of the id's hash, so that the table grows without reading
/// the decisions). A decision that names a code and a click takes about
/// 182 bytes this way, index included, where a [`Decision`] value takes
/// 968; [`Ledger::get`] decodes it back.
///
/// ```
/// use attributor::{Conversion, EventKind, Evidence, Ledger, MemoryLedger, Policy, resolve};
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
/// let conversion = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at);
/// let decision = resolve(&conversion, &Evidence::new(), &Policy::coupon_first());
/// let ledger = MemoryLedger::new();
/// assert_eq!(ledger.record(&decision)?, None);
/// assert_eq!(ledger.record(&decision)?, Some(decision.clone()));
/// assert_eq!(ledger.get(&conversion.id)?, Some(decision));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemoryLedger {
    shards: Box<[Padded<RwLock<Shard>>; SHARDS]>,
    hasher: DefaultHashBuilder,
    /// Who holds each key claimed ([`Ledger::record_claiming`]), sharded by
    /// the key's hash. A claiming record takes its keys' shards in
    /// ascending order, then the decision's shard, so that two claims of a
    /// key take turns; records that claim nothing never take them.
    claims: Box<[Padded<RwLock<Claims>>; CLAIM_SHARDS]>,
}

#[derive(Debug, Default)]
struct Shard {
    /// Encoded decisions back to back; one never spans two chunks.
    chunks: Vec<Vec<u8>>,
    /// Where each decision is.
    by_id: HashTable<Slot>,
    /// The distinct policies of the decisions, in the order first seen.
    policies: Vec<Policy>,
}

/// A decision's place in its shard: 12 bytes, aligned to 4.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The low half of the id's hash, from which [`table_hash`] rebuilds
    /// the table's hash when it grows.
    hash: u32,
    /// The chunk.
    chunk: u32,
    /// The offset of the encoding in the chunk.
    offset: u32,
}

/// The hash the shard's table places a decision by: a function of the
/// 32 bits of the id's hash a [`Slot`] keeps, spread over 64 bits (hashbrown
/// places by the low bits and tags by the top seven).
fn table_hash(kept: u32) -> u64 {
    u64::from(kept).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The 32 bits of an id's hash a [`Slot`] keeps: the low half, which holds
/// none of the bits [`shard_of`] chose the shard by, so that all 32 vary
/// within a shard.
fn kept_hash(hash: u64) -> u32 {
    hash as u32
}

impl Shard {
    fn bytes_of(&self, slot: Slot) -> Option<&[u8]> {
        let chunk = self.chunks.get(usize::try_from(slot.chunk).ok()?)?;
        chunk.get(usize::try_from(slot.offset).ok()?..)
    }

    fn find(&self, hash: u64, id: &ConversionId) -> Option<&[u8]> {
        let kept = kept_hash(hash);
        let slot = self.by_id.find(table_hash(kept), |&s| {
            s.hash == kept && self.bytes_of(s).is_some_and(|b| codec::is_of(b, id))
        })?;
        self.bytes_of(*slot)
    }

    fn decode(&self, bytes: &[u8], id: &ConversionId) -> Result<Decision, LedgerError> {
        codec::decode(bytes, &self.policies).ok_or(LedgerError::Unreadable { conversion: *id })
    }

    fn decisions(&self) -> impl Iterator<Item = Decision> + '_ {
        self.by_id
            .iter()
            // Every recorded decision reads back (the codec's tests check
            // it); one that did not would be left out.
            .filter_map(|s| self.bytes_of(*s).and_then(|b| codec::decode(b, &self.policies)))
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Padded::default())),
            hasher: DefaultHashBuilder::default(),
            claims: Box::new(std::array::from_fn(|_| Padded::default())),
        }
    }
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn place(&self, id: &ConversionId) -> (u64, &RwLock<Shard>) {
        let hash = self.hasher.hash_one(id.as_bytes());
        // `shard_of` masks the hash below `SHARDS`: always in bounds.
        (hash, &self.shards[shard_of(hash, SHARDS)].0)
    }

    /// The claims shard of `key`, by index.
    fn claims_shard(&self, key: &UniqueKey) -> usize {
        shard_of(self.hasher.hash_one(key), CLAIM_SHARDS)
    }

    /// The number of decisions recorded.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(&s.0).by_id.len()).sum()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every decision recorded, by conversion id.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut all: Vec<Decision> = Vec::new();
        for shard in self.shards.iter() {
            all.extend(read(&shard.0).decisions());
        }
        all.sort_unstable_by_key(|d| d.conversion);
        all
    }
}

/// Why the [`MemoryLedger`] could not record or read a decision. Nothing is
/// recorded when an error is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A shard holds as much as it can: `u32::MAX` chunks of decisions, or
    /// 65 536 distinct policies.
    #[error("the ledger is full")]
    Full,
    /// The decision lists more credits or pieces of evidence than the
    /// ledger counts (`u32::MAX`).
    #[error("the decision of conversion {conversion} is too large to record")]
    TooLarge {
        /// The decision's conversion.
        conversion: ConversionId,
    },
    /// A recorded decision did not read back: a defect of the ledger, never
    /// of its input.
    #[error("the decision recorded for conversion {conversion} does not read back")]
    Unreadable {
        /// The decision's conversion.
        conversion: ConversionId,
    },
}

impl Ledger for MemoryLedger {
    type Error = LedgerError;

    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, LedgerError> {
        let (hash, lock) = self.place(id);
        let shard = read(lock);
        shard.find(hash, id).map(|b| shard.decode(b, id)).transpose()
    }

    /// Reads what a lookup of the conversions' ids reads, a stage at a time:
    /// the index's control bytes, its slots, then the first lines of the
    /// recorded decision of each slot that keeps the id's hash bits (a
    /// conversion seen before).
    fn prefetch(&self, conversions: &[Conversion]) {
        let keys = conversions.iter().map(|c| {
            let hash = self.hasher.hash_one(c.id.as_bytes());
            (shard_of(hash, SHARDS), kept_hash(hash))
        });
        read_batched(&self.shards[..], keys, 3, |shard, &kept, stage| match stage {
            0 => probe_control(&shard.by_id, table_hash(kept)),
            1 => {
                shard.by_id.find(table_hash(kept), |slot| {
                    prefetch(slot, |s| s.hash);
                    false
                });
            }
            _ => {
                shard.by_id.find(table_hash(kept), |slot| {
                    // The bytes run to the end of the decision's chunk.
                    if let (true, Some(bytes)) = (slot.hash == kept, shard.bytes_of(*slot)) {
                        touch_lines(bytes.get(..DECISION_LINES * 64).unwrap_or(bytes));
                    }
                    false
                });
            }
        });
    }

    fn record(&self, decision: &Decision) -> Result<Option<Decision>, LedgerError> {
        let (hash, lock) = self.place(&decision.conversion);
        let mut shard = write(lock);
        if let Some(existing) = shard.find(hash, &decision.conversion) {
            return shard.decode(existing, &decision.conversion).map(Some);
        }
        if !codec::fits(decision) {
            return Err(LedgerError::TooLarge {
                conversion: decision.conversion,
            });
        }
        let Shard {
            chunks,
            by_id,
            policies,
        } = &mut *shard;
        let policy = match policies.iter().position(|p| *p == decision.policy) {
            Some(i) => i,
            None => {
                policies.push(decision.policy);
                policies.len() - 1
            }
        };
        let Ok(policy) = u16::try_from(policy) else {
            policies.pop();
            return Err(LedgerError::Full);
        };
        if chunks.last().is_none_or(|c| c.capacity() - c.len() < ROOM) {
            if u32::try_from(chunks.len()).is_err() {
                return Err(LedgerError::Full);
            }
            chunks.push(Vec::with_capacity(CHUNK));
        }
        // The check above keeps the index within a `u32`.
        let Ok(chunk_index) = u32::try_from(chunks.len().saturating_sub(1)) else {
            return Err(LedgerError::Full);
        };
        let Some(chunk) = chunks.last_mut() else {
            return Err(LedgerError::Full);
        };
        let Ok(offset) = u32::try_from(chunk.len()) else {
            return Err(LedgerError::Full);
        };
        codec::encode(decision, policy, chunk);
        let kept = kept_hash(hash);
        let slot = Slot {
            hash: kept,
            chunk: chunk_index,
            offset,
        };
        by_id.insert_unique(table_hash(kept), slot, |s| table_hash(s.hash));
        Ok(None)
    }

    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, LedgerError> {
        let shard = self.claims.get(self.claims_shard(key));
        Ok(shard.and_then(|s| read(&s.0).get(key).copied()))
    }

    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, LedgerError> {
        if claims.is_empty() {
            return self.record(decision).map(Recording::from);
        }
        // The keys' shards, locked in ascending order (no two claiming
        // records wait for each other in a circle); a policy makes at most
        // two keys, so the guards stay inline.
        let wanted: SmallVec<[usize; 2]> = claims.iter().map(|k| self.claims_shard(k)).collect();
        let mut held: SmallVec<[(usize, RwLockWriteGuard<'_, Claims>); 2]> = self
            .claims
            .iter()
            .enumerate()
            .filter(|(i, _)| wanted.contains(i))
            .map(|(i, shard)| (i, write(&shard.0)))
            .collect();
        let id = decision.conversion;
        if let Some(earlier) = self.get(&id)? {
            return Ok(Recording::Earlier(earlier));
        }
        let taken = claims.iter().zip(&wanted).find_map(|(key, shard)| {
            let (_, claims) = held.iter().find(|(i, _)| i == shard)?;
            claims.get(key).filter(|by| **by != id).map(|by| (*key, *by))
        });
        if let Some((key, by)) = taken {
            return Ok(Recording::Taken { key, by });
        }
        if let Some(earlier) = self.record(decision)? {
            return Ok(Recording::Earlier(earlier));
        }
        for (key, shard) in claims.iter().zip(&wanted) {
            if let Some((_, claims)) = held.iter_mut().find(|(i, _)| i == shard) {
                claims.entry(*key).or_insert(id);
            }
        }
        Ok(Recording::Recorded)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::conversion::EventKind;
    use crate::resolve::{Evidence, resolve};

    #[test]
    fn ids_whose_kept_hash_bits_collide_are_told_apart_by_their_ids() {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let decision = |id: &str| {
            let conversion = Conversion::new(ConversionId::new(id).unwrap(), EventKind::Purchase, at);
            resolve(&conversion, &Evidence::new(), &Policy::coupon_first())
        };
        let (first, second) = (decision("ORD-1"), decision("ORD-2"));
        let mut shard = Shard {
            policies: vec![Policy::coupon_first()],
            ..Shard::default()
        };
        let mut chunk = Vec::new();
        codec::encode(&first, 0, &mut chunk);
        let offset = u32::try_from(chunk.len()).unwrap();
        codec::encode(&second, 0, &mut chunk);
        shard.chunks.push(chunk);
        // Both slots keep the same 32 bits, as if the ids' hashes collided.
        for offset in [0, offset] {
            let slot = Slot {
                hash: 7,
                chunk: 0,
                offset,
            };
            shard
                .by_id
                .insert_unique(table_hash(7), slot, |s| table_hash(s.hash));
        }
        let found = |d: &Decision| {
            shard
                .find(7, &d.conversion)
                .and_then(|b| codec::decode(b, &shard.policies))
        };
        assert_eq!(found(&first), Some(first));
        assert_eq!(found(&second), Some(second));
        assert_eq!(found(&decision("ORD-3")), None);
    }

    #[test]
    fn every_decision_is_found_after_the_index_has_grown_many_times() {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let decision = |i: usize| {
            let id = ConversionId::new(&format!("ORD-{i}")).unwrap();
            resolve(
                &Conversion::new(id, EventKind::Purchase, at),
                &Evidence::new(),
                &Policy::coupon_first(),
            )
        };
        let ledger = MemoryLedger::new();
        for i in 0..20_000 {
            assert_eq!(ledger.record(&decision(i)), Ok(None));
        }
        assert_eq!(ledger.len(), 20_000);
        for i in 0..20_000 {
            let d = decision(i);
            assert_eq!(ledger.get(&d.conversion), Ok(Some(d)));
        }
        let unknown = decision(20_000);
        assert_eq!(ledger.get(&unknown.conversion), Ok(None));
    }
}
