//! Every id type, amounts, currencies and event names, from any text: a
//! value accepted once reads back as itself from its own text.
#![no_main]

use attributor::{
    AffiliateId, Amount, Campaign, ClickId, ConversionId, Currency, CustomerId, EventKind, Excerpt, Label,
    ProgramId, SubId,
};
use attributor_fuzz::text;
use libfuzzer_sys::fuzz_target;

macro_rules! round_trip {
    ($ty:ty, $s:expr) => {
        match <$ty>::new($s) {
            Ok(id) => {
                assert_eq!(id.as_str(), $s, "an accepted id is kept as given");
                assert_eq!(<$ty>::new(id.as_str()), Ok(id));
                assert_eq!(id.to_string().parse::<$ty>(), Ok(id));
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let s = &text(data);
    round_trip!(ConversionId, s);
    round_trip!(ProgramId, s);
    round_trip!(ClickId, s);
    round_trip!(CustomerId, s);
    round_trip!(Label, s);
    round_trip!(SubId, s);
    round_trip!(Campaign, s);

    if let Ok(affiliate) = s.parse::<AffiliateId>() {
        assert_eq!(affiliate.to_string().parse::<AffiliateId>(), Ok(affiliate));
    }
    if let Ok(amount) = s.parse::<Amount>() {
        assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount), "{s:?}");
    }
    if let Ok(currency) = s.parse::<Currency>() {
        assert_eq!(currency.as_str().parse::<Currency>(), Ok(currency));
        assert_eq!(currency.as_str(), s.to_ascii_uppercase());
    }
    if let Ok(event) = s.parse::<EventKind>() {
        assert_eq!(event.name().parse::<EventKind>(), Ok(event));
        assert_eq!(event.to_string(), event.name());
    }
    let excerpt = Excerpt::new(s);
    assert!(s.starts_with(excerpt.as_str()));
    assert!(excerpt.as_str().len() <= attributor::MAX_LABEL_LEN);
});
