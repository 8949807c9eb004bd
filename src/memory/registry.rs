//! The in-memory code registry.

use std::convert::Infallible;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::code::{CouponCode, Skeleton};
use crate::error::{CodeError, RegistryError};
use crate::ids::{AffiliateId, Label};
use crate::registry::{CodeAssignment, CodeLookup, CodeRegistry, CreditMode};

/// A code registry in memory: the embedded default and the reference
/// implementation of [`CodeRegistry`].
///
/// Every write checks the registry's two invariants and, if it would break
/// one, is refused with a [`RegistryError`] and changes nothing:
///
/// * the intervals of one code never overlap;
/// * two codes with the same [`Skeleton`] never belong to different
///   affiliates at overlapping times (the same affiliate may hold both).
///
/// The registry is `Sync`: reads and writes take `&self`, so one registry
/// can serve lookups on many threads while a writer assigns codes.
///
/// ```
/// use attributor::{AffiliateId, CodeLookup, CodeRegistry, CouponCode, MemoryCodeRegistry};
/// use chrono::{TimeZone, Utc};
///
/// let registry = MemoryCodeRegistry::new();
/// let jan = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let jun = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
/// let code = CouponCode::parse("mkbhd-10")?;
/// registry.assign(code, AffiliateId::new(1), jan)?;
/// registry.reassign(code, AffiliateId::new(2), jun)?;
///
/// let owner = |t| match registry.lookup(&code, t) {
///     Ok(CodeLookup::Active(a)) => Some(a.affiliate),
///     _ => None,
/// };
/// assert_eq!(owner(jan), Some(AffiliateId::new(1)));
/// assert_eq!(owner(jun), Some(AffiliateId::new(2)));
/// assert_eq!(registry.history(&code).len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryCodeRegistry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    /// Each code's history, sorted by `valid_from`, never overlapping.
    codes: HashMap<CouponCode, SmallVec<[CodeAssignment; 1]>>,
    /// The codes that share a skeleton.
    skeletons: HashMap<Skeleton, SmallVec<[CouponCode; 1]>>,
    /// The codes each affiliate has ever held.
    affiliates: HashMap<AffiliateId, SmallVec<[CouponCode; 2]>>,
}

impl Inner {
    fn history(&self, code: &CouponCode) -> &[CodeAssignment] {
        self.codes.get(code).map_or(&[], |h| h.as_slice())
    }

    /// Checks that `new` can join the registry without breaking it.
    fn check(&self, new: &CodeAssignment) -> Result<(), RegistryError> {
        if let Some(until) = new.valid_until {
            if until <= new.valid_from {
                return Err(RegistryError::EmptyInterval {
                    code: new.code,
                    from: new.valid_from,
                    until,
                });
            }
        }
        if let Some(existing) = self.history(&new.code).iter().find(|a| a.overlaps(new)) {
            return Err(RegistryError::Overlap {
                code: new.code,
                existing: Box::new(*existing),
            });
        }
        let twins = self.skeletons.get(&new.code.skeleton());
        for twin in twins.into_iter().flatten().filter(|c| **c != new.code) {
            let clash = self
                .history(twin)
                .iter()
                .find(|a| a.affiliate != new.affiliate && a.overlaps(new));
            if let Some(existing) = clash {
                return Err(RegistryError::Confusable {
                    code: new.code,
                    existing: Box::new(*existing),
                });
            }
        }
        Ok(())
    }

    /// Adds an assignment that [`Inner::check`] accepted.
    fn insert(&mut self, new: CodeAssignment) {
        let history = self.codes.entry(new.code).or_default();
        if history.is_empty() {
            self.skeletons
                .entry(new.code.skeleton())
                .or_default()
                .push(new.code);
        }
        let at = history.partition_point(|a| a.valid_from < new.valid_from);
        history.insert(at, new);
        let held = self.affiliates.entry(new.affiliate).or_default();
        if !held.contains(&new.code) {
            held.push(new.code);
        }
    }

    fn active_mut(&mut self, code: &CouponCode, at: DateTime<Utc>) -> Option<&mut CodeAssignment> {
        self.codes.get_mut(code)?.iter_mut().find(|a| a.is_active_at(at))
    }
}

