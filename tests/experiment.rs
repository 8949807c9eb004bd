//! Rule experiments: replaying conversions under several policies.

mod common;

use std::cell::Cell;

use attributor::{
    Amount, CodeAssignment, CodeLookup, CodeRegistry, Conversion, CouponCode, CreditMode, EventKind,
    EventKinds, Experiment, ExperimentError, ExperimentOptions, Label, MemoryClickStore, MemoryCodeRegistry,
    Policy, UncreditedReason,
};
use chrono::{DateTime, Utc};
use common::*;

fn name(s: &str) -> Label {
    s.parse().unwrap()
}

fn stores() -> (MemoryCodeRegistry, MemoryClickStore) {
    (MemoryCodeRegistry::new(), MemoryClickStore::new())
}

fn click(
    clicks: &MemoryClickStore,
    id: &str,
    affiliate: attributor::AffiliateId,
    customer: &str,
    at: DateTime<Utc>,
) {
    clicks
        .insert(
            attributor::Click::new(id.parse().unwrap(), affiliate, at)
                .with_customer(customer.parse().unwrap()),
        )
        .unwrap();
}

fn usd(s: &str) -> (Amount, attributor::Currency) {
    (s.parse().unwrap(), "USD".parse().unwrap())
}

fn priced(conversion: Conversion, amount: &str) -> Conversion {
    let (a, c) = usd(amount);
    conversion.with_amount(a, c)
}

#[test]
fn a_conversion_two_policies_credit_differently_is_listed_with_both_decisions() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("coupon-first"), Policy::coupon_first())
        .with_policy(name("click-first"), Policy::click_first());
    experiment
        .replay(&priced(purchase("o1", "shopper").with_code(code("ALICE")), "10"))
        .unwrap();
    experiment
        .replay(&priced(
            conversion("o2", EventKind::Purchase, "loyal", now() + secs(1)).with_code(code("ALICE")),
            "30",
        ))
        .unwrap();
    let report = experiment.report();

    assert_eq!(report.conversions, 2);
    let coupon_first = report.policy("coupon-first").unwrap();
    let click_first = report.policy("click-first").unwrap();
    assert_eq!(coupon_first.affiliate(A).unwrap().conversions, 2);
    assert_eq!(
        coupon_first.affiliate(A).unwrap().amount(Some(usd("0").1)),
        "40".parse().unwrap()
    );
    assert!(coupon_first.affiliate(B).is_none());
    assert_eq!(click_first.affiliate(A).unwrap().conversions, 1);
    assert_eq!(click_first.affiliate(B).unwrap().by_click, 1);
    assert_eq!(
        click_first.affiliate(B).unwrap().amount(Some(usd("0").1)),
        "10".parse().unwrap()
    );

    assert_eq!(report.moved_total, 1);
    let moved = &report.moved[0];
    assert_eq!(moved.conversion.as_str(), "o1");
    assert_eq!(moved.decisions.len(), 2);
    assert_eq!(moved.decisions[0].primary(), Some(A));
    assert_eq!(moved.decisions[1].primary(), Some(B));
}

#[test]
fn each_policy_binds_the_customer_to_the_affiliate_it_credited_and_repeat_purchases_follow() {
    let (registry, clicks) = stores();
    registry.assign(code("TRADER"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "trader", now() - days(10) - secs(60));
    let binds = EventKinds::CHALLENGE_PURCHASE;
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("coupon-first"), Policy::coupon_first().with_bind_on(binds))
        .with_policy(name("click-first"), Policy::click_first().with_bind_on(binds));
    let first = conversion("buy-1", EventKind::ChallengePurchase, "trader", now() - days(10))
        .with_code(code("TRADER"));
    // Bought again after the click left the window, with no code: only the binding decides.
    let reset = conversion("reset-1", EventKind::ChallengeReset, "trader", now() + days(40));
    experiment.replay_all([&first, &reset]).unwrap();
    let report = experiment.report();

    let coupon_first = report.policy("coupon-first").unwrap();
    assert_eq!(coupon_first.affiliate(A).unwrap().conversions, 2);
    assert_eq!(coupon_first.affiliate(A).unwrap().by_binding, 1);
    let click_first = report.policy("click-first").unwrap();
    assert_eq!(click_first.affiliate(B).unwrap().conversions, 2);
    assert_eq!(click_first.affiliate(B).unwrap().by_binding, 1);
    assert_eq!(report.moved_total, 2);
}

