//! Postbacks: outbound templates, inbound parsing, signatures, and the
//! round trip between a partner's template and our parser.
#![cfg(feature = "postback")]

mod common;

use std::time::Duration;

use attributor::{
    Amount, Click, ClickEvidence, CodeAssignment, CodeError, CodeLookup, Conversion, CouponCode, Currency,
    EventKind, Evidence, IdError, Label, MAX_POSTBACK_CODES, Macro, Policy, PostbackError, PostbackParser,
    PostbackSigner, PostbackTemplate, PostbackVerifier, SignatureError, SubIds, TemplateError, resolve,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use proptest::prelude::*;

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn excerpt(s: &str) -> attributor::Excerpt {
    attributor::Excerpt::new(s)
}

fn unix(t: DateTime<Utc>) -> String {
    t.timestamp().to_string()
}

// Outbound templates.

#[test]
fn every_template_error_names_the_problem_and_its_position() {
    let cases = [
        (
            "https://p.example/pb?cid={clickid}",
            TemplateError::UnknownMacro {
                name: excerpt("clickid"),
                position: 25,
            },
            r#"unknown macro "clickid" at position 25 of postback template"#,
        ),
        (
            "https://p.example/pb?cid={CLICK_ID}",
            TemplateError::UnknownMacro {
                name: excerpt("CLICK_ID"),
                position: 25,
            },
            r#"unknown macro "CLICK_ID" at position 25 of postback template"#,
        ),
        (
            "https://p.example/pb?cid={click_id",
            TemplateError::Unclosed { position: 25 },
            "unclosed brace at position 25 of postback template",
        ),
        (
            "https://p.example/pb?cid={click_id}&tx={",
            TemplateError::Unclosed { position: 39 },
            "unclosed brace at position 39 of postback template",
        ),
        (
            "https://p.example/pb?cid=click_id}",
            TemplateError::Unopened { position: 33 },
            "unopened brace at position 33 of postback template",
        ),
        (
            "https://{affiliate_id}.partner.example/pb?cid={click_id}",
            TemplateError::MacroBeforePath {
                name: excerpt("affiliate_id"),
                position: 8,
            },
            r#"macro "affiliate_id" at position 8 of postback template comes before the path"#,
        ),
        (
            "{sub1}https://p.example/pb",
            TemplateError::MacroBeforePath {
                name: excerpt("sub1"),
                position: 0,
            },
            r#"macro "sub1" at position 0 of postback template comes before the path"#,
        ),
        (
            "http{sub1}://p.example/pb",
            TemplateError::MacroBeforePath {
                name: excerpt("sub1"),
                position: 4,
            },
            r#"macro "sub1" at position 4 of postback template comes before the path"#,
        ),
        (
            "https://p.example/pb?cid={click_id}\n",
            TemplateError::Whitespace {
                ch: '\n',
                position: 35,
            },
            r#"whitespace or control character '\n' at position 35 of postback template"#,
        ),
        (
            "https://p.example/pb?note=hello world",
            TemplateError::Whitespace {
                ch: ' ',
                position: 31,
            },
            r#"whitespace or control character ' ' at position 31 of postback template"#,
        ),
        (
            // Positions count characters, not bytes.
            "https://ü.example/?é={bogus}",
            TemplateError::UnknownMacro {
                name: excerpt("bogus"),
                position: 21,
            },
            r#"unknown macro "bogus" at position 21 of postback template"#,
        ),
        (
            "p.example/pb?cid={click_id}",
            TemplateError::Malformed {
                template: excerpt("p.example/pb?cid={click_id}"),
                source: url::ParseError::RelativeUrlWithoutBase,
            },
            r#"postback template "p.example/pb?cid={click_id}" is not a url: relative URL without a base"#,
        ),
        (
            "htps://p.example/pb?cid={click_id}",
            TemplateError::NotHttp {
                scheme: excerpt("htps"),
            },
            r#"postback template has scheme "htps", not http or https"#,
        ),
    ];
    for (template, want, message) in cases {
        let err = PostbackTemplate::parse(template).expect_err(template);
        assert_eq!(err, want, "{template}");
        assert_eq!(err.to_string(), message, "{template}");
    }
    // A name padded with spaces is unknown, and the error keeps the padding.
    let padded = PostbackTemplate::parse("https://p.example/pb?a={amount}&b={ click_id }").unwrap_err();
    assert_eq!(
        padded,
        TemplateError::UnknownMacro {
            name: excerpt(" click_id "),
            position: 34
        }
    );
    assert_eq!(
        padded.to_string(),
        r#"unknown macro " click_id " at position 34 of postback template"#
    );
}

#[test]
fn an_empty_macro_name_is_unknown() {
    let err = PostbackTemplate::parse("https://p.example/{}").unwrap_err();
    assert!(matches!(err, TemplateError::UnknownMacro { name, position: 18 } if name.as_str().is_empty()));
}

#[test]
fn every_macro_is_accepted_and_listed_in_order() {
    let text: String = Macro::ALL.iter().map(|m| format!("&{}={m}", m.name())).collect();
    let template = PostbackTemplate::parse(&format!("https://p.example/pb?x=1{text}")).unwrap();
    assert_eq!(template.macros().collect::<Vec<_>>(), Macro::ALL.to_vec());
    assert_eq!(Macro::from_name("timestamp_unix"), Some(Macro::TimestampUnix));
    assert_eq!(Macro::Sub3.to_string(), "{sub3}");
    assert_eq!(template.to_string(), template.as_str());
    assert_eq!(template.as_str().parse::<PostbackTemplate>().unwrap(), template);
}

/// A purchase of 49.99 USD with affiliate A's code and a click of B's
/// carrying sub ids, decided under `policy`.
fn code_and_click(policy: Policy) -> (Conversion, attributor::Decision, Click) {
    let click = Click::new("c&1/2".parse().unwrap(), B, now() - days(1))
        .with_customer("cust".parse().unwrap())
        .with_sub_ids(
            SubIds::default()
                .with(1, "yt/shorts".parse().unwrap())
                .with(5, "ad#7".parse().unwrap()),
        );
    let conversion = purchase("ORD-9", "cust")
        .with_code(code("mkbhd10"))
        .with_click(click.id)
        .with_amount("49.99".parse().unwrap(), "usd".parse().unwrap());
    let owner = CodeAssignment::new(code("MKBHD10"), A, now() - days(30));
    let evidence = Evidence::new()
        .with_code(code("MKBHD10"), CodeLookup::Active(owner))
        .with_click(ClickEvidence {
            id: click.id,
            affiliate: B,
            clicked_at: click.clicked_at,
        });
    let decision = resolve(&conversion, &evidence, &policy);
    (conversion, decision, click)
}

const EVERYTHING: &str = "https://p.example/pb/{affiliate_id}?cid={click_id}&tx={transaction_id}&ev={event}\
    &amt={amount}&cur={currency}&code={code}&s1={sub1}&s2={sub2}&s5={sub5}&at={timestamp}&ts={timestamp_unix}";

#[test]
fn the_credited_partner_gets_its_own_code_and_nothing_of_the_other_affiliate() {
    let (conversion, decision, click) = code_and_click(Policy::coupon_first());
    assert_eq!(decision.primary(), Some(A));
    let template = PostbackTemplate::parse(EVERYTHING).unwrap();
    assert_eq!(
        template.render(&conversion, &decision, Some(&click)),
        "https://p.example/pb/1?cid=&tx=ORD-9&ev=purchase&amt=49.99&cur=USD&code=MKBHD10&s1=&s2=&s5=\
         &at=2026-06-01T12%3A00%3A00Z&ts=1780315200"
    );
}

#[test]
fn a_partner_credited_by_click_gets_its_click_id_and_sub_ids_encoded() {
    let (conversion, decision, click) = code_and_click(Policy::click_first());
    assert_eq!(decision.primary(), Some(B));
    let template = PostbackTemplate::parse(EVERYTHING).unwrap();
    assert_eq!(
        template.render(&conversion, &decision, Some(&click)),
        "https://p.example/pb/2?cid=c%261%2F2&tx=ORD-9&ev=purchase&amt=49.99&cur=USD&code=&s1=yt%2Fshorts\
         &s2=&s5=ad%237&at=2026-06-01T12%3A00%3A00Z&ts=1780315200"
    );
}

#[test]
fn in_a_split_each_affiliate_gets_its_own_postback() {
    let (conversion, decision, click) = code_and_click(Policy::split(5_000).unwrap());
    assert_eq!(decision.credits.len(), 2);
    let template =
        PostbackTemplate::parse("https://p.example/?aff={affiliate_id}&cid={click_id}&code={code}").unwrap();
    assert_eq!(
        template.render_for(A, &conversion, &decision, Some(&click)),
        "https://p.example/?aff=1&cid=&code=MKBHD10"
    );
    assert_eq!(
        template.render_for(B, &conversion, &decision, Some(&click)),
        "https://p.example/?aff=2&cid=c%261%2F2&code="
    );
}

#[test]
fn a_decision_that_credits_nobody_renders_the_affiliate_fields_empty() {
    let conversion = Conversion::new("REG-1".parse().unwrap(), EventKind::Registration, now());
    let decision = resolve(&conversion, &Evidence::new(), &Policy::coupon_first());
    let template = PostbackTemplate::parse(EVERYTHING).unwrap();
    assert_eq!(
        template.render(&conversion, &decision, None),
        "https://p.example/pb/?cid=&tx=REG-1&ev=registration&amt=&cur=&code=&s1=&s2=&s5=\
         &at=2026-06-01T12%3A00%3A00Z&ts=1780315200"
    );
}

#[test]
fn custom_event_names_and_fractional_seconds_are_encoded() {
    let at = now() + TimeDelta::milliseconds(250);
    let conversion = Conversion::new("X-1".parse().unwrap(), EventKind::Custom(label("vip upsell")), at);
    let decision = resolve(&conversion, &Evidence::new(), &Policy::coupon_first());
    let template =
        PostbackTemplate::parse("https://p.example/?ev={event}&at={timestamp}&ts={timestamp_unix}").unwrap();
    assert_eq!(
        template.render(&conversion, &decision, None),
        "https://p.example/?ev=vip%20upsell&at=2026-06-01T12%3A00%3A00.250Z&ts=1780315200"
    );
}

/// A purchase credited to B by click `id`, and the click.
fn credited_click(id: &str) -> (Conversion, attributor::Decision) {
    let click = ClickEvidence {
        id: id.parse().unwrap(),
        affiliate: B,
        clicked_at: now() - days(1),
    };
    let conversion = purchase("ORD-9", "cust").with_click(click.id);
    let decision = resolve(
        &conversion,
        &Evidence::new().with_click(click),
        &Policy::click_first(),
    );
    (conversion, decision)
}

#[test]
fn a_placeholder_that_a_url_parser_reads_as_the_host_is_refused() {
    // Browsers and the `url` crate skip extra slashes and backslashes after
    // `https:`, so in each of these the click id, which a visitor can
    // choose, would pick the partner's server.
    for template in [
        "https:{click_id}/pb",
        "https:/{click_id}/pb",
        "https:///{click_id}/pb",
        "https:\\\\{click_id}/pb",
        "https://p.example:{amount}/pb",
        "https://{sub1}@p.example/pb",
    ] {
        let err = PostbackTemplate::parse(template).expect_err(template);
        assert!(
            matches!(err, TemplateError::MacroBeforePath { .. }),
            "{template}: {err}"
        );
    }
    // They drop tabs and newlines too, which a template may not hold.
    for (template, ch, position) in [
        ("https:/\t/{click_id}/pb", '\t', 7),
        ("https://\n/{click_id}/pb", '\n', 8),
    ] {
        assert_eq!(
            PostbackTemplate::parse(template),
            Err(TemplateError::Whitespace { ch, position }),
            "{template}"
        );
    }
    // Text before a placeholder may look odd, as long as the placeholder
    // is past the host.
    let odd = PostbackTemplate::parse("https:///p.example/{click_id}?tx={transaction_id}&h=https:///{code}")
        .unwrap();
    let (conversion, decision) = credited_click("evil.example");
    let rendered = odd.render(&conversion, &decision, None);
    assert_eq!(url::Url::parse(&rendered).unwrap().host_str(), Some("p.example"));
    // The first placeholder that moves the host is named.
    assert_eq!(
        PostbackTemplate::parse("https:///{transaction_id}/x/{click_id}").unwrap_err(),
        TemplateError::MacroBeforePath {
            name: excerpt("transaction_id"),
            position: 9,
        }
    );
}

#[test]
fn a_click_id_of_dots_cannot_climb_the_partners_path() {
    let template =
        PostbackTemplate::parse("https://p.example/partner/7/pb/{click_id}/conv?cid={click_id}").unwrap();
    for (id, path_part) in [
        ("..", ""),
        (".", ""),
        ("...", ""),
        ("..x", "..x"),
        ("v1.2", "v1.2"),
    ] {
        let (conversion, decision) = credited_click(id);
        let rendered = template.render(&conversion, &decision, None);
        // In the query the value is kept as sent.
        assert_eq!(
            rendered,
            format!("https://p.example/partner/7/pb/{path_part}/conv?cid={id}"),
            "{id}"
        );
        let url = url::Url::parse(&rendered).unwrap();
        assert!(url.path().starts_with("/partner/7/pb/"), "{id}: {}", url.path());
        assert!(url.path().ends_with("/conv"), "{id}: {}", url.path());
    }
    // A segment that is the value and template dots together counts too,
    // encoded dots as well; one with other text, or the template's own dots
    // beside a value that renders nothing, is kept.
    let (conversion, decision) = credited_click(".");
    let mixed =
        PostbackTemplate::parse("https://p.example/a/.{click_id}/b/x{click_id}/./c/%2E{click_id}/..{sub1}/d")
            .unwrap();
    let rendered = mixed.render(&conversion, &decision, None);
    assert_eq!(rendered, "https://p.example/a//b/x././c//../d");
    assert_eq!(url::Url::parse(&rendered).unwrap().path(), "/a//b/x./c/d");
}

// Inbound postbacks.

const BASE: &str = "transaction_id=ORD-1&event=purchase&timestamp=1780315200";

#[test]
fn a_full_postback_reads_into_a_conversion() {
    let got = PostbackParser::new()
        .parse(
            "event=first_deposit&transaction_id=FTD-7&timestamp=2026-06-01T14%3A00%3A00%2B02%3A00\
             &click_id=c-9&code=mkbhd-10,+spring5&amount=100.5&currency=eur&customer_id=player-3&sub1=ignored",
        )
        .unwrap();
    let want = Conversion::new("FTD-7".parse().unwrap(), EventKind::FirstDeposit, now())
        .with_click("c-9".parse().unwrap())
        .with_code(code("MKBHD10"))
        .with_code(code("SPRING5"))
        .with_amount("100.5".parse().unwrap(), "EUR".parse().unwrap())
        .with_customer("player-3".parse().unwrap());
    assert_eq!(got, want);
}

#[test]
fn empty_optional_fields_are_absent() {
    let got = PostbackParser::new()
        .parse(format!("{BASE}&click_id=&code=&amount=&currency=&customer_id="))
        .unwrap();
    assert_eq!(
        got,
        Conversion::new("ORD-1".parse().unwrap(), EventKind::Purchase, now())
    );
}

#[test]
fn a_declared_custom_event_is_accepted_and_an_undeclared_one_is_not() {
    let declared = [label("upsell"), label("vip tier")];
    let parser = PostbackParser::new().with_custom_events(&declared);
    let upsell = parser
        .parse("transaction_id=U-1&event=vip+tier&timestamp=1780315200")
        .unwrap();
    assert_eq!(upsell.event, EventKind::Custom(label("vip tier")));
    assert!(matches!(
        PostbackParser::new().parse("transaction_id=U-1&event=upsell&timestamp=1780315200"),
        Err(PostbackError::UnknownEvent { .. })
    ));
}

#[test]
fn every_inbound_error_names_its_field() {
    let parser = PostbackParser::new();
    let long = "x".repeat(65);
    let cases: Vec<(String, PostbackError, &str)> = vec![
        (
            "event=purchase&timestamp=1780315200".into(),
            PostbackError::Missing {
                field: "transaction_id",
            },
            "postback has no transaction_id field",
        ),
        (
            "transaction_id=A&timestamp=1780315200".into(),
            PostbackError::Missing { field: "event" },
            "postback has no event field",
        ),
        (
            "transaction_id=A&event=purchase".into(),
            PostbackError::Missing { field: "timestamp" },
            "postback has no timestamp field",
        ),
        (
            format!("{BASE}&amount=10"),
            PostbackError::Missing { field: "currency" },
            "postback has no currency field",
        ),
        (
            format!("{BASE}&currency=USD"),
            PostbackError::Missing { field: "amount" },
            "postback has no amount field",
        ),
        (
            format!("{BASE}&transaction_id=ORD-1"),
            PostbackError::Duplicate {
                field: "transaction_id",
            },
            "field transaction_id appears more than once in postback",
        ),
        (
            format!("{BASE}&code=&code=A1B2"),
            PostbackError::Duplicate { field: "code" },
            "field code appears more than once in postback",
        ),
        (
            "transaction_id=ORD-%FF&event=purchase&timestamp=1780315200".into(),
            PostbackError::NotUtf8 {
                field: "transaction_id",
            },
            "field transaction_id is not utf-8 once percent-decoded",
        ),
        (
            format!("{BASE}&amount=1%E9"),
            PostbackError::NotUtf8 { field: "amount" },
            "field amount is not utf-8 once percent-decoded",
        ),
        (
            "transaction_id=A&event=purchse&timestamp=1780315200".into(),
            PostbackError::UnknownEvent {
                value: excerpt("purchse"),
            },
            r#"field event has unknown event name "purchse""#,
        ),
        (
            "transaction_id=A&event=Purchase&timestamp=1780315200".into(),
            PostbackError::UnknownEvent {
                value: excerpt("Purchase"),
            },
            r#"field event has unknown event name "Purchase""#,
        ),
        (
            "transaction_id=A&event=purchase&timestamp=yesterday".into(),
            PostbackError::BadTimestamp {
                value: excerpt("yesterday"),
            },
            r#"field timestamp has "yesterday", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            "transaction_id=A&event=purchase&timestamp=2026-13-01T00%3A00%3A00Z".into(),
            PostbackError::BadTimestamp {
                value: excerpt("2026-13-01T00:00:00Z"),
            },
            r#"field timestamp has "2026-13-01T00:00:00Z", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            "transaction_id=A&event=purchase&timestamp=2026-06-01".into(),
            PostbackError::BadTimestamp {
                value: excerpt("2026-06-01"),
            },
            r#"field timestamp has "2026-06-01", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            "transaction_id=A&event=purchase&timestamp=99999999999999999999".into(),
            PostbackError::BadTimestamp {
                value: excerpt("99999999999999999999"),
            },
            r#"field timestamp has "99999999999999999999", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            // The year 10000 in UTC, though 9999 where it was sent.
            "transaction_id=A&event=purchase&timestamp=9999-12-31T23%3A30%3A00-01%3A00".into(),
            PostbackError::BadTimestamp {
                value: excerpt("9999-12-31T23:30:00-01:00"),
            },
            r#"field timestamp has "9999-12-31T23:30:00-01:00", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            // Milliseconds sent as seconds: the year 58385.
            "transaction_id=A&event=purchase&timestamp=1780315200000".into(),
            PostbackError::BadTimestamp {
                value: excerpt("1780315200000"),
            },
            r#"field timestamp has "1780315200000", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            "transaction_id=A&event=purchase&timestamp=-5".into(),
            PostbackError::BadTimestamp { value: excerpt("-5") },
            r#"field timestamp has "-5", which is neither an rfc 3339 time nor unix seconds before the year 10000"#,
        ),
        (
            format!("{BASE}&amount=4.99999&currency=USD"),
            PostbackError::BadAmount {
                value: excerpt("4.99999"),
            },
            r#"field amount has "4.99999", which is not a number with at most four decimals"#,
        ),
        (
            format!("{BASE}&amount=1e3&currency=USD"),
            PostbackError::BadAmount {
                value: excerpt("1e3"),
            },
            r#"field amount has "1e3", which is not a number with at most four decimals"#,
        ),
        (
            format!("{BASE}&amount=10&currency=US"),
            PostbackError::BadCurrency { value: excerpt("US") },
            r#"field currency has "US", which is not a three-letter currency code"#,
        ),
        (
            "transaction_id=A+B&event=purchase&timestamp=1780315200".into(),
            PostbackError::BadId {
                field: "transaction_id",
                value: excerpt("A B"),
                source: IdError::InvalidChar { ch: ' ', position: 1 },
            },
            r#"field transaction_id has bad id "A B": invalid character ' ' at position 1 of id"#,
        ),
        (
            format!("{BASE}&click_id={long}"),
            PostbackError::BadId {
                field: "click_id",
                value: excerpt(&long[..32]),
                source: IdError::TooLong { len: 65, max: 64 },
            },
            r#"field click_id has bad id "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": id is 65 bytes long, more than the maximum of 64"#,
        ),
        (
            format!("{BASE}&customer_id=a%2Fb%20c"),
            PostbackError::BadId {
                field: "customer_id",
                value: excerpt("a/b c"),
                source: IdError::InvalidChar { ch: ' ', position: 3 },
            },
            r#"field customer_id has bad id "a/b c": invalid character ' ' at position 3 of id"#,
        ),
        (
            format!("{BASE}&code=MKBHD10,,SPRING5"),
            PostbackError::BadCode {
                value: excerpt("(empty)"),
                source: CodeError::Empty,
            },
            r#"field code has bad coupon code "": coupon code is empty"#,
        ),
        (
            format!("{BASE}&code=MKBHD10,50%25OFF"),
            PostbackError::BadCode {
                value: excerpt("50%OFF"),
                source: CodeError::InvalidChar { ch: '%', position: 2 },
            },
            r#"field code has bad coupon code "50%OFF": invalid character '%' at position 2 of coupon code"#,
        ),
        (
            format!("{BASE}&code={}", ["AAA"; MAX_POSTBACK_CODES + 1].join(",")),
            PostbackError::TooManyCodes { count: 9, max: 8 },
            "field code lists 9 codes, more than the maximum of 8",
        ),
    ];
    for (input, want, message) in cases {
        let err = parser.parse(&input).expect_err(&input);
        if let PostbackError::BadCode {
            source: CodeError::Empty,
            ..
        } = want
        {
            // An empty entry's value cannot be built as a Label here.
            assert!(
                matches!(err, PostbackError::BadCode { value, source: CodeError::Empty }
                if value.as_str().is_empty()),
                "{input}"
            );
        } else {
            assert_eq!(err, want, "{input}");
        }
        assert_eq!(err.to_string(), message, "{input}");
        assert!(message.contains(err.field()), "{input}: {}", err.field());
    }
}

#[test]
fn two_orders_whose_ids_differ_only_in_bytes_that_are_not_utf8_are_refused_not_merged() {
    // Decoded lossily, both would read as "ORD-\u{FFFD}", and the ledger would
    // take the second order for a retry of the first.
    let parser = PostbackParser::new();
    for id in ["ORD-%FF", "ORD-%FE", "ORD-%C3", "ORD-%ED%A0%80"] {
        let input = format!("transaction_id={id}&event=purchase&timestamp=1780315200");
        assert_eq!(
            parser.parse(&input),
            Err(PostbackError::NotUtf8 {
                field: "transaction_id"
            }),
            "{input}"
        );
    }
    // A real U+FFFD, sent as its UTF-8 bytes, is an ordinary character.
    let sent = parser
        .parse("transaction_id=ORD-%EF%BF%BD&event=purchase&timestamp=1780315200")
        .unwrap();
    assert_eq!(sent.id.as_str(), "ORD-\u{FFFD}");
    // Parameters the parser does not read may hold anything.
    assert!(parser.parse(format!("{BASE}&note=%FF&%FF=1")).is_ok());
}

#[test]
fn the_first_problem_in_input_order_is_reported() {
    let err = PostbackParser::new()
        .parse("amount=x&transaction_id=A+B&event=nope")
        .unwrap_err();
    assert_eq!(err.field(), "amount");
}

// Signatures.

const SECRET: &[u8] = b"whsec-current";
const OLD_SECRET: &[u8] = b"whsec-previous";

#[test]
fn a_signed_postback_in_headers_verifies_and_parses() {
    let signature = PostbackSigner::new(SECRET).sign(now(), BASE.as_bytes());
    let verifier = PostbackVerifier::new(SECRET);
    let at = verifier
        .verify(Some(&unix(now())), Some(&signature), BASE.as_bytes(), now())
        .unwrap();
    assert_eq!(at, now());
    assert_eq!(
        verifier
            .verify(
                Some(&unix(now())),
                Some(&signature.to_uppercase()),
                BASE.as_bytes(),
                now()
            )
            .unwrap(),
        now(),
        "hex is read in either case"
    );
    let conversion = PostbackParser::new().parse(BASE).unwrap();
    assert_eq!(conversion.id.as_str(), "ORD-1");
}

#[test]
fn during_key_rotation_both_secrets_verify_and_a_third_does_not() {
    let verifier = PostbackVerifier::new(SECRET).with_previous_secret(OLD_SECRET);
    for secret in [SECRET, OLD_SECRET] {
        let signed = PostbackSigner::new(secret).sign_params(BASE, now());
        assert_eq!(
            verifier.verify_params(signed.as_bytes(), now()).unwrap(),
            format!("{BASE}&signed_at=1780315200").as_bytes()
        );
    }
    let stranger = PostbackSigner::new(b"whsec-other").sign_params(BASE, now());
    assert!(matches!(
        verifier.verify_params(stranger.as_bytes(), now()),
        Err(SignatureError::WrongMac)
    ));
    let old_only = PostbackSigner::new(OLD_SECRET).sign_params(BASE, now());
    assert!(matches!(
        PostbackVerifier::new(SECRET).verify_params(old_only.as_bytes(), now()),
        Err(SignatureError::WrongMac)
    ));
}

#[test]
fn the_tolerance_is_inclusive_both_ways_and_configurable() {
    let verifier = PostbackVerifier::new(SECRET);
    let check = |verifier: &PostbackVerifier, signed_at: DateTime<Utc>| {
        let signature = PostbackSigner::new(SECRET).sign(signed_at, BASE.as_bytes());
        verifier.verify(Some(&unix(signed_at)), Some(&signature), BASE.as_bytes(), now())
    };
    assert!(check(&verifier, now() - secs(300)).is_ok());
    assert!(check(&verifier, now() + secs(300)).is_ok());
    assert_eq!(
        check(&verifier, now() - secs(301)),
        Err(SignatureError::TooOld {
            signed_at: now() - secs(301),
            now: now(),
            tolerance_secs: 300
        })
    );
    assert_eq!(
        check(&verifier, now() + secs(301)),
        Err(SignatureError::TooNew {
            signed_at: now() + secs(301),
            now: now(),
            tolerance_secs: 300
        })
    );
    let strict = verifier.clone().with_tolerance(Duration::from_secs(30));
    assert!(check(&strict, now() - secs(31)).is_err());
    assert!(check(&strict, now() - secs(30)).is_ok());
    assert_eq!(
        check(&strict, now() - secs(31)).unwrap_err().to_string(),
        "postback signed at 2026-06-01 11:59:29 UTC is more than 30 s older than now (2026-06-01 12:00:00 UTC)"
    );
    let lax = verifier.with_tolerance(Duration::MAX);
    assert!(check(&lax, now() - days(10_000)).is_ok());
}

#[test]
fn every_signature_error_is_typed() {
    let verifier = PostbackVerifier::new(SECRET);
    let ts = unix(now());
    let good = PostbackSigner::new(SECRET).sign(now(), BASE.as_bytes());
    let body = BASE.as_bytes();
    let header_cases = [
        (
            verifier.verify(Some(&ts), None, body, now()),
            SignatureError::MissingSignature,
            "postback has no signature",
        ),
        (
            verifier.verify(None, Some(&good), body, now()),
            SignatureError::MissingTimestamp,
            "postback has no signing timestamp",
        ),
        (
            verifier.verify(Some("soon"), Some(&good), body, now()),
            SignatureError::BadTimestamp {
                value: excerpt("soon"),
            },
            r#"signing timestamp "soon" is not unix seconds"#,
        ),
        (
            verifier.verify(Some("-1"), Some(&good), body, now()),
            SignatureError::BadTimestamp { value: excerpt("-1") },
            r#"signing timestamp "-1" is not unix seconds"#,
        ),
        (
            verifier.verify(Some("1780315200.5"), Some(&good), body, now()),
            SignatureError::BadTimestamp {
                value: excerpt("1780315200.5"),
            },
            r#"signing timestamp "1780315200.5" is not unix seconds"#,
        ),
        (
            verifier.verify(Some(&ts), Some("zz"), body, now()),
            SignatureError::BadHex { value: excerpt("zz") },
            r#"signature "zz" is not hex"#,
        ),
        (
            verifier.verify(Some(&ts), Some("abc"), body, now()),
            SignatureError::BadHex {
                value: excerpt("abc"),
            },
            r#"signature "abc" is not hex"#,
        ),
        (
            verifier.verify(Some(&ts), Some(&good[..32]), body, now()),
            SignatureError::WrongMac,
            "a truncated signature is wrong",
        ),
        (
            verifier.verify(Some(&ts), Some(&good), b"transaction_id=ORD-2", now()),
            SignatureError::WrongMac,
            "a tampered payload is wrong",
        ),
        (
            verifier.verify(Some(&unix(now() - secs(1))), Some(&good), body, now()),
            SignatureError::WrongMac,
            "a changed timestamp is wrong",
        ),
    ];
    for (got, want, message) in header_cases {
        let err = got.expect_err(message);
        assert_eq!(err, want, "{message}");
        if !message.starts_with("a ") {
            assert_eq!(err.to_string(), message);
        }
    }

    let signed = PostbackSigner::new(SECRET).sign_params(BASE, now());
    let (unsigned, signature) = signed.rsplit_once("&signature=").unwrap();
    let param_cases = [
        (unsigned.to_owned(), SignatureError::MissingSignature),
        (format!("{signed}&x=1"), SignatureError::SignatureNotLast),
        (
            format!("signature={signature}&{signed}"),
            SignatureError::Duplicate { param: "signature" },
        ),
        (
            format!("{unsigned}&signed_at=1780315200&signature={signature}"),
            SignatureError::Duplicate { param: "signed_at" },
        ),
        (
            format!("{BASE}&signature={signature}"),
            SignatureError::MissingTimestamp,
        ),
        (String::new(), SignatureError::MissingSignature),
    ];
    for (input, want) in param_cases {
        assert_eq!(
            verifier.verify_params(input.as_bytes(), now()),
            Err(want),
            "{input}"
        );
    }
    assert_eq!(
        SignatureError::Duplicate { param: "signed_at" }.to_string(),
        "parameter signed_at appears more than once in signed postback"
    );
    assert_eq!(
        SignatureError::SignatureNotLast.to_string(),
        "parameter signature is not the last parameter of the postback"
    );
}

#[test]
fn an_empty_secret_fails_closed() {
    let signature = PostbackSigner::new(b"").sign(now(), BASE.as_bytes());
    assert_eq!(
        PostbackVerifier::new(b"").verify(Some(&unix(now())), Some(&signature), BASE.as_bytes(), now()),
        Err(SignatureError::WrongMac)
    );
    // A rotation that left the previous slot empty still accepts the current secret.
    let signature = PostbackSigner::new(SECRET).sign(now(), BASE.as_bytes());
    let verifier = PostbackVerifier::new(SECRET).with_previous_secret(b"");
    assert!(
        verifier
            .verify(Some(&unix(now())), Some(&signature), BASE.as_bytes(), now())
            .is_ok()
    );
}

#[test]
fn the_mac_is_checked_before_the_time_so_a_stale_forgery_is_called_a_forgery() {
    let verifier = PostbackVerifier::new(SECRET);
    let forged = PostbackSigner::new(b"guess").sign(now() - days(1), BASE.as_bytes());
    assert!(matches!(
        verifier.verify(
            Some(&unix(now() - days(1))),
            Some(&forged),
            BASE.as_bytes(),
            now()
        ),
        Err(SignatureError::WrongMac)
    ));
}

#[test]
fn a_verifier_never_shows_its_secrets() {
    let verifier = PostbackVerifier::new(b"top-secret").with_previous_secret(b"old-secret");
    let shown = format!("{verifier:?} {:?}", PostbackSigner::new(b"top-secret"));
    assert!(!shown.contains("116, 111, 112"), "{shown}");
    assert!(!shown.contains("top-secret"), "{shown}");
}

// The whole trip.

#[test]
fn a_signed_inbound_postback_is_attributed_once_and_reported_to_the_partner() {
    let world = World::new(Policy::coupon_first());
    world.code("MKBHD10", A);
    let body = "transaction_id=ORD-5&event=purchase&timestamp=1780315200&code=mkbhd10&amount=20&currency=USD";
    let signed = PostbackSigner::new(SECRET).sign_params(body, now() + secs(3));

    let payload = PostbackVerifier::new(SECRET)
        .verify_params(signed.as_bytes(), now() + secs(5))
        .unwrap();
    let conversion = PostbackParser::new().parse(payload).unwrap();
    let decision = world.attribute(&conversion);
    assert_eq!(decision.primary(), Some(A));
    // A retried postback is the same decision.
    assert_eq!(
        world.attribute(&PostbackParser::new().parse(payload).unwrap()),
        decision
    );

    let template =
        PostbackTemplate::parse("https://partner.example/pb?tx={transaction_id}&code={code}&p={amount}")
            .unwrap();
    assert_eq!(
        template.render(&conversion, &decision, None),
        "https://partner.example/pb?tx=ORD-5&code=MKBHD10&p=20"
    );
}

// Property tests.

fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{1,16}",
        "[&=#?/%+;:@!,]{1,16}",
        "[^\\s\\p{Cc}]{1,16}"
    ]
}

