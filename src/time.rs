//! Instant arithmetic that saturates at the ends of chrono's range, for the
//! bounds of what is read about a conversion.

use chrono::{DateTime, TimeDelta, Utc};

/// `t - d`, or the earliest instant when that is out of range.
pub(crate) fn earlier(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `t + d`, or the latest instant when that is out of range.
pub(crate) fn later(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    // No skew is the default: skip chrono's calendar arithmetic for it.
    if d.is_zero() {
        return t;
    }
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}