#[test]
fn a_split_applies_the_shares_to_the_amounts() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("split"), Policy::split(5_000).unwrap());
    experiment
        .replay(&priced(
            purchase("o1", "shopper").with_code(code("ALICE")),
            "49.99",
        ))
        .unwrap();
    let report = experiment.report();
    let split = &report.policies[0];
    for affiliate in [A, B] {
        let tally = split.affiliate(affiliate).unwrap();
        assert_eq!(tally.conversions, 1);
        assert_eq!(tally.shares, 5_000);
        assert_eq!(tally.amount(Some(usd("0").1)), "24.995".parse().unwrap());
    }
    assert_eq!(split.credited, 1);
    assert_eq!(split.amounts[0].amount, "49.99".parse().unwrap());
}

#[test]
fn the_parts_of_a_split_add_up_to_the_amount_and_the_primary_affiliate_gets_the_rounding() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    // A third of a ten-thousandth is lost by rounding each part down.
    for (coupon_share, primary, other, primary_part, other_part) in [
        (3_333, B, A, "0.0067", "0.0033"),
        (6_667, A, B, "0.0067", "0.0033"),
        (5_000, A, B, "0.005", "0.005"),
    ] {
        let mut experiment = Experiment::new(&registry, &clicks)
            .with_policy(name("split"), Policy::split(coupon_share).unwrap());
        experiment
            .replay(&priced(
                purchase("o1", "shopper").with_code(code("ALICE")),
                "0.01",
            ))
            .unwrap();
        let report = experiment.report();
        let split = &report.policies[0];
        let part = |affiliate| split.affiliate(affiliate).unwrap().amount(Some(usd("0").1));
        assert_eq!(split.amounts[0].amount, "0.01".parse().unwrap(), "{coupon_share}");
        assert_eq!(part(primary), primary_part.parse().unwrap(), "{coupon_share}");
        assert_eq!(part(other), other_part.parse().unwrap(), "{coupon_share}");
    }
}

#[test]
fn amounts_in_different_currencies_are_summed_apart() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("coupon-first"), Policy::coupon_first());
    let eur = "EUR".parse().unwrap();
    experiment
        .replay(
            &purchase("o1", "x")
                .with_code(code("ALICE"))
                .with_amount("10".parse().unwrap(), eur),
        )
        .unwrap();
    experiment
        .replay(&priced(purchase("o2", "y").with_code(code("ALICE")), "5"))
        .unwrap();
    let tally = experiment.report().policies[0].affiliate(A).cloned().unwrap();
    assert_eq!(tally.amounts.len(), 2);
    assert_eq!(tally.amount(Some(eur)), "10".parse().unwrap());
    assert_eq!(tally.amount(Some(usd("0").1)), "5".parse().unwrap());
    assert_eq!(tally.amount(None), Amount::ZERO);
}

#[test]
fn uncredited_conversions_are_totalled_by_reason() {
    let (registry, clicks) = stores();
    registry
        .insert(CodeAssignment::new(code("OLDIE"), A, now() - days(60)).with_valid_until(now() - days(30)))
        .unwrap();
    click(&clicks, "k1", B, "late", now() - days(45));
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("coupon-first"), Policy::coupon_first());
    let stream = [
        purchase("o1", "a").with_code(code("OLDIE")),
        purchase("o2", "b").with_code(code("TYPO1")),
        purchase("o3", "c").with_code(code("TYPO2")),
        purchase("o4", "late").with_click("k1".parse().unwrap()),
        purchase("o5", "nobody"),
    ];
    experiment.replay_all(&stream).unwrap();
    let report = experiment.report();
    let policy = &report.policies[0];
    assert_eq!(policy.credited, 0);
    assert_eq!(policy.uncredited, 5);
    let count = |reason| {
        policy
            .uncredited_by_reason
            .iter()
            .find(|r| r.reason == reason)
            .map_or(0, |r| r.conversions)
    };
    assert_eq!(count(UncreditedReason::CodeUnknown), 2);
    assert_eq!(count(UncreditedReason::CodeExpired), 1);
    assert_eq!(count(UncreditedReason::OutsideWindow), 1);
    assert_eq!(count(UncreditedReason::NoEvidence), 1);
    // The most common reason comes first.
    assert_eq!(
        policy.uncredited_by_reason[0].reason,
        UncreditedReason::CodeUnknown
    );
}

