//! The in-memory ledger.

use std::hash::BuildHasher;
use std::sync::RwLock;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::compact::{Chunks, Padded, read, shard_of, write};
use crate::decision::Decision;
use crate::ids::ConversionId;
use crate::ledger::Ledger;

/// The number of shards: a power of two.
const SHARDS: usize = 64;

/// Decisions per chunk: about 64 KiB.
const CHUNK: usize = 64;

/// A ledger in memory: the embedded default and the reference implementation
/// of [`Ledger`]. `Sync`; writes take `&self`.
///
/// Decisions are spread over 64 shards by the hash of their conversion id,
/// each behind its own cache-padded lock. A shard keeps its decisions in
/// chunks of 64, found through a hashbrown table of 4-byte indexes, so
/// recording a decision copies it once and growing the ledger never moves
/// a decision.
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
}

#[derive(Debug, Default)]
struct Shard {
    decisions: Chunks<Decision, CHUNK>,
    by_id: HashTable<u32>,
}

impl Shard {
    fn find(&self, hash: u64, id: &ConversionId) -> Option<&Decision> {
        let index = self.by_id.find(hash, |&i| {
            self.decisions.get(i).is_some_and(|d| d.conversion == *id)
        })?;
        self.decisions.get(*index)
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self {
            shards: Box::new(std::array::from_fn(|_| Padded::default())),
            hasher: DefaultHashBuilder::default(),
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
            all.extend(read(&shard.0).decisions.iter().cloned());
        }
        all.sort_unstable_by_key(|d| d.conversion);
        all
    }
}

/// The ledger is full: a shard holds `u32::MAX` decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ledger is full")]
pub struct LedgerFull;

impl Ledger for MemoryLedger {
    type Error = LedgerFull;

    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, LedgerFull> {
        let (hash, lock) = self.place(id);
        Ok(read(lock).find(hash, id).cloned())
    }

    fn record(&self, decision: &Decision) -> Result<Option<Decision>, LedgerFull> {
        let (hash, lock) = self.place(&decision.conversion);
        let mut shard = write(lock);
        if let Some(existing) = shard.find(hash, &decision.conversion) {
            return Ok(Some(existing.clone()));
        }
        let Shard { decisions, by_id } = &mut *shard;
        let index = decisions.push(decision.clone()).ok_or(LedgerFull)?;
        by_id.insert_unique(hash, index, |&i| {
            decisions
                .get(i)
                .map_or(0, |d| self.hasher.hash_one(d.conversion.as_bytes()))
        });
        Ok(None)
    }
}
