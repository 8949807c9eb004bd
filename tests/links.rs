//! Tracked links: building, parsing, their errors, and round trips.
#![cfg(feature = "postback")]

mod common;

use attributor::{
    AffiliateId, Campaign, ClickId, EventKind, IdError, LinkError, LinkParams, MAX_ID_LEN, Policy, SubId,
    SubIds, TrackedLink,
};
use common::*;
use proptest::prelude::*;

fn excerpt(s: &str) -> attributor::Excerpt {
    attributor::Excerpt::new(s)
}

fn defaults() -> LinkParams {
    LinkParams::default()
}

#[test]
fn a_link_keeps_the_landing_pages_own_query_and_fragment() {
    let link = TrackedLink::new(AffiliateId::new(42))
        .with_click("c-1".parse().unwrap())
        .with_sub(1, "tiktok".parse().unwrap())
        .with_sub(3, "reel-7".parse().unwrap())
        .with_campaign("Spring Sale".parse().unwrap());
    let url = link
        .build(
            "https://prop.example/challenge?plan=50k&utm_source=yt#pricing",
            &defaults(),
        )
        .unwrap();
    assert_eq!(
        url,
        "https://prop.example/challenge?plan=50k&utm_source=yt&aff_id=42&click_id=c-1&sub1=tiktok\
         &sub3=reel-7&campaign=Spring+Sale#pricing"
    );
    assert_eq!(TrackedLink::parse(&url, &defaults()).unwrap(), link);
}

#[test]
fn a_bare_link_carries_only_the_affiliate() {
    let url = TrackedLink::new(AffiliateId::new(7))
        .build("https://casino.example", &defaults())
        .unwrap();
    assert_eq!(url, "https://casino.example/?aff_id=7");
}

#[test]
fn values_with_reserved_characters_are_encoded_and_read_back() {
    let link = TrackedLink::new(AffiliateId::new(1))
        .with_click("a&b=c#d?e/f%".parse().unwrap())
        .with_sub(2, "ünïcødé+日本".parse().unwrap())
        .with_campaign("50% off & more".parse().unwrap());
    let url = link.build("https://shop.example/p", &defaults()).unwrap();
    assert!(!url.contains("a&b"), "{url}");
    assert!(url.contains("campaign=50%25+off+%26+more"), "{url}");
    assert_eq!(TrackedLink::parse(&url, &defaults()).unwrap(), link);
}

#[test]
fn a_program_with_its_own_parameter_names_reads_its_own_links() {
    let params = LinkParams::new()
        .with_affiliate("affid")
        .unwrap()
        .with_click("tid")
        .unwrap()
        .with_sub(1, "s1")
        .unwrap()
        .with_sub(5, "s5")
        .unwrap()
        .with_campaign("utm_campaign")
        .unwrap();
    assert_eq!(params.affiliate(), "affid");
    assert_eq!(params.click(), "tid");
    assert_eq!(params.sub(1), Some("s1"));
    assert_eq!(params.sub(2), Some("sub2"));
    assert_eq!(params.sub(6), None);
    assert_eq!(params.campaign(), "utm_campaign");

    let link = TrackedLink::parse(
        "https://fx.example/?affid=9&tid=x1&s1=a&s5=e&utm_campaign=q3&aff_id=99",
        &params,
    )
    .unwrap();
    assert_eq!(
        link.affiliate,
        AffiliateId::new(9),
        "aff_id is not a parameter any more"
    );
    assert_eq!(link.click, Some("x1".parse().unwrap()));
    assert_eq!(link.sub_ids.get(1).map(SubId::as_str), Some("a"));
    assert_eq!(link.sub_ids.get(5).map(SubId::as_str), Some("e"));
    assert_eq!(link.campaign, Some("q3".parse().unwrap()));
}

