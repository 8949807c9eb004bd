//! The JSON shape of a decision, as documented on `Decision`.
#![cfg(feature = "serde")]

mod common;

use attributor::{Decision, EventKinds, Policy};
use common::*;

#[test]
fn a_decision_serialises_to_the_documented_shape_and_back() {
    let world = World::new(
        Policy::coupon_first()
            .with_bind_on(EventKinds::REGISTRATION | EventKinds::FIRST_DEPOSIT)
            .with_once_per_customer(EventKinds::FIRST_DEPOSIT),
    );
    world.code("MKBHD10", A);
    let click = world.click(B, "shopper", days(1));
    let order = purchase("ORD-1", "shopper")
        .with_code(code("MKBHD10"))
        .with_amount("49.99".parse().unwrap(), "USD".parse().unwrap());
    let decision = world.attribute(&order);
    let json = serde_json::to_value(&decision).unwrap();
    let want = serde_json::json!({
        "conversion": "ORD-1",
        "event": "purchase",
        "occurred_at": "2026-06-01T12:00:00Z",
        "amount": "49.99",
        "currency": "USD",
        "explanation": "conversion ORD-1 (purchase at 2026-06-01 12:00:00 UTC, coupon-first) \
            credits affiliate 1 by code MKBHD10; click click-1 of affiliate 2 was outranked by \
            the coupon of affiliate 1.",
        "credits": [{ "affiliate": 1, "method": "coupon", "share": 10000 }],
        "considered": [
            { "subject": { "kind": "code", "code": "MKBHD10" }, "affiliate": 1,
              "outcome": { "kind": "credited" } },
            { "subject": { "kind": "click", "id": click.as_str(), "at": "2026-05-31T12:00:00Z" },
              "affiliate": 2,
              "outcome": { "kind": "outranked", "by": "coupon", "affiliate": 1 } }
        ],
        "binding": null,
        "policy": { "priority": { "kind": "order", "order": ["binding", "coupon", "click"] },
                    "click_window_secs": 2592000, "click_pick": "last",
                    "min_click_age_secs": 0, "clock_skew_secs": 0,
                    "bind_on": ["registration", "first_deposit"],
                    "binding_lifetime": { "kind": "forever" }, "coupon_breaks_binding": false,
                    "once_per_customer": ["first_deposit"] }
    });
    assert_eq!(json, want, "{json:#}");
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, decision);
}

#[test]
fn an_invalid_policy_is_refused_when_read_back() {
    let mut json = serde_json::to_value(Policy::split(5_000).unwrap()).unwrap();
    json["priority"]["coupon_share"] = serde_json::json!(20_000);
    assert!(serde_json::from_value::<Policy>(json).is_err());
    let mut json = serde_json::to_value(Policy::coupon_first()).unwrap();
    json["click_window_secs"] = serde_json::json!(-5);
    assert!(serde_json::from_value::<Policy>(json).is_err());
}

