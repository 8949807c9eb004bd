//! `TrackedLink::parse` on any link, and `TrackedLink::build` from any
//! parts onto any landing URL: a link built reads back as the parts it was
//! built from, and a link read builds and reads back as itself.
//!
//! Input lines: the affiliate parameter's name (empty for the default), the
//! click id, sub1, sub5, the campaign, the landing URL, then the link to
//! read (the rest).
#![no_main]

use attributor::{AffiliateId, Campaign, ClickId, LinkParams, SubId, TrackedLink};
use attributor_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let [name, click, sub1, sub5, campaign, landing, link] = fields::<7>(data).map(text);
    let params = match name.as_str() {
        "" => LinkParams::default(),
        name => match LinkParams::default().with_affiliate(name) {
            Ok(params) => params,
            Err(_) => return,
        },
    };

    if let Ok(read) = TrackedLink::parse(&link, &params) {
        let built = read
            .build("https://shop.example/landing", &params)
            .expect("a link read from a link builds");
        assert_eq!(
            TrackedLink::parse(&built, &params),
            Ok(read),
            "{link:?} -> {built:?}"
        );
    }

    let affiliate = AffiliateId::new(link.len() as u64 * 7919);
    let mut parts = TrackedLink::new(affiliate);
    if let Ok(click) = ClickId::new(&click) {
        parts = parts.with_click(click);
    }
    for (n, value) in [(1, &sub1), (5, &sub5)] {
        if let Ok(value) = SubId::new(value) {
            parts = parts.with_sub(n, value);
        }
    }
    if let Ok(campaign) = Campaign::new(&campaign) {
        parts = parts.with_campaign(campaign);
    }
    let Ok(built) = parts.build(&landing, &params) else {
        return;
    };
    assert_eq!(
        TrackedLink::parse(&built, &params),
        Ok(parts),
        "{landing:?} -> {built:?}"
    );
    // The link goes where the landing URL went.
    let (before, after) = (Url::parse(&landing), Url::parse(&built));
    let (Ok(before), Ok(after)) = (before, after) else {
        panic!("a built link is a URL: {landing:?} -> {built:?}");
    };
    assert_eq!(before.scheme(), after.scheme());
    assert_eq!(before.host(), after.host());
    assert_eq!(before.port(), after.port());
    assert_eq!(before.path(), after.path());
    assert_eq!(before.fragment(), after.fragment());
});