#[test]
fn renaming_a_part_frees_its_old_name() {
    let params = LinkParams::new()
        .with_sub(1, "source")
        .unwrap()
        .with_campaign("sub1")
        .unwrap();
    assert_eq!(params.campaign(), "sub1");
    // Setting a part to the name it already has is not a conflict.
    assert!(params.with_campaign("sub1").is_ok());
}

#[test]
fn two_visits_whose_click_ids_differ_only_in_bytes_that_are_not_utf8_are_refused_not_merged() {
    // Decoded lossily, both would be the click "c\u{FFFD}", and the second
    // visit would be refused as a conflicting copy of the first.
    for link in [
        "https://s.example/?aff_id=1&click_id=c%FF",
        "https://s.example/?aff_id=1&click_id=c%FE",
    ] {
        assert_eq!(
            TrackedLink::parse(link, &defaults()),
            Err(LinkError::NotUtf8 {
                param: excerpt("click_id")
            }),
            "{link}"
        );
    }
    // Foreign parameters may hold anything; `+` is a space, as in any form,
    // and `%2B` a plus.
    let link = TrackedLink::parse(
        "https://s.example/?utm=%FF&aff_id=1&sub1=a%2Bc&campaign=spring+sale",
        &defaults(),
    )
    .unwrap();
    assert_eq!(link.sub_ids.get(1).map(|s| s.as_str()), Some("a+c"));
    assert_eq!(
        link.campaign.map(|c| c.to_string()).as_deref(),
        Some("spring sale")
    );
}

#[test]
fn empty_optional_values_and_foreign_parameters_are_ignored() {
    let link = TrackedLink::parse(
        "https://shop.example/?gclid=abc&aff_id=3&click_id=&sub1=&sub2=b&campaign=&fbclid=z",
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        link,
        TrackedLink::new(AffiliateId::new(3)).with_sub(2, "b".parse().unwrap())
    );
}

#[test]
fn a_visit_through_a_tracked_link_credits_its_affiliate_on_a_later_purchase() {
    let world = World::new(Policy::click_first());
    let url = TrackedLink::new(B)
        .with_click("clk-77".parse().unwrap())
        .with_sub(1, "newsletter".parse().unwrap())
        .build("https://shop.example/landing", &defaults())
        .unwrap();

    let link = TrackedLink::parse(&url, &defaults()).unwrap();
    let click = link
        .to_click(now() - days(2), "visitor-5".parse().unwrap())
        .unwrap();
    assert_eq!(click.sub_ids.get(1).map(SubId::as_str), Some("newsletter"));
    world.attributor.clicks().insert(click).unwrap();

    let decision = world.attribute(&purchase("o-77", "visitor-5"));
    assert_eq!(decision.primary(), Some(B), "{decision}");
    assert_eq!(decision.event, EventKind::Purchase);
}

