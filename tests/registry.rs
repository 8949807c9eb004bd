//! The memory registry: history, refused writes, and bulk import.

use attributor::{
    AffiliateId, CodeAssignment, CodeLookup, CodeRegistry, ConflictKind, CouponCode, CreditMode,
    ImportOptions, ImportRow, MemoryCodeRegistry, RegistryError,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

const A: AffiliateId = AffiliateId::new(1);
const B: AffiliateId = AffiliateId::new(2);
const C: AffiliateId = AffiliateId::new(3);

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::days(d)
}

fn code(s: &str) -> CouponCode {
    CouponCode::parse(s).unwrap()
}

fn owner(registry: &MemoryCodeRegistry, c: &str, t: DateTime<Utc>) -> Option<AffiliateId> {
    match registry.lookup(&code(c), t).unwrap() {
        CodeLookup::Active(a) => Some(a.affiliate),
        _ => None,
    }
}

#[test]
fn reassignment_closes_one_interval_and_opens_the_next() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("HANDME"), A, day(0)).unwrap();
    registry.reassign(code("HANDME"), B, day(10)).unwrap();
    registry.reassign(code("HANDME"), C, day(20)).unwrap();
    let history = registry.history(&code("handme"));
    let owners: Vec<_> = history
        .iter()
        .map(|a| (a.affiliate, a.valid_from, a.valid_until))
        .collect();
    assert_eq!(
        owners,
        [
            (A, day(0), Some(day(10))),
            (B, day(10), Some(day(20))),
            (C, day(20), None)
        ]
    );
    assert_eq!(owner(&registry, "HANDME", day(9)), Some(A));
    assert_eq!(owner(&registry, "HANDME", day(10)), Some(B));
    assert_eq!(owner(&registry, "HANDME", day(25)), Some(C));
    assert_eq!(registry.codes_of(B), [code("HANDME")]);
}

#[test]
fn reassignment_keeps_the_credit_mode_and_needs_an_active_assignment() {
    let registry = MemoryCodeRegistry::new();
    registry
        .insert(CodeAssignment::new(code("GUARDED"), A, day(0)).with_mode(CreditMode::IfInvolved))
        .unwrap();
    registry.reassign(code("GUARDED"), B, day(5)).unwrap();
    assert_eq!(registry.history(&code("GUARDED"))[1].mode, CreditMode::IfInvolved);
    assert_eq!(
        registry.reassign(code("NOSUCH"), B, day(5)),
        Err(RegistryError::NotActive {
            code: code("NOSUCH"),
            family: false,
            at: day(5)
        })
    );
}

#[test]
fn revocation_is_told_apart_from_expiry() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("BANNED"), A, day(0)).unwrap();
    registry.revoke(code("BANNED"), day(3)).unwrap();
    assert!(matches!(
        registry.lookup(&code("BANNED"), day(2)).unwrap(),
        CodeLookup::Active(_)
    ));
    assert!(matches!(
        registry.lookup(&code("BANNED"), day(3)).unwrap(),
        CodeLookup::Revoked(_)
    ));
    assert!(registry.revoke(code("BANNED"), day(4)).is_err());
}

#[test]
fn an_overlapping_interval_is_refused_and_changes_nothing() {
    let registry = MemoryCodeRegistry::new();
    registry
        .insert(CodeAssignment::new(code("SUMMER"), A, day(0)).with_valid_until(day(10)))
        .unwrap();
    let err = registry
        .insert(CodeAssignment::new(code("summer"), B, day(9)).with_valid_until(day(20)))
        .unwrap_err();
    assert!(matches!(err, RegistryError::Overlap { .. }), "{err}");
    assert_eq!(registry.history(&code("SUMMER")).len(), 1);
    // Touching intervals do not overlap.
    registry
        .insert(CodeAssignment::new(code("SUMMER"), B, day(10)))
        .unwrap();
    assert_eq!(owner(&registry, "SUMMER", day(10)), Some(B));
}

