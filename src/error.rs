//! Errors: for bad input and failing stores only. A conversion that credits
//! nobody is a [`Decision`](crate::Decision), not an error.

use chrono::{DateTime, Utc};

use crate::code::CouponCode;
use crate::ids::Excerpt;
use crate::registry::CodeAssignment;

/// A string id or an affiliate number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The value is empty.
    #[error("id is empty")]
    Empty,
    /// The value is longer than the id's maximum, in bytes of UTF-8.
    #[error("id is {len} bytes long, more than the maximum of {max}")]
    TooLong {
        /// The length given.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The value holds whitespace, a control character or an invisible
    /// formatting character such as a byte order mark, a zero-width space
    /// or a bidi control (or, where spaces are allowed, starts or ends with
    /// a space).
    #[error("invalid character {ch:?} at position {position} of id")]
    InvalidChar {
        /// The character.
        ch: char,
        /// Its position in the input, in characters from zero.
        position: usize,
    },
    /// An affiliate id is not a number.
    #[error("affiliate id {:?} is not a number", value.as_str())]
    NotANumber {
        /// The value given (its first bytes).
        value: Excerpt,
    },
}

/// A coupon code was refused by [`CouponCode::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing is left once whitespace, separators and invisible characters
    /// are removed.
    #[error("coupon code is empty")]
    Empty,
    /// The canonical form is shorter than the minimum.
    #[error("coupon code has {len} characters, fewer than the minimum of {min}")]
    TooShort {
        /// The canonical length.
        len: usize,
        /// [`MIN_CODE_LEN`](crate::MIN_CODE_LEN).
        min: usize,
    },
    /// The canonical form is longer than the maximum.
    #[error("coupon code has {len} characters, more than the maximum of {max}")]
    TooLong {
        /// The canonical length.
        len: usize,
        /// [`MAX_CODE_LEN`](crate::MAX_CODE_LEN).
        max: usize,
    },
    /// A character is neither a letter or digit (ASCII or full-width), nor a
    /// separator, nor an ignored invisible character.
    #[error("invalid character {ch:?} at position {position} of coupon code")]
    InvalidChar {
        /// The character as typed.
        ch: char,
        /// Its position in the input, in characters from zero.
        position: usize,
    },
}

/// How an error names a code or a family: `code MKBHD10`, `family MKBHD*`.
struct KeyText(CouponCode, bool);

impl core::fmt::Display for KeyText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.1 {
            true => write!(f, "family {}*", self.0),
            false => write!(f, "code {}", self.0),
        }
    }
}

/// A write to a code registry was refused; the registry is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The interval ends at or before it starts.
    #[error("assignment of {} ends at {until}, not after it starts at {from}", KeyText(*code, *family))]
    EmptyInterval {
        /// The code, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
        /// The start given.
        from: DateTime<Utc>,
        /// The end given.
        until: DateTime<Utc>,
    },
    /// The assignment is marked revoked but has no end: a revocation ends
    /// an interval, so it would read as revoked and answer as active for
    /// ever.
    #[error("assignment of {} is marked revoked but has no end; revoking ends it", KeyText(*code, *family))]
    RevokedWithoutEnd {
        /// The code, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
    },
    /// The interval overlaps another assignment of the same code (or
    /// family).
    #[error("assignment of {} overlaps its assignment to affiliate {} from {}", KeyText(*code, *family), existing.affiliate, existing.valid_from)]
    Overlap {
        /// The code, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
        /// The assignment it overlaps.
        existing: Box<CodeAssignment>,
    },
    /// Another affiliate holds a code that a customer could mistake for this
    /// one, at an overlapping time; for a family, for one of its codes. The
    /// existing assignment may be of a code or of a family
    /// ([`CodeAssignment::family`](crate::CodeAssignment::family)).
    #[error("{} is confusable with {} of affiliate {}", KeyText(*code, *family), KeyText(existing.code, existing.family), existing.affiliate)]
    Confusable {
        /// The code refused, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
        /// The other affiliate's assignment.
        existing: Box<CodeAssignment>,
    },
    /// An instant the store cannot keep: outside its range, or, in the
    /// [`MemoryCodeRegistry`](crate::MemoryCodeRegistry), a leap second
    /// ending an assignment.
    #[error("the registry cannot keep instant {at} of {}", KeyText(*code, *family))]
    OutOfRange {
        /// The code, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
        /// The instant.
        at: DateTime<Utc>,
    },
    /// The store holds as many assignments as it can.
    #[error("the registry is full")]
    Full,
    /// Reassigning or revoking needs an assignment active at that instant.
    #[error("{} has no active assignment at {at}", KeyText(*code, *family))]
    NotActive {
        /// The code, or the family's prefix.
        code: CouponCode,
        /// Whether it is a family's.
        family: bool,
        /// The instant asked about.
        at: DateTime<Utc>,
    },
}