#[test]
fn every_link_error_is_typed_and_names_what_is_wrong() {
    let long = "x".repeat(MAX_ID_LEN + 1);
    let too_long_click = format!("https://s.example/?aff_id=1&click_id={long}");
    let too_long_campaign = format!("https://s.example/?aff_id=1&campaign={long}");
    let cases: Vec<(&str, Result<TrackedLink, LinkError>, LinkError, &str)> = vec![
        (
            "not a url",
            TrackedLink::parse("shop.example/?aff_id=1", &defaults()),
            LinkError::Malformed {
                url: excerpt("shop.example/?aff_id=1"),
                source: url::ParseError::RelativeUrlWithoutBase,
            },
            r#"malformed url "shop.example/?aff_id=1": relative URL without a base"#,
        ),
        (
            "a value that is not utf-8",
            TrackedLink::parse("https://s.example/?aff_id=1&click_id=c%FF", &defaults()),
            LinkError::NotUtf8 {
                param: excerpt("click_id"),
            },
            r#"value of parameter "click_id" is not utf-8 once percent-decoded"#,
        ),
        (
            "no affiliate",
            TrackedLink::parse("https://s.example/?sub1=a", &defaults()),
            LinkError::Missing {
                param: excerpt("aff_id"),
            },
            r#"link has no affiliate parameter "aff_id""#,
        ),
        (
            "affiliate twice with one value",
            TrackedLink::parse("https://s.example/?aff_id=1&aff_id=1", &defaults()),
            LinkError::Duplicate {
                param: excerpt("aff_id"),
            },
            r#"parameter "aff_id" appears more than once"#,
        ),
        (
            "sub id twice, once empty",
            TrackedLink::parse("https://s.example/?aff_id=1&sub4=&sub4=x", &defaults()),
            LinkError::Duplicate {
                param: excerpt("sub4"),
            },
            r#"parameter "sub4" appears more than once"#,
        ),
        (
            "click id too long",
            TrackedLink::parse(&too_long_click, &defaults()),
            LinkError::TooLong {
                param: excerpt("click_id"),
                len: 65,
                max: 64,
            },
            r#"value of parameter "click_id" is 65 bytes long, more than the maximum of 64"#,
        ),
        (
            "campaign too long",
            TrackedLink::parse(&too_long_campaign, &defaults()),
            LinkError::TooLong {
                param: excerpt("campaign"),
                len: 65,
                max: 64,
            },
            r#"value of parameter "campaign" is 65 bytes long, more than the maximum of 64"#,
        ),
        (
            "affiliate not a number",
            TrackedLink::parse("https://s.example/?aff_id=seven", &defaults()),
            LinkError::BadValue {
                param: excerpt("aff_id"),
                value: excerpt("seven"),
                source: IdError::NotANumber {
                    value: excerpt("seven"),
                },
            },
            r#"parameter "aff_id" has bad value "seven": affiliate id "seven" is not a number"#,
        ),
        (
            "space in a click id",
            TrackedLink::parse("https://s.example/?aff_id=1&click_id=a+b", &defaults()),
            LinkError::BadValue {
                param: excerpt("click_id"),
                value: excerpt("a b"),
                source: IdError::InvalidChar { ch: ' ', position: 1 },
            },
            r#"parameter "click_id" has bad value "a b": invalid character ' ' at position 1 of id"#,
        ),
    ];
    for (story, got, want, message) in cases {
        let err = got.expect_err(story);
        assert_eq!(err, want, "{story}");
        assert_eq!(err.to_string(), message, "{story}");
    }
}

