//! Rule experiments: replay conversions under several policies, compare the
//! credit, and look for leaked codes.

mod options;
mod replay;
mod report;
mod signals;
mod tally;

pub use options::{ExperimentOptions, OptionsError};
pub use replay::{Experiment, ExperimentError};
pub use report::{ExperimentReport, MovedConversion, PolicyReport};
pub use signals::{CodeSignal, NearCodeTally};
pub use tally::{AffiliateTally, Money, ReasonTally, UncreditedReason};
