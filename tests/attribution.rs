//! The sans-IO attribution machine: the order of its steps, the questions
//! it asks, and how a backend that writes atomically drives it.

mod common;

use attributor::{
    Attribution, Binding, ClickEvidence, CodeAssignment, CodeLookup, CreditMode, Decision, Duplicate,
    EventKind, EventKinds, Ledger, Policy, Recording, Step, UniqueKey, Uniqueness, resolve,
};
use common::*;

/// What a step asked, by name.
fn name(step: &Step<'_, '_>) -> &'static str {
    match step {
        Step::Recorded(_) => "recorded",
        Step::Holder(_) => "holder",
        Step::Code(_) => "code",
        Step::Near(_) => "near",
        Step::Click(_) => "click",
        Step::Find(_) => "find",
        Step::Binding(_) => "binding",
        Step::Record(_) => "record",
        Step::Bind(_) => "bind",
        Step::Done(_) => "done",
    }
}

/// Drives `attribution` with fixed answers: the ledger holds `recorded`,
/// every code is owned by `owner` in `mode`, every click question finds
/// `click`, and recording finds `earlier`. Returns the steps asked and the
/// decision.
fn drive(
    attribution: &mut Attribution<'_>,
    recorded: Option<Decision>,
    mode: CreditMode,
    click: Option<ClickEvidence>,
    earlier: Option<Decision>,
) -> (Vec<&'static str>, Decision) {
    let mut steps = Vec::new();
    let (mut recorded, mut earlier) = (Some(recorded), Some(earlier));
    loop {
        let step = attribution.next();
        steps.push(name(&step));
        match step {
            Step::Recorded(read) => read.answer(recorded.take().flatten()),
            Step::Holder(read) => read.answer(None),
            Step::Code(read) => {
                let a = CodeAssignment::new(*read.code(), A, now() - days(90)).with_mode(mode);
                read.answer(CodeLookup::Active(a));
            }
            Step::Near(read) => read.answer([]),
            Step::Click(read) => read.answer(click),
            Step::Find(read) => {
                let only = read.query().affiliate;
                read.answer(click.filter(|c| only.is_none_or(|a| a == c.affiliate)));
            }
            Step::Binding(read) => read.answer(None),
            Step::Record(write) => write.answer(earlier.take().flatten()),
            Step::Bind(write) => write.answer(),
            Step::Done(done) => return (steps, done.into_decision()),
        }
    }
}

fn binds() -> Policy {
    Policy::coupon_first().with_bind_on(EventKinds::PURCHASE)
}

#[test]
fn a_new_conversion_reads_the_ledger_then_the_evidence_then_records_and_binds() {
    let order = purchase("o1", "ann")
        .with_code(code("MKBHD10"))
        .with_click("c-1".parse().unwrap());
    let policy = binds();
    let (steps, decision) = drive(
        &mut Attribution::new(&order, &policy),
        None,
        CreditMode::Standard,
        None,
        None,
    );
    assert_eq!(
        steps,
        [
            "recorded", "code", "click", "find", "binding", "record", "bind", "done"
        ]
    );
    assert_eq!(decision.primary(), Some(A));
    assert!(decision.binding.is_some());
}

#[test]
fn a_backend_that_binds_in_the_record_transaction_is_never_asked_to_bind() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = binds();
    let mut attribution = Attribution::new(&order, &policy).with_records_bindings(true);
    let (steps, decision) = drive(&mut attribution, None, CreditMode::Standard, None, None);
    assert_eq!(steps, ["recorded", "code", "find", "binding", "record", "done"]);
    assert!(decision.binding.is_some());
}

#[test]
fn a_recorded_decision_is_the_answer_and_its_binding_is_written_again() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = binds();
    let (_, first) = drive(
        &mut Attribution::new(&order, &policy),
        None,
        CreditMode::Standard,
        None,
        None,
    );
    let (steps, again) = drive(
        &mut Attribution::new(&order, &policy),
        Some(first.clone()),
        CreditMode::Standard,
        None,
        None,
    );
    assert_eq!(steps, ["recorded", "bind", "done"]);
    assert_eq!(again, first);
    let mut atomic = Attribution::new(&order, &policy).with_records_bindings(true);
    let (steps, _) = drive(&mut atomic, Some(first), CreditMode::Standard, None, None);
    assert_eq!(steps, ["recorded", "done"]);
}

