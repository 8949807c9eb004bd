//! `CouponCode::parse` on what a customer might type, and the nearness of
//! two codes against a slow reference.
//!
//! Input: two lines, each a typed code.
#![no_main]

use attributor::{CouponCode, NearCode, Nearness};
use attributor_fuzz::{fields, one_edit_apart, text};
use libfuzzer_sys::fuzz_target;

fn parsed(typed: &str) -> Option<CouponCode> {
    match CouponCode::parse(typed) {
        Ok(code) => {
            // The normal form is a fixed point, by parse and by FromStr.
            assert_eq!(CouponCode::parse(code.as_str()), Ok(code), "{typed:?}");
            assert_eq!(code.to_string().parse::<CouponCode>(), Ok(code));
            assert_eq!(code.len(), code.as_str().len());
            assert!(
                code.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            // A skeleton is the skeleton of itself.
            let skeleton = code.skeleton();
            let again = CouponCode::parse(skeleton.as_str()).map(|c| c.skeleton());
            assert_eq!(again, Ok(skeleton), "{typed:?}");
            Some(code)
        }
        Err(error) => {
            let _ = error.to_string();
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b] = fields::<2>(data);
    let (a, b) = (parsed(&text(a)), parsed(&text(b)));
    let (Some(a), Some(b)) = (a, b) else { return };
    let one_edit = one_edit_apart(a.as_bytes(), b.as_bytes());
    assert_eq!(a.is_one_edit_from(&b), one_edit, "{a} and {b}");
    assert_eq!(b.is_one_edit_from(&a), one_edit, "{b} and {a}");
    let expected = if a == b {
        None
    } else if a.skeleton() == b.skeleton() {
        Some(Nearness::LookAlike)
    } else if one_edit {
        Some(Nearness::OneEdit)
    } else {
        None
    };
    assert_eq!(NearCode::nearness(&a, &b), expected, "{a} and {b}");
});
