//! The code registry's write rules, pure, for every backend: what may join
//! a registry, what a reassignment or a revocation changes, and what a bulk
//! import takes and refuses. A backend reads the histories of the codes that
//! share a skeleton with the code written (the rules need no others), runs
//! these, and writes what they say; the memory registry under its shard's
//! lock, the PostgreSQL one under the skeleton's row lock.

use chrono::{DateTime, Utc};
use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::code::{CouponCode, Skeleton};
use crate::ids::AffiliateId;
use crate::registry::{CodeAssignment, ConflictKind, ImportConflict, ImportRow, RegistryError};

/// A registry's contents as the write checks see them.
pub(crate) trait View {
    /// The assignments of `code` itself, oldest first.
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]>;
    /// The other codes with `code`'s skeleton.
    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]>;
    /// The assignments of the family with this prefix, oldest first.
    fn family_history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]>;
    /// The assignments of other keys that may meet `new`
    /// ([`CodeAssignment::meets`]) beyond a code's twins: for a code, those
    /// of the families whose prefix's skeleton starts its skeleton; for a
    /// family, those of every code and family whose skeleton starts with
    /// its prefix's, or starts it. More may come back; the checks filter.
    fn clashes_of(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]>;
}

/// The history of `a`'s key: its code's, or its family's.
fn key_history(view: &impl View, code: &CouponCode, family: bool) -> SmallVec<[CodeAssignment; 2]> {
    if family {
        view.family_history(code)
    } else {
        view.history_of(code)
    }
}

/// Whether a backend can keep an instant: as the start of an interval
/// (`end` false) or as its end (`end` true). Every instant, for a backend
/// that keeps chrono's whole range.
pub(crate) type Keeps = fn(DateTime<Utc>, bool) -> bool;

/// Keeps every instant.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn keeps_all(_: DateTime<Utc>, _: bool) -> bool {
    true
}

/// Checks that `new` can join the registry seen through `view`, as if the
/// assignment `replacing` (of the same code) were not there: its interval
/// is not empty, it is not revoked without an end, the backend `keeps` its
/// instants, it overlaps no other assignment of its code, and no code with
/// its skeleton belongs to another affiliate at an overlapping time.
pub(crate) fn check(
    view: &impl View,
    new: &CodeAssignment,
    replacing: Option<&CodeAssignment>,
    keeps: Keeps,
) -> Result<(), RegistryError> {
    if let Some(until) = new.valid_until {
        if until <= new.valid_from {
            return Err(RegistryError::EmptyInterval {
                code: new.code,
                family: new.family,
                from: new.valid_from,
                until,
            });
        }
    }
    if new.revoked && new.valid_until.is_none() {
        return Err(RegistryError::RevokedWithoutEnd {
            code: new.code,
            family: new.family,
        });
    }
    let unkept_start = Some(new.valid_from).filter(|t| !keeps(*t, false));
    let unkept_end = new.valid_until.filter(|t| !keeps(*t, true));
    if let Some(at) = unkept_start.or(unkept_end) {
        return Err(RegistryError::OutOfRange {
            code: new.code,
            family: new.family,
            at,
        });
    }
    let history = key_history(view, &new.code, new.family);
    if let Some(existing) = history.iter().find(|a| Some(*a) != replacing && a.overlaps(new)) {
        return Err(RegistryError::Overlap {
            code: new.code,
            family: new.family,
            existing: Box::new(*existing),
        });
    }
    // A family and any code or family a customer could confuse with one of
    // its codes (the same prefix aside: that is its own history).
    // Of several, the same one in every backend: families first, then by
    // code and start.
    let clash = view
        .clashes_of(new)
        .into_iter()
        .filter(|a| {
            !(a.family == new.family && a.code == new.code)
                && a.affiliate != new.affiliate
                && a.overlaps(new)
                && a.meets(new)
        })
        .min_by_key(|a| (!a.family, a.code, a.valid_from));
    if let Some(existing) = clash {
        return Err(RegistryError::Confusable {
            code: new.code,
            family: new.family,
            existing: Box::new(existing),
        });
    }
    if new.family {
        return Ok(());
    }
    for twin in view.twins_of(&new.code) {
        let clash = view
            .history_of(&twin)
            .into_iter()
            .find(|a| a.affiliate != new.affiliate && a.overlaps(new));
        if let Some(existing) = clash {
            return Err(RegistryError::Confusable {
                code: new.code,
                family: false,
                existing: Box::new(existing),
            });
        }
    }
    Ok(())
}

/// What a reassignment changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reassignment {
    /// At the active assignment's very start: `old` becomes `new`, which
    /// differs only in its owner.
    Replace {
        old: CodeAssignment,
        new: CodeAssignment,
    },
    /// Later: `old` ends at the instant, no longer revoked (`cut`), and
    /// `next` opens there for the new owner, until `old`'s end, with its
    /// credit mode, label and revocation.
    Cut {
        old: CodeAssignment,
        cut: CodeAssignment,
        next: CodeAssignment,
    },
}

