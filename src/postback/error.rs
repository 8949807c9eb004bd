//! The errors of postback templates, inbound postbacks and signatures.

use chrono::{DateTime, Utc};

use crate::code::CodeError;
use crate::ids::{Excerpt, IdError};

/// A [`PostbackTemplate`](crate::PostbackTemplate) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A placeholder names no [`Macro`](crate::Macro).
    #[error("unknown macro {:?} at position {position} of postback template", name.as_str())]
    UnknownMacro {
        /// The name between the braces (its first bytes).
        name: Excerpt,
        /// The position of its `{`, in characters from zero.
        position: usize,
    },
    /// A `{` has no `}` after it.
    #[error("unclosed brace at position {position} of postback template")]
    Unclosed {
        /// The position of the `{`, in characters from zero.
        position: usize,
    },
    /// The template holds whitespace or a control character outside the
    /// braces, which URL parsers drop or move (write a space as `%20`).
    #[error("whitespace or control character {ch:?} at position {position} of postback template")]
    Whitespace {
        /// The character.
        ch: char,
        /// Its position, in characters from zero.
        position: usize,
    },
    /// A placeholder stands in the scheme, user, host or port, where a value
    /// could break the URL or choose its server (as URL parsers read it, so
    /// `https:///{click_id}/` too): placeholders belong in the path, query
    /// or fragment.
    #[error("macro {:?} at position {position} of postback template comes before the path", name.as_str())]
    MacroBeforePath {
        /// The macro's name (its first bytes).
        name: Excerpt,
        /// The position of its `{`, in characters from zero.
        position: usize,
    },
    /// A `}` has no `{` before it.
    #[error("unopened brace at position {position} of postback template")]
    Unopened {
        /// The position of the `}`, in characters from zero.
        position: usize,
    },
    /// With its placeholders filled, the template is not a URL.
    #[error("postback template {:?} is not a url: {source}", template.as_str())]
    Malformed {
        /// The template (its first bytes).
        template: Excerpt,
        /// Why the `url` crate refused it.
        source: url::ParseError,
    },
    /// The template is a URL, but not an `http` or `https` one.
    #[error("postback template has scheme {:?}, not http or https", scheme.as_str())]
    NotHttp {
        /// The scheme (its first bytes).
        scheme: Excerpt,
    },
}

/// An inbound postback was refused by
/// [`PostbackParser::parse`](crate::PostbackParser::parse). Each variant
/// names the field at fault; [`PostbackError::field`] gives it as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostbackError {
    /// A required field is absent, or `amount` and `currency` do not come
    /// together.
    #[error("postback has no {field} field")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field appears more than once.
    #[error("field {field} appears more than once in postback")]
    Duplicate {
        /// The field.
        field: &'static str,
    },
    /// A field's value, percent-decoded, is not UTF-8 (say `%FF`).
    #[error("field {field} is not utf-8 once percent-decoded")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The `event` field is neither a built-in event name nor a custom event
    /// the parser was told of.
    #[error("field event has unknown event name {:?}", value.as_str())]
    UnknownEvent {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// The `timestamp` field is neither RFC 3339 nor unix seconds, or is a
    /// time past the year 9999 in UTC (as a count of milliseconds is), or
    /// before the year 0000.
    #[error("field timestamp has {:?}, which is neither an rfc 3339 time nor unix seconds before the year 10000", value.as_str())]
    BadTimestamp {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// The `amount` field is not a decimal number with at most four
    /// fractional digits.
    #[error("field amount has {:?}, which is not a number with at most four decimals", value.as_str())]
    BadAmount {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// The `currency` field is not three ASCII letters.
    #[error("field currency has {:?}, which is not a three-letter currency code", value.as_str())]
    BadCurrency {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// An id field (`transaction_id`, `click_id`, `customer_id`) is not a
    /// valid id.
    #[error("field {field} has bad id {:?}: {source}", value.as_str())]
    BadId {
        /// The field.
        field: &'static str,
        /// The value given (its first bytes).
        value: Excerpt,
        /// What is wrong with it.
        source: IdError,
    },
    /// An entry of the `code` field is not a coupon code.
    #[error("field code has bad coupon code {:?}: {source}", value.as_str())]
    BadCode {
        /// The entry (its first bytes).
        value: Excerpt,
        /// What is wrong with it.
        source: CodeError,
    },
    /// The `code` field lists more codes than
    /// [`MAX_POSTBACK_CODES`](crate::MAX_POSTBACK_CODES).
    #[error("field code lists {count} codes, more than the maximum of {max}")]
    TooManyCodes {
        /// The number of entries.
        count: usize,
        /// The maximum.
        max: usize,
    },
}

impl PostbackError {
    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field }
            | Self::Duplicate { field }
            | Self::NotUtf8 { field }
            | Self::BadId { field, .. } => field,
            Self::UnknownEvent { .. } => "event",
            Self::BadTimestamp { .. } => "timestamp",
            Self::BadAmount { .. } => "amount",
            Self::BadCurrency { .. } => "currency",
            Self::BadCode { .. } | Self::TooManyCodes { .. } => "code",
        }
    }
}

/// A postback's signature was refused by a
/// [`PostbackVerifier`](crate::PostbackVerifier): treat the postback as
/// forged or replayed, and do not parse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// There is no signature.
    #[error("postback has no signature")]
    MissingSignature,
    /// There is no signing timestamp.
    #[error("postback has no signing timestamp")]
    MissingTimestamp,
    /// The signing timestamp is not whole unix seconds in chrono's range.
    #[error("signing timestamp {:?} is not unix seconds", value.as_str())]
    BadTimestamp {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// The signature is not hexadecimal.
    #[error("signature {:?} is not hex", value.as_str())]
    BadHex {
        /// The value given (its first bytes).
        value: Excerpt,
    },
    /// The signature is not the HMAC-SHA256 of the message under any of the
    /// secrets: the postback was forged or altered, signed with another
    /// secret, or signed with a truncated MAC.
    #[error("signature does not match the postback under any secret")]
    WrongMac,
    /// The postback was signed longer ago than the tolerance allows.
    #[error("postback signed at {signed_at} is more than {tolerance_secs} s older than now ({now})")]
    TooOld {
        /// When it was signed.
        signed_at: DateTime<Utc>,
        /// The `now` given.
        now: DateTime<Utc>,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The postback is signed further in the future than the tolerance
    /// allows.
    #[error("postback signed at {signed_at} is more than {tolerance_secs} s ahead of now ({now})")]
    TooNew {
        /// When it claims to have been signed.
        signed_at: DateTime<Utc>,
        /// The `now` given.
        now: DateTime<Utc>,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// In a signed parameter list, `signature` or `signed_at` appears more
    /// than once.
    #[error("parameter {param} appears more than once in signed postback")]
    Duplicate {
        /// The parameter.
        param: &'static str,
    },
    /// In a signed parameter list, `signature` is not the last parameter.
    #[error("parameter signature is not the last parameter of the postback")]
    SignatureNotLast,
}