#[test]
fn an_empty_affiliate_is_a_bad_value_not_a_missing_one() {
    let err = TrackedLink::parse("https://s.example/?aff_id=", &defaults()).unwrap_err();
    assert!(
        matches!(err, LinkError::BadValue { param, value, source: IdError::Empty }
            if param.as_str() == "aff_id" && value.as_str().is_empty()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"parameter "aff_id" has bad value "": id is empty"#
    );
}

#[test]
fn a_control_character_in_a_value_is_named_in_the_error() {
    let err = TrackedLink::parse("https://s.example/?aff_id=1&sub5=a%09b", &defaults()).unwrap_err();
    assert!(
        matches!(err, LinkError::BadValue { param, value, source: IdError::InvalidChar { ch: '\t', position: 1 } }
            if param.as_str() == "sub5" && value.as_str() == "a\tb"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"parameter "sub5" has bad value "a\tb": invalid character '\t' at position 1 of id"#
    );
}

#[test]
fn a_click_needs_a_click_id_on_the_link() {
    let err = TrackedLink::new(AffiliateId::new(1))
        .to_click(now(), "v".parse().unwrap())
        .unwrap_err();
    assert_eq!(err, LinkError::NoClickId);
    assert_eq!(err.to_string(), "link has no click id");
}

#[test]
fn building_refuses_a_landing_url_that_would_make_the_link_ambiguous() {
    let link = TrackedLink::new(AffiliateId::new(1));
    let cases = [
        (
            "https://s.example/?aff_id=9",
            LinkError::Duplicate {
                param: excerpt("aff_id"),
            },
        ),
        (
            "https://s.example/?x=1&sub2=old",
            LinkError::Duplicate {
                param: excerpt("sub2"),
            },
        ),
        (
            "/relative/path",
            LinkError::Malformed {
                url: excerpt("/relative/path"),
                source: url::ParseError::RelativeUrlWithoutBase,
            },
        ),
        (
            "https://exa mple.com/",
            LinkError::Malformed {
                url: excerpt("https://exa mple.com/"),
                source: url::ParseError::IdnaError,
            },
        ),
    ];
    for (landing, want) in cases {
        assert_eq!(link.build(landing, &defaults()), Err(want), "{landing}");
    }
}

#[test]
fn a_link_that_would_run_script_in_a_browser_is_refused_but_app_deep_links_are_kept() {
    let link = TrackedLink::new(AffiliateId::new(1));
    for landing in [
        "javascript:alert(1)",
        "JavaScript://%0Aalert(document.cookie)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
    ] {
        let scheme = landing.split(':').next().unwrap().to_ascii_lowercase();
        let want = LinkError::Scheme {
            scheme: excerpt(&scheme),
        };
        assert_eq!(link.build(landing, &defaults()), Err(want), "{landing}");
        let tracked = format!("{landing}?aff_id=1");
        assert_eq!(TrackedLink::parse(&tracked, &defaults()), Err(want), "{tracked}");
    }
    let err = link.build("javascript:alert(1)", &defaults()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"url scheme "javascript" is not allowed in a link"#
    );

    let deep = link.build("myapp://open/offer?id=5", &defaults()).unwrap();
    assert_eq!(deep, "myapp://open/offer?id=5&aff_id=1");
}

#[test]
fn every_parameter_name_error_is_typed() {
    let long = "p".repeat(33);
    let cases = [
        (
            LinkParams::new().with_affiliate(""),
            "bad parameter name \"\": id is empty",
        ),
        (
            LinkParams::new().with_click(&long),
            "bad parameter name \"pppppppppppppppppppppppppppppppp\": id is 33 bytes long, more than the \
             maximum of 32",
        ),
        (
            LinkParams::new().with_campaign("utm\ncampaign"),
            "bad parameter name \"utm\\ncampaign\": invalid character '\\n' at position 3 of id",
        ),
        (
            LinkParams::new().with_click("aff_id"),
            "parameter name \"aff_id\" is already used for another part of the link",
        ),
        (
            LinkParams::new().with_sub(2, "sub1"),
            "parameter name \"sub1\" is already used for another part of the link",
        ),
        (
            LinkParams::new().with_sub(6, "s6"),
            "there is no sub id 6; sub ids are 1 to 5",
        ),
        (
            LinkParams::new().with_sub(0, "s0"),
            "there is no sub id 0; sub ids are 1 to 5",
        ),
    ];
    for (got, message) in cases {
        assert_eq!(got.expect_err(message).to_string(), message);
    }
    assert!(matches!(
        LinkParams::new().with_click(&long),
        Err(LinkError::BadParamName {
            source: IdError::TooLong { len: 33, max: 32 },
            ..
        })
    ));
    assert!(matches!(
        LinkParams::new().with_campaign("utm\ncampaign"),
        Err(LinkError::BadParamName {
            source: IdError::InvalidChar {
                ch: '\n',
                position: 3
            },
            ..
        })
    ));
    assert_eq!(
        LinkParams::new().with_click("aff_id"),
        Err(LinkError::ParamNameTaken {
            name: attributor::Label::new("aff_id").unwrap()
        })
    );
    assert_eq!(
        LinkParams::new().with_sub(6, "s6"),
        Err(LinkError::NoSuchSub { n: 6 })
    );
}

// Property tests.

/// Text an id may hold: no whitespace, no control characters, any script,
/// URL-reserved characters included. At most 16 characters, so at most 64
/// bytes.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{1,16}",
        "[&=#?/%+;:@!$'()*,\\[\\]]{1,16}",
        "[^\\s\\p{Cc}]{1,16}",
    ]
}