#[test]
fn a_retried_postback_at_the_same_instant_is_skipped_and_counted() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("coupon-first"), Policy::coupon_first());
    let order = purchase("o1", "x").with_code(code("ALICE"));
    let other = purchase("o2", "y").with_code(code("ALICE"));
    assert_eq!(experiment.replay_all([&order, &other, &order]).unwrap(), 2);
    let report = experiment.report();
    assert_eq!(report.conversions, 2);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.policies[0].affiliate(A).unwrap().conversions, 2);
}

#[test]
fn a_conversion_out_of_time_order_is_refused_and_changes_nothing() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("coupon-first"), Policy::coupon_first());
    experiment
        .replay(&purchase("o2", "x").with_code(code("ALICE")))
        .unwrap();
    let before = experiment.report();
    let late = conversion("o1", EventKind::Purchase, "y", now() - secs(1)).with_code(code("ALICE"));
    let err = experiment.replay(&late).unwrap_err();
    assert!(matches!(err, ExperimentError::OutOfOrder { .. }), "{err}");
    assert!(err.to_string().contains("time order"), "{err}");
    assert_eq!(experiment.report(), before);
}

#[test]
fn the_moved_list_is_capped_and_the_rest_are_counted() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("coupon-first"), Policy::coupon_first())
        .with_policy(name("click-first"), Policy::click_first())
        .with_options(ExperimentOptions::new().with_moved_limit(3));
    for i in 0..10 {
        let customer = format!("c{i}");
        click(&clicks, &format!("k{i}"), B, &customer, now() - days(1));
        experiment
            .replay(
                &conversion(&format!("o{i}"), EventKind::Purchase, &customer, now() + secs(i))
                    .with_code(code("ALICE")),
            )
            .unwrap();
    }
    let report = experiment.report();
    assert_eq!(report.moved_total, 10);
    assert_eq!(report.moved.len(), 3);
    assert_eq!(report.moved_not_listed(), 7);
    assert!(
        report
            .to_string()
            .contains("moved conversions, paid differently by the policies: 10; the first 3 are listed")
    );
}

#[test]
fn the_report_counts_one_of_a_thing_in_the_singular() {
    let (registry, clicks) = stores();
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("coupon-first"), Policy::coupon_first())
        .with_policy(name("click-first"), Policy::click_first())
        .with_options(
            ExperimentOptions::new()
                .with_moved_limit(1)
                .with_recent_days(1)
                .unwrap(),
        );
    // Eleven codes, one a day, each moved by another affiliate's click.
    for i in 0..11 {
        let at = now() - days(11) + days(i);
        registry
            .assign(code(&format!("CODE{i:02}")), A, now() - days(90))
            .unwrap();
        let customer = format!("c{i}");
        click(&clicks, &format!("k{i}"), B, &customer, at - secs(60));
        experiment
            .replay(
                &conversion(&format!("o{i}"), EventKind::Purchase, &customer, at)
                    .with_code(code(&format!("CODE{i:02}"))),
            )
            .unwrap();
    }
    let text = experiment.report().to_string();

    assert!(
        text.contains("paid differently by the policies: 11; the first is listed"),
        "{text}"
    );
    assert!(text.contains("(last 1 day against before;"), "{text}");
    assert!(text.contains("  ... and 1 more code\n"), "{text}");
}

/// A code used `before` times over the 90 days before the recent period and
/// `recent` times in it, none of them with a click from its owner.
fn code_used(before: i64, recent: i64) -> attributor::ExperimentReport {
    let (registry, clicks) = stores();
    let start = now() - days(150);
    registry.assign(code("CREATOR"), A, start).unwrap();
    let mut experiment = Experiment::new(&registry, &clicks);
    let mut n = 0;
    let mut use_at = |experiment: &mut Experiment<'_, _, _>, at| {
        n += 1;
        let c = conversion(&format!("o{n}"), EventKind::Purchase, &format!("fan{n}"), at)
            .with_code(code("CREATOR"));
        experiment.replay(&c).unwrap();
    };
    for i in 0..before {
        use_at(&mut experiment, start + days(i * 90 / before.max(1)));
    }
    for i in 0..recent {
        use_at(&mut experiment, now() - days(29) + secs(i * 60));
    }
    experiment.report()
}