#[test]
fn an_empty_interval_is_refused() {
    let registry = MemoryCodeRegistry::new();
    let err = registry
        .insert(CodeAssignment::new(code("EMPTY"), A, day(5)).with_valid_until(day(5)))
        .unwrap_err();
    assert!(matches!(err, RegistryError::EmptyInterval { .. }));
    assert!(registry.is_empty());
}

#[test]
fn an_assignment_marked_revoked_without_an_end_is_refused_rather_than_active_for_ever() {
    let registry = MemoryCodeRegistry::new();
    let err = registry
        .insert(CodeAssignment::new(code("BANNED"), A, day(5)).with_revoked(true))
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::RevokedWithoutEnd {
            code: code("BANNED"),
            family: false
        }
    );
    assert_eq!(
        err.to_string(),
        "assignment of code BANNED is marked revoked but has no end; revoking ends it"
    );
    assert!(registry.is_empty());
}

#[test]
fn a_confusable_code_of_another_affiliate_is_refused_but_the_same_affiliate_may_hold_both() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("BOSS20"), A, day(0)).unwrap();
    let err = registry.assign(code("8O55Z0"), B, day(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "code 8O55Z0 is confusable with code BOSS20 of affiliate 1"
    );
    assert_eq!(registry.len(), 1);
    registry.assign(code("8O55Z0"), A, day(1)).unwrap();
    assert_eq!(registry.len(), 2);
}

#[test]
fn a_confusable_code_is_fine_once_the_other_assignment_has_ended() {
    let registry = MemoryCodeRegistry::new();
    registry
        .insert(CodeAssignment::new(code("SOL10"), A, day(0)).with_valid_until(day(10)))
        .unwrap();
    registry.assign(code("5OL1O"), B, day(10)).unwrap();
    // A reassignment into a confusable clash is refused and changes nothing.
    registry.assign(code("TAKEN"), C, day(0)).unwrap();
    assert!(registry.reassign(code("SOL10"), C, day(5)).is_ok());
    let err = registry.reassign(code("TAKEN"), A, day(11));
    assert!(err.is_ok(), "no confusable of TAKEN exists: {err:?}");
    assert!(matches!(
        registry.insert(CodeAssignment::new(code("S0L10"), C, day(12))),
        Err(RegistryError::Confusable { .. })
    ));
}

fn migration_rows() -> Vec<ImportRow> {
    vec![
        ImportRow::new("SPRING10", A, day(0)),
        ImportRow::new("spring-10", B, day(5)),
        ImportRow::new("SPR1NG10", C, day(0)),
        ImportRow::new("no good!", A, day(0)),
        ImportRow::new("SUMMER", C, day(0)),
        ImportRow::new("SUMMER", C, day(3)),
        ImportRow::new("AUTUMN", AffiliateId::new(99), day(0)),
        ImportRow::new("WINTER", A, day(5)).with_valid_until(day(1)),
        ImportRow::new("EXISTING", B, day(0)),
        ImportRow::new("EX1STING", C, day(0)),
    ]
}

fn registry_with_existing() -> MemoryCodeRegistry {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("EXISTING"), A, day(0)).unwrap();
    registry
}

