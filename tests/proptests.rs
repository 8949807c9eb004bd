//! Properties that hold for every input.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use attributor::CouponCode;
use proptest::prelude::*;

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Strings a customer might type: letters, digits, separators, full-width
/// forms, invisibles, and now and then anything at all.
fn typed() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]{1,6}",
        2 => "[ ._-]",
        1 => "[\u{FF10}-\u{FF19}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}]",
        1 => "[\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}\u{00A0}]",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn parse_is_idempotent_on_the_canonical_form(input in typed()) {
        if let Ok(code) = CouponCode::parse(&input) {
            let again = CouponCode::parse(code.as_str()).unwrap();
            prop_assert_eq!(again, code);
            prop_assert_eq!(again.as_str(), code.as_str());
            prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
    }

    #[test]
    fn any_string_parses_or_errors_without_panicking(input in any::<String>()) {
        let _ = CouponCode::parse(&input);
    }

    #[test]
    fn any_typed_string_parses_or_errors_without_panicking(input in typed()) {
        match CouponCode::parse(&input) {
            Ok(code) => prop_assert!((3..=32).contains(&code.len())),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn equal_canonical_forms_compare_and_hash_equal(a in typed(), b in typed()) {
        if let (Ok(x), Ok(y)) = (CouponCode::parse(&a), CouponCode::parse(&b)) {
            prop_assert_eq!(x == y, x.as_str() == y.as_str());
            if x == y {
                prop_assert_eq!(hash_of(&x), hash_of(&y));
                prop_assert_eq!(x.cmp(&y), std::cmp::Ordering::Equal);
            }
        }
    }

    #[test]
    fn case_and_separators_never_change_a_code(code in "[A-Z0-9]{3,20}", cut in 0usize..20) {
        let cut = cut.min(code.len());
        let spelled = format!(" {}-{} ", code[..cut].to_lowercase(), &code[cut..]);
        let parsed = CouponCode::parse(&spelled).unwrap();
        prop_assert_eq!(parsed.as_str(), code.as_str());
    }
}