#[test]
fn a_code_that_takes_off_with_no_clicks_from_its_owner_is_flagged_as_probably_leaked() {
    let report = code_used(30, 200);
    let signal = report.codes[0];
    assert_eq!(signal.code, code("CREATOR"));
    assert_eq!(signal.uses, 230);
    assert_eq!(signal.without_owner_click, 230);
    assert_eq!(signal.without_click_share(), 10_000);
    assert_eq!(signal.recent_uses, 200);
    assert_eq!(signal.earlier_uses, 30);
    assert!(signal.probably_leaked);
    assert_eq!(report.probably_leaked().count(), 1);
    assert!(report.to_string().contains("probably leaked"));
}

#[test]
fn a_creator_code_used_steadily_without_clicks_is_not_flagged() {
    // 90 uses over 90 days, then 30 in the last 30 days: the same pace.
    let report = code_used(90, 30);
    let signal = report.codes[0];
    assert_eq!(signal.without_click_share(), 10_000);
    assert!(!signal.probably_leaked, "{signal:?}");
}

#[test]
fn uses_with_a_click_from_the_owner_keep_a_code_from_being_flagged() {
    let (registry, clicks) = stores();
    registry.assign(code("CREATOR"), A, now() - days(150)).unwrap();
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_options(ExperimentOptions::new().with_leak_surge(0).with_leak_min_uses(10));
    for i in 0..20 {
        let customer = format!("fan{i}");
        if i % 2 == 0 {
            click(&clicks, &format!("k{i}"), A, &customer, now() - days(2));
        }
        let c = conversion(&format!("o{i}"), EventKind::Purchase, &customer, now() + secs(i))
            .with_code(code("CREATOR"));
        experiment.replay(&c).unwrap();
    }
    let signal = experiment.report().codes[0];
    assert_eq!(signal.without_owner_click, 10);
    assert_eq!(signal.without_click_share(), 5_000);
    assert!(!signal.probably_leaked);
}

/// A registry that fails one lookup after so many good ones.
struct Flaky<'a> {
    inner: &'a MemoryCodeRegistry,
    good_lookups_left: Cell<Option<u32>>,
}

#[derive(Debug, thiserror::Error)]
#[error("registry unavailable")]
struct Unavailable;

impl CodeRegistry for Flaky<'_> {
    type Error = Unavailable;
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Unavailable> {
        match self.good_lookups_left.get() {
            Some(0) => {
                self.good_lookups_left.set(None);
                return Err(Unavailable);
            }
            Some(n) => self.good_lookups_left.set(Some(n - 1)),
            None => {}
        }
        Ok(self.inner.lookup(code, at).unwrap_or(CodeLookup::Unknown))
    }
    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<attributor::NearCodes, Unavailable> {
        Ok(self.inner.near(code, at).unwrap_or_default())
    }
}

#[test]
fn a_failing_store_leaves_the_tallies_unchanged_and_the_retry_counts_once() {
    let (inner, clicks) = stores();
    inner
        .insert(CodeAssignment::new(code("ALICE"), A, now() - days(90)).with_mode(CreditMode::Always))
        .unwrap();
    let registry = Flaky {
        inner: &inner,
        good_lookups_left: Cell::new(None),
    };
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("one"), Policy::coupon_first().with_bind_on(EventKinds::ALL))
        .with_policy(name("two"), Policy::click_first().with_bind_on(EventKinds::ALL));
    experiment.replay(&purchase("o0", "x")).unwrap();
    let before = experiment.report();
    let order = priced(purchase("o1", "x").with_code(code("ALICE")), "10");
    // Fail the second policy's lookup, after the first policy decided and
    // bound; then the leak signal's lookup, after both decided.
    for good in [1, 2] {
        registry.good_lookups_left.set(Some(good));
        let err = experiment.replay(&order).unwrap_err();
        assert!(matches!(err, ExperimentError::Registry(Unavailable)), "{err}");
        assert_eq!(experiment.report(), before);
    }
    assert!(experiment.replay(&order).unwrap());
    let report = experiment.report();
    for policy in &report.policies {
        let tally = policy.affiliate(A).unwrap();
        assert_eq!((tally.conversions, tally.by_coupon), (1, 1), "{}", policy.name);
    }
    assert_eq!(report.codes[0].uses, 1);
}

