//! The sample under `examples/data`: made by `examples/gen_data.rs`, and
//! telling the story it was made for.
#![cfg(feature = "serde")]

#[allow(dead_code)]
#[path = "../examples/gen_data.rs"]
mod gen_data;

#[allow(dead_code)]
#[path = "../examples/replay.rs"]
mod replay;

use attributor::{
    Click, CodeAssignment, Conversion, CouponCode, EventKind, EventKinds, Experiment, MemoryClickStore,
    MemoryCodeRegistry, Policy, UncreditedReason,
};

fn shipped(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shipped_sample_is_what_the_generator_makes() {
    let sample = gen_data::sample().unwrap();
    for (name, lines) in [
        ("assignments.jsonl", &sample.assignments),
        ("clicks.jsonl", &sample.clicks),
        ("conversions.jsonl", &sample.conversions),
    ] {
        let text = shipped(name);
        let shipped: Vec<&str> = text.lines().collect();
        assert!(
            shipped == *lines,
            "examples/data/{name} differs from the generator's output; regenerate it with \
             `cargo run --all-features --example gen_data -- --out examples/data`"
        );
    }
}

/// The shipped sample's stores.
fn sample_stores() -> (MemoryCodeRegistry, MemoryClickStore) {
    let registry = MemoryCodeRegistry::new();
    for line in shipped("assignments.jsonl").lines() {
        registry
            .insert(serde_json::from_str::<CodeAssignment>(line).unwrap())
            .unwrap();
    }
    let clicks = MemoryClickStore::new();
    for line in shipped("clicks.jsonl").lines() {
        clicks
            .insert(serde_json::from_str::<Click>(line).unwrap())
            .unwrap();
    }
    (registry, clicks)
}

/// The shipped sample's conversions, in their order.
fn sample_conversions() -> Vec<Conversion> {
    shipped("conversions.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn replaying_the_shipped_sample_flags_the_leaked_code_and_nothing_else() {
    let (registry, clicks) = sample_stores();
    let binds = EventKinds::CHALLENGE_PURCHASE;
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(
            "coupon-first".parse().unwrap(),
            Policy::coupon_first().with_bind_on(binds),
        )
        .with_policy(
            "click-first".parse().unwrap(),
            Policy::click_first().with_bind_on(binds),
        );
    for conversion in sample_conversions() {
        experiment.replay(&conversion).unwrap();
    }
    let report = experiment.report();

    assert!(report.conversions > 2_000, "a few thousand conversions");
    assert!(report.duplicates > 0, "some postbacks arrive twice");
    let leaked: Vec<CouponCode> = report.probably_leaked().map(|s| s.code).collect();
    assert_eq!(leaked, [CouponCode::parse("FUNDED20").unwrap()]);
    // The coupon site's visitors move from the code owner to the site.
    let (coupon_first, click_first) = (&report.policies[0], &report.policies[1]);
    let site = attributor::AffiliateId::new(301);
    let owner = attributor::AffiliateId::new(103);
    assert!(click_first.affiliate(site).unwrap().by_click > coupon_first.affiliate(site).unwrap().by_click);
    assert!(
        coupon_first.affiliate(owner).unwrap().conversions
            > click_first.affiliate(owner).unwrap().conversions
    );
    for reason in [
        UncreditedReason::NoEvidence,
        UncreditedReason::CodeUnknown,
        UncreditedReason::CodeExpired,
        UncreditedReason::CodeRevoked,
        UncreditedReason::OwnerNotInvolved,
        UncreditedReason::SelfReferral,
    ] {
        assert!(
            coupon_first
                .uncredited_by_reason
                .iter()
                .any(|r| r.reason == reason),
            "the sample has conversions uncredited for {reason}"
        );
    }
}

fn refused(spec: &str) -> String {
    replay::parse_policy(spec).unwrap_err().to_string()
}

#[test]
fn the_replay_tool_refuses_a_click_window_longer_than_a_clock_holds_instead_of_crashing() {
    let err = refused("coupon-first,window=200000000000");
    assert!(
        err.contains("window=200000000000 is more days than a clock holds"),
        "{err}"
    );
}

#[test]
fn the_replay_tool_refuses_a_misspelled_binding_event_instead_of_binding_nobody() {
    let err = refused("coupon-first,bind=purchse");
    assert!(err.contains(r#"unknown event "purchse" in bind="#), "{err}");
    let binds = |events| Policy::coupon_first().with_bind_on(events);
    assert_eq!(
        replay::parse_policy("coupon-first,bind=purchase+registration").unwrap(),
        binds(EventKinds::PURCHASE | EventKinds::REGISTRATION)
    );
    assert_eq!(
        replay::parse_policy("coupon-first,bind=custom").unwrap(),
        binds(EventKinds::CUSTOM)
    );
}

#[test]
fn the_replay_tool_names_the_option_a_bad_number_was_for() {
    for (spec, option) in [
        ("coupon-first,window=1.5", "window=DAYS"),
        ("coupon-first,lifetime=-1", "lifetime=DAYS"),
    ] {
        let err = refused(spec);
        assert!(err.contains(option), "{spec}: {err}");
    }
}

#[test]
fn the_replay_tool_names_policies_by_their_preset_without_spaces_and_tells_repeats_apart() {
    let specs = [" click-first".to_owned(), "click-first, window=7".to_owned()];
    let names: Vec<String> = replay::named_policies(&specs)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(names, ["click-first", "click-first#2"]);
}

#[test]
fn the_replay_tool_names_the_file_and_line_of_a_line_it_cannot_read() {
    let path = std::env::temp_dir().join(format!("attributor-replay-{}.jsonl", std::process::id()));
    let good = r#"{"id":"k-1","affiliate":1,"clicked_at":"2026-01-05T01:02:03Z"}"#;
    std::fs::write(&path, [good.as_bytes(), b"\n\n\xff\n"].concat()).unwrap();
    let lines: Vec<_> = replay::read_lines::<Click>(&path).unwrap().collect();
    std::fs::remove_file(&path).unwrap();
    let (at, click) = lines[0].as_ref().unwrap();
    assert_eq!(*at, format!("{}:1", path.display()));
    assert_eq!(click.id.as_str(), "k-1");
    let err = lines[1].as_ref().unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3: ", path.display())), "{err}");
    assert_eq!(lines.len(), 2);
}

#[test]
fn replayed_once_a_trader_and_once_a_click_the_sample_pays_no_second_challenge_and_no_resent_signup() {
    // What the data says, counted without the crate: each trader's
    // challenge purchases after their first (by id), and each signup that
    // names a click an earlier signup named.
    let conversions = sample_conversions();
    let mut ids = std::collections::HashSet::new();
    let (mut traders, mut clicks_seen) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    let (mut second_challenges, mut resent_signups) = (0, 0);
    for c in &conversions {
        if !ids.insert(c.id) {
            continue; // a retried postback, skipped by the replay
        }
        match c.event {
            EventKind::ChallengePurchase if !traders.insert(c.customer.unwrap()) => second_challenges += 1,
            EventKind::Registration if c.click.is_some_and(|k| !clicks_seen.insert(k)) => resent_signups += 1,
            _ => {}
        }
    }
    assert!(
        second_challenges > 50 && resent_signups > 10,
        "{second_challenges} {resent_signups}"
    );

    let (registry, clicks) = sample_stores();
    let once = replay::parse_policy(
        "coupon-first,bind=challenge_purchase,once-per-customer=challenge_purchase,once-per-click=registration",
    )
    .unwrap();
    assert_eq!(
        once,
        Policy::coupon_first()
            .with_bind_on(EventKinds::CHALLENGE_PURCHASE)
            .with_once_per_customer(EventKinds::CHALLENGE_PURCHASE)
            .with_once_per_click(EventKinds::REGISTRATION)
    );
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy(
            "every".parse().unwrap(),
            Policy::coupon_first().with_bind_on(EventKinds::CHALLENGE_PURCHASE),
        )
        .with_policy("once".parse().unwrap(), once);
    experiment.replay_all(conversions.iter()).unwrap();
    let report = experiment.report();
    let duplicates = |p: &attributor::PolicyReport| {
        p.uncredited_by_reason
            .iter()
            .find(|r| r.reason == UncreditedReason::Duplicate)
            .map_or(0, |r| r.conversions)
    };
    assert_eq!(duplicates(&report.policies[0]), 0);
    assert_eq!(
        duplicates(&report.policies[1]),
        second_challenges + resent_signups
    );
}

#[test]
fn the_replay_tool_reads_events_paid_once_and_refuses_a_misspelled_one() {
    assert_eq!(
        replay::parse_policy("click-first,once-per-click=all").unwrap(),
        Policy::click_first().with_once_per_click(EventKinds::ALL)
    );
    let err = refused("click-first,once-per-customer=first_depsit");
    assert!(
        err.contains(r#"unknown event "first_depsit" in once-per-customer="#),
        "{err}"
    );
}

#[test]
fn replayed_reading_look_alikes_the_sample_pays_the_creators_whose_codes_were_mistyped() {
    // What the data says, counted without the crate: purchases that
    // entered each mistyped code, by id once.
    let conversions = sample_conversions();
    let mut ids = std::collections::HashSet::new();
    let mut entered: std::collections::BTreeMap<&str, u64> = Default::default();
    for c in &conversions {
        if !ids.insert(c.id) {
            continue;
        }
        for code in c.codes.iter() {
            for typo in ["T0M10", "P1PSPOD", "TOMM10"] {
                if code.as_str() == typo {
                    *entered.entry(typo).or_default() += 1;
                }
            }
        }
    }
    assert!(entered.values().all(|n| *n >= 10), "{entered:?}");

    let (registry, clicks) = sample_stores();
    let reads = replay::parse_policy("coupon-first,look-alikes").unwrap();
    assert_eq!(reads, Policy::coupon_first().with_look_alikes(true));
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy("exact".parse().unwrap(), Policy::coupon_first())
        .with_policy("reads".parse().unwrap(), reads);
    experiment.replay_all(conversions.iter()).unwrap();
    let report = experiment.report();

    // The table of mistyped codes: which creator's code customers mistype.
    let table: Vec<(&str, &str, u64, u64)> = report
        .near_codes
        .iter()
        .map(|n| (n.typed.as_str(), n.code.as_str(), n.owner.get(), n.conversions))
        .collect();
    let mut want = vec![
        ("P1PSPOD", "PIPSPOD", 102, entered["P1PSPOD"]),
        ("T0M10", "TOM10", 101, entered["T0M10"]),
        ("TOMM10", "TOM10", 101, entered["TOMM10"]),
    ];
    want.sort_by(|a, b| b.3.cmp(&a.3).then(a.1.cmp(b.1)).then(a.0.cmp(b.0)));
    assert_eq!(table, want);
    assert_eq!(report.near_codes[0].nearness, attributor::Nearness::LookAlike);

    // Reading look-alikes, every look-alike is read and nothing else
    // unknown is: the one-edit typo stays unknown.
    let unknown = |p: &attributor::PolicyReport| {
        p.uncredited_by_reason
            .iter()
            .find(|r| r.reason == UncreditedReason::CodeUnknown)
            .map_or(0, |r| r.conversions)
    };
    let (exact, reading) = (&report.policies[0], &report.policies[1]);
    assert!(unknown(reading) > 0 && unknown(reading) < unknown(exact));
    let creator = |p: &attributor::PolicyReport, a: u64| {
        p.affiliate(attributor::AffiliateId::new(a))
            .map_or(0, |t| t.by_coupon)
    };
    assert!(creator(reading, 101) > creator(exact, 101));
    assert!(creator(reading, 102) > creator(exact, 102));
    assert!(
        report
            .to_string()
            .contains("P1PSPOD  PIPSPOD    102    look-alike"),
        "{report}"
    );
}

#[test]
fn replayed_the_academys_course_codes_credit_the_academy_by_its_family() {
    // What the data says: purchases (once an id) that entered a code of
    // the family, typed in any spelling.
    let conversions = sample_conversions();
    let mut ids = std::collections::HashSet::new();
    let entered = conversions
        .iter()
        .filter(|c| ids.insert(c.id))
        .filter(|c| c.codes.iter().any(|code| code.as_str().starts_with("FXACAD")))
        .count() as u64;
    assert!(entered >= 5, "{entered}");

    let (registry, clicks) = sample_stores();
    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy("coupon-first".parse().unwrap(), Policy::coupon_first());
    experiment.replay_all(conversions.iter()).unwrap();
    let report = experiment.report();
    let academy = report.policies[0]
        .affiliate(attributor::AffiliateId::new(109))
        .unwrap();
    assert_eq!(academy.by_coupon, entered);

    let attributor = attributor::Attributor::new(
        &registry,
        &clicks,
        attributor::MemoryBindingStore::new(),
        attributor::MemoryLedger::new(),
        Policy::coupon_first(),
    );
    let course = conversions
        .iter()
        .find(|c| c.codes.iter().any(|code| code.as_str() == "FXACADSWING"))
        .unwrap();
    let decision = attributor.attribute(course).unwrap();
    assert!(
        decision
            .to_string()
            .contains("credits affiliate 109 by code FXACADSWING, of family FXACAD*"),
        "{decision}"
    );
}
