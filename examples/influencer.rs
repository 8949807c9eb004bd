//! Influencer codes: a YouTuber's and a podcast's codes credited with no
//! click at all, and a TikToker's code that leaked to a coupon site, found
//! by the leak signals of an experiment.
//!
//! Run with `cargo run --example influencer`.

use attributor::{
    AffiliateId, Attributor, Click, CodeAssignment, Conversion, CouponCode, CreditMode, EventKind,
    Experiment, ExperimentOptions, MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger,
    Policy,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const YOUTUBER: AffiliateId = AffiliateId::new(1);
const PODCAST: AffiliateId = AffiliateId::new(2);
const TIKTOKER: AffiliateId = AffiliateId::new(3);
const COUPON_SITE: AffiliateId = AffiliateId::new(9);

fn main() -> Result<()> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("bad date")?;
    let registry = MemoryCodeRegistry::new();
    registry.assign(CouponCode::parse("TECHTIPS")?, YOUTUBER, start)?;
    registry.assign(CouponCode::parse("PODSAVE")?, PODCAST, start)?;
    registry.assign(CouponCode::parse("GLOW20")?, TIKTOKER, start)?;
    println!("codes: TECHTIPS (YouTuber, affiliate 1), PODSAVE (podcast, 2), GLOW20 (TikToker, 3)");
    println!("links: a coupon site (affiliate 9) lists codes and tracks its clicks\n");

    // Part 1: a viewer and a listener type codes; nobody clicks anything.
    let clicks = MemoryClickStore::new();
    let attributor = Attributor::new(
        &registry,
        &clicks,
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        Policy::coupon_first(),
    );
    let now = start + TimeDelta::days(20);
    let viewer = Conversion::new("ORD-1".parse()?, EventKind::Purchase, now)
        .with_customer("viewer".parse()?)
        .with_code(CouponCode::parse("techtips")?)
        .with_amount("59".parse()?, "USD".parse()?);
    // Heard on air, typed from memory with a space.
    let listener = Conversion::new("ORD-2".parse()?, EventKind::Purchase, now)
        .with_customer("listener".parse()?)
        .with_code(CouponCode::parse("pod save")?)
        .with_amount("35".parse()?, "USD".parse()?);
    println!("codes with no click credit their owners:");
    for order in [&viewer, &listener] {
        println!("  {}", attributor.attribute(order)?);
    }

    // Part 2: four months of orders. From the last month on, GLOW20 is on
    // a coupon site: its visitors click the site's link, then type the code.
    let mut dice = 0x1234_5678_9ABC_DEF0_u64;
    let mut roll = |n: u64| {
        dice ^= dice << 13;
        dice ^= dice >> 7;
        dice ^= dice << 17;
        dice % n
    };
    let leak_starts = start + TimeDelta::days(90);
    let mut orders = Vec::new();
    for day in 0..120 {
        let midnight = start + TimeDelta::days(day);
        for (code, per_day) in [("TECHTIPS", 3), ("PODSAVE", 2), ("GLOW20", 1)] {
            for _ in 0..roll(per_day * 2 + 1) {
                orders.push((midnight + TimeDelta::seconds(roll(86_400) as i64), code, false));
            }
        }
        if midnight >= leak_starts {
            for _ in 0..4 + roll(5) {
                orders.push((midnight + TimeDelta::seconds(roll(86_400) as i64), "GLOW20", true));
            }
        }
    }
    orders.sort_by_key(|(at, _, _)| *at);
    let conversions = orders
        .iter()
        .enumerate()
        .map(|(i, (at, code, via_coupon_site))| order(&clicks, i, *at, code, *via_coupon_site))
        .collect::<Result<Vec<_>>>()?;

    let mut experiment = Experiment::new(&registry, &clicks)
        .with_policy("coupon-first".parse()?, Policy::coupon_first())
        .with_policy("click-first".parse()?, Policy::click_first())
        .with_options(ExperimentOptions::new().with_moved_limit(2));
    experiment.replay_all(&conversions)?;
    let report = experiment.report();
    println!("\nfour months of orders, replayed under coupon-first and click-first:\n");
    print!("{report}");

    for signal in report.probably_leaked() {
        println!(
            "\n{} looks leaked: {} of its {} uses had no click from affiliate {}, and {} came in the last {} days.",
            signal.code,
            signal.without_owner_click,
            signal.uses,
            signal.owner,
            signal.recent_uses,
            report.recent_days
        );
        println!(
            "Nothing was changed. TECHTIPS and PODSAVE have no clicks either, but a steady pace. \
             An operator might make {} `IfInvolved`; here is what that would do:",
            signal.code
        );
        what_if_if_involved(&registry, &clicks, &conversions, signal.code)?;
    }
    Ok(())
}

/// Order `i` at `at` with `code`; through the coupon site, with a click on
/// its link first.
fn order(
    clicks: &MemoryClickStore,
    i: usize,
    at: DateTime<Utc>,
    code: &str,
    via_site: bool,
) -> Result<Conversion> {
    let customer = format!("c-{i}").parse()?;
    if via_site {
        clicks.insert(
            Click::new(
                format!("site-{i}").parse()?,
                COUPON_SITE,
                at - TimeDelta::minutes(3),
            )
            .with_customer(customer),
        )?;
    }
    Ok(
        Conversion::new(format!("ORD-{}", 100 + i).parse()?, EventKind::Purchase, at)
            .with_customer(customer)
            .with_code(CouponCode::parse(code)?)
            .with_amount("40".parse()?, "USD".parse()?),
    )
}

/// Replays the orders against a copy of the registry in which `code` is
/// `IfInvolved` from the start.
fn what_if_if_involved(
    registry: &MemoryCodeRegistry,
    clicks: &MemoryClickStore,
    conversions: &[Conversion],
    code: CouponCode,
) -> Result<()> {
    let strict = MemoryCodeRegistry::new();
    for c in ["TECHTIPS", "PODSAVE", "GLOW20"] {
        let c = CouponCode::parse(c)?;
        for assignment in registry.history(&c) {
            let mode = if c == code {
                CreditMode::IfInvolved
            } else {
                assignment.mode
            };
            strict.insert(CodeAssignment { mode, ..assignment })?;
        }
    }
    let mut experiment =
        Experiment::new(&strict, clicks).with_policy("coupon-first".parse()?, Policy::coupon_first());
    experiment.replay_all(conversions)?;
    let report = experiment.report();
    if let Some(policy) = report.policies.first() {
        for affiliate in [TIKTOKER, COUPON_SITE] {
            let n = policy.affiliate(affiliate).map_or(0, |a| a.conversions);
            println!("  affiliate {affiliate}: {n} conversions");
        }
        let involved = policy
            .uncredited_by_reason
            .iter()
            .find(|r| r.reason == attributor::UncreditedReason::OwnerNotInvolved)
            .map_or(0, |r| r.conversions);
        println!(
            "  {involved} orders with {code} and no click at all would credit nobody: the TikToker's own fans \
             included, which is the price of the guard."
        );
    }
    Ok(())
}
