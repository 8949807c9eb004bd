//! Coupon codes: validated, normalised, held inline.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

/// The fewest characters in a canonical coupon code.
pub const MIN_CODE_LEN: usize = 3;

/// The most characters in a canonical coupon code.
pub const MAX_CODE_LEN: usize = 32;

/// A coupon code in canonical form: `A-Z0-9`, [`MIN_CODE_LEN`] to
/// [`MAX_CODE_LEN`] characters, held inline (parsing, copying, comparing and
/// hashing never allocate).
///
/// # Normalisation
///
/// [`CouponCode::parse`] turns what a customer typed into the canonical form:
///
/// 1. full-width forms U+FF01..U+FF5E fold to their ASCII twins
///    (`Ｍ` -> `M`, `１` -> `1`, `－` -> `-`), the ideographic space U+3000
///    that a full-width keyboard types folds to a space, and the dashes
///    that typography and autocorrect put for a hyphen (U+2010..U+2014,
///    minus sign U+2212) fold to `-`;
/// 2. surrounding whitespace is trimmed;
/// 3. the separators space, `-`, `_` and `.` are ignored;
/// 4. the invisible characters that copy-paste from social posts brings are
///    ignored: the invisible formatting characters that ids refuse (zero-width
///    space, left-to-right and right-to-left marks, bidi controls, word
///    joiner, byte order mark, soft hyphen and the like), the joiners U+200C
///    and U+200D, and non-breaking space U+00A0;
/// 5. ASCII letters fold to upper case.
///
/// Anything else, including non-ASCII letters such as Cyrillic `А` or `Ä`,
/// is an [`CodeError::InvalidChar`] naming the character and its position
/// (counted in characters of the input, from zero).
///
/// ```
/// use attributor::CouponCode;
///
/// let typed = CouponCode::parse(" mkbhd-10 ")?;
/// assert_eq!(typed.as_str(), "MKBHD10");
/// assert_eq!(typed, CouponCode::parse("ＭＫＢＨＤ１０")?);
/// assert_eq!(CouponCode::parse("save.20_now")?.to_string(), "SAVE20NOW");
/// assert!(CouponCode::parse("МKBHD10").is_err()); // a Cyrillic М
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CouponCode {
    len: u8,
    bytes: [u8; MAX_CODE_LEN],
}

/// The confusable form of a coupon code: characters a customer may mistake
/// for one another map to one representative.
///
/// | characters | skeleton |
/// |------------|----------|
/// | `0` `O` `Q` | `O` |
/// | `1` `I` `L` | `I` |
/// | `5` `S`     | `S` |
/// | `2` `Z`     | `Z` |
/// | `8` `B`     | `B` |
/// | `6` `G`     | `G` |
/// | `U` `V`     | `V` |
///
/// Every other character stands for itself. Two codes with equal skeletons
/// are *confusable*: the registry refuses to give them to different
/// affiliates at overlapping times.
///
/// ```
/// use attributor::CouponCode;
/// let a = CouponCode::parse("SOL10")?;
/// let b = CouponCode::parse("5OL1O")?;
/// assert_eq!(a.skeleton(), b.skeleton());
/// assert_eq!(a.skeleton().as_str(), "SOIIO");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Skeleton(CouponCode);

/// Whether a character is one of the invisible ones copy-paste brings.
fn is_invisible(ch: char) -> bool {
    crate::ids::is_invisible_format(ch) || matches!(ch, '\u{200C}' | '\u{200D}' | '\u{00A0}')
}

/// Folds a full-width form U+FF01..U+FF5E to its ASCII twin, the
/// ideographic space to a space and a typographic dash to `-`.
fn fold_wide_and_dashes(ch: char) -> char {
    match ch {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(ch) - 0xFEE0).unwrap_or(ch),
        '\u{3000}' => ' ',
        '\u{2010}'..='\u{2014}' | '\u{2212}' => '-',
        _ => ch,
    }
}

