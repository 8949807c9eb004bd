//! Coupon code normalisation and the confusable skeleton.

use attributor::{CodeError, CouponCode, MAX_CODE_LEN, MIN_CODE_LEN};

#[test]
fn normalisation_table() {
    let ok = |input: &str, canonical: &str| (input.to_owned(), Ok(canonical.to_owned()));
    let err = |input: &str, e: CodeError| (input.to_owned(), Err(e));
    let invalid = |ch, position| CodeError::InvalidChar { ch, position };
    let table = [
        ok(" mkbhd-10 ", "MKBHD10"),
        ok("ＭＫＢＨＤ１０", "MKBHD10"),
        ok("save.20_now", "SAVE20NOW"),
        ok("MKBHD10", "MKBHD10"),
        ok("mkbhd 10", "MKBHD10"),
        ok("\tSave20\n", "SAVE20"),
        ok("\u{200B}SAVE20\u{200D}", "SAVE20"),
        ok("SA\u{200C}VE\u{2060}20", "SAVE20"),
        ok("\u{FEFF}save20", "SAVE20"),
        ok("save\u{00A0}20", "SAVE20"),
        ok("\u{200F}save\u{00AD}20\u{200E}", "SAVE20"),
        ok("\u{202E}save\u{2066}20", "SAVE20"),
        ok("ｓａｖｅ－２０", "SAVE20"),
        ok("a-b-c", "ABC"),
        ok("abc", "ABC"),
        ok(&"x".repeat(MAX_CODE_LEN), &"X".repeat(MAX_CODE_LEN)),
        ok("--..__ab c--", "ABC"),
        ok("0o1iL", "0O1IL"),
        err("", CodeError::Empty),
        err("   ", CodeError::Empty),
        err("-_. \u{200B}", CodeError::Empty),
        err(
            "ab",
            CodeError::TooShort {
                len: 2,
                min: MIN_CODE_LEN,
            },
        ),
        err(
            "a-b",
            CodeError::TooShort {
                len: 2,
                min: MIN_CODE_LEN,
            },
        ),
        err(
            &"x".repeat(MAX_CODE_LEN + 1),
            CodeError::TooLong {
                len: MAX_CODE_LEN + 1,
                max: MAX_CODE_LEN,
            },
        ),
        err(
            &"ab-".repeat(20),
            CodeError::TooLong {
                len: 40,
                max: MAX_CODE_LEN,
            },
        ),
        err("МKBHD10", invalid('М', 0)),
        err("SALE-Ä", invalid('Ä', 5)),
        err("SAVE€10", invalid('€', 4)),
        err("  SAVE!10", invalid('!', 6)),
        err("SAVE\t10", invalid('\t', 4)),
        err("SAVE/10", invalid('/', 4)),
        err("ＳＡＶＥ！", invalid('！', 4)),
        err("code\u{2028}x", invalid('\u{2028}', 4)),
        ok("ＭＫＢＨＤ\u{3000}１０", "MKBHD10"),
        ok("mkbhd\u{2013}10", "MKBHD10"),
        ok("mkbhd\u{2014}10", "MKBHD10"),
        ok("\u{2010}save\u{2011}20\u{2012}now\u{2212}", "SAVE20NOW"),
    ];
    assert!(table.len() >= 25);
    for (input, want) in table {
        let got = CouponCode::parse(&input).map(|c| c.as_str().to_owned());
        assert_eq!(got, want, "input {input:?}");
    }
}

#[test]
fn errors_name_what_is_wrong_and_where() {
    let e = CouponCode::parse("SAVE€10").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid character '€' at position 4 of coupon code"
    );
    let e = CouponCode::parse("ab").unwrap_err();
    assert_eq!(
        e.to_string(),
        "coupon code has 2 characters, fewer than the minimum of 3"
    );
}

#[test]
fn the_skeleton_maps_look_alikes_to_one_representative() {
    let table = [
        ("0OQ", "OOO"),
        ("1IL", "III"),
        ("5S5", "SSS"),
        ("2Z2", "ZZZ"),
        ("8B8", "BBB"),
        ("6G6", "GGG"),
        ("UVU", "VVV"),
        ("ACDEF", "ACDEF"),
    ];
    for (code, skeleton) in table {
        assert_eq!(
            CouponCode::parse(code).unwrap().skeleton().as_str(),
            skeleton,
            "{code}"
        );
    }
    let a = CouponCode::parse("BOSS20").unwrap();
    let b = CouponCode::parse("8055Z0").unwrap();
    assert_ne!(a, b);
    assert_eq!(a.skeleton(), b.skeleton());
}

#[test]
fn codes_order_and_display_by_canonical_form() {
    let a = CouponCode::parse("abc").unwrap();
    let b = CouponCode::parse("ABD").unwrap();
    let c = CouponCode::parse("ABCD").unwrap();
    assert!(a < b && a < c && c < b);
    assert_eq!(format!("{a} {a:?}"), "ABC CouponCode(\"ABC\")");
}