#[test]
fn event_kinds_are_listed_by_name_and_read_back_only_known_names_once() {
    let all: EventKinds = serde_json::from_str(
        r#"["registration", "first_deposit", "deposit", "challenge_purchase", "challenge_reset",
            "purchase", "custom"]"#,
    )
    .unwrap();
    assert_eq!(all, EventKinds::ALL);
    assert_eq!(
        serde_json::to_string(&(EventKinds::PURCHASE | EventKinds::REGISTRATION)).unwrap(),
        r#"["registration","purchase"]"#
    );
    assert_eq!(serde_json::to_string(&EventKinds::NONE).unwrap(), "[]");
    let err = serde_json::from_str::<EventKinds>(r#"["purchse"]"#).unwrap_err();
    assert!(
        err.to_string().contains(r#""purchse" is not an event kind"#),
        "{err}"
    );
    let err = serde_json::from_str::<EventKinds>(r#"["deposit", "deposit"]"#).unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
    // The bit set of before is refused, not guessed at.
    let mut json = serde_json::to_value(Policy::coupon_first()).unwrap();
    json["bind_on"] = serde_json::json!(3);
    assert!(serde_json::from_value::<Policy>(json).is_err());
}

#[test]
fn sub_ids_are_named_and_only_those_set_are_written() {
    use attributor::{AffiliateId, Click, SubIds};

    let subs = SubIds::default()
        .with(1, "tiktok".parse().unwrap())
        .with(5, "ad-7".parse().unwrap());
    assert_eq!(
        serde_json::to_string(&subs).unwrap(),
        r#"{"sub1":"tiktok","sub5":"ad-7"}"#
    );
    assert_eq!(
        serde_json::from_str::<SubIds>(r#"{"sub5":"ad-7","sub1":"tiktok"}"#).unwrap(),
        subs
    );
    let err = serde_json::from_str::<SubIds>(r#"{"sub6":"x"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `sub6`"), "{err}");
    // The positional list of before reads with the same meaning.
    let positional = serde_json::from_str::<SubIds>(r#"[null, "yt", null, null, null]"#).unwrap();
    assert_eq!(positional, SubIds::default().with(2, "yt".parse().unwrap()));
    assert!(serde_json::from_str::<SubIds>(r#"[null, null, null, null, null, "x"]"#).is_err());
    // A click without sub ids leaves them out.
    let click = Click::new("k-1".parse().unwrap(), AffiliateId::new(2), now());
    let json = serde_json::to_value(click).unwrap();
    assert!(json.get("sub_ids").is_none(), "{json}");
    assert_eq!(serde_json::from_value::<Click>(json).unwrap(), click);
}

#[test]
fn a_decision_keeps_the_conversions_amount_and_currency_together() {
    let world = World::new(Policy::coupon_first());
    world.code("MKBHD10", A);
    let free = world.attribute(&purchase("ORD-2", "shopper").with_code(code("MKBHD10")));
    let json = serde_json::to_value(&free).unwrap();
    assert!(
        json.get("amount").is_none() && json.get("currency").is_none(),
        "{json}"
    );

    let mut lone = json.clone();
    lone["amount"] = serde_json::json!("10");
    let err = serde_json::from_value::<Decision>(lone).unwrap_err().to_string();
    assert!(err.contains("amount and currency come together"), "{err}");
    // The explanation is derived: it may be left out, and is not trusted.
    let mut bare = json.clone();
    bare.as_object_mut().unwrap().remove("explanation");
    assert_eq!(serde_json::from_value::<Decision>(bare).unwrap(), free);
}

/// Reads `json` with `field` added as `T`, and returns the error.
fn with_field<T: serde::de::DeserializeOwned + core::fmt::Debug>(
    mut json: serde_json::Value,
    field: &str,
) -> String {
    json[field] = serde_json::json!("2026-07-01T00:00:00Z");
    serde_json::from_value::<T>(json).unwrap_err().to_string()
}

#[test]
fn a_misspelled_field_is_refused_rather_than_dropped() {
    use attributor::{AffiliateId, Binding, Click, CodeAssignment, Conversion, ImportRow};

    // `valid_to` for `valid_until` would leave a code active for ever.
    let assignment = serde_json::json!({
        "code": "TOM10", "affiliate": 101, "valid_from": "2025-06-19T00:00:00Z",
        "revoked": false, "mode": "standard"
    });
    assert!(serde_json::from_value::<CodeAssignment>(assignment.clone()).is_ok());
    let err = with_field::<CodeAssignment>(assignment, "valid_to");
    assert!(err.contains("unknown field `valid_to`"), "{err}");

    // `code` for `codes` would leave the order without its code.
    let mut conversion = serde_json::json!({
        "id": "CP-2", "event": "purchase", "occurred_at": "2026-01-05T10:00:00Z"
    });
    assert!(serde_json::from_value::<Conversion>(conversion.clone()).is_ok());
    conversion["code"] = serde_json::json!("TOM10");
    let err = serde_json::from_value::<Conversion>(conversion)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `code`"), "{err}");

    let click = serde_json::json!({
        "id": "k-1", "affiliate": 201, "clicked_at": "2026-01-05T01:02:03Z"
    });
    assert!(serde_json::from_value::<Click>(click.clone()).is_ok());
    let err = with_field::<Click>(click, "visitor");
    assert!(err.contains("unknown field `visitor`"), "{err}");

    let row = serde_json::to_value(ImportRow::new("TOM10", AffiliateId::new(1), now())).unwrap();
    let err = with_field::<ImportRow>(row, "valid_to");
    assert!(err.contains("unknown field `valid_to`"), "{err}");

    let policy = serde_json::to_value(Policy::coupon_first()).unwrap();
    let err = with_field::<Policy>(policy, "click_windows_secs");
    assert!(err.contains("unknown field `click_windows_secs`"), "{err}");

    let binding = Binding {
        customer: "cust-1".parse().unwrap(),
        affiliate: AffiliateId::new(1),
        bound_at: now(),
        expires_at: None,
        event: attributor::EventKind::Registration,
        conversion: "ORD-1".parse().unwrap(),
    };
    let err = with_field::<Binding>(serde_json::to_value(binding).unwrap(), "expires");
    assert!(err.contains("unknown field `expires`"), "{err}");
}

#[test]
fn a_conversion_read_from_json_has_its_amount_and_currency_together_or_neither() {
    use attributor::Conversion;

    let base = serde_json::json!({
        "id": "CP-1", "event": "challenge_purchase", "occurred_at": "2026-01-05T10:00:00Z"
    });
    let with = |fields: serde_json::Value| {
        let mut json = base.clone();
        for (k, v) in fields.as_object().unwrap() {
            json[k] = v.clone();
        }
        serde_json::from_value::<Conversion>(json)
    };
    let both = with(serde_json::json!({ "amount": "99", "currency": "USD" })).unwrap();
    assert_eq!(both.amount.map(|a| a.to_string()).as_deref(), Some("99"));
    assert!(with(serde_json::json!({})).unwrap().amount.is_none());
    for lone in [
        serde_json::json!({ "amount": "99" }),
        serde_json::json!({ "currency": "USD" }),
        serde_json::json!({ "amount": "99", "currency": null }),
    ] {
        let err = with(lone.clone()).unwrap_err().to_string();
        assert!(err.contains("amount and currency come together"), "{lone}: {err}");
    }
}

#[test]
fn a_misspelled_field_inside_a_tagged_part_is_refused_too() {
    let mut policy = serde_json::to_value(Policy::split(5_000).unwrap()).unwrap();
    policy["priority"]["coupon_shares"] = serde_json::json!(9_000);
    let err = serde_json::from_value::<Policy>(policy).unwrap_err().to_string();
    assert!(err.contains("unknown field `coupon_shares`"), "{err}");

    let mut policy = serde_json::to_value(Policy::coupon_first()).unwrap();
    policy["binding_lifetime"] = serde_json::json!({ "kind": "days", "days": 30, "day": 90 });
    let err = serde_json::from_value::<Policy>(policy).unwrap_err().to_string();
    // Adjacently tagged: serde names the field as an unexpected key.
    assert!(
        err.contains(r#"string "day", expected "kind" or "days""#),
        "{err}"
    );

    let mut policy = serde_json::to_value(Policy::last_touch()).unwrap();
    policy["priority"]["coupon_share"] = serde_json::json!(3_000);
    let err = serde_json::from_value::<Policy>(policy).unwrap_err().to_string();
    assert!(err.contains("unknown field `coupon_share`"), "{err}");

    let outcome = serde_json::json!({ "kind": "credited", "by": "click" });
    let err = serde_json::from_value::<attributor::Outcome>(outcome)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `by`"), "{err}");

    let subject =
        serde_json::json!({ "kind": "click", "id": "c-1", "at": "2026-03-01T11:00:00Z", "customer": "x" });
    let err = serde_json::from_value::<attributor::Subject>(subject)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `customer`"), "{err}");

    let outcome = serde_json::json!({ "kind": "binding_held", "affiliate": 7, "since": 3 });
    let err = serde_json::from_value::<attributor::Outcome>(outcome)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `since`"), "{err}");

    let lookup = serde_json::json!({ "status": "unknown", "assignment": null, "note": "x" });
    let err = serde_json::from_value::<attributor::CodeLookup>(lookup)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"string "note", expected "status" or "assignment""#),
        "{err}"
    );
}

#[test]
fn a_decision_read_back_refuses_a_misspelled_field_at_every_level() {
    let world = World::new(Policy::coupon_first());
    world.code("MKBHD10", A);
    let decision = world.attribute(&purchase("ORD-1", "shopper").with_code(code("MKBHD10")));
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        serde_json::from_value::<Decision>(json.clone()).unwrap(),
        decision
    );
    for (path, field) in [
        (vec![], "bindings"),
        (vec!["credits", "0"], "shares"),
        (vec!["considered", "0"], "afiliate"),
    ] {
        let mut bad = json.clone();
        let mut at = &mut bad;
        for step in &path {
            at = match step.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*step],
            };
        }
        at[field] = serde_json::json!(1);
        let err = serde_json::from_value::<Decision>(bad).unwrap_err().to_string();
        assert!(
            err.contains(&format!("unknown field `{field}`")),
            "{path:?}: {err}"
        );
    }
}

#[test]
fn a_policy_duration_too_long_for_chrono_is_called_out_of_range_and_names_its_field() {
    for (field, seconds) in [
        ("click_window_secs", 9_223_372_036_854_776i64),
        ("min_click_age_secs", i64::MAX),
        ("clock_skew_secs", i64::MAX),
    ] {
        let mut json = serde_json::to_value(Policy::coupon_first()).unwrap();
        json[field] = serde_json::json!(seconds);
        let err = serde_json::from_value::<Policy>(json).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{field} of {seconds} s is out of range")),
            "{err}"
        );
        assert!(!err.contains("negative"), "{err}");
    }
    // A negative one is still called negative.
    let mut json = serde_json::to_value(Policy::coupon_first()).unwrap();
    json["clock_skew_secs"] = serde_json::json!(-5);
    let err = serde_json::from_value::<Policy>(json).unwrap_err().to_string();
    assert!(err.contains("clock skew tolerance of -5 s is negative"), "{err}");
}

#[test]
fn a_duplicate_serialises_with_what_it_repeats_and_its_policy_with_the_events_paid_once() {
    let policy = Policy::coupon_first()
        .with_once_per_customer(EventKinds::FIRST_DEPOSIT)
        .with_once_per_click(EventKinds::REGISTRATION | EventKinds::FIRST_DEPOSIT);
    let world = World::new(policy);
    let ftd = |id: &str| conversion(id, attributor::EventKind::FirstDeposit, "player", now());
    world.attribute(&ftd("FTD-1"));
    let duplicate = world.attribute(&ftd("FTD-2"));
    let json = serde_json::to_value(&duplicate).unwrap();
    let want = serde_json::json!({
        "conversion": "FTD-2",
        "event": "first_deposit",
        "occurred_at": "2026-06-01T12:00:00Z",
        "explanation": "conversion FTD-2 (first_deposit at 2026-06-01 12:00:00 UTC, coupon-first) \
            credits nobody: a duplicate of conversion FTD-1 (first_deposit is paid once a customer).",
        "credits": [],
        "considered": [],
        "binding": null,
        "duplicate": { "of": "FTD-1", "by": "customer" },
        "policy": { "priority": { "kind": "order", "order": ["binding", "coupon", "click"] },
                    "click_window_secs": 2592000, "click_pick": "last",
                    "min_click_age_secs": 0, "clock_skew_secs": 0, "bind_on": [],
                    "binding_lifetime": { "kind": "forever" }, "coupon_breaks_binding": false,
                    "once_per_customer": ["first_deposit"],
                    "once_per_click": ["registration", "first_deposit"] }
    });
    assert_eq!(json, want);
    // In the documented order: after the binding, before the policy.
    let text = serde_json::to_string(&duplicate).unwrap();
    let at = |field: &str| text.find(&format!("\"{field}\":")).unwrap();
    assert!(
        at("binding") < at("duplicate") && at("duplicate") < at("policy"),
        "{text}"
    );
    assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), duplicate);
    let mut bad = serde_json::to_value(&duplicate).unwrap();
    bad["duplicate"]["by"] = serde_json::json!("household");
    assert!(serde_json::from_value::<Decision>(bad).is_err());
}

#[test]
fn a_code_read_as_its_look_alike_keeps_both_and_candidates_follow_the_binding() {
    let world = World::new(Policy::coupon_first().with_look_alikes(true));
    world.code("BOSS20", A).code("BOSS21", B);
    let order = purchase("ORD-1", "shopper")
        .with_code(code("B0SS20"))
        .with_code(code("BOSS2"));
    let decision = world.attribute(&order);
    let json = serde_json::to_value(&decision).unwrap();
    let want = serde_json::json!({
        "conversion": "ORD-1",
        "event": "purchase",
        "occurred_at": "2026-06-01T12:00:00Z",
        "explanation": "conversion ORD-1 (purchase at 2026-06-01 12:00:00 UTC, coupon-first) \
            credits affiliate 1 by typed code B0SS20, read as BOSS20; code BOSS2 is unknown, close \
            to code BOSS20 of affiliate 1 (one edit away) and code BOSS21 of affiliate 2 (one edit \
            away).",
        "credits": [{ "affiliate": 1, "method": "coupon", "share": 10000 }],
        "considered": [
            { "subject": { "kind": "code", "code": "B0SS20", "read_as": "BOSS20" }, "affiliate": 1,
              "outcome": { "kind": "credited" } },
            { "subject": { "kind": "code", "code": "BOSS2" }, "affiliate": null,
              "outcome": { "kind": "code_unknown" } }
        ],
        "binding": null,
        "candidates": [
            { "typed": "BOSS2", "code": "BOSS20", "affiliate": 1, "nearness": "one_edit" },
            { "typed": "BOSS2", "code": "BOSS21", "affiliate": 2, "nearness": "one_edit" }
        ],
        "policy": { "priority": { "kind": "order", "order": ["binding", "coupon", "click"] },
                    "click_window_secs": 2592000, "click_pick": "last",
                    "min_click_age_secs": 0, "clock_skew_secs": 0, "bind_on": [],
                    "binding_lifetime": { "kind": "forever" }, "coupon_breaks_binding": false,
                    "look_alikes": true }
    });
    assert_eq!(json, want);
    let text = serde_json::to_string(&decision).unwrap();
    let at = |field: &str| text.find(&format!("\"{field}\":")).unwrap();
    assert!(
        at("binding") < at("candidates") && at("candidates") < at("policy"),
        "{text}"
    );
    assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), decision);
    let mut bad = serde_json::to_value(&decision).unwrap();
    bad["candidates"][0]["nearness"] = serde_json::json!("two_edits");
    assert!(serde_json::from_value::<Decision>(bad).is_err());
    let mut bad = serde_json::to_value(&decision).unwrap();
    bad["candidates"][0]["guess"] = serde_json::json!(true);
    assert!(serde_json::from_value::<Decision>(bad).is_err());
}

