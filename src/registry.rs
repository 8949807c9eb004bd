//! Who owns a coupon code, when: the read side of the code registry.

use chrono::{DateTime, Utc};

use crate::code::{CodeError, CouponCode};
use crate::conversion::Conversion;
use crate::ids::{AffiliateId, Label};
use smallvec::SmallVec;

/// How a code's owner is credited when the code is used.
///
/// ```
/// use attributor::CreditMode;
/// assert_eq!(CreditMode::default(), CreditMode::Standard);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CreditMode {
    /// The policy decides between this code and the other evidence.
    #[default]
    Standard,
    /// The code wins over a click whatever the policy's priority says. A live
    /// binding that the policy lets hold still holds.
    Always,
    /// The code counts only when its owner also has a qualifying click on
    /// the conversion: a guard against codes leaked to coupon sites.
    IfInvolved,
}

/// One interval of a code's ownership: `affiliate` owns `code` for
/// `valid_from <= t < valid_until` (for ever when `valid_until` is `None`).
///
/// ```
/// use attributor::{AffiliateId, CodeAssignment, CouponCode, CreditMode};
/// use chrono::{TimeZone, Utc};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let a = CodeAssignment::new(CouponCode::parse("mkbhd10")?, AffiliateId::new(7), start)
///     .with_valid_until(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
///     .with_mode(CreditMode::IfInvolved);
/// assert!(a.is_active_at(start));
/// assert!(!a.is_active_at(a.valid_until.unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct CodeAssignment {
    /// The code.
    pub code: CouponCode,
    /// Who owns it during the interval.
    pub affiliate: AffiliateId,
    /// The first instant of ownership (inclusive).
    pub valid_from: DateTime<Utc>,
    /// The end of ownership (exclusive); `None` is open-ended.
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether the interval was cut short by a revocation rather than ending
    /// as planned or by a reassignment.
    pub revoked: bool,
    /// How the owner is credited.
    pub mode: CreditMode,
    /// An optional campaign or label.
    pub label: Option<Label>,
    /// Whether `code` is the prefix of a family (`MKBHD*`): the assignment
    /// then covers every code that starts with it and has no assignment of
    /// its own. Left out of the JSON when `false`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "core::ops::Not::not")
    )]
    pub family: bool,
}

impl CodeAssignment {
    /// An open-ended, [`CreditMode::Standard`] assignment of one code,
    /// without a label.
    pub fn new(code: CouponCode, affiliate: AffiliateId, valid_from: DateTime<Utc>) -> Self {
        Self {
            code,
            affiliate,
            valid_from,
            valid_until: None,
            revoked: false,
            mode: CreditMode::Standard,
            label: None,
            family: false,
        }
    }

