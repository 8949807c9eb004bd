//! An iGaming operator: a registration through an affiliate's tracked link
//! binds the player to it; a first deposit later made with another
//! affiliate's bonus code stays with the binding.
//!
//! Run with `cargo run --example igaming`.

use attributor::{
    AffiliateId, Attributor, BindingLifetime, Click, Conversion, CouponCode, EventKind, EventKinds,
    MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Method, Outcome, Policy, Subject,
    resolve,
};
use chrono::{TimeDelta, TimeZone, Utc};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let day0 = Utc
        .with_ymd_and_hms(2026, 4, 10, 20, 0, 0)
        .single()
        .ok_or("bad date")?;
    let reviews = AffiliateId::new(61); // a casino review site with tracked links
    let streamer = AffiliateId::new(62); // a slots streamer with the code SPINS50

    let registry = MemoryCodeRegistry::new();
    registry.assign(
        CouponCode::parse("SPINS50")?,
        streamer,
        day0 - TimeDelta::days(200),
    )?;
    let clicks = MemoryClickStore::new();
    clicks.insert(
        Click::new("rv-1".parse()?, reviews, day0 - TimeDelta::minutes(20))
            .with_customer("player-1".parse()?),
    )?;

    // Registrations bind the player to the affiliate credited, for a year.
    let policy = Policy::coupon_first()
        .with_bind_on(EventKinds::REGISTRATION)
        .with_binding_lifetime(BindingLifetime::Days(365));
    println!("policy: coupon-first; a registration binds the player for 365 days\n");
    let attributor = Attributor::new(
        registry,
        clicks,
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        policy,
    );

    let registration = Conversion::new("REG-1".parse()?, EventKind::Registration, day0)
        .with_customer("player-1".parse()?)
        .with_click("rv-1".parse()?);
    let reg = attributor.attribute(&registration)?;
    println!("player-1 registers through the review site's link:\n  {reg}\n");

    let first_deposit = Conversion::new(
        "FTD-1".parse()?,
        EventKind::FirstDeposit,
        day0 + TimeDelta::days(3),
    )
    .with_customer("player-1".parse()?)
    .with_code(CouponCode::parse("spins50")?)
    .with_amount("50".parse()?, "EUR".parse()?);
    let ftd = attributor.attribute(&first_deposit)?;
    println!("three days later, the first deposit with the streamer's bonus code:\n  {ftd}\n");
    let code_outcome = ftd
        .decision
        .considered
        .iter()
        .find(|c| matches!(c.subject, Subject::Code { .. }))
        .map(|c| c.outcome);
    assert_eq!(
        ftd.decision.credits.first().map(|c| (c.affiliate, c.method)),
        Some((reviews, Method::Binding))
    );
    assert_eq!(code_outcome, Some(Outcome::BindingHeld { affiliate: reviews }));
    println!(
        "the binding is left in place: player-1 has {} binding(s), still to affiliate {reviews}\n",
        attributor.bindings().history(&"player-1".parse()?).len()
    );

    let other = Conversion::new(
        "FTD-2".parse()?,
        EventKind::FirstDeposit,
        day0 + TimeDelta::days(3),
    )
    .with_customer("player-2".parse()?)
    .with_code(CouponCode::parse("SPINS50")?)
    .with_amount("20".parse()?, "EUR".parse()?);
    println!(
        "player-2, never bound, deposits with the same code:\n  {}\n",
        attributor.attribute(&other)?
    );

    // What an operator who lets bonus codes break bindings would see, from
    // the same evidence, with the pure resolver.
    let breaking = policy.with_coupon_breaks_binding(true);
    let evidence = attributor.gather(&first_deposit, &breaking)?;
    println!(
        "had codes been allowed to break bindings, FTD-1 would read:\n  {}",
        resolve(&first_deposit, &evidence, &breaking)
    );
    Ok(())
}