const fn confusable(b: u8) -> u8 {
    match b {
        b'0' | b'Q' => b'O',
        b'1' | b'L' => b'I',
        b'5' => b'S',
        b'2' => b'Z',
        b'8' => b'B',
        b'6' => b'G',
        b'U' => b'V',
        other => other,
    }
}

/// [`confusable`] for every byte, so that a skeleton is a table lookup a
/// character.
const SKELETON: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = confusable(b as u8);
        b += 1;
    }
    table
};

/// `char::is_whitespace` on ASCII, vertical tab included.
const fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// [`ASCII_CLASS`]: a byte that is not part of a code.
const INVALID: u8 = 0;
/// [`ASCII_CLASS`]: a separator, skipped.
const SEPARATOR: u8 = 1;

/// Each ASCII byte's class: [`INVALID`], [`SEPARATOR`], or its canonical
/// character (upper case).
const ASCII_CLASS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = if matches!(byte, b' ' | b'-' | b'_' | b'.') {
            SEPARATOR
        } else if byte.is_ascii_alphanumeric() {
            byte.to_ascii_uppercase()
        } else {
            INVALID
        };
        b += 1;
    }
    table
};

impl CouponCode {
    /// Parses and normalises a code as a customer typed it.
    ///
    /// # Errors
    ///
    /// [`CodeError`] when nothing is left after normalisation, when the
    /// canonical form is shorter than [`MIN_CODE_LEN`] or longer than
    /// [`MAX_CODE_LEN`], or when the input holds a character outside the
    /// alphabet (reported with its position).
    ///
    /// # Examples
    ///
    /// ```
    /// use attributor::{CodeError, CouponCode};
    /// assert_eq!(CouponCode::parse("ab"), Err(CodeError::TooShort { len: 2, min: 3 }));
    /// assert_eq!(
    ///     CouponCode::parse("SAVE€10"),
    ///     Err(CodeError::InvalidChar { ch: '€', position: 4 })
    /// );
    /// assert_eq!(CouponCode::parse(" -\u{200B}- "), Err(CodeError::Empty));
    /// ```
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        Self::parse_ascii(input)
    }

    /// [`CouponCode::parse`] for input that holds a non-ASCII character.
    fn parse_unicode(input: &str) -> Result<Self, CodeError> {
        let trimmed = input.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
        // Position of the first character of `trimmed` in `input`, in chars.
        let rest = input.trim_start_matches(|c: char| c.is_whitespace() || is_invisible(c));
        let offset = input
            .get(..input.len() - rest.len())
            .map_or(0, |head| head.chars().count());
        let mut bytes = [0u8; MAX_CODE_LEN];
        let mut len = 0usize;
        for (i, raw) in trimmed.chars().enumerate() {
            let ch = fold_wide_and_dashes(raw);
            if matches!(ch, ' ' | '-' | '_' | '.') || is_invisible(ch) {
                continue;
            }
            if !ch.is_ascii_alphanumeric() {
                return Err(CodeError::InvalidChar {
                    ch: raw,
                    position: offset + i,
                });
            }
            if let Some(slot) = bytes.get_mut(len) {
                *slot = ch.to_ascii_uppercase() as u8;
            }
            len += 1;
        }
        Self::finish(bytes, len)
    }

    /// [`CouponCode::parse`] byte by byte, while the input is ASCII (where
    /// characters are bytes); the first non-ASCII byte hands the whole input
    /// to [`CouponCode::parse_unicode`].
    fn parse_ascii(text: &str) -> Result<Self, CodeError> {
        let input = text.as_bytes();
        // Leading whitespace is skipped; from the first other byte on, one
        // table lookup a byte classifies it.
        let start = input
            .iter()
            .position(|b| !is_ascii_space(*b))
            .unwrap_or(input.len());
        let mut bytes = [0u8; MAX_CODE_LEN];
        let mut len = 0usize;
        let rest = input.get(start..).unwrap_or_default();
        for (i, &b) in rest.iter().enumerate() {
            match ASCII_CLASS[usize::from(b)] {
                SEPARATOR => {}
                INVALID if !b.is_ascii() => return Self::parse_unicode(text),
                INVALID => {
                    // Whitespace other than a space may only trail the code.
                    let tail = rest.get(i..).unwrap_or_default();
                    if is_ascii_space(b) {
                        if tail.iter().all(|b| is_ascii_space(*b)) {
                            break;
                        }
                        if !tail.is_ascii() {
                            // Unicode whitespace may end the code too.
                            return Self::parse_unicode(text);
                        }
                    }
                    return Err(CodeError::InvalidChar {
                        ch: char::from(b),
                        position: start + i,
                    });
                }
                canonical => {
                    if let Some(slot) = bytes.get_mut(len) {
                        *slot = canonical;
                    }
                    len += 1;
                }
            }
        }
        Self::finish(bytes, len)
    }

    fn finish(bytes: [u8; MAX_CODE_LEN], len: usize) -> Result<Self, CodeError> {
        match len {
            0 => Err(CodeError::Empty),
            n if n < MIN_CODE_LEN => Err(CodeError::TooShort {
                len: n,
                min: MIN_CODE_LEN,
            }),
            n if n > MAX_CODE_LEN => Err(CodeError::TooLong {
                len: n,
                max: MAX_CODE_LEN,
            }),
            n => Ok(Self { len: n as u8, bytes }),
        }
    }

    /// A code from bytes already in canonical form (`A-Z0-9`, in length),
    /// as stores keep them; `None` otherwise.
    pub(crate) fn from_canonical(canonical: &[u8]) -> Option<Self> {
        let ok = (MIN_CODE_LEN..=MAX_CODE_LEN).contains(&canonical.len())
            && canonical
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let mut bytes = [0u8; MAX_CODE_LEN];
        bytes.get_mut(..canonical.len())?.copy_from_slice(canonical);
        ok.then_some(Self {
            len: canonical.len() as u8,
            bytes,
        })
    }

    /// The canonical form: `A-Z0-9` only.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The canonical bytes, zero-padded to [`MAX_CODE_LEN`].
    pub(crate) fn padded(&self) -> &[u8; MAX_CODE_LEN] {
        &self.bytes
    }

    /// The canonical form as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The number of characters in the canonical form.
    #[allow(clippy::len_without_is_empty)] // a code is never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The skeleton's characters as little-endian words, eight a word,
    /// zero past the end: built in registers, for hashing a skeleton without
    /// writing it out byte by byte.
    pub(crate) fn skeleton_words(&self) -> [u64; MAX_CODE_LEN / 8] {
        let mut words = [0u64; MAX_CODE_LEN / 8];
        let used = usize::from(self.len).div_ceil(8);
        for (word, chunk) in words.iter_mut().zip(self.bytes.chunks_exact(8)).take(used) {
            *word = chunk
                .iter()
                .enumerate()
                .fold(0, |w, (i, b)| w | u64::from(SKELETON[usize::from(*b)]) << (8 * i));
        }
        words
    }

    /// The confusable form of this code; see [`Skeleton`].
    pub fn skeleton(&self) -> Skeleton {
        let mut out = *self;
        for b in out.bytes.iter_mut().take(usize::from(self.len)) {
            *b = SKELETON[usize::from(*b)];
        }
        Skeleton(out)
    }
}