    /// An open-ended, [`CreditMode::Standard`] assignment of the family of
    /// codes that start with `prefix` (`MKBHD*`: `MKBHD10`, `MKBHDVIP`, and
    /// `MKBHD` itself), without a label. A code's own assignments, when it
    /// has any, decide for it instead; of two families, the longer prefix
    /// decides.
    ///
    /// ```
    /// use attributor::{AffiliateId, CodeAssignment, CodeLookup, CodeRegistry, CouponCode, MemoryCodeRegistry};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let registry = MemoryCodeRegistry::new();
    /// registry.insert(CodeAssignment::family(CouponCode::parse("MKBHD")?, AffiliateId::new(7), t))?;
    /// let CodeLookup::Active(a) = registry.lookup(&CouponCode::parse("mkbhd-10off")?, t)? else {
    ///     panic!("a member of the family")
    /// };
    /// assert_eq!((a.affiliate, a.family, a.code.as_str()), (AffiliateId::new(7), true, "MKBHD"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn family(prefix: CouponCode, affiliate: AffiliateId, valid_from: DateTime<Utc>) -> Self {
        Self {
            family: true,
            ..Self::new(prefix, affiliate, valid_from)
        }
    }

    /// Whether this assignment covers `code`: it is the code, or the prefix
    /// of a family `code` starts with.
    pub fn covers(&self, code: &CouponCode) -> bool {
        if self.family {
            code.as_bytes().starts_with(self.code.as_bytes())
        } else {
            self.code == *code
        }
    }

    /// How this assignment's key reads: `MKBHD10` for a code, `MKBHD*` for
    /// a family.
    pub(crate) fn key_text(&self) -> String {
        if self.family {
            format!("family {}*", self.code)
        } else {
            format!("code {}", self.code)
        }
    }

    /// Whether a code this assignment covers could be confused with one
    /// `other` covers: their skeletons meet ([`Skeleton`](crate::Skeleton)),
    /// a family's taken as every skeleton that starts with its prefix's.
    pub(crate) fn meets(&self, other: &CodeAssignment) -> bool {
        let (a, b) = (self.code.skeleton(), other.code.skeleton());
        let (a, b) = (a.as_str().as_bytes(), b.as_str().as_bytes());
        match (self.family, other.family) {
            (false, false) => a == b,
            (true, false) => b.starts_with(a),
            (false, true) => a.starts_with(b),
            (true, true) => a.starts_with(b) || b.starts_with(a),
        }
    }

    /// Sets the end of the interval (exclusive).
    pub fn with_valid_until(mut self, valid_until: DateTime<Utc>) -> Self {
        self.valid_until = Some(valid_until);
        self
    }

    /// Sets the credit mode.
    pub fn with_mode(mut self, mode: CreditMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the label.
    pub fn with_label(mut self, label: Label) -> Self {
        self.label = Some(label);
        self
    }

    /// Sets whether the interval was ended by a revocation.
    pub fn with_revoked(mut self, revoked: bool) -> Self {
        self.revoked = revoked;
        self
    }

    /// Whether the interval holds no instant: it was revoked at its very
    /// start.
    fn is_empty(&self) -> bool {
        self.valid_until.is_some_and(|end| end <= self.valid_from)
    }

    /// `valid_from <= at < valid_until`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at && self.valid_until.is_none_or(|end| at < end)
    }

    /// Whether the two intervals share an instant. An empty interval
    /// (`valid_until == valid_from`, left by a revocation at its very start)
    /// stands for that instant: it overlaps an interval that holds it, since
    /// the code was handed out then, but not one that starts or ends there.
    pub fn overlaps(&self, other: &CodeAssignment) -> bool {
        let starts_before_other_ends = other.valid_until.is_none_or(|end| self.valid_from < end);
        let other_starts_before_end = self.valid_until.is_none_or(|end| other.valid_from < end);
        starts_before_other_ends && other_starts_before_end
    }
}

/// The registry's answer to "who owned this code at instant `t`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        tag = "status",
        content = "assignment",
        rename_all = "snake_case",
        deny_unknown_fields
    )
)]
pub enum CodeLookup {
    /// An assignment was active at `t`.
    Active(CodeAssignment),
    /// The code is known, nothing was active at `t`, and the latest
    /// assignment before `t` ran out as planned or by a reassignment.
    Expired(CodeAssignment),
    /// The code is known, nothing was active at `t`, and the latest
    /// assignment before `t` was revoked.
    Revoked(CodeAssignment),
    /// The code is known but its first assignment starts after `t`.
    NotYetActive(CodeAssignment),
    /// The code was never assigned.
    Unknown,
}

impl CodeLookup {
    /// The assignment the answer is about, if the code is known.
    pub fn assignment(&self) -> Option<&CodeAssignment> {
        match self {
            Self::Active(a) | Self::Expired(a) | Self::Revoked(a) | Self::NotYetActive(a) => Some(a),
            Self::Unknown => None,
        }
    }