#[test]
fn a_decision_recorded_first_by_a_racing_call_stands_and_its_binding_is_the_one_written() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = binds();
    // The racing call decided otherwise (it saw other evidence).
    let mut theirs = resolve(&order, &attributor::Evidence::new(), &policy);
    theirs.binding = Some(Binding {
        customer: "ann".parse().unwrap(),
        affiliate: B,
        bound_at: now(),
        expires_at: None,
        event: EventKind::Purchase,
        conversion: order.id,
    });
    let mut attribution = Attribution::new(&order, &policy);
    let mut written = None;
    let decision = loop {
        match attribution.next() {
            Step::Recorded(read) => read.answer(None),
            Step::Holder(_) => panic!("the policy claims no keys"),
            Step::Code(read) => read.answer(CodeLookup::Unknown),
            Step::Near(read) => read.answer([]),
            Step::Click(read) => read.answer(None),
            Step::Find(read) => read.answer(None),
            Step::Binding(read) => read.answer(None),
            Step::Record(write) => write.answer(Some(theirs.clone())),
            Step::Bind(write) => {
                written = Some(*write.binding());
                write.answer();
            }
            Step::Done(done) => break done.into_decision(),
        }
    };
    assert_eq!(decision, theirs);
    assert_eq!(written, theirs.binding);
}

#[test]
fn a_question_dropped_unanswered_is_asked_again() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = Policy::coupon_first();
    let mut attribution = Attribution::new(&order, &policy);
    assert!(matches!(attribution.next(), Step::Recorded(_)));
    assert!(matches!(attribution.next(), Step::Recorded(_)));
    match attribution.next() {
        Step::Recorded(read) => read.answer(None),
        _ => panic!("a ledger read"),
    }
    // Looked at, not answered.
    if let Step::Code(read) = attribution.next() {
        assert_eq!(*read.code(), code("MKBHD10"));
    } else {
        panic!("a code lookup");
    }
    assert!(matches!(attribution.next(), Step::Code(_)));
}

#[test]
fn after_its_decision_a_machine_begins_again() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = Policy::coupon_first();
    let mut attribution = Attribution::new(&order, &policy);
    let (first, _) = drive(&mut attribution, None, CreditMode::Standard, None, None);
    // The evidence of the run is kept until the next step.
    assert_eq!(attribution.evidence().codes.len(), 1);
    let (second, _) = drive(&mut attribution, None, CreditMode::Standard, None, None);
    assert_eq!(first, second);
    assert_eq!(attribution.evidence().codes.len(), 1, "gathered once, not twice");
}

#[test]
fn a_preview_reads_no_ledger_and_writes_nothing() {
    let order = purchase("o1", "ann").with_code(code("MKBHD10"));
    let policy = binds();
    let (steps, decision) = drive(
        &mut Attribution::preview(&order, &policy),
        None,
        CreditMode::Standard,
        None,
        None,
    );
    assert_eq!(steps, ["code", "find", "binding", "done"]);
    assert!(decision.binding.is_some(), "the binding it would write");
}

#[test]
fn the_owner_of_two_if_involved_codes_is_asked_about_once() {
    let order = purchase("o1", "ann")
        .with_code(code("CREATOR"))
        .with_code(code("CREATOR2"))
        .with_code(code("creator"));
    let policy = Policy::coupon_first();
    let mut attribution = Attribution::new(&order, &policy);
    // The last click is another affiliate's: the owner's own is asked for.
    let other = ClickEvidence {
        id: "c-9".parse().unwrap(),
        affiliate: B,
        clicked_at: now() - days(1),
    };
    let mut questions = Vec::new();
    let decision = loop {
        match attribution.next() {
            Step::Recorded(read) => read.answer(None),
            Step::Holder(_) => panic!("the policy claims no keys"),
            Step::Code(read) => {
                let a =
                    CodeAssignment::new(*read.code(), A, now() - days(90)).with_mode(CreditMode::IfInvolved);
                read.answer(CodeLookup::Active(a));
            }
            Step::Near(read) => read.answer([]),
            Step::Click(read) => read.answer(None),
            Step::Find(read) => {
                questions.push(*read.query());
                // The owner has no click in the window at all.
                let owners = read.query().affiliate == Some(A);
                read.answer(if owners { None } else { Some(other) });
            }
            Step::Binding(read) => read.answer(None),
            Step::Record(write) => write.answer(None),
            Step::Bind(write) => write.answer(),
            Step::Done(done) => break done.into_decision(),
        }
    };
    // The plan said so up front.
    let plan = Attribution::new(&order, &policy);
    assert_eq!(
        questions,
        [plan.click_query().unwrap(), plan.owner_query(A).unwrap()]
    );
    assert_eq!(
        plan.codes().count(),
        2,
        "CREATOR, entered twice, is looked up once"
    );
    assert_eq!(decision.primary(), Some(B), "{decision}");
}

/// A first deposit paid once a player, and the FTD `ftd` of player ann.
fn once_a_player(ftd: &str) -> (Policy, attributor::Conversion) {
    let policy = Policy::coupon_first()
        .with_bind_on(EventKinds::FIRST_DEPOSIT)
        .with_once_per_customer(EventKinds::FIRST_DEPOSIT);
    let conversion = attributor::Conversion::new(ftd.parse().unwrap(), EventKind::FirstDeposit, now())
        .with_customer("ann".parse().unwrap())
        .with_code(code("MKBHD10"));
    (policy, conversion)
}