#[test]
fn import_reports_every_conflict_with_its_row_and_what_it_clashes_with() {
    let registry = registry_with_existing();
    let known = |a: AffiliateId| a.get() < 10;
    let report = registry.import(
        migration_rows(),
        ImportOptions::all_or_nothing().with_known_affiliates(&known),
    );
    let kinds: Vec<(usize, ConflictKind)> =
        report.conflicts.iter().map(|c| (c.row, c.kind.clone())).collect();
    let existing = registry.history(&code("EXISTING"))[0];
    assert_eq!(report.rows, 10);
    assert_eq!(
        kinds,
        [
            (
                1,
                ConflictKind::SpellingDuplicate {
                    row: 0,
                    spelled: "SPRING10".into()
                }
            ),
            (
                2,
                ConflictKind::ConfusableWithRow {
                    row: 0,
                    code: code("SPRING10"),
                    family: false,
                }
            ),
            (
                3,
                ConflictKind::InvalidCode(attributor::CodeError::InvalidChar { ch: '!', position: 7 })
            ),
            (5, ConflictKind::OverlapsRow { row: 4 }),
            (
                6,
                ConflictKind::UnknownOwner {
                    affiliate: AffiliateId::new(99)
                }
            ),
            (7, ConflictKind::EmptyInterval),
            (8, ConflictKind::Overlaps { existing }),
            (9, ConflictKind::Confusable { existing }),
        ]
    );
    assert_eq!(report.applied, 0, "all or nothing applies nothing");
    assert_eq!(registry.len(), 1);
}

#[test]
fn import_in_apply_valid_mode_applies_the_valid_rows_and_overwrites_nothing() {
    let registry = registry_with_existing();
    let report = registry.import(migration_rows(), ImportOptions::apply_valid());
    assert_eq!(report.applied, 3, "{report:?}");
    assert_eq!(report.conflicts.len(), 7);
    assert_eq!(owner(&registry, "SPRING10", day(6)), Some(A));
    assert_eq!(owner(&registry, "SUMMER", day(6)), Some(C));
    assert_eq!(owner(&registry, "AUTUMN", day(6)), Some(AffiliateId::new(99)));
    assert_eq!(owner(&registry, "EXISTING", day(6)), Some(A));
}

#[test]
fn a_clean_import_applies_everything() {
    let registry = MemoryCodeRegistry::new();
    let rows =
        (0..100).map(|i| ImportRow::new(&format!("CODE{i:03}X"), A, day(0)).with_mode(CreditMode::Always));
    let report = registry.import(rows, ImportOptions::all_or_nothing());
    assert!(report.conflicts.is_empty());
    assert_eq!((report.rows, report.applied, registry.len()), (100, 100, 100));
    assert_eq!(registry.codes_of(A).len(), 100);
}

#[test]
fn a_code_revoked_at_its_start_and_given_again_at_that_instant_is_active() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("OOPS10"), A, day(5)).unwrap();
    registry.revoke(code("OOPS10"), day(5)).unwrap();
    registry.assign(code("OOPS10"), B, day(5)).unwrap();
    assert_eq!(owner(&registry, "OOPS10", day(5)), Some(B));
    assert_eq!(owner(&registry, "OOPS10", day(50)), Some(B));
    let history = registry.history(&code("OOPS10"));
    assert_eq!(
        CodeLookup::from_history(&history, day(50))
            .assignment()
            .map(|a| a.affiliate),
        Some(B)
    );
}

#[test]
fn a_code_cancelled_at_its_start_and_given_again_then_ended_is_expired_however_its_history_is_sorted() {
    // Both orders are sorted by start; a backend's ORDER BY valid_from may
    // hand either to from_history.
    let cancelled = CodeAssignment::new(code("OOPS10"), A, day(5))
        .with_valid_until(day(5))
        .with_revoked(true);
    let given = CodeAssignment::new(code("OOPS10"), B, day(5)).with_valid_until(day(10));
    for history in [[cancelled, given], [given, cancelled]] {
        assert_eq!(
            CodeLookup::from_history(&history, day(30)),
            CodeLookup::Expired(given)
        );
        assert_eq!(
            CodeLookup::from_history(&history, day(7)),
            CodeLookup::Active(given)
        );
    }
    // The cancelled interval alone still says the code was revoked.
    assert_eq!(
        CodeLookup::from_history(&[cancelled], day(30)),
        CodeLookup::Revoked(cancelled)
    );

    let registry = MemoryCodeRegistry::new();
    registry.assign(code("OOPS10"), A, day(5)).unwrap();
    registry.revoke(code("OOPS10"), day(5)).unwrap();
    registry.insert(given).unwrap();
    assert_eq!(
        registry.lookup(&code("OOPS10"), day(30)).unwrap(),
        CodeLookup::Expired(given)
    );
}

