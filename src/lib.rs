//! attributor
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod attributor;
mod binding;
mod clicks;
mod code;
pub mod conformance;
mod conversion;
mod decision;
mod error;
mod ids;
mod ledger;
mod memory;
mod policy;
mod registry;
mod resolve;

pub use attributor::{Attributor, AttributorError};
pub use binding::{Binding, BindingStore};
pub use clicks::{ClickQuery, ClickStore};
pub use code::{CouponCode, MAX_CODE_LEN, MIN_CODE_LEN, Skeleton};
pub use conversion::{Amount, Click, Conversion, Currency, EnteredCodes, EventKind, EventKinds, SubIds};
pub use decision::{Considered, ConsideredList, Credit, Credits, Decision, Method, Outcome, Subject};
pub use error::{AttributeError, ClickError, CodeError, IdError, PolicyError, RegistryError, ValueError};
pub use ids::{AffiliateId, ClickId, ConversionId, CustomerId, Label, MAX_ID_LEN, MAX_LABEL_LEN, SubId};
pub use ledger::Ledger;
pub use memory::*;
pub use policy::{BindingLifetime, ClickPick, Policy, PolicyName, PolicySet, Priority};
pub use registry::{CodeAssignment, CodeLookup, CodeRegistry, CreditMode};
pub use resolve::{ClickEvidence, CodeEvidence, Evidence, resolve};