    /// Answers the question from a code's history: the intervals of one
    /// code, sorted by `valid_from`, not overlapping. At equal starts an
    /// empty interval and a non-empty one may come in either order; two
    /// empty ones must come in the order they were made. A helper for
    /// implementations of [`CodeRegistry`].
    ///
    /// ```
    /// use attributor::{AffiliateId, CodeAssignment, CodeLookup, CouponCode};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let t = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
    /// let code = CouponCode::parse("SPRING")?;
    /// let history = [CodeAssignment::new(code, AffiliateId::new(1), t(10)).with_valid_until(t(20))];
    /// assert!(matches!(CodeLookup::from_history(&history, t(5)), CodeLookup::NotYetActive(_)));
    /// assert!(matches!(CodeLookup::from_history(&history, t(10)), CodeLookup::Active(_)));
    /// assert!(matches!(CodeLookup::from_history(&history, t(20)), CodeLookup::Expired(_)));
    /// assert_eq!(CodeLookup::from_history(&[], t(20)), CodeLookup::Unknown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_history(history: &[CodeAssignment], at: DateTime<Utc>) -> Self {
        // The intervals that start at or before `at`; an active one wins,
        // else the latest.
        let started = history
            .get(..history.partition_point(|a| a.valid_from <= at))
            .unwrap_or_default();
        if let Some(a) = started.iter().rev().find(|a| a.is_active_at(at)) {
            return Self::Active(*a);
        }
        // At equal starts an empty interval (revoked at its very start) is
        // the earlier, whichever way the history sorted them; of equal keys
        // `max_by_key` takes the last and `min_by_key` the first, so two
        // empty ones count in the order listed.
        let order = |a: &&CodeAssignment| (a.valid_from, !a.is_empty());
        match started.iter().max_by_key(order) {
            Some(a) if a.revoked => Self::Revoked(*a),
            Some(a) => Self::Expired(*a),
            None => history
                .iter()
                .min_by_key(order)
                .map_or(Self::Unknown, |a| Self::NotYetActive(*a)),
        }
    }
}

/// How a code resembles the one a customer typed.
///
/// ```
/// use attributor::Nearness;
/// assert_ne!(Nearness::LookAlike, Nearness::OneEdit);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Nearness {
    /// The same [`Skeleton`](crate::Skeleton): it differs only in characters
    /// a customer mistakes for one another (`B0SS20` for `BOSS20`).
    LookAlike,
    /// One edit away ([`CouponCode::is_one_edit_from`]), and not a look-alike.
    OneEdit,
}

/// An active code near one that a customer typed: a registry's answer to
/// [`CodeRegistry::near`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NearCode {
    /// The code as typed (canonical).
    pub typed: CouponCode,
    /// The assignment of the near code active at the conversion's time.
    pub assignment: CodeAssignment,
    /// How it resembles the typed one.
    pub nearness: Nearness,
}

impl NearCode {
    /// How `code` resembles `typed`, if it does: a look-alike when their
    /// skeletons are equal, else one edit away, else `None`. A code does
    /// not resemble itself.
    ///
    /// ```
    /// use attributor::{CouponCode, NearCode, Nearness};
    /// let code = |s| CouponCode::parse(s).unwrap();
    /// assert_eq!(NearCode::nearness(&code("B0SS20"), &code("BOSS20")), Some(Nearness::LookAlike));
    /// assert_eq!(NearCode::nearness(&code("BOSS2"), &code("BOSS20")), Some(Nearness::OneEdit));
    /// assert_eq!(NearCode::nearness(&code("BOS"), &code("BOSS20")), None);
    /// ```
    pub fn nearness(typed: &CouponCode, code: &CouponCode) -> Option<Nearness> {
        if typed == code {
            None
        } else if typed.skeleton() == code.skeleton() {
            Some(Nearness::LookAlike)
        } else if typed.is_one_edit_from(code) {
            Some(Nearness::OneEdit)
        } else {
            None
        }
    }
}

/// A registry's near codes for one typed code: two fit inline.
pub type NearCodes = SmallVec<[NearCode; 2]>;

/// The read side of a code registry: who owned a code at an instant.
///
/// # Contract
///
/// An implementation keeps, for each code, its assignment history: intervals
/// that never overlap. [`CodeRegistry::lookup`] of `code` at `t` returns:
///
/// 1. [`CodeLookup::Active`] with the assignment whose interval holds `t`,
///    where an interval holds `t` when `valid_from <= t < valid_until`
///    (`valid_from` inclusive, `valid_until` exclusive, open-ended when
///    `None`);
/// 2. otherwise, when some assignment starts at or before `t`, the latest of
///    those: [`CodeLookup::Revoked`] if it was revoked, else
///    [`CodeLookup::Expired`]. Of two that start at the same instant, an
///    empty one (`valid_until == valid_from`, revoked at its very start)
///    is the earlier, and of two empty ones the one made first;
/// 3. otherwise, when the code has assignments (all starting after `t`),
///    [`CodeLookup::NotYetActive`] with the earliest (in the same order);
/// 4. otherwise [`CodeLookup::Unknown`].
///
/// Rules 1 to 4 are over the code's own assignments. A code that has none
/// is answered by the same rules over the assignments of the family
/// ([`CodeAssignment::family`]) with the longest prefix of it that has
/// any; without such a family, it is unknown.
///
/// Codes are compared in canonical form, so a lookup never depends on how the
/// code was typed. A lookup has no side effects. An `Err` means the backend
/// failed, never that the code is unknown. [`CodeLookup::from_history`]
/// implements rules 1 to 4 over a sorted history.
/// [`conformance::check_code_registry`](crate::conformance::check_code_registry)
/// checks an implementation against this contract.
pub trait CodeRegistry {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Who owned `code` at `at`, and if nobody, why.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error>;