#[test]
fn from_history_answers_as_the_memory_registry_whichever_way_equal_starts_are_sorted() {
    // Cancelled at its start, then given again at that instant.
    let given_again = MemoryCodeRegistry::new();
    given_again.assign(code("OOPS10"), A, day(5)).unwrap();
    given_again.revoke(code("OOPS10"), day(5)).unwrap();
    given_again
        .insert(CodeAssignment::new(code("OOPS10"), B, day(5)).with_valid_until(day(10)))
        .unwrap();
    // Cancelled at its start twice: two empty intervals, in the order made.
    let cancelled_twice = MemoryCodeRegistry::new();
    cancelled_twice.assign(code("OOPS10"), A, day(5)).unwrap();
    cancelled_twice.revoke(code("OOPS10"), day(5)).unwrap();
    cancelled_twice.assign(code("OOPS10"), B, day(5)).unwrap();
    cancelled_twice.revoke(code("OOPS10"), day(5)).unwrap();

    for t in [day(1), day(7), day(30)] {
        let memory = given_again.lookup(&code("OOPS10"), t).unwrap();
        let mut history = given_again.history(&code("OOPS10"));
        assert_eq!(CodeLookup::from_history(&history, t), memory, "at {t}");
        history.reverse(); // still sorted by valid_from
        assert_eq!(CodeLookup::from_history(&history, t), memory, "reversed, at {t}");

        let memory = cancelled_twice.lookup(&code("OOPS10"), t).unwrap();
        let history = cancelled_twice.history(&code("OOPS10"));
        assert_eq!(CodeLookup::from_history(&history, t), memory, "twice, at {t}");
    }
    assert!(matches!(
        cancelled_twice.lookup(&code("OOPS10"), day(1)).unwrap(),
        CodeLookup::NotYetActive(a) if a.affiliate == A
    ));
    assert!(matches!(
        cancelled_twice.lookup(&code("OOPS10"), day(30)).unwrap(),
        CodeLookup::Revoked(a) if a.affiliate == B
    ));
}

#[test]
fn a_code_cancelled_at_its_start_cannot_be_given_to_another_affiliate_backdated_around_that_instant() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("OOPS10"), A, day(5)).unwrap();
    registry.revoke(code("OOPS10"), day(5)).unwrap();
    let cancelled = registry.history(&code("OOPS10"))[0];
    let around = CodeAssignment::new(code("OOPS10"), B, day(0)).with_valid_until(day(10));
    assert!(cancelled.overlaps(&around) && around.overlaps(&cancelled));
    assert!(matches!(
        registry.insert(around),
        Err(RegistryError::Overlap { existing, .. }) if *existing == cancelled
    ));
    // From that instant on, or ending at it, it can.
    let before = CodeAssignment::new(code("OOPS10"), B, day(0)).with_valid_until(day(5));
    assert!(!cancelled.overlaps(&before));
    registry.insert(before).unwrap();
    registry.assign(code("OOPS10"), B, day(5)).unwrap();
}

#[test]
fn reassigning_inside_an_interval_that_ends_in_a_revocation_hands_the_revocation_on() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("SHORT1"), A, day(0)).unwrap();
    registry.revoke(code("SHORT1"), day(10)).unwrap();
    registry.reassign(code("SHORT1"), B, day(5)).unwrap();
    let history = registry.history(&code("SHORT1"));
    assert_eq!(
        history
            .iter()
            .map(|a| (a.affiliate, a.revoked))
            .collect::<Vec<_>>(),
        [(A, false), (B, true)]
    );
    assert!(
        matches!(registry.lookup(&code("SHORT1"), day(7)).unwrap(), CodeLookup::Active(a) if a.affiliate == B)
    );
    assert!(matches!(
        registry.lookup(&code("SHORT1"), day(10)).unwrap(),
        CodeLookup::Revoked(_)
    ));
}

