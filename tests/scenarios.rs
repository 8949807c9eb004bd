//! The stories affiliate programs live by, one test each.

mod common;

use attributor::{
    Amount, BindingLifetime, Candidate, ClickEvidence, CodeAssignment, CodeLookup, CreditMode, Duplicate,
    EventKind, EventKinds, Evidence, Ledger, Method, Nearness, Outcome, Policy, PolicySet, Subject,
    Uniqueness, resolve,
};
use common::*;

fn outcome_of_code(decision: &attributor::Decision, c: &str) -> Outcome {
    decision
        .considered
        .iter()
        .find(|e| matches!(e.subject, Subject::Code { code: typed, .. } if typed == code(c)))
        .map(|e| e.outcome)
        .unwrap()
}

fn outcome_of_click(decision: &attributor::Decision, id: attributor::ClickId) -> Outcome {
    decision
        .considered
        .iter()
        .find(|e| matches!(e.subject, Subject::Click { id: i, .. } if i == id))
        .map(|e| e.outcome)
        .unwrap()
}

fn only_credit(decision: &attributor::Decision) -> (attributor::AffiliateId, Method, u16) {
    assert_eq!(decision.credits.len(), 1, "{decision}");
    let c = decision.credits[0];
    (c.affiliate, c.method, c.share)
}

#[test]
fn influencer_code_without_a_click_credits_the_code_owner() {
    let world = World::new(Policy::coupon_first());
    world.code("MKBHD10", A);
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("mkbhd-10")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert_eq!(outcome_of_code(&decision, "MKBHD10"), Outcome::Credited);
}

#[test]
fn a_click_alone_inside_the_window_credits_the_click_owner() {
    let world = World::new(Policy::coupon_first());
    let click = world.click(B, "shopper", days(29));
    let decision = world.attribute(&purchase("o1", "shopper"));
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
    assert_eq!(outcome_of_click(&decision, click), Outcome::Credited);
}

#[test]
fn a_click_one_second_past_the_window_credits_nobody() {
    let world = World::new(Policy::coupon_first());
    let click = world.click(B, "shopper", days(30) + secs(1));
    let decision = world.attribute(&purchase("o1", "shopper").with_click(click));
    assert!(decision.credits.is_empty());
    assert_eq!(outcome_of_click(&decision, click), Outcome::OutsideWindow);

    // The boundary itself is inside the window.
    let world = World::new(Policy::coupon_first());
    let click = world.click(B, "shopper", days(30));
    let decision = world.attribute(&purchase("o1", "shopper").with_click(click));
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
}

/// A's code and B's click on one purchase, under `policy`.
fn code_against_click(policy: Policy) -> (attributor::Decision, attributor::ClickId) {
    let world = World::new(policy);
    world.code("ALICE", A);
    let click = world.click(B, "shopper", days(2));
    (
        world.attribute(&purchase("o1", "shopper").with_code(code("ALICE"))),
        click,
    )
}

#[test]
fn coupon_first_credits_the_code_owner_over_the_click_owner() {
    let (decision, click) = code_against_click(Policy::coupon_first());
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert_eq!(
        outcome_of_click(&decision, click),
        Outcome::Outranked {
            by: Method::Coupon,
            affiliate: A
        }
    );
}

#[test]
fn click_first_credits_the_click_owner_over_the_code_owner() {
    let (decision, _) = code_against_click(Policy::click_first());
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
    assert_eq!(
        outcome_of_code(&decision, "ALICE"),
        Outcome::Outranked {
            by: Method::Click,
            affiliate: B
        }
    );
}

#[test]
fn last_touch_credits_the_code_entered_at_the_conversion_and_first_touch_the_earlier_click() {
    let (last, _) = code_against_click(Policy::last_touch());
    assert_eq!(only_credit(&last), (A, Method::Coupon, 10_000));
    let (first, _) = code_against_click(Policy::first_touch());
    assert_eq!(only_credit(&first), (B, Method::Click, 10_000));
}

