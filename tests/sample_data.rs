//! The sample under `examples/data`: made by `examples/gen_data.rs`, and
//! telling the story it was made for.
#![cfg(feature = "serde")]

#[allow(dead_code)]
#[path = "../examples/gen_data.rs"]
mod gen_data;

use attributor::{
    Click, CodeAssignment, Conversion, CouponCode, EventKinds, Experiment, MemoryClickStore,
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

#[test]
fn replaying_the_shipped_sample_flags_the_leaked_code_and_nothing_else() {
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
    let binds = EventKinds::CHALLENGE_PURCHASE;
    let mut experiment = Experiment::new(&registry, &clicks)
        .policy(
            "coupon-first".parse().unwrap(),
            Policy::coupon_first().bind_on(binds),
        )
        .policy(
            "click-first".parse().unwrap(),
            Policy::click_first().bind_on(binds),
        );
    let text = shipped("conversions.jsonl");
    for line in text.lines() {
        experiment
            .replay(&serde_json::from_str::<Conversion>(line).unwrap())
            .unwrap();
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
