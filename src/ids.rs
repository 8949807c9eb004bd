//! Identifiers: affiliates are numbers, everything else is a short inline string.
//!
//! Real programs number their affiliates, and use opaque strings (order
//! numbers, UUIDs, tokens) for conversions, clicks and customers. The string
//! ids here are held inline, in a fixed buffer of [`MAX_ID_LEN`] bytes beside
//! their length, so creating, copying, comparing and hashing one never touches
//! the heap. A longer value is refused with [`IdError::TooLong`].

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

/// The longest string id, in bytes of UTF-8: enough for a UUID, a ULID, a
/// 64-character hex token or any order number we have seen.
pub const MAX_ID_LEN: usize = 64;

/// The longest [`Label`], in bytes of UTF-8.
pub const MAX_LABEL_LEN: usize = 32;

/// A string of at most `N` bytes held inline. Bytes past `len` are always zero.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct InlineStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// Copies `s` in; the caller has checked that it fits.
    pub(crate) fn new(s: &str) -> Option<Self> {
        Self::from_bytes(s.as_bytes())
    }

    /// Copies `src` in, unchecked: for bytes that were a valid id once. Bytes
    /// that are not UTF-8 would read back as an empty string, never panic.
    pub(crate) fn from_bytes(src: &[u8]) -> Option<Self> {
        if src.len() > N || src.len() > usize::from(u8::MAX) {
            return None;
        }
        let mut bytes = [0u8; N];
        bytes.get_mut(..src.len())?.copy_from_slice(src);
        Some(Self {
            len: src.len() as u8,
            bytes,
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ever built from a `&str`, so this cannot fail; an empty string
        // is a harmless fallback that keeps the code free of panics.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const N: usize> Hash for InlineStr<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl<const N: usize> PartialOrd for InlineStr<N> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Ord for InlineStr<N> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// Whether `ch` is an invisible formatting character that has no place in
/// an id: zero-width space, left-to-right and right-to-left marks, bidi
/// embeddings, overrides and isolates, word joiner and invisible operators,
/// the deprecated format characters U+206A..U+206F, byte order mark,
/// interlinear annotation marks, soft hyphen. Two ids that differ only by
/// one look the same, and a bidi control reorders the text around it. The
/// joiners U+200C and U+200D stay: scripts and emoji need them.
pub(crate) fn is_invisible_format(ch: char) -> bool {
    matches!(
        ch,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Checks an opaque id: not empty, at most `max` bytes, no whitespace, no
/// control characters and no invisible formatting characters
/// ([`is_invisible_format`]); with `allow_space`, spaces between other
/// characters (not first or last, where they would make `"upsell "` a name
/// apart from `"upsell"`).
fn check_token(s: &str, max: usize, allow_space: bool) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max {
        return Err(IdError::TooLong { len: s.len(), max });
    }
    if s.starts_with(' ') {
        return Err(IdError::InvalidChar { ch: ' ', position: 0 });
    }
    if s.ends_with(' ') {
        return Err(IdError::InvalidChar {
            ch: ' ',
            position: s.chars().count().saturating_sub(1),
        });
    }
    // The common case, printable ASCII, in one pass over the bytes.
    let printable = |b: &u8| matches!(b, 0x21..=0x7E) || (allow_space && *b == b' ');
    if s.as_bytes().iter().all(printable) {
        return Ok(());
    }
    for (position, ch) in s.chars().enumerate() {
        let bad =
            ch.is_control() || is_invisible_format(ch) || (ch.is_whitespace() && !(allow_space && ch == ' '));
        if bad {
            return Err(IdError::InvalidChar { ch, position });
        }
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $max:expr, $allow_space:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(InlineStr<$max>);

        impl $name {
            /// Checks and copies `s`.
            ///
            /// # Errors
            ///
            /// [`IdError`] if `s` is empty, longer than the maximum, or holds
            /// a control character, an invisible formatting character (byte
            /// order mark, zero-width space, bidi control) or whitespace
            /// (where spaces are allowed, one first or last).
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_token(s, $max, $allow_space)?;
                InlineStr::new(s)
                    .map(Self)
                    .ok_or(IdError::TooLong { len: s.len(), max: $max })
            }

            /// An id a store kept after checking it once: copied, not
            /// checked again (the store only keeps bytes of checked ids).
            #[allow(dead_code)]
            pub(crate) fn from_stored(bytes: &[u8]) -> Option<Self> {
                InlineStr::from_bytes(bytes).map(Self)
            }

            /// The id's bytes, for stores that hash and compare them.
            #[allow(dead_code)]
            pub(crate) fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            /// The id as it was given.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// The id of a conversion: an order number, a transaction id, a
    /// registration id. At most [`MAX_ID_LEN`] bytes, no whitespace.
    ///
    /// The [`Ledger`](crate::Ledger) is keyed by it, so a conversion reported
    /// twice (a retried postback) is credited once.
    ///
    /// ```
    /// use attributor::ConversionId;
    /// let id: ConversionId = "ORD-2026-0001".parse()?;
    /// assert_eq!(id.as_str(), "ORD-2026-0001");
    /// assert!(ConversionId::new("has space").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ConversionId,
    MAX_ID_LEN,
    false
);

string_id!(
    /// The key of an affiliate program in a store that holds several, as
    /// the PostgreSQL backend does: a platform runs many operators'
    /// programs in one database, and a store handle is opened for one of
    /// them, so that `BOSS20` can exist in two programs. At most
    /// [`MAX_ID_LEN`] bytes, no whitespace. The memory stores hold one
    /// program each and need none.
    ///
    /// ```
    /// use attributor::ProgramId;
    /// let program: ProgramId = "acme-prop".parse()?;
    /// assert_eq!(program.as_str(), "acme-prop");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ProgramId,
    MAX_ID_LEN,
    false
);

string_id!(
    /// The id of a tracked click, as carried from the affiliate link to the
    /// conversion (URL parameter, cookie, postback). At most [`MAX_ID_LEN`]
    /// bytes, no whitespace.
    ///
    /// ```
    /// use attributor::ClickId;
    /// let id = ClickId::new("9f1c2e4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b")?;
    /// assert_eq!(id.to_string().len(), 36);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ClickId,
    MAX_ID_LEN,
    false
);

string_id!(
    /// The operator's id for a customer (a player, a trader, a shopper) or,
    /// before registration, for a visitor. At most [`MAX_ID_LEN`] bytes, no
    /// whitespace.
    ///
    /// ```
    /// use attributor::CustomerId;
    /// let id = CustomerId::new("trader-77")?;
    /// assert_eq!(id.as_str(), "trader-77");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    CustomerId,
    MAX_ID_LEN,
    false
);

string_id!(
    /// A short free-form tag: a code's campaign label, a custom event name,
    /// a sub id. At most [`MAX_LABEL_LEN`] bytes; inner spaces are allowed,
    /// other whitespace and control characters are not, nor a space first
    /// or last.
    ///
    /// ```
    /// use attributor::Label;
    /// let label = Label::new("spring sale")?;
    /// assert_eq!(label.as_str(), "spring sale");
    /// assert!(Label::new("upsell ").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Label,
    MAX_LABEL_LEN,
    true
);

string_id!(
    /// A sub id: a tag an affiliate adds to its link (`sub1`..`sub5`) to tell
    /// its own traffic sources apart. At most [`MAX_ID_LEN`] bytes, no
    /// whitespace.
    SubId,
    MAX_ID_LEN,
    false
);

string_id!(
    /// The campaign a tracked link belongs to, as the operator names it
    /// (`spring-sale`, `Black Friday 2026`). At most [`MAX_ID_LEN`] bytes;
    /// inner spaces are allowed, other whitespace and control characters are
    /// not, nor a space first or last.
    ///
    /// ```
    /// use attributor::Campaign;
    /// let campaign = Campaign::new("Black Friday 2026")?;
    /// assert_eq!(campaign.as_str(), "Black Friday 2026");
    /// assert!(Campaign::new("tab\there").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Campaign,
    MAX_ID_LEN,
    true
);

/// The id of an affiliate: a number, as affiliate programs number their
/// partners.
///
/// ```
/// use attributor::AffiliateId;
/// let id: AffiliateId = "1042".parse()?;
/// assert_eq!(id, AffiliateId::new(1042));
/// assert_eq!(id.to_string(), "1042");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct AffiliateId(u64);

impl AffiliateId {
    /// An affiliate id from its number.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for AffiliateId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl fmt::Display for AffiliateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for AffiliateId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::NotANumber {
                value: Excerpt::new(s),
            });
        }
        s.parse::<u64>().map(Self).map_err(|_| IdError::NotANumber {
            value: Excerpt::new(s),
        })
    }
}

/// The start of a refused input, kept in an error to say what was wrong:
/// at most [`MAX_LABEL_LEN`] bytes, cut at a character boundary, held
/// inline. It is whatever came in, so it may be empty or hold characters no
/// id allows; it is not a [`Label`]. `Display` shows it as it is; the
/// errors quote it with `{:?}`, which escapes control characters.
///
/// ```
/// use attributor::Amount;
/// let err = "12\n".parse::<Amount>().unwrap_err();
/// assert_eq!(err.to_string(), r#""12\n" is not an amount with at most four decimals"#);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Excerpt(InlineStr<MAX_LABEL_LEN>);

impl Excerpt {
    /// The start of `s`: its first [`MAX_LABEL_LEN`] bytes, or fewer to end
    /// on a character boundary.
    ///
    /// ```
    /// use attributor::Excerpt;
    /// assert_eq!(Excerpt::new("sub4").as_str(), "sub4");
    /// assert_eq!(Excerpt::new(&"é".repeat(20)).as_str().len(), 32);
    /// ```
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(MAX_LABEL_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let head = s.get(..end).unwrap_or_default();
        Self(InlineStr::new(head).unwrap_or(InlineStr {
            len: 0,
            bytes: [0; MAX_LABEL_LEN],
        }))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_keep_them_inside_only() {
        // "upsell " would be a custom event apart from "upsell", and a
        // policy set would quietly give it the default policy.
        assert_eq!(
            Label::new("vip upsell").map(|l| l.to_string()),
            Ok("vip upsell".into())
        );
        assert_eq!(
            Label::new("upsell "),
            Err(IdError::InvalidChar { ch: ' ', position: 6 })
        );
        assert_eq!(
            Campaign::new(" spring"),
            Err(IdError::InvalidChar { ch: ' ', position: 0 })
        );
        assert_eq!(
            Label::new(" "),
            Err(IdError::InvalidChar { ch: ' ', position: 0 })
        );
        assert_eq!(
            Label::new("é "),
            Err(IdError::InvalidChar { ch: ' ', position: 1 }),
            "positions count characters"
        );
    }

    #[test]
    fn string_ids_keep_their_text_and_order_like_strings() {
        let a = ClickId::new("abc").unwrap();
        let b = ClickId::new("abd").unwrap();
        let long = ClickId::new("ab").unwrap();
        assert!(a < b);
        assert!(long < a);
        assert_eq!(a.as_str(), "abc");
    }

    #[test]
    fn string_ids_refuse_bad_input_with_a_typed_error() {
        assert_eq!(ClickId::new(""), Err(IdError::Empty));
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            ClickId::new(&long),
            Err(IdError::TooLong {
                len: MAX_ID_LEN + 1,
                max: MAX_ID_LEN
            })
        );
        assert_eq!(
            CustomerId::new("a b"),
            Err(IdError::InvalidChar { ch: ' ', position: 1 })
        );
        assert!(ClickId::new(&"x".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn affiliate_ids_parse_numbers_only() {
        assert_eq!("7".parse::<AffiliateId>(), Ok(AffiliateId::new(7)));
        assert!(matches!(
            "seven".parse::<AffiliateId>(),
            Err(IdError::NotANumber { .. })
        ));
    }

    #[test]
    fn invisible_formatting_characters_are_refused_in_ids() {
        // A CSV export's byte order mark would make "ORD-1" a second ledger
        // key, and a bidi override would scramble an id in a report.
        assert_eq!(
            ConversionId::new("\u{FEFF}ORD-1"),
            Err(IdError::InvalidChar {
                ch: '\u{FEFF}',
                position: 0
            })
        );
        for ch in [
            '\u{200B}', '\u{200E}', '\u{202E}', '\u{2066}', '\u{2060}', '\u{00AD}',
        ] {
            let id = format!("cust{ch}9");
            assert_eq!(
                CustomerId::new(&id),
                Err(IdError::InvalidChar { ch, position: 4 }),
                "{ch:?}"
            );
            assert!(Label::new(&id).is_err(), "{ch:?}");
        }
        // Joiners belong to scripts and emoji, and stay.
        assert!(Label::new("می\u{200C}خواهم").is_ok());
        assert!(CustomerId::new("👩\u{200D}💻-7").is_ok());
    }

    #[test]
    fn an_excerpt_ends_on_a_char_boundary() {
        let s = "é".repeat(40);
        assert_eq!(Excerpt::new(&s).as_str().chars().count(), 16);
    }
}