#[test]
fn a_half_split_shares_between_code_and_click_owners_and_merges_one_owner() {
    let (decision, _) = code_against_click(Policy::split(5_000).unwrap());
    assert_eq!(decision.share_of(A), 5_000);
    assert_eq!(decision.share_of(B), 5_000);
    assert_eq!(decision.credits.len(), 2);

    let world = World::new(Policy::split(5_000).unwrap());
    world.code("ALICE", A);
    world.click(A, "shopper", days(2));
    let decision = world.attribute(&purchase("o1", "shopper").with_code(code("ALICE")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
}

#[test]
fn a_reassigned_code_credits_whoever_owned_it_when_the_conversion_happened() {
    let world = World::new(Policy::coupon_first());
    world.code("SPRING", A);
    world
        .attributor
        .registry()
        .reassign(code("SPRING"), B, now() - days(7))
        .unwrap();
    let late_replay = conversion("old", EventKind::Purchase, "x", now() - days(14)).with_code(code("SPRING"));
    assert_eq!(only_credit(&world.attribute(&late_replay)).0, A);
    let today = purchase("new", "y").with_code(code("SPRING"));
    assert_eq!(only_credit(&world.attribute(&today)).0, B);
}

#[test]
fn expired_revoked_not_yet_active_and_unknown_codes_credit_nobody_each_with_its_reason() {
    let world = World::new(Policy::coupon_first());
    world.assignment(
        CodeAssignment::new(code("OLDIE"), A, now() - days(60)).with_valid_until(now() - days(30)),
    );
    world.code("BANNED", A);
    world
        .attributor
        .registry()
        .revoke(code("BANNED"), now() - days(1))
        .unwrap();
    world.assignment(CodeAssignment::new(code("SOON"), A, now() + days(1)));
    for (c, reason) in [
        ("OLDIE", Outcome::CodeExpired),
        ("BANNED", Outcome::CodeRevoked),
        ("SOON", Outcome::CodeNotYetActive),
        ("NOSUCH", Outcome::CodeUnknown),
    ] {
        let decision = world.attribute(&purchase(c, "shopper").with_code(code(c)));
        assert!(decision.credits.is_empty(), "{decision}");
        assert_eq!(outcome_of_code(&decision, c), reason);
    }
}

fn igaming(policy: Policy) -> (World, attributor::Decision, attributor::Decision) {
    let world = World::new(policy);
    world.code("BONUS", B);
    let click = world.click(A, "player", days(10) + secs(60));
    let registration =
        conversion("reg", EventKind::Registration, "player", now() - days(10)).with_click(click);
    let reg = world.attribute(&registration);
    let ftd = world
        .attribute(&conversion("ftd", EventKind::FirstDeposit, "player", now()).with_code(code("BONUS")));
    (world, reg, ftd)
}

#[test]
fn a_registration_binds_the_player_and_a_later_deposit_with_another_code_stays_with_the_binding() {
    let policy = Policy::coupon_first().with_bind_on(EventKinds::REGISTRATION);
    let (world, reg, ftd) = igaming(policy);
    assert_eq!(only_credit(&reg), (A, Method::Click, 10_000));
    assert_eq!(reg.binding.map(|b| b.affiliate), Some(A));
    assert_eq!(only_credit(&ftd), (A, Method::Binding, 10_000));
    assert_eq!(
        outcome_of_code(&ftd, "BONUS"),
        Outcome::BindingHeld { affiliate: A }
    );
    assert_eq!(
        world
            .attributor
            .bindings()
            .history(&"player".parse().unwrap())
            .len(),
        1
    );
}

#[test]
fn when_a_coupon_breaks_bindings_the_deposit_goes_to_the_code_owner_and_the_binding_moves() {
    let policy = Policy::coupon_first()
        .with_bind_on(EventKinds::REGISTRATION)
        .with_coupon_breaks_binding(true);
    let (world, _, ftd) = igaming(policy);
    assert_eq!(only_credit(&ftd), (B, Method::Coupon, 10_000));
    assert_eq!(ftd.binding.map(|b| b.affiliate), Some(B));
    let later = world.attribute(&conversion("dep", EventKind::Deposit, "player", now() + days(1)));
    assert_eq!(only_credit(&later), (B, Method::Binding, 10_000));
}

#[test]
fn the_bound_affiliates_own_code_keeps_the_binding_where_coupons_break_bindings() {
    // Purchases may break bindings and bind only for the purchase itself;
    // registrations bind for good.
    let purchases = Policy::coupon_first()
        .with_coupon_breaks_binding(true)
        .with_binding_lifetime(BindingLifetime::OneOff);
    let registrations = Policy::coupon_first().with_bind_on(EventKinds::REGISTRATION);
    let world = World::new(PolicySet::new(purchases).with(EventKind::Registration, registrations));
    world.code("ALICE", A);
    let reg = conversion("reg", EventKind::Registration, "player", now() - days(10)).with_code(code("ALICE"));
    assert_eq!(world.attribute(&reg).binding.map(|b| b.affiliate), Some(A));

    let with_code = world.attribute(
        &conversion("o1", EventKind::Purchase, "player", now() - days(5)).with_code(code("ALICE")),
    );
    assert_eq!(only_credit(&with_code), (A, Method::Binding, 10_000));
    assert_eq!(
        outcome_of_code(&with_code, "ALICE"),
        Outcome::BindingHeld { affiliate: A }
    );
    assert_eq!(with_code.binding, None, "nothing moves: {with_code}");

    let without_code = world.attribute(&conversion("o2", EventKind::Purchase, "player", now()));
    assert_eq!(only_credit(&without_code), (A, Method::Binding, 10_000));
}

/// A player bound to A at registration, with a click of C's a day before
/// now, under a split giving a code's owner `coupon_share` basis points,
/// where codes may break bindings; B owns the code BOB.
fn bound_player_under_a_split(coupon_share: u32) -> World {
    let policy = Policy::split(coupon_share)
        .unwrap()
        .with_bind_on(EventKinds::REGISTRATION)
        .with_coupon_breaks_binding(true);
    let world = World::new(policy);
    world.code("ALICE", A);
    world.code("BOB", B);
    world.attribute(
        &conversion("reg", EventKind::Registration, "player", now() - days(10)).with_code(code("ALICE")),
    );
    world.click(C, "player", days(1));
    world
}

#[test]
fn a_code_that_would_take_a_sliver_of_a_split_does_not_break_the_binding() {
    // B's code would get 1% beside C's click's 99%.
    let world = bound_player_under_a_split(100);
    let decision = world.attribute(&purchase("o1", "player").with_code(code("BOB")));
    assert_eq!(only_credit(&decision), (A, Method::Binding, 10_000));
    assert_eq!(
        outcome_of_code(&decision, "BOB"),
        Outcome::BindingHeld { affiliate: A }
    );
    assert_eq!(decision.binding, None, "{decision}");

    // With most of the split, the same code breaks the binding and takes it.
    let world = bound_player_under_a_split(9_900);
    let decision = world.attribute(&purchase("o1", "player").with_code(code("BOB")));
    assert_eq!(decision.primary(), Some(B), "{decision}");
    assert_eq!(decision.binding.map(|b| b.affiliate), Some(B));
}

#[test]
fn once_a_binding_expires_the_evidence_decides_again() {
    let policy = Policy::coupon_first()
        .with_bind_on(EventKinds::REGISTRATION)
        .with_binding_lifetime(BindingLifetime::Days(5));
    let (_, _, ftd) = igaming(policy);
    assert_eq!(only_credit(&ftd), (B, Method::Coupon, 10_000));
    let binding = ftd
        .considered
        .iter()
        .find(|c| matches!(c.subject, Subject::Binding { .. }));
    assert_eq!(binding.map(|b| b.outcome), Some(Outcome::BindingExpired));
}

#[test]
fn an_if_involved_code_counts_only_with_its_owners_click() {
    let world = World::new(Policy::coupon_first());
    world.assignment(
        CodeAssignment::new(code("LEAKY"), A, now() - days(365)).with_mode(CreditMode::IfInvolved),
    );
    let other_click = world.click(B, "stranger", days(1));
    let decision = world.attribute(&purchase("o1", "stranger").with_code(code("LEAKY")));
    assert_eq!(outcome_of_code(&decision, "LEAKY"), Outcome::OwnerNotInvolved);
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
    assert_eq!(outcome_of_click(&decision, other_click), Outcome::Credited);

    // The owner's click is found even though another affiliate's click is later.
    world.click(A, "fan", days(3));
    world.click(B, "fan", days(1));
    let decision = world.attribute(&purchase("o2", "fan").with_code(code("LEAKY")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
}

#[test]
fn an_always_code_beats_a_click_under_click_first_and_first_touch_and_says_so() {
    for policy in [Policy::click_first(), Policy::first_touch()] {
        let world = World::new(policy);
        world
            .assignment(CodeAssignment::new(code("VIP"), A, now() - days(365)).with_mode(CreditMode::Always));
        world.click(B, "shopper", days(1));
        let decision = world.attribute(&purchase("o1", "shopper").with_code(code("VIP")));
        assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
        // The click's affiliate reads why a program that puts this click
        // first paid the code.
        let why = "was outranked by the coupon of affiliate 1, an always-credit code";
        assert!(decision.to_string().contains(why), "{decision}");
    }
}

#[test]
fn a_standard_code_outranking_a_click_gives_no_always_reason() {
    for policy in [
        Policy::coupon_first(),
        Policy::last_touch(),
        Policy::split(10_000).unwrap(),
    ] {
        let world = World::new(policy);
        world.code("SPRING", A);
        world.click(B, "shopper", days(1));
        let decision = world.attribute(&purchase("o1", "shopper").with_code(code("SPRING")));
        assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
        let text = decision.to_string();
        assert!(
            text.contains("was outranked by the coupon of affiliate 1."),
            "{text}"
        );
    }
}

#[test]
fn a_self_referral_code_is_rejected() {
    let world = World::new(Policy::coupon_first());
    world.code("MYSELF", A);
    let decision = world.attribute(
        &purchase("o1", "affiliate-a")
            .with_customer_affiliate(A)
            .with_code(code("MYSELF")),
    );
    assert!(decision.credits.is_empty());
    assert_eq!(outcome_of_code(&decision, "MYSELF"), Outcome::SelfReferral);
}

#[test]
fn a_customers_click_on_their_own_affiliate_link_does_not_hide_another_affiliates_click() {
    // The customer is also affiliate C. B's link brought them; a day later
    // they clicked their own link, and once more at the same instant as a
    // click on B's link. The own clicks are self-referral and must not
    // stand in the way of B's.
    let world = World::new(Policy::coupon_first());
    let referral = world.click(B, "insider", days(3));
    world.click(C, "insider", days(1));
    let decision = world.attribute(&purchase("o1", "insider").with_customer_affiliate(C));
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
    assert_eq!(outcome_of_click(&decision, referral), Outcome::Credited);

    let world = World::new(Policy::coupon_first());
    world.click(C, "insider", days(2)); // click-1: the smaller id of the tie
    world.click(B, "insider", days(2));
    let decision = world.attribute(&purchase("o2", "insider").with_customer_affiliate(C));
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
}

#[test]
fn a_binding_to_the_customers_own_affiliate_account_is_rejected_as_self_referral() {
    // A registers through their own link before the operator knows the
    // player is affiliate A; the registration binds the player to A.
    let world = World::new(Policy::coupon_first().with_bind_on(EventKinds::REGISTRATION));
    let own = world.click(A, "insider", days(10) + secs(60));
    let reg = conversion("reg", EventKind::Registration, "insider", now() - days(10)).with_click(own);
    assert_eq!(world.attribute(&reg).binding.map(|b| b.affiliate), Some(A));

    // Now the player is known to be A: the binding must not credit A, and
    // B's click decides.
    world.click(B, "insider", days(1));
    let ftd = conversion("ftd", EventKind::FirstDeposit, "insider", now()).with_customer_affiliate(A);
    let decision = world.attribute(&ftd);
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));
    let binding = decision
        .considered
        .iter()
        .find(|c| matches!(c.subject, Subject::Binding { .. }))
        .unwrap();
    assert_eq!(
        (binding.affiliate, binding.outcome),
        (Some(A), Outcome::SelfReferral)
    );
    assert!(
        decision
            .to_string()
            .contains("to affiliate 1 was rejected as self-referral"),
        "{decision}"
    );
}

#[test]
fn the_first_valid_code_in_entry_order_counts_and_later_ones_are_superseded() {
    let world = World::new(Policy::coupon_first());
    world.code("FIRST", A).code("SECOND", B);
    let decision = world.attribute(
        &purchase("o1", "s")
            .with_code(code("TYPO1"))
            .with_code(code("SECOND")),
    );
    assert_eq!(only_credit(&decision), (B, Method::Coupon, 10_000));
    assert_eq!(outcome_of_code(&decision, "TYPO1"), Outcome::CodeUnknown);

    let decision = world.attribute(
        &purchase("o2", "s")
            .with_code(code("FIRST"))
            .with_code(code("SECOND")),
    );
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert_eq!(
        outcome_of_code(&decision, "SECOND"),
        Outcome::Superseded { by: code("FIRST") }
    );
}

#[test]
fn a_click_stamped_after_the_conversion_counts_only_within_the_skew_tolerance() {
    let tolerant = World::new(Policy::coupon_first().with_clock_skew(secs(30)).unwrap());
    let click = tolerant.click(B, "s", -secs(10));
    let decision = tolerant.attribute(&purchase("o1", "s").with_click(click));
    assert_eq!(only_credit(&decision), (B, Method::Click, 10_000));

    let strict = World::new(Policy::coupon_first());
    let click = strict.click(B, "s", -secs(10));
    let decision = strict.attribute(&purchase("o1", "s").with_click(click));
    assert!(decision.credits.is_empty());
    assert_eq!(outcome_of_click(&decision, click), Outcome::AfterConversion);
}

#[test]
fn a_conversion_two_seconds_after_its_click_is_too_fast_for_a_five_second_minimum() {
    let world = World::new(Policy::coupon_first().with_min_click_age(secs(5)).unwrap());
    let click = world.click(B, "bot", secs(2));
    let decision = world.attribute(&purchase("o1", "bot").with_click(click));
    assert!(decision.credits.is_empty());
    assert_eq!(outcome_of_click(&decision, click), Outcome::TooFast);
}

#[test]
fn a_retried_postback_gives_one_ledger_entry_and_the_same_decision() {
    let world = World::new(Policy::coupon_first());
    world.code("RETRY", A);
    let order = purchase("o1", "s").with_code(code("RETRY"));
    let first = world.attribute(&order);
    // The code changes hands before the retry arrives: the record stands.
    world
        .attributor
        .registry()
        .reassign(code("RETRY"), B, now() - days(1))
        .unwrap();
    let second = world.attribute(&order);
    assert_eq!(first, second);
    assert_eq!(world.attributor.ledger().len(), 1);
}

#[test]
fn registrations_and_challenge_purchases_follow_their_own_policies() {
    let set = PolicySet::new(Policy::coupon_first()).with(EventKind::Registration, Policy::click_first());
    let world = World::new(set);
    world.code("TRADER", A);
    world.click(B, "trader", days(1));
    let reg = world
        .attribute(&conversion("reg", EventKind::Registration, "trader", now()).with_code(code("TRADER")));
    let buy = world.attribute(
        &conversion("buy", EventKind::ChallengePurchase, "trader", now()).with_code(code("TRADER")),
    );
    assert_eq!(only_credit(&reg), (B, Method::Click, 10_000));
    assert_eq!(only_credit(&buy), (A, Method::Coupon, 10_000));
}

#[test]
fn a_custom_event_named_registration_in_config_follows_the_registration_policy() {
    let set = PolicySet::new(Policy::coupon_first().with_bind_on(EventKinds::REGISTRATION)).with(
        EventKind::Registration,
        Policy::click_first().with_bind_on(EventKinds::REGISTRATION),
    );
    let world = World::new(set);
    world.code("TRADER", A);
    world.click(B, "trader", days(1));
    let from_config = EventKind::Custom("registration".parse().unwrap());
    let reg = world.attribute(&conversion("reg", from_config, "trader", now()).with_code(code("TRADER")));
    assert_eq!(only_credit(&reg), (B, Method::Click, 10_000));
    assert!(reg.binding.is_some(), "a registration binds under this policy");
    assert_eq!(reg.event.to_string().parse::<EventKind>().unwrap(), reg.event);
}

#[test]
fn a_free_purchase_with_a_code_is_still_credited() {
    let world = World::new(Policy::coupon_first());
    world.code("FREEBIE", A);
    let order = purchase("o1", "s")
        .with_code(code("FREEBIE"))
        .with_amount(Amount::ZERO, "USD".parse().unwrap());
    assert_eq!(only_credit(&world.attribute(&order)), (A, Method::Coupon, 10_000));
}

#[test]
fn a_decision_reads_as_one_sentence_for_a_dispute() {
    let (decision, click) = code_against_click(Policy::coupon_first());
    let text = decision.to_string();
    assert!(text.starts_with("conversion o1 (purchase at 2026-06-01 12:00:00 UTC, coupon-first) credits affiliate 1 by code ALICE"), "{text}");
    assert!(
        text.contains(&format!(
            "click {click} of affiliate 2 was outranked by the coupon of affiliate 1"
        )),
        "{text}"
    );
    assert!(text.ends_with('.'));
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn a_split_won_by_one_affiliate_with_code_and_click_names_both_and_says_its_click_outranked_the_other() {
    // A backend that gathers every click of the window hands both over.
    let owner_click = ClickEvidence {
        id: "own".parse().unwrap(),
        affiliate: A,
        clicked_at: now() - secs(3_600),
    };
    let other_click = ClickEvidence {
        id: "other".parse().unwrap(),
        affiliate: B,
        clicked_at: now() - secs(7_200),
    };
    let assignment = CodeAssignment::new(code("MKBHD10"), A, now() - days(365));
    let evidence = Evidence::new()
        .with_code(code("MKBHD10"), CodeLookup::Active(assignment))
        .with_click(owner_click)
        .with_click(other_click);
    let decision = resolve(
        &purchase("o1", "s").with_code(code("MKBHD10")),
        &evidence,
        &Policy::split(5_000).unwrap(),
    );
    let text = decision.to_string();

    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert!(
        text.contains("credits affiliate 1 by code MKBHD10 and click own"),
        "{text}"
    );
    assert!(
        text.contains("click other of affiliate 2 was outranked by the click of affiliate 1"),
        "{text}"
    );
}

#[test]
fn a_click_stamped_after_the_conversion_within_the_clock_skew_is_not_said_to_come_before_it() {
    let policy = Policy::click_first()
        .with_clock_skew(secs(60))
        .unwrap()
        .with_min_click_age(secs(5))
        .unwrap();
    let world = World::new(policy);
    let late = world.click(A, "s", secs(-30));
    let decision = world.attribute(&purchase("o1", "s").with_click(late));
    let text = decision.to_string();

    assert!(decision.credits.is_empty(), "{text}");
    assert!(
        text.contains(&format!(
            "click {late} of affiliate 1 was stamped after the conversion, within the clock skew allowed, so less than 5 seconds had passed (too fast)"
        )),
        "{text}"
    );
}

#[test]
fn an_owner_click_outside_the_window_is_not_called_no_click() {
    let world = World::new(Policy::coupon_first());
    world.assignment(
        CodeAssignment::new(code("LEAKY"), A, now() - days(365)).with_mode(CreditMode::IfInvolved),
    );
    world.click(A, "s", days(31));
    let text = world
        .attribute(&purchase("o1", "s").with_code(code("LEAKY")))
        .to_string();

    assert!(
        text.contains(
            "code LEAKY of affiliate 1 needs a qualifying click from its owner, and there was none"
        ),
        "{text}"
    );
}

#[test]
fn a_superseded_code_names_the_valid_code_entered_before_it() {
    let world = World::new(Policy::coupon_first());
    world.code("BBB22", A).code("CCC33", B);
    let order = purchase("o1", "s")
        .with_code(code("NOPE1"))
        .with_code(code("BBB22"))
        .with_code(code("CCC33"));
    let text = world.attribute(&order).to_string();

    assert!(text.contains("code NOPE1 is unknown"), "{text}");
    assert!(
        text.contains("code CCC33 of affiliate 2 was superseded by code BBB22, entered before it"),
        "{text}"
    );
}

#[test]
fn the_primary_affiliate_of_an_even_split_is_the_code_owner_whatever_the_order_of_credits() {
    let (mut decision, _) = code_against_click(Policy::split(5_000).unwrap());
    assert_eq!(decision.primary(), Some(A));
    decision.credits.reverse();
    assert_eq!(decision.primary(), Some(A), "{:?}", decision.credits);
}

#[test]
fn under_a_split_an_always_code_and_a_click_of_the_same_owner_read_as_one_credit_by_code_and_click() {
    use attributor::AffiliateId;

    let click = ClickEvidence {
        id: "k".parse().unwrap(),
        affiliate: AffiliateId::new(7),
        clicked_at: now() - secs(3_600),
    };
    let split = Policy::split(3_000).unwrap();
    let decide = |mode: CreditMode| {
        let assignment =
            CodeAssignment::new(code("VIP1"), AffiliateId::new(7), now() - days(30)).with_mode(mode);
        let evidence = Evidence::new()
            .with_code(code("VIP1"), CodeLookup::Active(assignment))
            .with_click(click);
        resolve(&purchase("o1", "s").with_code(code("VIP1")), &evidence, &split)
    };
    let (always, standard) = (decide(CreditMode::Always), decide(CreditMode::Standard));
    assert_eq!(
        only_credit(&always),
        (AffiliateId::new(7), Method::Coupon, 10_000),
        "rule 9"
    );
    assert!(
        always
            .to_string()
            .contains("credits affiliate 7 by code VIP1 and click k"),
        "{always}"
    );
    assert_eq!(outcome_of_click(&always, click.id), Outcome::Credited);
    assert_eq!(
        always.to_string(),
        standard.to_string(),
        "the code's mode changes nothing here"
    );
    assert_eq!(always.considered, standard.considered);
}

/// An iGaming program that pays a player's first deposit once, with code
/// BONUS of affiliate B.
fn ftd_once_a_player() -> World {
    let world = World::new(Policy::coupon_first().with_once_per_customer(EventKinds::FIRST_DEPOSIT));
    world.code("BONUS", B);
    world
}

fn ftd(id: &str, player: &str, at: chrono::DateTime<chrono::Utc>) -> attributor::Conversion {
    conversion(id, EventKind::FirstDeposit, player, at).with_code(code("BONUS"))
}

fn duplicate(of: &str, by: Uniqueness) -> Option<Duplicate> {
    Some(Duplicate {
        of: of.parse().unwrap(),
        by,
    })
}

#[test]
fn a_second_first_deposit_of_a_player_under_another_transaction_id_is_a_duplicate_and_credits_nobody() {
    let world = ftd_once_a_player();
    let first = world.attribute(&ftd("ftd-1", "player", now() - days(1)));
    assert_eq!(only_credit(&first), (B, Method::Coupon, 10_000));
    assert_eq!(first.duplicate, None);

    let second = world.attribute(&ftd("ftd-2", "player", now()));
    assert!(second.credits.is_empty(), "{second}");
    assert!(second.considered.is_empty(), "a duplicate weighs no evidence");
    assert_eq!(second.duplicate, duplicate("ftd-1", Uniqueness::Customer));
    assert!(
        second.to_string().ends_with(
            "credits nobody: a duplicate of conversion ftd-1 (first_deposit is paid once a customer)."
        ),
        "{second}"
    );
    // Retried, the duplicate is the answer again, as any recorded decision.
    assert_eq!(world.attribute(&ftd("ftd-2", "player", now())), second);
    assert_eq!(world.attribute(&ftd("ftd-1", "player", now() - days(1))), first);
}

#[test]
fn paying_first_deposits_once_leaves_other_players_and_other_events_paid() {
    let world = ftd_once_a_player();
    world.attribute(&ftd("ftd-1", "player", now() - days(1)));
    let other_player = world.attribute(&ftd("ftd-2", "someone-else", now()));
    assert_eq!(only_credit(&other_player), (B, Method::Coupon, 10_000));
    let deposit = conversion("dep-1", EventKind::Deposit, "player", now()).with_code(code("BONUS"));
    let redeposit = conversion("dep-2", EventKind::Deposit, "player", now()).with_code(code("BONUS"));
    for d in [deposit, redeposit] {
        let decision = world.attribute(&d);
        assert_eq!(decision.duplicate, None);
        assert_eq!(only_credit(&decision), (B, Method::Coupon, 10_000));
    }
}

#[test]
fn an_organic_first_deposit_still_makes_a_later_coded_one_a_duplicate() {
    let world = ftd_once_a_player();
    let organic = world.attribute(&conversion(
        "ftd-1",
        EventKind::FirstDeposit,
        "player",
        now() - days(1),
    ));
    assert!(organic.credits.is_empty());
    let coded = world.attribute(&ftd("ftd-2", "player", now()));
    assert!(coded.credits.is_empty());
    assert_eq!(coded.duplicate, duplicate("ftd-1", Uniqueness::Customer));
}

#[test]
fn the_first_deposit_recorded_first_is_paid_even_when_an_earlier_one_arrives_late() {
    let world = ftd_once_a_player();
    let today = world.attribute(&ftd("ftd-today", "player", now()));
    assert_eq!(only_credit(&today), (B, Method::Coupon, 10_000));
    let late = world.attribute(&ftd("ftd-yesterday", "player", now() - days(1)));
    assert_eq!(late.duplicate, duplicate("ftd-today", Uniqueness::Customer));
}

#[test]
fn without_the_option_two_first_deposits_of_one_player_are_both_paid() {
    let world = World::new(Policy::coupon_first());
    world.code("BONUS", B);
    for id in ["ftd-1", "ftd-2"] {
        let decision = world.attribute(&ftd(id, "player", now()));
        assert_eq!(decision.duplicate, None);
        assert_eq!(only_credit(&decision), (B, Method::Coupon, 10_000));
    }
}

#[test]
fn a_click_paid_once_credits_one_registration_and_still_pays_the_deposit_on_it() {
    let world = World::new(Policy::click_first().with_once_per_click(EventKinds::ALL));
    let click = world.click(A, "player", days(1));
    let reg = |id: &str| conversion(id, EventKind::Registration, "player", now()).with_click(click);
    let first = world.attribute(&reg("reg-1"));
    assert_eq!(only_credit(&first), (A, Method::Click, 10_000));
    let again = world.attribute(&reg("reg-2"));
    assert!(again.credits.is_empty());
    assert_eq!(again.duplicate, duplicate("reg-1", Uniqueness::Click));
    assert!(
        again
            .to_string()
            .ends_with("conversion reg-1 (registration is paid once a click).")
    );
    // Another event on the same click is paid once too, on its own.
    let deposit =
        world.attribute(&conversion("ftd-1", EventKind::FirstDeposit, "player", now()).with_click(click));
    assert_eq!(only_credit(&deposit), (A, Method::Click, 10_000));
    // A conversion that names no click claims none, though a click is found for it.
    let unnamed = world.attribute(&conversion("reg-3", EventKind::Registration, "player", now()));
    assert_eq!(only_credit(&unnamed), (A, Method::Click, 10_000));
}

#[test]
fn of_first_deposits_racing_for_one_player_exactly_one_is_paid_and_the_rest_are_its_duplicates() {
    let world = ftd_once_a_player();
    let deposits: Vec<_> = (0..8)
        .map(|i| ftd(&format!("ftd-{i}"), "player", now()))
        .collect();
    let start = std::sync::Barrier::new(deposits.len());
    let decisions: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> = deposits
            .iter()
            .map(|d| {
                let (attributor, start) = (&world.attributor, &start);
                s.spawn(move || {
                    start.wait();
                    attributor.attribute(d).unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let paid: Vec<_> = decisions
        .iter()
        .filter(|d| !d.decision.credits.is_empty())
        .collect();
    assert_eq!(paid.len(), 1);
    let winner = paid[0].decision.conversion;
    for d in decisions.iter().filter(|d| d.decision.conversion != winner) {
        assert_eq!(
            d.decision.duplicate,
            Some(Duplicate {
                of: winner,
                by: Uniqueness::Customer
            })
        );
    }
    // What was returned is what was recorded.
    for d in &decisions {
        assert_eq!(
            world
                .attributor
                .ledger()
                .get(&d.decision.conversion)
                .unwrap()
                .as_ref(),
            Some(&d.decision)
        );
    }
}

// Mistyped and look-alike codes.

fn reads_look_alikes() -> Policy {
    Policy::coupon_first().with_look_alikes(true)
}

fn candidate(typed: &str, c: &str, affiliate: attributor::AffiliateId, nearness: Nearness) -> Candidate {
    Candidate {
        typed: code(typed),
        code: code(c),
        affiliate,
        nearness,
    }
}

#[test]
fn a_zero_typed_for_an_o_is_read_as_the_creators_code_when_the_policy_reads_look_alikes() {
    let world = World::new(reads_look_alikes());
    world.code("BOSS20", A);
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("B0SS20")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert_eq!(
        decision.considered[0].subject,
        Subject::Code {
            code: code("B0SS20"),
            read_as: Some(code("BOSS20")),
            family: None,
        }
    );
    assert!(
        decision.candidates.is_empty(),
        "the code it was read as is no candidate"
    );
    assert!(
        decision
            .to_string()
            .contains("credits affiliate 1 by typed code B0SS20, read as BOSS20"),
        "{decision}"
    );
}

#[test]
fn with_look_alikes_off_a_mistyped_code_stays_unknown_and_names_the_code_it_looks_like() {
    let world = World::new(Policy::coupon_first());
    world.code("BOSS20", A);
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("B0SS20")));
    assert!(!decision.is_credited());
    assert_eq!(outcome_of_code(&decision, "B0SS20"), Outcome::CodeUnknown);
    assert_eq!(
        decision.candidates.as_slice(),
        [candidate("B0SS20", "BOSS20", A, Nearness::LookAlike)]
    );
    assert!(
        decision
            .to_string()
            .contains("code B0SS20 is unknown, close to code BOSS20 of affiliate 1 (a look-alike)"),
        "{decision}"
    );
}

#[test]
fn a_code_one_edit_away_is_named_for_review_and_never_credited() {
    let world = World::new(reads_look_alikes());
    world.code("BOSS20", A);
    // A click of B would win were the code credited by a guess.
    let click = world.click(B, "viewer", days(1));
    for typed in ["BOSS2", "BOSSS20", "OBSS20", "BOSS29"] {
        let decision = world.attribute(&purchase(&format!("o-{typed}"), "viewer").with_code(code(typed)));
        assert_eq!(only_credit(&decision), (B, Method::Click, 10_000), "{decision}");
        assert_eq!(outcome_of_code(&decision, typed), Outcome::CodeUnknown);
        assert_eq!(outcome_of_click(&decision, click), Outcome::Credited);
        assert_eq!(
            decision.candidates.as_slice(),
            [candidate(typed, "BOSS20", A, Nearness::OneEdit)]
        );
    }
}

#[test]
fn two_candidates_are_listed_not_guessed_between() {
    let world = World::new(reads_look_alikes());
    // Two look-alikes of one affiliate: the typed code looks like both.
    world.code("SOL10", A).code("S0L10", A);
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("5OL1O")));
    assert!(!decision.is_credited(), "{decision}");
    assert_eq!(
        decision.candidates.as_slice(),
        [
            candidate("5OL1O", "S0L10", A, Nearness::LookAlike),
            candidate("5OL1O", "SOL10", A, Nearness::LookAlike),
        ]
    );
    // Two codes one edit away, of two affiliates.
    world.code("BOSS20", A).code("BOSS21", B);
    let decision = world.attribute(&purchase("o2", "viewer").with_code(code("BOSS2")));
    assert!(!decision.is_credited());
    assert_eq!(
        decision.candidates.as_slice(),
        [
            candidate("BOSS2", "BOSS20", A, Nearness::OneEdit),
            candidate("BOSS2", "BOSS21", B, Nearness::OneEdit),
        ]
    );
    assert!(
        decision.to_string().contains(
            "close to code BOSS20 of affiliate 1 (one edit away) and code BOSS21 of affiliate 2 (one edit away)"
        ),
        "{decision}"
    );
}

#[test]
fn a_known_code_is_never_read_as_another_nor_an_inactive_look_alike_read() {
    let world = World::new(reads_look_alikes());
    // B0SS20 itself was assigned and ran out: it is expired, not mistyped.
    world.assignment(
        CodeAssignment::new(code("B0SS20"), B, now() - days(400)).with_valid_until(now() - days(300)),
    );
    world.assignment(CodeAssignment::new(code("BOSS20"), A, now() - days(200)));
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("B0SS20")));
    assert_eq!(outcome_of_code(&decision, "B0SS20"), Outcome::CodeExpired);
    assert!(!decision.is_credited());
    assert!(decision.candidates.is_empty());

    // A look-alike not yet active at the conversion's time is neither read
    // nor named.
    let world = World::new(reads_look_alikes());
    world.assignment(CodeAssignment::new(code("SUMMER"), A, now() + days(1)));
    let decision = world.attribute(&purchase("o2", "viewer").with_code(code("5UMMER")));
    assert_eq!(outcome_of_code(&decision, "5UMMER"), Outcome::CodeUnknown);
    assert!(decision.candidates.is_empty());
}

#[test]
fn a_code_read_as_its_look_alike_wins_and_loses_as_that_code_would() {
    // An if-involved creator code, typed with a one for the I: the owner's
    // own click is looked up for it, and credits it.
    let world = World::new(reads_look_alikes());
    world.assignment(
        CodeAssignment::new(code("MKBHDI0"), A, now() - days(365)).with_mode(CreditMode::IfInvolved),
    );
    world.click(A, "viewer", days(10));
    world.click(B, "viewer", days(1));
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("MKBHD10")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000), "{decision}");

    // Without the owner's click it stays uncredited, as the code itself would.
    let decision = world.attribute(&purchase("o2", "stranger").with_code(code("MKBHD10")));
    assert_eq!(outcome_of_code(&decision, "MKBHD10"), Outcome::OwnerNotInvolved);
    assert!(!decision.is_credited());

    // A code entered before it that is valid counts first.
    world.code("SPRING", B);
    let decision = world.attribute(
        &purchase("o3", "viewer")
            .with_code(code("SPRING"))
            .with_code(code("MKBHD10")),
    );
    assert_eq!(only_credit(&decision), (B, Method::Coupon, 10_000));
    assert_eq!(
        outcome_of_code(&decision, "MKBHD10"),
        Outcome::Superseded { by: code("SPRING") }
    );
}