#[test]
fn long_codes_beyond_the_packed_form_work_like_short_ones() {
    let registry = MemoryCodeRegistry::new();
    let long = "LONGCODE".repeat(4);
    registry.assign(code(&long), A, day(0)).unwrap();
    registry.reassign(code(&long), B, day(3)).unwrap();
    assert_eq!(owner(&registry, &long, day(1)), Some(A));
    assert_eq!(owner(&registry, &long, day(4)), Some(B));
    assert_eq!(registry.codes_of(B), [code(&long)]);
}

/// The instants a lookup must judge exactly: the ends of the range the
/// registry keeps, a leap second, and the instants around an interval's
/// ends.
fn edge_instants(from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .unwrap()
        .and_utc();
    let mut out = vec![
        DateTime::<Utc>::MIN_UTC,
        Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap(),
        DateTime::from_timestamp_nanos(i64::MIN),
        DateTime::from_timestamp_nanos(i64::MAX - 1),
        Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap(),
        DateTime::<Utc>::MAX_UTC,
        leap,
    ];
    for t in [from, until, leap] {
        for d in [-1_000_000_000, -1, 0, 1, 500_000_000, 1_000_000_000] {
            if let Some(near) = t.checked_add_signed(TimeDelta::nanoseconds(d)) {
                out.push(near);
            }
        }
    }
    out
}

#[test]
fn an_end_revocation_or_reassignment_in_a_leap_second_is_refused_and_changes_nothing() {
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .unwrap()
        .and_utc();
    let registry = MemoryCodeRegistry::new();
    let start = leap - TimeDelta::days(30);
    registry.assign(code("LEAP"), A, start).unwrap();
    let before = registry.history(&code("LEAP"));

    let ending = CodeAssignment::new(code("ENDS"), A, start).with_valid_until(leap);
    assert!(matches!(
        registry.insert(ending),
        Err(RegistryError::OutOfRange { at, .. }) if at == leap
    ));
    assert!(matches!(
        registry.revoke(code("LEAP"), leap),
        Err(RegistryError::OutOfRange { at, .. }) if at == leap
    ));
    assert!(matches!(
        registry.reassign(code("LEAP"), B, leap),
        Err(RegistryError::OutOfRange { at, .. }) if at == leap
    ));
    assert!(registry.history(&code("ENDS")).is_empty());
    assert_eq!(registry.history(&code("LEAP")), before);
    assert!(matches!(
        registry.lookup(&code("LEAP"), leap + TimeDelta::days(1)).unwrap(),
        CodeLookup::Active(a) if a.affiliate == A
    ));
}

#[test]
fn lookups_agree_with_the_assignment_at_the_edges_of_time() {
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_200_000_000))
        .unwrap()
        .and_utc();
    let intervals = [
        // From the first instant the registry keeps.
        (DateTime::from_timestamp_nanos(i64::MIN), day(0)),
        // Up to the last one.
        (day(0), DateTime::from_timestamp_nanos(i64::MAX - 1)),
        // From a leap second.
        (leap, day(0)),
        // Up to just after one.
        (day(-4000), leap + TimeDelta::milliseconds(900)),
    ];
    for (from, until) in intervals {
        let registry = MemoryCodeRegistry::new();
        let assignment = CodeAssignment::new(code("EDGE"), A, from).with_valid_until(until);
        registry.insert(assignment).unwrap();
        let kept = registry.history(&code("EDGE"));
        assert_eq!(kept.len(), 1);
        // The start comes back as given, leap second included.
        assert_eq!(kept[0].valid_from, from);
        for t in edge_instants(from, until) {
            let active = matches!(registry.lookup(&code("EDGE"), t).unwrap(), CodeLookup::Active(_));
            assert_eq!(
                active,
                kept[0].is_active_at(t),
                "{from} to {until}, looked up at {t}"
            );
        }
        // An assignment from the first instant kept is not active before it.
        if from == DateTime::from_timestamp_nanos(i64::MIN) {
            let before = Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap();
            assert!(matches!(
                registry.lookup(&code("EDGE"), before).unwrap(),
                CodeLookup::NotYetActive(_)
            ));
        }
    }
}

