//! The in-memory ledger.

use std::convert::Infallible;
use std::sync::{PoisonError, RwLock};

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use crate::decision::Decision;
use crate::ids::ConversionId;
use crate::ledger::Ledger;

/// A ledger in memory: the embedded default and the reference implementation
/// of [`Ledger`]. `Sync`; writes take `&self`.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    inner: RwLock<HashMap<ConversionId, Decision>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of decisions recorded.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every decision recorded, by conversion id.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut all: Vec<Decision> = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_unstable_by_key(|d| d.conversion);
        all
    }
}

impl Ledger for MemoryLedger {
    type Error = Infallible;

    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Infallible> {
        Ok(self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned())
    }

    fn record(&self, decision: &Decision) -> Result<Option<Decision>, Infallible> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match inner.entry(decision.conversion) {
            Entry::Occupied(existing) => Ok(Some(existing.get().clone())),
            Entry::Vacant(slot) => {
                slot.insert(decision.clone());
                Ok(None)
            }
        }
    }
}