#[test]
fn the_report_reads_as_tables() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("coupon-first"), Policy::coupon_first())
        .with_policy(name("click-first"), Policy::click_first());
    experiment
        .replay_all([
            priced(purchase("o1", "shopper").with_code(code("ALICE")), "10"),
            purchase("o2", "nobody").with_code(code("NOSUCH")),
        ])
        .unwrap();
    let text = experiment.report().to_string();
    println!("{text}");
    assert!(text.starts_with("replayed 2 conversions from 2026-06-01 to 2026-06-01 under 2 policies"));
    let has_line = |want: &str| text.lines().any(|l| l.trim_end() == want);
    assert!(has_line("  affiliate   coupon-first  click-first"), "{text}");
    assert!(has_line("  1           1 (10 USD)    -"), "{text}");
    assert!(has_line("  2           -             1 (10 USD)"), "{text}");
    assert!(has_line("  uncredited  1             1"), "{text}");
    assert!(has_line("  code unknown  1             1"), "{text}");
    assert!(
        text.contains("o1 (purchase at 2026-06-01 12:00:00 UTC)"),
        "{text}"
    );
    assert!(text.contains("    click-first: conversion o1"), "{text}");
    assert!(text.contains("never applied"), "{text}");
}

#[test]
fn a_split_credits_each_owner_its_share_and_last_touch_the_code_entered_at_the_conversion() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("split"), Policy::split(2_500).unwrap())
        .with_policy(name("last-touch"), Policy::last_touch());
    experiment
        .replay(&purchase("o1", "shopper").with_code(code("ALICE")))
        .unwrap();
    let report = experiment.report();
    let split = &report.policies[0];
    assert_eq!(split.affiliate(A).unwrap().shares, 2_500);
    assert_eq!(split.affiliate(B).unwrap().shares, 7_500);
    let last = &report.policies[1];
    assert_eq!(
        (
            last.affiliate(A).unwrap().by_coupon,
            last.affiliate(A).unwrap().shares
        ),
        (1, 10_000)
    );
}

#[cfg(feature = "serde")]
#[test]
fn with_serde_the_report_is_json() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    let mut experiment =
        Experiment::new(&registry, &clicks).with_policy(name("coupon-first"), Policy::coupon_first());
    experiment
        .replay(&priced(purchase("o1", "x").with_code(code("ALICE")), "12.5"))
        .unwrap();
    let json = serde_json::to_value(experiment.report()).unwrap();
    assert_eq!(json["conversions"], 1);
    assert_eq!(json["policies"][0]["name"], "coupon-first");
    assert_eq!(json["policies"][0]["affiliates"][0]["affiliate"], 1);
    assert_eq!(
        json["policies"][0]["affiliates"][0]["amounts"][0],
        serde_json::json!({ "currency": "USD", "amount": "12.5" })
    );
    assert_eq!(json["codes"][0]["code"], "ALICE");
    assert_eq!(json["codes"][0]["probably_leaked"], false);
    assert_eq!(json["moved"], serde_json::json!([]));
}

#[test]
fn a_policy_added_again_under_its_name_replaces_the_first_in_its_place() {
    let (registry, clicks) = stores();
    registry.assign(code("ALICE"), A, now() - days(90)).unwrap();
    click(&clicks, "k1", B, "shopper", now() - days(1));
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(name("current"), Policy::coupon_first())
        .with_policy(name("proposed"), Policy::coupon_first())
        .with_policy(name("current"), Policy::click_first());
    experiment
        .replay(&purchase("o1", "shopper").with_code(code("ALICE")))
        .unwrap();
    let report = experiment.report();

    let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["current", "proposed"]);
    let current = report.policy("current").unwrap();
    assert_eq!(
        current.affiliate(B).unwrap().by_click,
        1,
        "the click-first policy replaced coupon-first"
    );
    assert!(current.affiliate(A).is_none());
    assert_eq!(report.moved_total, 1);
}