impl CouponCode {
    /// Whether `other` is one edit away from this code: one character
    /// changed, added or removed, or two neighbours swapped. A code is not
    /// one edit away from itself.
    ///
    /// ```
    /// use attributor::CouponCode;
    /// let code = |s| CouponCode::parse(s).unwrap();
    /// assert!(code("BOSS20").is_one_edit_from(&code("BOSS21"))); // changed
    /// assert!(code("BOSS20").is_one_edit_from(&code("BOSSS20"))); // added
    /// assert!(code("BOSS20").is_one_edit_from(&code("BOS20"))); // removed
    /// assert!(code("BOSS20").is_one_edit_from(&code("BOSS02"))); // swapped
    /// assert!(!code("BOSS20").is_one_edit_from(&code("BSOS02")));
    /// assert!(!code("BOSS20").is_one_edit_from(&code("BOSS20")));
    /// ```
    pub fn is_one_edit_from(&self, other: &CouponCode) -> bool {
        let (a, b) = (self.as_bytes(), other.as_bytes());
        // The common head, then what is left of each.
        let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let (a, b) = (
            a.get(head..).unwrap_or_default(),
            b.get(head..).unwrap_or_default(),
        );
        let tail = |x: &[u8], y: &[u8]| x == y;
        match (a.len(), b.len()) {
            (0, 0) => false,
            (m, n) if m == n => {
                // Changed: the rest after the first difference is equal;
                // swapped: the first two are crossed and the rest equal.
                tail(a.get(1..).unwrap_or_default(), b.get(1..).unwrap_or_default())
                    || (a.len() >= 2
                        && a.first() == b.get(1)
                        && a.get(1) == b.first()
                        && tail(a.get(2..).unwrap_or_default(), b.get(2..).unwrap_or_default()))
            }
            (m, n) if m == n + 1 => tail(a.get(1..).unwrap_or_default(), b),
            (m, n) if m + 1 == n => tail(a, b.get(1..).unwrap_or_default()),
            _ => false,
        }
    }