// Code families.

#[test]
fn a_code_of_a_creators_family_credits_the_creator_and_the_decision_names_the_family() {
    let world = World::new(Policy::coupon_first());
    world.assignment(CodeAssignment::family(code("MKBHD"), A, now() - days(30)));
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("mkbhd-10-off")));
    assert_eq!(only_credit(&decision), (A, Method::Coupon, 10_000));
    assert_eq!(
        decision.considered[0].subject,
        Subject::Code {
            code: code("MKBHD10OFF"),
            read_as: None,
            family: Some(code("MKBHD")),
        }
    );
    assert!(
        decision
            .to_string()
            .contains("credits affiliate 1 by code MKBHD10OFF, of family MKBHD*"),
        "{decision}"
    );
}

#[test]
fn a_creators_own_code_in_her_family_counts_with_its_own_mode() {
    // The family is if-involved against leaks; one code of it she gives
    // out on stage is always credited.
    let world = World::new(Policy::click_first());
    world.assignment(
        CodeAssignment::family(code("MKBHD"), A, now() - days(30)).with_mode(CreditMode::IfInvolved),
    );
    world.assignment(
        CodeAssignment::new(code("MKBHDLIVE"), A, now() - days(30)).with_mode(CreditMode::Always),
    );
    world.click(B, "viewer", days(1));
    let live = world.attribute(&purchase("o1", "viewer").with_code(code("MKBHDLIVE")));
    assert_eq!(only_credit(&live), (A, Method::Coupon, 10_000), "{live}");
    let family = world.attribute(&purchase("o2", "viewer").with_code(code("MKBHD10")));
    assert_eq!(
        outcome_of_code(&family, "MKBHD10"),
        Outcome::OwnerNotInvolved,
        "{family}"
    );
    assert_eq!(only_credit(&family).0, B);
}