/// A [`Policy`](crate::Policy) setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A split share above 10000 basis points.
    #[error("split share of {bp} basis points is more than 10000")]
    ShareTooLarge {
        /// The share given.
        bp: u32,
    },
    /// A negative duration.
    #[error("{setting} of {seconds} s is negative")]
    NegativeDuration {
        /// The setting.
        setting: &'static str,
        /// The value given, in whole seconds.
        seconds: i64,
    },
    /// A duration too long for chrono to hold (more than about 292 million
    /// years), as a policy read from JSON may give.
    #[error("{setting} of {seconds} s is out of range")]
    DurationOutOfRange {
        /// The setting: for a policy read from JSON, its field.
        setting: &'static str,
        /// The value given, in whole seconds.
        seconds: i64,
    },
    /// A duration with a fraction of a second: policy durations are whole
    /// seconds.
    #[error("{setting} is not a whole number of seconds")]
    SubSecond {
        /// The setting.
        setting: &'static str,
    },
    /// A fixed priority order names a method twice.
    #[error("priority order names {method} twice")]
    RepeatedMethod {
        /// The method named twice.
        method: crate::decision::Method,
    },
}

/// [`Attributor::attribute`](crate::Attributor::attribute) failed because a
/// store failed. Nothing was credited twice and nothing is lost: retrying the
/// call gives the decision an unfailing run would have given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError<R, C, B, L> {
    /// The code registry failed.
    #[error("code registry failed: {0}")]
    Registry(#[source] R),
    /// The click store failed.
    #[error("click store failed: {0}")]
    Clicks(#[source] C),
    /// The binding store failed.
    #[error("binding store failed: {0}")]
    Bindings(#[source] B),
    /// The ledger failed.
    #[error("ledger failed: {0}")]
    Ledger(#[source] L),
}

/// A value in text (an event name, an amount, a currency) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not an event name: built-in names and custom labels are accepted.
    #[error("{:?} is not an event name", value.as_str())]
    Event {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// Not a decimal amount with at most four fractional digits.
    #[error("{:?} is not an amount with at most four decimals", value.as_str())]
    Amount {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// Not three ASCII letters.
    #[error("{:?} is not a three-letter currency code", value.as_str())]
    Currency {
        /// The value given (its first bytes).
        value: Excerpt,
    },
}

/// A write to a [`MemoryClickStore`](crate::MemoryClickStore) was refused;
/// the store is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClickError {
    /// Another click with this id is stored.
    #[error("another click with id {id} is stored")]
    Conflict {
        /// The id.
        id: crate::ids::ClickId,
    },
    /// The click's time is one the store cannot keep: outside its range,
    /// or, in the [`MemoryClickStore`](crate::MemoryClickStore), a leap
    /// second.
    #[error("click {id} is stamped at an instant the store cannot keep")]
    OutOfRange {
        /// The id.
        id: crate::ids::ClickId,
    },
    /// The store has no room for the click: a shard is full, or, in the
    /// [`MemoryClickStore`](crate::MemoryClickStore), the customer's clicks
    /// fill all a customer's block can hold.
    #[error("the click store is full")]
    Full,
}

/// An [`ExperimentOptions`](crate::ExperimentOptions) setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A recent period of zero days.
    #[error("recent period of 0 days is empty")]
    ZeroRecentDays,
    /// A leak share above 10000 basis points.
    #[error("leak share of {bp} basis points is more than 10000")]
    ShareTooLarge {
        /// The share given.
        bp: u32,
    },
    /// A negative leak click window.
    #[error("leak click window of {seconds} s is negative")]
    NegativeWindow {
        /// The value given, in whole seconds.
        seconds: i64,
    },
}

/// [`Experiment::replay`](crate::Experiment::replay) failed. The
/// experiment's tallies are unchanged, so the conversion can be replayed
/// again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError<R, C> {
    /// The code registry failed.
    #[error("code registry failed: {0}")]
    Registry(#[source] R),
    /// The click store failed.
    #[error("click store failed: {0}")]
    Clicks(#[source] C),
    /// The conversion happened before the one replayed last: a replay needs
    /// its conversions in time order.
    #[error(
        "conversion {conversion} at {at} comes after one at {previous}; replay needs conversions in time order"
    )]
    OutOfOrder {
        /// The conversion refused.
        conversion: crate::ids::ConversionId,
        /// When it happened.
        at: DateTime<Utc>,
        /// When the conversion replayed last happened.
        previous: DateTime<Utc>,
    },
}
