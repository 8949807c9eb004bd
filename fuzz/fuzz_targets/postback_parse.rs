//! `PostbackParser::parse` on any bytes an advertiser's server might send.
//! A conversion read from a postback reads back the same from its JSON, and
//! from the postback a template renders of it.
#![no_main]

use attributor::{Conversion, Evidence, Label, Policy, PostbackParser, PostbackTemplate, resolve};
use libfuzzer_sys::fuzz_target;

/// Every field the template language can send back of a conversion.
const ECHO: &str = "https://advertiser.example/pb?transaction_id={transaction_id}&event={event}\
    &timestamp={timestamp}&amount={amount}&currency={currency}";

fuzz_target!(|data: &[u8]| {
    let upsell = [Label::new("upsell").expect("a valid label")];
    let parser = PostbackParser::new().with_custom_events(&upsell);
    let conversion = match parser.parse(data) {
        Ok(conversion) => conversion,
        Err(error) => {
            let _ = (error.to_string(), error.field());
            return;
        }
    };
    assert_eq!(conversion.amount.is_some(), conversion.currency.is_some());

    let json = serde_json::to_string(&conversion).expect("a conversion serialises");
    let read: Conversion = serde_json::from_str(&json).expect("its own JSON reads back");
    assert_eq!(read, conversion, "{json}");

    let template = PostbackTemplate::parse(ECHO).expect("the echo template is valid");
    let decision = resolve(&conversion, &Evidence::new(), &Policy::coupon_first());
    let rendered = template.render(&conversion, &decision, None);
    let query = rendered.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let again = parser.parse(query).expect("a rendered postback parses");
    assert_eq!(again.id, conversion.id);
    assert_eq!(again.event, conversion.event);
    assert_eq!(again.occurred_at, conversion.occurred_at, "{rendered}");
    assert_eq!(again.amount, conversion.amount);
    assert_eq!(again.currency, conversion.currency);
});
