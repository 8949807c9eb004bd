//! Events for the `tracing` crate, behind the `tracing` feature.

use crate::decision::Decision;

/// One event a decision made or found recorded (not a preview's), at
/// debug level: the conversion, who is credited, and the decision's
/// sentence.
pub(crate) fn decided(decision: &Decision) {
    tracing::debug!(
        target: "attributor",
        conversion = %decision.conversion,
        credited = ?decision.primary(),
        "{decision}"
    );
}