#[test]
fn a_conversion_whose_key_another_holds_is_decided_a_duplicate_without_reading_evidence() {
    let (policy, second) = once_a_player("ftd-2");
    let mut attribution = Attribution::new(&second, &policy);
    let mut steps = Vec::new();
    let mut claimed = None;
    let decision = loop {
        let step = attribution.next();
        steps.push(name(&step));
        match step {
            Step::Recorded(read) => read.answer(None),
            Step::Holder(read) => {
                assert_eq!(
                    *read.key(),
                    UniqueKey::Customer {
                        customer: "ann".parse().unwrap(),
                        event: EventKind::FirstDeposit
                    }
                );
                read.answer(Some("ftd-1".parse().unwrap()));
            }
            Step::Record(write) => {
                claimed = Some(write.claims().to_vec());
                write.answer(None);
            }
            Step::Done(done) => break done.into_decision(),
            _ => panic!("a duplicate reads no evidence and binds no one"),
        }
    };
    assert_eq!(steps, ["recorded", "holder", "record", "done"]);
    assert_eq!(claimed, Some(vec![]), "a duplicate claims nothing");
    assert_eq!(decision.credits.len(), 0);
    assert!(decision.considered.is_empty());
    assert_eq!(decision.binding, None);
    assert_eq!(
        decision.duplicate,
        Some(Duplicate {
            of: "ftd-1".parse().unwrap(),
            by: Uniqueness::Customer
        })
    );
}

#[test]
fn a_conversion_that_loses_the_race_for_its_key_records_itself_as_the_winners_duplicate() {
    let (policy, second) = once_a_player("ftd-2");
    let key = policy.unique_keys(&second)[0];
    let mut attribution = Attribution::new(&second, &policy);
    let mut steps = Vec::new();
    let mut records = Vec::new();
    let decision = loop {
        let step = attribution.next();
        steps.push(name(&step));
        match step {
            Step::Recorded(read) => read.answer(None),
            // Nobody holds it yet when asked...
            Step::Holder(read) => read.answer(None),
            Step::Code(read) => {
                let a = CodeAssignment::new(*read.code(), A, now() - days(90));
                read.answer(CodeLookup::Active(a));
            }
            Step::Near(read) => read.answer([]),
            Step::Click(read) => read.answer(None),
            Step::Find(read) => read.answer(None),
            Step::Binding(read) => read.answer(None),
            Step::Record(write) => {
                records.push((write.decision().clone(), write.claims().to_vec()));
                // ... but ftd-1 took it before this one recorded.
                if records.len() == 1 {
                    write.answer(Recording::Taken {
                        key,
                        by: "ftd-1".parse().unwrap(),
                    });
                } else {
                    write.answer(Recording::Recorded);
                }
            }
            Step::Bind(_) => panic!("a duplicate binds no one"),
            Step::Done(done) => break done.into_decision(),
        }
    };
    assert_eq!(
        steps,
        [
            "recorded", "holder", "code", "find", "binding", "record", "record", "done"
        ]
    );
    let (first_try, claims) = &records[0];
    assert_eq!(first_try.primary(), Some(A), "decided on its evidence at first");
    assert_eq!(claims, &[key]);
    assert_eq!(records[1].1, [], "the duplicate claims nothing");
    assert_eq!(decision, records[1].0);
    assert_eq!(decision.primary(), None);
    assert_eq!(decision.duplicate.map(|d| d.of), Some("ftd-1".parse().unwrap()));
}

#[test]
fn a_preview_asks_for_no_keys_and_finds_no_duplicate() {
    let (policy, second) = once_a_player("ftd-2");
    let (steps, decision) = drive(
        &mut Attribution::preview(&second, &policy),
        None,
        CreditMode::Standard,
        None,
        None,
    );
    assert_eq!(steps, ["code", "find", "binding", "done"]);
    assert_eq!(decision.duplicate, None);
    assert_eq!(decision.primary(), Some(A));
}

#[test]
fn the_ledger_alone_tells_what_each_credited_affiliate_earned() {
    let world = World::new(Policy::split(6_000).unwrap());
    world.code("MKBHD10", A);
    world.click(B, "shopper", days(1));
    let order = purchase("ORD-1", "shopper")
        .with_code(code("MKBHD10"))
        .with_amount("50".parse().unwrap(), "EUR".parse().unwrap());
    world.attribute(&order);
    world.attribute(&purchase("ORD-2", "window-shopper").with_code(code("MKBHD10")));

    // Read back from the ledger, not from the conversions.
    let ledger = world.attributor.ledger();
    let paid = ledger.get(&"ORD-1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(paid.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    let earned: Vec<_> = paid
        .credits
        .iter()
        .map(|c| (c.affiliate, paid.amount.map(|a| a.share(c.share).to_string())))
        .collect();
    assert_eq!(earned, [(A, Some("30".to_owned())), (B, Some("20".to_owned()))]);
    // A conversion without an amount keeps none.
    let free = ledger.get(&"ORD-2".parse().unwrap()).unwrap().unwrap();
    assert_eq!((free.amount, free.currency), (None, None));
}
