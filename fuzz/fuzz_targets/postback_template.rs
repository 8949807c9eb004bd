//! `PostbackTemplate::parse` on any template, then rendering it with values
//! a visitor or an advertiser chose. A template reads back as itself from
//! its text, and no value moves the postback to another server, path
//! segment, query parameter or fragment.
//!
//! Input lines: the template, the click id, the coupon code, sub1, then
//! the inbound postback the conversion is read from (the rest).
#![no_main]

use attributor::{
    AffiliateId, Click, ClickId, CodeAssignment, CodeLookup, Conversion, CouponCode, EventKind, Evidence,
    Policy, PostbackParser, PostbackTemplate, SubId, SubIds, resolve,
};
use attributor_fuzz::{fields, text};
use chrono::{DateTime, TimeDelta};
use libfuzzer_sys::fuzz_target;
use url::Url;

fn render(
    template: &PostbackTemplate,
    mut conversion: Conversion,
    click: ClickId,
    code: CouponCode,
    sub1: SubId,
) -> String {
    let affiliate = AffiliateId::new(7);
    let since = DateTime::from_timestamp(0, 0).expect("a valid instant");
    conversion.click = Some(click);
    let clicked_at = conversion.occurred_at - TimeDelta::minutes(5);
    let click = Click::new(click, affiliate, clicked_at).with_sub_ids(SubIds::default().with(1, sub1));
    let evidence = Evidence::new()
        .with_code(
            code,
            CodeLookup::Active(CodeAssignment::new(code, affiliate, since)),
        )
        .with_click(click);
    let decision = resolve(&conversion, &evidence, &Policy::coupon_first());
    template.render_for(affiliate, &conversion, &decision, Some(&click))
}

/// What a value must not change: where the postback goes, and its shape.
/// (The query's pairs are counted apart: an empty value may leave a pair
/// out, and no value may add one.)
fn shape(url: &Url) -> impl PartialEq + std::fmt::Debug {
    (
        (
            url.scheme().to_owned(),
            url.username().to_owned(),
            url.password().map(str::to_owned),
        ),
        (url.host_str().map(str::to_owned), url.port()),
        url.path_segments().map(Iterator::count),
        url.fragment().is_some(),
    )
}

fuzz_target!(|data: &[u8]| {
    let [template, click, code, sub1, postback] = fields::<5>(data);
    let Ok(template) = PostbackTemplate::parse(&text(template)) else {
        return;
    };
    assert_eq!(PostbackTemplate::parse(template.as_str()), Ok(template.clone()));
    assert_eq!(
        template.to_string().parse::<PostbackTemplate>(),
        Ok(template.clone())
    );

    let at = DateTime::from_timestamp(1_780_315_200, 0).expect("a valid instant");
    // Every macro renders a value in the baseline.
    let plain = Conversion::new("ORD-1".parse().expect("an id"), EventKind::Purchase, at).with_amount(
        "1".parse().expect("an amount"),
        "USD".parse().expect("a currency"),
    );
    let (click_1, code_1, sub_1) = ("c-1".parse(), CouponCode::parse("CODE1"), "s1".parse());
    let (Ok(click_1), Ok(code_1), Ok(sub_1)) = (click_1, code_1, sub_1) else {
        unreachable!("valid values")
    };
    let baseline = render(&template, plain.clone(), click_1, code_1, sub_1);
    let baseline = Url::parse(&baseline).expect("a template renders a URL");

    let conversion = PostbackParser::new().parse(postback).unwrap_or(plain);
    let (Ok(click), Ok(code), Ok(sub1)) = (
        ClickId::new(&text(click)),
        CouponCode::parse(&text(code)),
        SubId::new(&text(sub1)),
    ) else {
        return;
    };
    let rendered = render(&template, conversion, click, code, sub1);
    let Ok(url) = Url::parse(&rendered) else {
        panic!("{rendered:?} is not a URL");
    };
    assert_eq!(shape(&url), shape(&baseline), "{rendered:?} against {baseline}");
    assert!(
        url.query_pairs().count() <= baseline.query_pairs().count(),
        "{rendered:?} against {baseline}"
    );
});