fn event() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Registration),
        Just(EventKind::FirstDeposit),
        Just(EventKind::Deposit),
        Just(EventKind::ChallengePurchase),
        Just(EventKind::ChallengeReset),
        Just(EventKind::Purchase),
        Just(EventKind::Custom(Label::new("vip upsell").unwrap())),
        Just(EventKind::Custom(Label::new("état+€").unwrap())),
    ]
}

/// Any instant from 1970 to 9999, to the nanosecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

fn amount() -> impl Strategy<Value = Option<(Amount, Currency)>> {
    proptest::option::of((
        (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(Amount::from_ten_thousandths),
        "[A-Za-z]{3}".prop_map(|s| s.parse::<Currency>().unwrap()),
    ))
}

fn conversion() -> impl Strategy<Value = Conversion> {
    (
        id_text(),
        event(),
        instant(),
        proptest::option::of(id_text()),
        proptest::option::of("[A-Za-z0-9]{3,12}"),
        amount(),
    )
        .prop_filter_map("valid ids", |(id, event, at, click, code, amount)| {
            let mut conversion = Conversion::new(id.parse().ok()?, event, at);
            if let Some(click) = click {
                conversion = conversion.with_click(click.parse().ok()?);
            }
            if let Some(code) = code {
                conversion = conversion.with_code(CouponCode::parse(&code).ok()?);
            }
            if let Some((amount, currency)) = amount {
                conversion = conversion.with_amount(amount, currency);
            }
            Some(conversion)
        })
}

/// The conversion's click and code, both affiliate A's, as evidence.
fn evidence_for(conversion: &Conversion) -> Evidence {
    let mut evidence = Evidence::new();
    if let Some(code) = conversion.codes.first() {
        let owner = CodeAssignment::new(*code, A, conversion.occurred_at - TimeDelta::days(30));
        evidence = evidence.with_code(*code, CodeLookup::Active(owner));
    }
    if let Some(id) = conversion.click {
        evidence = evidence.with_click(ClickEvidence {
            id,
            affiliate: A,
            clicked_at: conversion.occurred_at - TimeDelta::days(1),
        });
    }
    evidence
}

const ROUND_TRIP: &str = "https://partner.example/pb?transaction_id={transaction_id}&event={event}\
    &timestamp={timestamp}&click_id={click_id}&code={code}&amount={amount}&currency={currency}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_rendered_postback_parses_back_into_the_same_conversion(conversion in conversion()) {
        let decision = resolve(&conversion, &evidence_for(&conversion), &Policy::coupon_first());
        let rendered = PostbackTemplate::parse(ROUND_TRIP).unwrap().render_for(A, &conversion, &decision, None);
        let (_, query) = rendered.split_once('?').unwrap();
        let declared = [Label::new("vip upsell").unwrap(), Label::new("état+€").unwrap()];
        let parsed = PostbackParser::new().with_custom_events(&declared).parse(query).unwrap();
        prop_assert_eq!(parsed, conversion);
    }

    #[test]
    fn the_unix_timestamp_reads_back_to_the_second(at in instant()) {
        let conversion = Conversion::new("T-1".parse().unwrap(), EventKind::Deposit, at);
        let decision = resolve(&conversion, &Evidence::new(), &Policy::coupon_first());
        let rendered = PostbackTemplate::parse("https://p.example/?transaction_id={transaction_id}&event={event}&timestamp={timestamp_unix}")
            .unwrap()
            .render(&conversion, &decision, None);
        let (_, query) = rendered.split_once('?').unwrap();
        let parsed = PostbackParser::new().parse(query).unwrap();
        prop_assert_eq!(parsed.occurred_at.timestamp(), at.timestamp());
        prop_assert_eq!(parsed.occurred_at.timestamp_subsec_nanos(), 0);
    }

    #[test]
    fn what_is_signed_verifies_within_the_tolerance_and_only_then(
        secret in prop::collection::vec(any::<u8>(), 1..100),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        skew in -400i64..400,
    ) {
        let signed_at = now() + secs(skew);
        let signature = PostbackSigner::new(&secret).sign(signed_at, &payload);
        let got = PostbackVerifier::new(&secret).verify(Some(&unix(signed_at)), Some(&signature), &payload, now());
        match skew {
            -300..=300 => prop_assert_eq!(got, Ok(signed_at)),
            ..=-301 => prop_assert!(matches!(got, Err(SignatureError::TooOld { .. })), "{got:?}"),
            _ => prop_assert!(matches!(got, Err(SignatureError::TooNew { .. })), "{got:?}"),
        }
    }
}