#[test]
fn a_code_given_out_in_a_leap_second_cannot_be_reassigned_at_that_instant() {
    // The registry keeps an interval's end as nanoseconds, which have no
    // leap second: a reassignment there is refused, even one at the very
    // start that would end nothing.
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .unwrap()
        .and_utc();
    let registry = attributor::MemoryCodeRegistry::new();
    let code = attributor::CouponCode::parse("LEAP").unwrap();
    registry
        .assign(code, attributor::AffiliateId::new(1), leap)
        .unwrap();
    let refused = registry.reassign(code, attributor::AffiliateId::new(2), leap);
    assert!(
        matches!(refused, Err(attributor::RegistryError::OutOfRange { .. })),
        "{refused:?}"
    );
    assert_eq!(
        registry.history(&code)[0].affiliate,
        attributor::AffiliateId::new(1)
    );
}

// Code families.

fn family(prefix: &str, affiliate: AffiliateId, from: i64) -> CodeAssignment {
    CodeAssignment::family(code(prefix), affiliate, day(from))
}

#[test]
fn a_family_has_a_history_as_a_code_does_reassigned_and_revoked() {
    let registry = MemoryCodeRegistry::new();
    registry.insert(family("MKBHD", A, 0)).unwrap();
    registry.reassign_family(code("MKBHD"), B, day(10)).unwrap();
    registry.revoke_family(code("MKBHD"), day(20)).unwrap();
    assert_eq!(owner(&registry, "MKBHD10OFF", day(5)), Some(A));
    assert_eq!(owner(&registry, "MKBHD10OFF", day(15)), Some(B));
    assert!(matches!(
        registry.lookup(&code("MKBHD10OFF"), day(25)).unwrap(),
        CodeLookup::Revoked(a) if a.family && a.affiliate == B
    ));
    let history = registry.family_history(&code("MKBHD"));
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|a| a.family));
    // The family is not a code: MKBHD itself has no history of its own.
    assert!(registry.history(&code("MKBHD")).is_empty());
    assert_eq!(
        registry.revoke_family(code("MKBHD"), day(30)),
        Err(RegistryError::NotActive {
            code: code("MKBHD"),
            family: true,
            at: day(30)
        })
    );
}

#[test]
fn a_family_may_not_be_held_by_two_affiliates_at_once_nor_meet_another_affiliates_codes() {
    let registry = MemoryCodeRegistry::new();
    registry.insert(family("MKBHD", A, 0)).unwrap();
    let refused = |a: CodeAssignment| registry.insert(a).unwrap_err().to_string();

    // The same family, another owner, an overlapping time.
    assert_eq!(
        refused(family("MKBHD", B, 5)),
        format!(
            "assignment of family MKBHD* overlaps its assignment to affiliate 1 from {}",
            day(0)
        )
    );
    // A code of another affiliate in the family, or a look-alike of one.
    assert_eq!(
        refused(CodeAssignment::new(code("MKBHD10"), B, day(5))),
        "code MKBHD10 is confusable with family MKBHD* of affiliate 1"
    );
    assert_eq!(
        refused(CodeAssignment::new(code("MK8HD10"), B, day(5))),
        "code MK8HD10 is confusable with family MKBHD* of affiliate 1"
    );
    // A family of another affiliate inside it, around it, or a look-alike.
    for prefix in ["MKBHDX", "MKB", "MK8HD"] {
        assert_eq!(
            refused(family(prefix, B, 5)),
            format!("family {prefix}* is confusable with family MKBHD* of affiliate 1")
        );
    }
    // A family over another affiliate's code.
    registry.assign(code("SPRING10"), B, day(0)).unwrap();
    assert_eq!(
        refused(family("SPR1NG", A, 5)),
        "family SPR1NG* is confusable with code SPRING10 of affiliate 2"
    );
    // Every refusal of a family says it is one.
    assert_eq!(
        refused(family("EMPTY", A, 5).with_valid_until(day(5))),
        format!(
            "assignment of family EMPTY* ends at {}, not after it starts at {}",
            day(5),
            day(5)
        )
    );
    // The same affiliate may nest families and hold codes in them, and
    // another affiliate may follow once the family has ended.
    registry
        .insert(family("MKBHDX", A, 5).with_mode(CreditMode::Always))
        .unwrap();
    registry.assign(code("MKBHD10"), A, day(5)).unwrap();
    registry
        .insert(family("SPRING", B, 0).with_valid_until(day(100)))
        .unwrap();
    registry.insert(family("SPRING", A, 100)).unwrap_err(); // SPRING10 is still B's
    registry
        .insert(family("OLD", A, 0).with_valid_until(day(10)))
        .unwrap();
    registry.insert(family("OLD", B, 10)).unwrap();
    assert_eq!(owner(&registry, "OLD1", day(9)), Some(A));
    assert_eq!(owner(&registry, "OLD1", day(10)), Some(B));
}