    /// The keys of a near lookup index: this code, then each code it
    /// leaves with one character removed ([`CouponCode::deletions`]).
    #[cfg(feature = "postgres")]
    pub(crate) fn near_keys(&self) -> impl Iterator<Item = String> + '_ {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        core::iter::once(text(self.as_bytes())).chain(
            self.deletions()
                .map(move |(bytes, len)| text(bytes.get(..len).unwrap_or_default())),
        )
    }

    /// Each code with one character of this one removed, as bytes, with
    /// repeats (removing either of two equal neighbours gives the same)
    /// left out: what a near lookup index keys. Held inline.
    pub(crate) fn deletions(&self) -> impl Iterator<Item = ([u8; MAX_CODE_LEN], usize)> + '_ {
        let bytes = self.as_bytes();
        (0..bytes.len())
            .filter(move |&i| i == 0 || bytes.get(i) != bytes.get(i - 1))
            .map(move |i| {
                let mut out = [0u8; MAX_CODE_LEN];
                let (head, rest) = bytes.split_at(i);
                let rest = rest.get(1..).unwrap_or_default();
                if let Some(slot) = out.get_mut(..head.len()) {
                    slot.copy_from_slice(head);
                }
                if let Some(slot) = out.get_mut(head.len()..head.len() + rest.len()) {
                    slot.copy_from_slice(rest);
                }
                (out, bytes.len() - 1)
            })
    }
}

impl Skeleton {
    /// The skeleton as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Hash for CouponCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl Hash for Skeleton {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialOrd for CouponCode {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CouponCode {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl FromStr for CouponCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for CouponCode {
    type Error = CodeError;
    fn try_from(s: &str) -> Result<Self, CodeError> {
        Self::parse(s)
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CouponCode({:?})", self.as_str())
    }
}

impl fmt::Display for Skeleton {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Skeleton {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Skeleton({:?})", self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for CouponCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for CouponCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
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

#[cfg(test)]
mod tests {
    use super::CouponCode;
    use proptest::prelude::*;

    proptest! {
        /// The byte-wise path and the general one agree on every input,
        /// errors and their positions included.
        #[test]
        fn the_ascii_path_agrees_with_the_unicode_path(
            text in "[ \t\n\u{0B}\u{0C}\r\u{1C}-\u{1F}\u{85}\u{2028}\\-_.a-zA-Z0-9!€\u{200B}\u{3000}\u{00A0}Ａ１]{0,40}"
        ) {
            prop_assert_eq!(CouponCode::parse_ascii(&text), CouponCode::parse_unicode(&text));
        }
    }
}
