//! Reading a `Decision`, a `Conversion`, a `Policy` (and the other types a
//! service stores as JSON) from any bytes: what reads writes back to JSON
//! that reads as the same value.
#![no_main]

use attributor::{Click, CodeAssignment, Conversion, Decision, Policy};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_string(&value).expect("a value read serialises");
    let again: T = serde_json::from_str(&json).expect("its own JSON reads back");
    assert_eq!(again, value, "{json}");
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    if let Some(decision) = round_trip::<Decision>(data) {
        let _ = (decision.to_string(), decision.primary());
    }
    if let Some(policy) = round_trip::<Policy>(data) {
        let _ = policy.name().to_string();
    }
    let _ = round_trip::<Conversion>(data);
    let _ = round_trip::<CodeAssignment>(data);
    let _ = round_trip::<Click>(data);
});