fn postback_like() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "transaction_id",
        "event",
        "timestamp",
        "click_id",
        "code",
        "amount",
        "currency",
        "customer_id",
        "signed_at",
        "signature",
        "x",
        "",
    ]);
    let value = prop_oneof![
        any::<String>(),
        "[0-9]{0,22}",
        "-?[0-9]{0,20}\\.[0-9]{0,6}",
        "[A-Za-z0-9,% +-]{0,40}",
        Just("purchase".to_owned()),
        Just("2026-06-01T12%3A00%3A00Z".to_owned()),
    ];
    prop::collection::vec((name, value), 0..10).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn template_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("https://p.example/?a=".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        prop::sample::select(Macro::ALL.to_vec()).prop_map(|m| m.to_string()),
        "[a-z_{}]{0,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parsing_any_bytes_as_a_postback_never_panics(bytes in any::<Vec<u8>>()) {
        let _ = PostbackParser::new().parse(&bytes);
        let _ = PostbackVerifier::new(SECRET).verify_params(&bytes, now());
        let text = String::from_utf8_lossy(&bytes);
        let _ = PostbackVerifier::new(SECRET).verify(Some(&text), Some(&text), &bytes, now());
        let _ = PostbackTemplate::parse(&text);
    }

    #[test]
    fn parsing_any_postback_like_text_returns_a_conversion_or_a_named_field(input in postback_like()) {
        match PostbackParser::new().parse(&input) {
            Ok(conversion) => prop_assert!(conversion.codes.len() <= MAX_POSTBACK_CODES),
            Err(e) => prop_assert!(e.to_string().contains(e.field())),
        }
        let _ = PostbackVerifier::new(SECRET).verify_params(input.as_bytes(), now());
    }

    #[test]
    fn any_template_that_parses_renders_without_panicking(input in template_like(), conversion in conversion()) {
        if let Ok(template) = PostbackTemplate::parse(&input) {
            let decision = resolve(&conversion, &evidence_for(&conversion), &Policy::split(5_000).unwrap());
            let rendered = template.render(&conversion, &decision, None);
            prop_assert!(!rendered.contains(['{', '}']), "{}", rendered);
        }
    }
}

#[test]
fn a_verifier_owns_its_secrets_so_a_service_builds_it_once_and_shares_it() {
    // Built from buffers that are gone by the time it verifies.
    let verifier = {
        let current = String::from_utf8(SECRET.to_vec()).unwrap();
        let previous = OLD_SECRET.to_vec();
        PostbackVerifier::new(&current).with_previous_secret(previous)
    };
    // Shared with request handlers on other threads: a clone keeps both
    // secrets of the rotation.
    let handlers: Vec<_> = [SECRET, OLD_SECRET, b"whsec-other"]
        .into_iter()
        .map(|secret| {
            let verifier = verifier.clone();
            let signed = PostbackSigner::new(secret).sign_params(BASE, now());
            std::thread::spawn(move || verifier.verify_params(signed.as_bytes(), now()).is_ok())
        })
        .collect();
    let accepted: Vec<bool> = handlers.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(accepted, [true, true, false]);
}