fn click_id() -> impl Strategy<Value = ClickId> {
    id_text().prop_filter_map("a click id", |s| ClickId::new(&s).ok())
}

fn sub_id() -> impl Strategy<Value = SubId> {
    id_text().prop_filter_map("a sub id", |s| SubId::new(&s).ok())
}

fn campaign() -> impl Strategy<Value = Campaign> {
    "( |[^\\s\\p{Cc}]){1,16}".prop_filter_map("a campaign", |s| Campaign::new(&s).ok())
}

fn tracked_link() -> impl Strategy<Value = TrackedLink> {
    (
        any::<u64>(),
        proptest::option::of(click_id()),
        proptest::array::uniform5(proptest::option::of(sub_id())),
        proptest::option::of(campaign()),
    )
        .prop_map(|(affiliate, click, subs, campaign)| {
            let mut sub_ids = SubIds::default();
            for (i, sub) in subs.into_iter().enumerate() {
                if let Some(sub) = sub {
                    sub_ids = sub_ids.with(i + 1, sub);
                }
            }
            TrackedLink {
                affiliate: AffiliateId::new(affiliate),
                click,
                sub_ids,
                campaign,
            }
        })
}

fn landing() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "https://shop.example",
        "https://shop.example/",
        "http://shop.example:8080/a/b?x=1",
        "https://shop.example/p?q=a%20b&r=#frag",
        "https://shop.example/p?#",
        "https://xn--bcher-kva.example/ünï?ü=1#§",
        "myapp://open/offer?id=5",
    ])
}

fn custom_params() -> impl Strategy<Value = LinkParams> {
    prop::sample::select(vec![
        LinkParams::new(),
        LinkParams::new()
            .with_affiliate("a")
            .and_then(|p| p.with_click("c"))
            .and_then(|p| p.with_sub(1, "s 1"))
            .and_then(|p| p.with_campaign("ü&="))
            .unwrap(),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_built_link_parses_back_into_the_same_parts(
        link in tracked_link(),
        landing in landing(),
        params in custom_params(),
    ) {
        let url = link.build(landing, &params).unwrap();
        prop_assert_eq!(TrackedLink::parse(&url, &params).unwrap(), link);
        if let Some((_, fragment)) = landing.split_once('#') {
            let kept = url.split_once('#').map(|(_, f)| f).unwrap();
            prop_assert_eq!(kept.is_empty(), fragment.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parsing_any_string_returns_parts_or_an_error_without_panicking(input in any::<String>()) {
        let _ = TrackedLink::parse(&input, &LinkParams::default());
        let _ = TrackedLink::new(AffiliateId::new(1)).build(&input, &LinkParams::default());
        let _ = LinkParams::new().with_click(&input);
    }

    #[test]
    fn parsing_any_query_returns_parts_or_an_error_without_panicking(
        pairs in prop::collection::vec(
            (
                prop::sample::select(vec!["aff_id", "click_id", "sub1", "sub5", "campaign", "x", ""]),
                prop_oneof![any::<String>(), "[0-9]{0,22}", "%[0-9A-F]{0,2}"],
            ),
            0..6,
        ),
    ) {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let url = format!("https://s.example/?{}", query.join("&"));
        match TrackedLink::parse(&url, &LinkParams::default()) {
            Ok(link) => prop_assert!(link.click.is_none_or(|c| c.as_str().len() <= MAX_ID_LEN)),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn parsing_any_bytes_returns_parts_or_an_error_without_panicking(bytes in any::<Vec<u8>>()) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = TrackedLink::parse(&format!("https://s.example/?{text}"), &LinkParams::default());
    }
}
