//! The JSON shape of a decision, as documented on `Decision`.
#![cfg(feature = "serde")]

mod common;

use attributor::{Decision, EventKinds, Policy};
use common::*;

#[test]
fn a_decision_serialises_to_the_documented_shape_and_back() {
    let world = World::new(Policy::coupon_first());
    world.code("MKBHD10", A);
    let click = world.click(B, "shopper", days(1));
    let decision = world.attribute(&purchase("ORD-1", "shopper").code(code("MKBHD10")));
    let json = serde_json::to_value(&decision).unwrap();
    let want = serde_json::json!({
        "conversion": "ORD-1",
        "event": "purchase",
        "occurred_at": "2026-06-01T12:00:00Z",
        "credits": [{ "affiliate": 1, "method": "coupon", "share": 10000 }],
        "considered": [
            { "subject": { "kind": "code", "code": "MKBHD10" }, "affiliate": 1,
              "outcome": { "outcome": "credited" } },
            { "subject": { "kind": "click", "id": click.as_str(), "at": "2026-05-31T12:00:00Z" },
              "affiliate": 2,
              "outcome": { "outcome": "outranked", "by": "coupon", "affiliate": 1 } }
        ],
        "binding": null,
        "policy": { "priority": { "kind": "order", "order": ["binding", "coupon", "click"] },
                    "click_window_secs": 2592000, "click_pick": "last",
                    "min_click_age_secs": 0, "clock_skew_secs": 0, "bind_on": 0,
                    "binding_lifetime": { "kind": "forever" }, "coupon_breaks_binding": false }
    });
    assert_eq!(json, want);
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
fn event_kinds_read_back_only_the_bits_of_known_kinds() {
    let all: EventKinds = serde_json::from_str("127").unwrap();
    assert_eq!(all, EventKinds::ALL);
    let err = serde_json::from_str::<EventKinds>("255").unwrap_err();
    assert!(err.to_string().contains("event kinds 255"), "{err}");
    let mut json = serde_json::to_value(Policy::coupon_first()).unwrap();
    json["bind_on"] = serde_json::json!(128);
    assert!(serde_json::from_value::<Policy>(json).is_err());
}