#[test]
fn a_revoked_family_stops_crediting_its_codes_and_says_so() {
    let world = World::new(Policy::coupon_first());
    world.assignment(CodeAssignment::family(code("MKBHD"), A, now() - days(30)));
    world
        .attributor
        .registry()
        .revoke_family(code("MKBHD"), now() - days(1))
        .unwrap();
    let decision = world.attribute(&purchase("o1", "viewer").with_code(code("MKBHD10")));
    assert!(!decision.is_credited());
    assert_eq!(outcome_of_code(&decision, "MKBHD10"), Outcome::CodeRevoked);
    assert!(
        decision
            .to_string()
            .contains("code MKBHD10, of family MKBHD*, of affiliate 1, had been revoked"),
        "{decision}"
    );
}

#[test]
fn a_family_handed_to_another_partner_credits_each_for_their_time() {
    let world = World::new(Policy::coupon_first());
    world.assignment(CodeAssignment::family(code("SUMMER"), A, now() - days(60)));
    world
        .attributor
        .registry()
        .reassign_family(code("SUMMER"), B, now() - days(10))
        .unwrap();
    let before = conversion("o1", EventKind::Purchase, "c1", now() - days(20)).with_code(code("SUMMER26"));
    let after = conversion("o2", EventKind::Purchase, "c2", now()).with_code(code("SUMMER26"));
    assert_eq!(world.attribute(&before).primary(), Some(A));
    assert_eq!(world.attribute(&after).primary(), Some(B));
}