#[test]
fn a_code_a_family_answered_for_names_the_family_and_a_family_assignment_says_so() {
    let world = World::new(Policy::coupon_first());
    world.assignment(attributor::CodeAssignment::family(
        code("MKBHD"),
        A,
        now() - days(30),
    ));
    let decision = world.attribute(&purchase("ORD-1", "viewer").with_code(code("MKBHD10OFF")));
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        json["considered"][0],
        serde_json::json!({
            "subject": { "kind": "code", "code": "MKBHD10OFF", "family": "MKBHD" },
            "affiliate": 1,
            "outcome": { "kind": "credited" }
        })
    );
    assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), decision);

    let assignment = attributor::CodeAssignment::family(code("MKBHD"), A, now());
    let json = serde_json::to_value(assignment).unwrap();
    assert_eq!(json["family"], true);
    assert_eq!(
        serde_json::from_value::<attributor::CodeAssignment>(json).unwrap(),
        assignment
    );
    // A code's assignment leaves the field out, and reads back without it.
    let single = attributor::CodeAssignment::new(code("MKBHD10"), A, now());
    let json = serde_json::to_value(single).unwrap();
    assert!(json.get("family").is_none(), "{json}");
    assert_eq!(
        serde_json::from_value::<attributor::CodeAssignment>(json).unwrap(),
        single
    );
}

#[test]
fn an_amount_set_without_its_currency_is_kept_by_no_decision() {
    // The fields are public, so a conversion can hold one without the other.
    let world = World::new(Policy::coupon_first());
    let mut order = purchase("ORD-3", "shopper");
    order.amount = Some("5".parse().unwrap());
    let decision = world.attribute(&order);
    assert_eq!((decision.amount, decision.currency), (None, None));
    // So its JSON reads back, and the ledger gives back what it was given.
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), decision);
    let again = world.attributor.attribute(&order).unwrap();
    assert_eq!(again.decision, decision);
}