/// Hands `code` to `affiliate` at `at` (see
/// [`MemoryCodeRegistry::reassign`](crate::MemoryCodeRegistry::reassign)).
pub(crate) fn reassign(
    view: &impl View,
    (code, family): (CouponCode, bool),
    affiliate: AffiliateId,
    at: DateTime<Utc>,
    keeps: Keeps,
) -> Result<Reassignment, RegistryError> {
    let current = key_history(view, &code, family)
        .into_iter()
        .find(|a| a.is_active_at(at))
        .ok_or(RegistryError::NotActive { code, family, at })?;
    // The new owner takes the rest of the interval, and with it a
    // revocation already set at its end.
    let next = CodeAssignment {
        affiliate,
        valid_from: at,
        ..current
    };
    check(view, &next, Some(&current), keeps)?;
    // Checked before a replacement too, which ends nothing, as the memory
    // registry always has.
    if !keeps(at, true) {
        return Err(RegistryError::OutOfRange { code, family, at });
    }
    if at == current.valid_from {
        return Ok(Reassignment::Replace {
            old: current,
            new: next,
        });
    }
    let cut = CodeAssignment {
        valid_until: Some(at),
        revoked: false,
        ..current
    };
    Ok(Reassignment::Cut {
        old: current,
        cut,
        next,
    })
}

/// Revokes `code` at `at`: the assignment active then (the first returned)
/// ends there, revoked (the second).
pub(crate) fn revoke(
    view: &impl View,
    (code, family): (CouponCode, bool),
    at: DateTime<Utc>,
    keeps: Keeps,
) -> Result<(CodeAssignment, CodeAssignment), RegistryError> {
    if !keeps(at, true) {
        return Err(RegistryError::OutOfRange { code, family, at });
    }
    let current = key_history(view, &code, family)
        .into_iter()
        .find(|a| a.is_active_at(at))
        .ok_or(RegistryError::NotActive { code, family, at })?;
    let revoked = CodeAssignment {
        valid_until: Some(at),
        revoked: true,
        ..current
    };
    Ok((current, revoked))
}

/// Rows staged by an import, checked before anything is applied.
#[derive(Debug, Default)]
struct Staging {
    codes: HashMap<CouponCode, SmallVec<[CodeAssignment; 1]>>,
    skeletons: HashMap<Skeleton, SmallVec<[CouponCode; 1]>>,
    /// The families' rows, few: scanned.
    families: Vec<CodeAssignment>,
}

impl Staging {
    fn insert(&mut self, a: CodeAssignment) {
        if a.family {
            self.families.push(a);
            return;
        }
        let history = self.codes.entry(a.code).or_default();
        if history.is_empty() {
            self.skeletons.entry(a.code.skeleton()).or_default().push(a.code);
        }
        history.push(a);
    }
}

impl View for Staging {
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.codes
            .get(code)
            .map_or_else(SmallVec::new, |h| h.iter().copied().collect())
    }

    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]> {
        self.skeletons
            .get(&code.skeleton())
            .map_or_else(SmallVec::new, |t| {
                t.iter().filter(|c| *c != code).copied().collect()
            })
    }

    fn family_history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.families
            .iter()
            .filter(|a| a.code == *prefix)
            .copied()
            .collect()
    }

    fn clashes_of(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]> {
        let families = self.families.iter().filter(|a| a.meets(new)).copied();
        if !new.family {
            return families.collect();
        }
        // A family's rows are few; a scan of the codes staged for each.
        let codes = self.codes.values().flatten().filter(|a| a.meets(new)).copied();
        families.chain(codes).collect()
    }
}

/// The rows an import takes and those it refuses.
#[derive(Debug, Default)]
pub(crate) struct ImportCheck {
    /// The rows that may be applied, with their index in the input.
    pub(crate) accepted: Vec<(usize, CodeAssignment)>,
    /// The others, in row order.
    pub(crate) conflicts: Vec<ImportConflict>,
}

/// Checks import rows, each with whether its owner is known, against the
/// registry seen through `registry` and against the valid rows before it:
/// every conflict is reported, nothing is overwritten (see
/// [`MemoryCodeRegistry::import`](crate::MemoryCodeRegistry::import)).
pub(crate) fn check_import(rows: Vec<(ImportRow, bool)>, registry: &impl View, keeps: Keeps) -> ImportCheck {
    let mut staged = Staging::default();
    let mut accepted: Vec<(usize, ImportRow, CodeAssignment)> = Vec::new();
    let mut conflicts = Vec::new();
    for (index, (row, known)) in rows.into_iter().enumerate() {
        // A code ending in `*` is a family's prefix.
        let (text, family) = match row.code.trim_end().strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (row.code.as_str(), false),
        };
        let checked = CouponCode::parse(text)
            .map_err(ConflictKind::InvalidCode)
            .and_then(|code| {
                let key = (code, family);
                check_row(registry, &staged, &accepted, key, &row, known, keeps)
            });
        match checked {
            Ok(assignment) => {
                staged.insert(assignment);
                accepted.push((index, row, assignment));
            }
            Err(kind) => conflicts.push(ImportConflict { row: index, kind }),
        }
    }
    ImportCheck {
        accepted: accepted.into_iter().map(|(i, _, a)| (i, a)).collect(),
        conflicts,
    }
}

fn check_row(
    registry: &impl View,
    staged: &Staging,
    accepted: &[(usize, ImportRow, CodeAssignment)],
    (code, family): (CouponCode, bool),
    row: &ImportRow,
    known: bool,
    keeps: Keeps,
) -> Result<CodeAssignment, ConflictKind> {
    if !known {
        return Err(ConflictKind::UnknownOwner {
            affiliate: row.affiliate,
        });
    }
    let mut assignment = CodeAssignment::new(code, row.affiliate, row.valid_from).with_mode(row.mode);
    assignment.family = family;
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
                family: existing.family,
            },
            _ => ConflictKind::Confusable { existing: *existing },
        },
        other => ConflictKind::Refused(other),
    };
    check(registry, &assignment, None, keeps).map_err(|e| blame(e, true))?;
    check(staged, &assignment, None, keeps).map_err(|e| blame(e, false))?;
    Ok(assignment)
}