    /// The codes active at `at` that resemble `code` ([`NearCode::nearness`]):
    /// look-alikes and codes one edit away, ordered by code, `code` itself
    /// never among them. Asked when an entered code is unknown, so that
    /// the decision can name what the customer probably meant; a registry
    /// answers it without reading every code. An `Err` means the backend
    /// failed.
    ///
    /// A registry that answers none (`Ok(NearCodes::new())`) never reads a
    /// look-alike ([`Policy::with_look_alikes`](crate::Policy::with_look_alikes)) and
    /// names no candidates, and fails the conformance suite's near checks;
    /// a wrapper around another registry should pass the question on.
    ///
    /// # Errors
    ///
    /// Only when the backend fails.
    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, Self::Error>;

    /// A hint that `conversions` are about to be attributed, one after another.
    /// A backend may read what it will be asked about them (their codes, at
    /// their times) in one pass, where asking one at a time waits for each read
    /// in turn. It must not change any answer: a backend that keeps what it
    /// read must still answer with every write made since, such as a code
    /// assigned while the batch is attributed. It reports no error; a failure
    /// is left to the call that follows. The default does nothing.
    /// [`Attributor::attribute_all`](crate::Attributor::attribute_all) calls
    /// it before each batch of 16.
    fn prefetch(&self, conversions: &[Conversion]) {
        let _ = conversions;
    }
}

macro_rules! forward_code_registry {
    ($($ty:ty),*) => {$(
        impl<T: CodeRegistry + ?Sized> CodeRegistry for $ty {
            type Error = T::Error;
            fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
                (**self).lookup(code, at)
            }
            fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, Self::Error> {
                (**self).near(code, at)
            }
            fn prefetch(&self, conversions: &[Conversion]) {
                (**self).prefetch(conversions)
            }
        }
    )*};
}

forward_code_registry!(&T, Box<T>, std::sync::Arc<T>);

/// One row of a bulk [`MemoryCodeRegistry::import`](crate::MemoryCodeRegistry::import): a code as the other
/// platform spelled it, and its assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ImportRow {
    /// The code as exported, before normalisation.
    pub code: String,
    /// The owner.
    pub affiliate: AffiliateId,
    /// The first instant of ownership.
    pub valid_from: DateTime<Utc>,
    /// The end of ownership (exclusive), if any.
    pub valid_until: Option<DateTime<Utc>>,
    /// The credit mode.
    pub mode: CreditMode,
    /// The label, if any.
    pub label: Option<Label>,
}

impl ImportRow {
    /// An open-ended, [`CreditMode::Standard`] row without a label.
    pub fn new(code: &str, affiliate: AffiliateId, valid_from: DateTime<Utc>) -> Self {
        Self {
            code: code.to_owned(),
            affiliate,
            valid_from,
            valid_until: None,
            mode: CreditMode::Standard,
            label: None,
        }
    }

    /// Sets the end of ownership.
    pub fn with_valid_until(mut self, valid_until: DateTime<Utc>) -> Self {
        self.valid_until = Some(valid_until);
        self
    }

    /// Sets the credit mode.
    pub fn with_mode(mut self, mode: CreditMode) -> Self {
        self.mode = mode;
        self
    }
}

/// Whether an import with conflicts applies anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportMode {
    /// Nothing is applied if any row conflicts.
    #[default]
    AllOrNothing,
    /// The valid rows are applied; the others are reported.
    ApplyValid,
}

/// How [`MemoryCodeRegistry::import`](crate::MemoryCodeRegistry::import) runs.
#[derive(Clone, Copy, Default)]
pub struct ImportOptions<'a> {
    mode: ImportMode,
    known_affiliates: Option<&'a dyn Fn(AffiliateId) -> bool>,
}

