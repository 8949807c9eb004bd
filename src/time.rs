//! Instant arithmetic that saturates at the ends of chrono's range, for the
//! bounds of what is read about a conversion.

use chrono::{DateTime, TimeDelta, Timelike, Utc};

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

/// An instant as seconds and nanoseconds since 1970, as the memory
/// stores and the PostgreSQL schema keep it. These pairs order as the instants do, leap seconds included (a leap
/// second's nanoseconds run past a billion within its second).
pub(crate) fn raw_time(t: DateTime<Utc>) -> (i64, u32) {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

/// The instant [`raw_time`] gave these seconds and nanoseconds for.
pub(crate) fn time_of((secs, nanos): (i64, u32)) -> Option<DateTime<Utc>> {
    if nanos < 1_000_000_000 {
        return DateTime::from_timestamp(secs, nanos);
    }
    // A leap second's nanoseconds (a billion or more): `from_timestamp`
    // takes them only in a minute's last second, where chrono's instants
    // may have them in any second. This goes through the naive time:
    // `DateTime::with_nanosecond` refuses an instant past `MAX_UTC`, as a
    // leap second in chrono's last second is, though chrono holds it. (The
    // usual case above goes without the round trip.)
    Some(
        DateTime::from_timestamp(secs, 0)?
            .naive_utc()
            .with_nanosecond(nanos)?
            .and_utc(),
    )
}