impl MemoryCodeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-written: every write
        // checks first and then changes it without failing.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an assignment as given.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the interval is empty, overlaps another
    /// assignment of the code, or makes the code confusable with another
    /// affiliate's code at an overlapping time. The registry is unchanged.
    pub fn insert(&self, assignment: CodeAssignment) -> Result<(), RegistryError> {
        let mut inner = self.write();
        inner.check(&assignment)?;
        inner.insert(assignment);
        Ok(())
    }

    /// Gives `code` to `affiliate` from `from` on, open-ended, in
    /// [`CreditMode::Standard`]. Use [`MemoryCodeRegistry::insert`] for
    /// anything else.
    ///
    /// # Errors
    ///
    /// As [`MemoryCodeRegistry::insert`].
    pub fn assign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        from: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        self.insert(CodeAssignment::new(code, affiliate, from))
    }

    /// Hands `code` to `affiliate` at `at`: the assignment active at `at`
    /// ends there, and a new one opens at `at`, open-ended, with the same
    /// credit mode and label.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotActive`] if no assignment is active at `at`; the
    /// errors of [`MemoryCodeRegistry::insert`] if the new interval clashes
    /// with a later assignment or a confusable code. The registry is
    /// unchanged.
    pub fn reassign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        let mut inner = self.write();
        let current = inner
            .active_mut(&code, at)
            .map(|a| *a)
            .ok_or(RegistryError::NotActive { code, at })?;
        let next = CodeAssignment {
            affiliate,
            valid_from: at,
            valid_until: current.valid_until,
            revoked: false,
            ..current
        };
        // Check the new interval as if the current one already ended at `at`.
        let mut trial = inner.clone_code(&code);
        if let Some(a) = trial.active_mut(&code, at) {
            a.valid_until = Some(at);
        }
        if at == current.valid_from {
            trial.remove_at(&code, at);
        }
        trial.check(&next)?;
        drop(trial);
        if at == current.valid_from {
            inner.remove_at(&code, at);
        } else if let Some(a) = inner.active_mut(&code, at) {
            a.valid_until = Some(at);
        }
        inner.insert(next);
        Ok(())
    }

    /// Revokes `code` at `at`: the assignment active at `at` ends there, and
    /// lookups from `at` on answer [`CodeLookup::Revoked`].
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotActive`] if no assignment is active at `at`.
    pub fn revoke(&self, code: CouponCode, at: DateTime<Utc>) -> Result<(), RegistryError> {
        let mut inner = self.write();
        let active = inner
            .active_mut(&code, at)
            .ok_or(RegistryError::NotActive { code, at })?;
        active.valid_until = Some(at);
        active.revoked = true;
        Ok(())
    }

    /// Every assignment of `code`, oldest first.
    pub fn history(&self, code: &CouponCode) -> Vec<CodeAssignment> {
        self.read().history(code).to_vec()
    }

    /// The codes `affiliate` has ever held, in canonical order.
    pub fn codes_of(&self, affiliate: AffiliateId) -> Vec<CouponCode> {
        let mut codes = self
            .read()
            .affiliates
            .get(&affiliate)
            .map_or_else(Vec::new, |c| c.to_vec());
        codes.sort_unstable();
        codes
    }

    /// The number of codes with at least one assignment.
    pub fn len(&self) -> usize {
        self.read().codes.len()
    }

    /// Whether no code was ever assigned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads many assignments at once, as in a migration from another
    /// platform, and reports every row that could not be taken.
    ///
    /// Each row is checked against the registry and against the rows before
    /// it that were valid. A row conflicts when its code does not parse, its
    /// interval is empty, its owner is unknown (see
    /// [`ImportOptions::known_affiliates`]), its interval overlaps another
    /// assignment of the same code (a row that spells the code differently
    /// but means the same code is reported as
    /// [`ConflictKind::SpellingDuplicate`]), or its code is confusable with
    /// another affiliate's. Nothing is ever overwritten. In
    /// [`ImportMode::AllOrNothing`] nothing is applied if any row conflicts;
    /// in [`ImportMode::ApplyValid`] the valid rows are applied.
    ///
    /// ```
    /// use attributor::{AffiliateId, ConflictKind, ImportOptions, ImportRow, MemoryCodeRegistry};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let rows = [
    ///     ImportRow::new("SPRING10", AffiliateId::new(1), t),
    ///     ImportRow::new("spring-10", AffiliateId::new(2), t), // the same code
    ///     ImportRow::new("SPR1NG10", AffiliateId::new(3), t),  // confusable
    ///     ImportRow::new("SUMMER", AffiliateId::new(3), t),
    /// ];
    /// let registry = MemoryCodeRegistry::new();
    /// let report = registry.import(rows.clone(), ImportOptions::all_or_nothing());
    /// assert_eq!(report.applied, 0);
    /// assert_eq!(report.conflicts.len(), 2);
    /// assert!(matches!(report.conflicts[0].kind, ConflictKind::SpellingDuplicate { row: 0, .. }));
    /// assert!(registry.is_empty());
    ///
    /// let report = registry.import(rows, ImportOptions::apply_valid());
    /// assert_eq!(report.applied, 2);
    /// assert_eq!(registry.len(), 2);
    /// ```
    pub fn import<I>(&self, rows: I, options: ImportOptions<'_>) -> ImportReport
    where
        I: IntoIterator<Item = ImportRow>,
    {
        let mut inner = self.write();
        let mut staged = Inner::default();
        let mut accepted: Vec<(usize, ImportRow, CodeAssignment)> = Vec::new();
        let mut report = ImportReport::default();
        for (index, row) in rows.into_iter().enumerate() {
            match Self::check_row(&inner, &staged, &accepted, &row, &options) {
                Ok(assignment) => {
                    staged.insert(assignment);
                    accepted.push((index, row, assignment));
                }
                Err(kind) => report.conflicts.push(ImportConflict { row: index, kind }),
            }
        }
        report.rows = report.conflicts.len() + accepted.len();
        let apply = match options.mode {
            ImportMode::AllOrNothing => report.conflicts.is_empty(),
            ImportMode::ApplyValid => true,
        };
        if apply {
            for (_, _, assignment) in &accepted {
                inner.insert(*assignment);
            }
            report.applied = accepted.len();
        }
        report
    }

    fn check_row(
        inner: &Inner,
        staged: &Inner,
        accepted: &[(usize, ImportRow, CodeAssignment)],
        row: &ImportRow,
        options: &ImportOptions<'_>,
    ) -> Result<CodeAssignment, ConflictKind> {
        let code = CouponCode::parse(&row.code).map_err(ConflictKind::InvalidCode)?;
        if let Some(known) = options.known_affiliates {
            if !known(row.affiliate) {
                return Err(ConflictKind::UnknownOwner {
                    affiliate: row.affiliate,
                });
            }
        }
        let mut assignment = CodeAssignment::new(code, row.affiliate, row.valid_from).mode(row.mode);
        assignment.valid_until = row.valid_until;
        assignment.label = row.label;
        let row_of = |clash: &CodeAssignment| {
            accepted
                .iter()
                .find(|(_, _, a)| a == clash)
                .map(|(i, r, _)| (*i, r))
        };
        let blame = |err: RegistryError, from_registry: bool| match err {
            RegistryError::EmptyInterval { .. } => ConflictKind::EmptyInterval,
            RegistryError::Overlap { existing, .. } => match (from_registry, row_of(&existing)) {
                (false, Some((i, r))) if r.code != row.code => ConflictKind::SpellingDuplicate {
                    row: i,
                    spelled: r.code.clone(),
                },
                (false, Some((i, _))) => ConflictKind::OverlapsRow { row: i },
                _ => ConflictKind::Overlaps { existing: *existing },
            },
            RegistryError::Confusable { existing, .. } => match (from_registry, row_of(&existing)) {
                (false, Some((i, _))) => ConflictKind::ConfusableWithRow {
                    row: i,
                    code: existing.code,
                },
                _ => ConflictKind::Confusable { existing: *existing },
            },
            RegistryError::NotActive { .. } => ConflictKind::EmptyInterval,
        };
        inner.check(&assignment).map_err(|e| blame(e, true))?;
        staged.check(&assignment).map_err(|e| blame(e, false))?;
        Ok(assignment)
    }
}

