//! A prop trading firm: challenge purchases under coupon-first, the first
//! purchase binding the trader to the affiliate it credited, so that resets
//! and repeat purchases stay with that affiliate whatever code or link comes
//! later.
//!
//! Run with `cargo run --example prop_trading`.

use std::collections::BTreeMap;

use attributor::{
    AffiliateId, Amount, Attributor, Click, Conversion, CouponCode, EventKind, EventKinds,
    MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy,
};
use chrono::{TimeDelta, TimeZone, Utc};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let day0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("bad date")?;
    let at = |days: i64, hours: i64| day0 + TimeDelta::days(days) + TimeDelta::hours(hours);
    let youtuber = AffiliateId::new(41); // a trading YouTuber with the code FUNDED10
    let discord = AffiliateId::new(42); // a Discord community with tracked links
    let educator = AffiliateId::new(43); // a trading educator with the code PIPS

    let registry = MemoryCodeRegistry::new();
    registry.assign(
        CouponCode::parse("FUNDED10")?,
        youtuber,
        day0 - TimeDelta::days(365),
    )?;
    registry.assign(CouponCode::parse("PIPS")?, educator, day0 - TimeDelta::days(365))?;
    let clicks = MemoryClickStore::new();
    let click = |id: &str, affiliate, when, trader: &str| -> Result<Click> {
        Ok(Click::new(id.parse()?, affiliate, when).with_customer(trader.parse()?))
    };
    clicks.insert(click("dc-1", discord, at(0, 0), "trader-ann")?)?;
    clicks.insert(click("dc-2", discord, at(1, 0), "trader-ben")?)?;
    clicks.insert(click("dc-3", discord, at(60, 0), "trader-ann")?)?;

    // Coupon first for every event; the first challenge purchase binds the
    // trader to the affiliate it credits, for good.
    let policy = Policy::coupon_first().with_bind_on(EventKinds::CHALLENGE_PURCHASE);
    println!("policy: coupon-first; a challenge purchase binds the trader to the affiliate credited\n");
    let attributor = Attributor::new(
        registry,
        clicks,
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        policy,
    );

    let event = |id: &str, kind, trader: &str, when, price: &str| -> Result<Conversion> {
        Ok(Conversion::new(id.parse()?, kind, when)
            .with_customer(trader.parse()?)
            .with_amount(price.parse()?, "USD".parse()?))
    };
    let story = [
        (
            "Ann came from the Discord link, then typed the YouTuber's code at checkout: coupon first.",
            event(
                "CP-1",
                EventKind::ChallengePurchase,
                "trader-ann",
                at(0, 2),
                "199",
            )?
            .with_code(CouponCode::parse("funded10")?),
        ),
        (
            "She failed the challenge and pays for a reset with the educator's code: the binding holds.",
            event("RS-1", EventKind::ChallengeReset, "trader-ann", at(12, 0), "99")?
                .with_code(CouponCode::parse("PIPS")?),
        ),
        (
            "Two months on she buys a bigger challenge through the Discord link again: still the YouTuber.",
            event(
                "CP-2",
                EventKind::ChallengePurchase,
                "trader-ann",
                at(60, 1),
                "299",
            )?,
        ),
        (
            "Ben came from the Discord link and bought with no code: the link's affiliate.",
            event("CP-3", EventKind::ChallengePurchase, "trader-ben", at(1, 3), "99")?,
        ),
        (
            "Ben's reset, 40 days later and long out of the click window, follows his binding.",
            event("RS-2", EventKind::ChallengeReset, "trader-ben", at(41, 0), "79")?,
        ),
        (
            "Cat typed the educator's code: coupon first, no click needed.",
            event(
                "CP-4",
                EventKind::ChallengePurchase,
                "trader-cat",
                at(5, 0),
                "199",
            )?
            .with_code(CouponCode::parse("PIPS")?),
        ),
    ];

    let mut earned: BTreeMap<AffiliateId, Amount> = BTreeMap::new();
    let mut decisions = Vec::new();
    for (what, conversion) in &story {
        let decision = attributor.attribute(conversion)?;
        println!("{what}\n  {decision}\n");
        for credit in &decision.decision.credits {
            let amount = conversion.amount.unwrap_or(Amount::ZERO).share(credit.share);
            let total = earned.entry(credit.affiliate).or_insert(Amount::ZERO);
            *total = total.saturating_add(amount);
        }
        decisions.push(decision);
    }

    // The postback for Ann's first purchase arrives again: credited once.
    let (_, first) = &story[0];
    let again = attributor.attribute(first)?;
    println!(
        "the postback for {} is retried: {}, and the ledger holds {} decisions for {} conversions",
        first.id,
        if again == decisions[0] {
            "the recorded decision comes back"
        } else {
            "a new decision (a bug!)"
        },
        attributor.ledger().len(),
        story.len()
    );

    println!("\nrevenue credited per affiliate (USD):");
    for (affiliate, amount) in &earned {
        println!("  affiliate {affiliate}: {amount}");
    }
    Ok(())
}