#[test]
fn an_exact_code_beats_its_family_and_the_longer_prefix_beats_the_shorter() {
    let registry = MemoryCodeRegistry::new();
    registry.insert(family("MKBHD", A, 0)).unwrap();
    registry
        .insert(family("MKBHDVIP", A, 0).with_mode(CreditMode::Always))
        .unwrap();
    registry
        .insert(
            CodeAssignment::new(code("MKBHDLEAK"), A, day(0))
                .with_valid_until(day(10))
                .with_revoked(true),
        )
        .unwrap();
    let lookup = |c: &str| registry.lookup(&code(c), day(20)).unwrap();
    assert!(
        matches!(lookup("MKBHD5"), CodeLookup::Active(a) if a.code == code("MKBHD") && a.mode == CreditMode::Standard)
    );
    assert!(
        matches!(lookup("MKBHDVIP5"), CodeLookup::Active(a) if a.code == code("MKBHDVIP") && a.mode == CreditMode::Always)
    );
    // A revoked code stays revoked: its family does not take it back.
    assert!(matches!(lookup("MKBHDLEAK"), CodeLookup::Revoked(a) if !a.family));
    assert_eq!(lookup("MKBH"), CodeLookup::Unknown);
}

#[test]
fn families_are_imported_with_a_star_and_their_conflicts_reported() {
    let registry = MemoryCodeRegistry::new();
    registry.assign(code("SPRING10"), B, day(0)).unwrap();
    let rows = [
        ImportRow::new("mkbhd*", A, day(0)),
        ImportRow::new("MKBHD10", C, day(0)), // in A's family
        ImportRow::new("SPRING*", A, day(0)), // over B's code
        ImportRow::new("MK*", A, day(0)),     // shorter than a code
        ImportRow::new("TECH*", C, day(0)),
    ];
    let report = registry.import(rows, ImportOptions::apply_valid());
    assert_eq!(report.applied, 2);
    let conflicts: Vec<(usize, String)> = report
        .conflicts
        .iter()
        .map(|c| (c.row, c.kind.to_string()))
        .collect();
    assert_eq!(
        conflicts,
        [
            (1, "confusable with family MKBHD* of row 0".to_owned()),
            (2, "confusable with code SPRING10 of affiliate 2".to_owned()),
            (
                3,
                "coupon code has 2 characters, fewer than the minimum of 3".to_owned()
            ),
        ]
    );
    assert_eq!(owner(&registry, "TECH-DEAL", day(1)), Some(C));
    assert_eq!(owner(&registry, "MKBHD10", day(1)), Some(A));
}
