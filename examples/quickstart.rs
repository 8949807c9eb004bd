//! Attribute a handful of conversions with the in-memory stores and print
//! each decision: a coupon, a click, a code against a click, and a binding.
//!
//! Run with `cargo run --example quickstart`.

use attributor::{
    AffiliateId, Attributor, BindingLifetime, Click, CodeAssignment, Conversion, CouponCode, CreditMode,
    EventKind, EventKinds, MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy,
    PolicySet, Recorded,
};
use chrono::{TimeDelta, TimeZone, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc
        .with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .ok_or("bad date")?;
    let creator = AffiliateId::new(7); // a YouTube creator with a vanity code
    let blogger = AffiliateId::new(9); // a review site with tracked links
    let podcaster = AffiliateId::new(11);

    let registry = MemoryCodeRegistry::new();
    registry.assign(CouponCode::parse("MKBHD10")?, creator, now - TimeDelta::days(90))?;
    registry.insert(
        CodeAssignment::new(
            CouponCode::parse("PODCAST")?,
            podcaster,
            now - TimeDelta::days(30),
        )
        .with_mode(CreditMode::IfInvolved),
    )?;
    println!(
        "registered codes: MKBHD10 (affiliate {creator}), PODCAST (affiliate {podcaster}, needs a click)"
    );

    let clicks = MemoryClickStore::new();
    let click =
        |id: &str, affiliate, ago: TimeDelta, customer: &str| -> Result<Click, Box<dyn std::error::Error>> {
            Ok(Click::new(id.parse()?, affiliate, now - ago).with_customer(customer.parse()?))
        };
    clicks.insert(click("clk-1", blogger, TimeDelta::days(3), "ann")?)?;
    clicks.insert(click("clk-2", blogger, TimeDelta::days(45), "bob")?)?;
    clicks.insert(click("clk-3", blogger, TimeDelta::days(1), "cat")?)?;
    clicks.insert(click("clk-4", blogger, TimeDelta::days(6), "dan")?)?;

    // Coupon first for purchases; a registration binds the customer for a year.
    let policies = PolicySet::new(Policy::coupon_first()).with(
        EventKind::Registration,
        Policy::click_first()
            .with_bind_on(EventKinds::REGISTRATION)
            .with_binding_lifetime(BindingLifetime::Days(365)),
    );
    let attributor = Attributor::new(
        registry,
        clicks,
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        policies,
    );

    let at = |ago: TimeDelta| now - ago;
    let conversions = [
        // An influencer code, no click: the creator.
        Conversion::new("ORD-1".parse()?, EventKind::Purchase, now)
            .with_customer("zoe".parse()?)
            .with_code(CouponCode::parse(" mkbhd-10 ")?),
        // A click alone, inside the 30-day window: the blogger.
        Conversion::new("ORD-2".parse()?, EventKind::Purchase, now)
            .with_customer("ann".parse()?)
            .with_click("clk-1".parse()?),
        // A click 45 days old: nobody.
        Conversion::new("ORD-3".parse()?, EventKind::Purchase, now)
            .with_customer("bob".parse()?)
            .with_click("clk-2".parse()?),
        // A code and another affiliate's click: coupon first wins.
        Conversion::new("ORD-4".parse()?, EventKind::Purchase, now)
            .with_customer("cat".parse()?)
            .with_code(CouponCode::parse("MKBHD10")?),
        // A leaked code without its owner's click: not credited.
        Conversion::new("ORD-5".parse()?, EventKind::Purchase, now)
            .with_customer("eve".parse()?)
            .with_code(CouponCode::parse("podcast")?),
        // A registration through a click binds the customer...
        Conversion::new("REG-6".parse()?, EventKind::Registration, at(TimeDelta::days(5)))
            .with_customer("dan".parse()?)
            .with_click("clk-4".parse()?),
        // ...so a later purchase with another affiliate's code stays with the blogger.
        Conversion::new("ORD-7".parse()?, EventKind::Purchase, now)
            .with_customer("dan".parse()?)
            .with_code(CouponCode::parse("MKBHD10")?),
    ];

    for conversion in &conversions {
        let attributed = attributor.attribute(conversion)?;
        println!("{}", attributed.decision);
    }

    // A retried postback is answered from the ledger, and says so: act on a
    // decision (send the partner's postback, book the payout) only when it
    // is new.
    let retry = attributor.attribute(&conversions[0])?;
    assert_eq!(retry.recorded, Recorded::Before);
    println!(
        "retry of {}: {} ledger entries, same decision, recorded before",
        retry.decision.conversion,
        attributor.ledger().len()
    );
    Ok(())
}