impl Inner {
    /// A registry holding only what is needed to check writes to `code`.
    fn clone_code(&self, code: &CouponCode) -> Inner {
        let mut out = Inner::default();
        let twins = self.skeletons.get(&code.skeleton());
        for c in twins.into_iter().flatten() {
            for a in self.history(c) {
                out.insert(*a);
            }
        }
        out
    }

    fn remove_at(&mut self, code: &CouponCode, from: DateTime<Utc>) {
        if let Some(history) = self.codes.get_mut(code) {
            history.retain(|a| a.valid_from != from);
        }
    }
}

impl CodeRegistry for MemoryCodeRegistry {
    type Error = Infallible;

    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Infallible> {
        Ok(CodeLookup::from_history(self.read().history(code), at))
    }
}

/// One row of a bulk [`MemoryCodeRegistry::import`]: a code as the other
/// platform spelled it, and its assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    pub fn until(mut self, valid_until: DateTime<Utc>) -> Self {
        self.valid_until = Some(valid_until);
        self
    }

    /// Sets the credit mode.
    pub fn mode(mut self, mode: CreditMode) -> Self {
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

/// How [`MemoryCodeRegistry::import`] runs.
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
    pub fn known_affiliates(mut self, is_known: &'a dyn Fn(AffiliateId) -> bool) -> Self {
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
        /// Its code.
        code: CouponCode,
    },
}

impl core::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidCode(e) => write!(f, "{e}"),
            Self::EmptyInterval => f.write_str("interval ends before it starts"),
            Self::UnknownOwner { affiliate } => write!(f, "owner {affiliate} is not a known affiliate"),
            Self::Overlaps { existing } => write!(
                f,
                "overlaps the assignment of {} to affiliate {} from {}",
                existing.code, existing.affiliate, existing.valid_from
            ),
            Self::OverlapsRow { row } => write!(f, "overlaps row {row}"),
            Self::SpellingDuplicate { row, spelled } => {
                write!(f, "the same code as row {row}, spelled {spelled:?}")
            }
            Self::Confusable { existing } => write!(
                f,
                "confusable with code {} of affiliate {}",
                existing.code, existing.affiliate
            ),
            Self::ConfusableWithRow { row, code } => write!(f, "confusable with code {code} of row {row}"),
        }
    }
}