impl core::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("mode", &self.mode)
            .field("checks_owners", &self.known_affiliates.is_some())
            .finish()
    }
}

impl<'a> ImportOptions<'a> {
    /// Each row, with whether its owner is known: asked of
    /// [`ImportOptions::with_known_affiliates`] now, before a backend locks
    /// anything, so that the question may read the registry.
    pub(crate) fn known<I: IntoIterator<Item = ImportRow>>(&self, rows: I) -> Vec<(ImportRow, bool)> {
        rows.into_iter()
            .map(|row| {
                let known = self.known_affiliates.is_none_or(|known| known(row.affiliate));
                (row, known)
            })
            .collect()
    }

    /// Whether a conflict stops the whole import.
    pub(crate) fn mode(&self) -> ImportMode {
        self.mode
    }

    /// Apply nothing if any row conflicts.
    pub fn all_or_nothing() -> Self {
        Self::default()
    }

    /// Apply the valid rows and report the others.
    pub fn apply_valid() -> Self {
        Self {
            mode: ImportMode::ApplyValid,
            ..Self::default()
        }
    }

    /// Refuse rows whose owner `is_known` does not recognise, reported as
    /// [`ConflictKind::UnknownOwner`]. Without it every owner is accepted.
    pub fn with_known_affiliates(mut self, is_known: &'a dyn Fn(AffiliateId) -> bool) -> Self {
        self.known_affiliates = Some(is_known);
        self
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The rows read.
    pub rows: usize,
    /// The rows applied.
    pub applied: usize,
    /// Every row that could not be taken, in row order.
    pub conflicts: Vec<ImportConflict>,
}

/// A row that could not be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportConflict {
    /// The row's position in the input, from zero.
    pub row: usize,
    /// What is wrong with it.
    pub kind: ConflictKind,
}

/// What is wrong with an import row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The code does not parse.
    InvalidCode(CodeError),
    /// The interval ends at or before it starts.
    EmptyInterval,
    /// The owner is not a known affiliate.
    UnknownOwner {
        /// The owner given.
        affiliate: AffiliateId,
    },
    /// The interval overlaps an assignment already in the registry.
    Overlaps {
        /// That assignment.
        existing: CodeAssignment,
    },
    /// The interval overlaps an earlier row of the same code.
    OverlapsRow {
        /// The earlier row.
        row: usize,
    },
    /// An earlier row spells the same code differently (case, separators,
    /// full-width forms) with an overlapping interval.
    SpellingDuplicate {
        /// The earlier row.
        row: usize,
        /// How that row spelled it.
        spelled: String,
    },
    /// The code is confusable with another affiliate's code in the registry.
    Confusable {
        /// That affiliate's assignment.
        existing: CodeAssignment,
    },
    /// The code is confusable with another affiliate's code in an earlier row.
    ConfusableWithRow {
        /// The earlier row.
        row: usize,
        /// Its code, or its family's prefix.
        code: CouponCode,
        /// Whether the row is a family's.
        family: bool,
    },
    /// The registry refused the row for another reason, such as an instant
    /// out of its range.
    Refused(RegistryError),
}

impl core::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidCode(e) => write!(f, "{e}"),
            Self::EmptyInterval => f.write_str("interval ends at or before it starts"),
            Self::UnknownOwner { affiliate } => write!(f, "owner {affiliate} is not a known affiliate"),
            Self::Overlaps { existing } => write!(
                f,
                "overlaps the assignment of {} to affiliate {} from {}",
                existing.key_text(),
                existing.affiliate,
                existing.valid_from
            ),
            Self::OverlapsRow { row } => write!(f, "overlaps row {row}"),
            Self::SpellingDuplicate { row, spelled } => {
                write!(f, "the same code as row {row}, spelled {spelled:?}")
            }
            Self::Confusable { existing } => write!(
                f,
                "confusable with {} of affiliate {}",
                existing.key_text(),
                existing.affiliate
            ),
            Self::ConfusableWithRow { row, code, family } => match family {
                true => write!(f, "confusable with family {code}* of row {row}"),
                false => write!(f, "confusable with code {code} of row {row}"),
            },
            Self::Refused(e) => write!(f, "{e}"),
        }
    }
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
