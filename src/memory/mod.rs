//! Reference stores in memory, built on hashbrown.

mod bindings;
mod clicks;
mod codec;
mod compact;
mod ledger;
mod registry;

pub use bindings::MemoryBindingStore;
pub use clicks::MemoryClickStore;
pub use ledger::{LedgerError, MemoryLedger};
pub use registry::MemoryCodeRegistry;
