//! Generate the sample data that `replay` reads: four months of a prop
//! trading firm's affiliate program as JSON Lines, the same every time.
//!
//! ```sh
//! cargo run --all-features --example gen_data                      # writes to a temporary directory
//! cargo run --all-features --example gen_data -- --out examples/data # regenerates the shipped sample
//! ```
//!
//! The program: creators with coupon codes and no links (a YouTuber, a
//! podcast, a TikToker), a creator whose code needs her own click, review
//! sites and Discord servers with tracked links, and a coupon site. Traders
//! register, buy a challenge, sometimes reset it or buy another. In the last
//! month the TikToker's code `FUNDED20` leaks to the coupon site, whose
//! visitors click the site's link and type the code. A code changes hands,
//! one ends with its campaign, one is revoked; one affiliate trades on its
//! own links; a few postbacks arrive twice, and a few signups are reported
//! twice under two ids with the same click. Some traders buy a second
//! challenge, which a program paying once a trader does not pay. Some
//! customers mistype a code: `TOMM10` (a letter doubled), `T0M10` and
//! `P1PSPOD` (look-alikes, which a policy reading look-alikes credits).
//! A trading academy owns the family `FXACAD*`, one code for each course.
//!
//! Each line is the crate's JSON form of a `CodeAssignment`, a `Click` or a
//! `Conversion`, with null and empty fields left out (they default).
//! Conversions are in time order, as `Experiment` needs them.

use std::error::Error;
use std::fs;
use std::path::PathBuf;

use attributor::{AffiliateId, Click, CodeAssignment, Conversion, CouponCode, CreditMode, EventKind, SubIds};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// A small deterministic generator (xorshift64*), so that the sample is
/// the same on every machine.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration between `lo` and `hi` seconds.
    fn secs(&mut self, lo: i64, hi: i64) -> TimeDelta {
        TimeDelta::seconds(lo + self.below((hi - lo).max(1) as u64) as i64)
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(u64, T)]) -> &'a T {
        let total: u64 = weighted.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for (w, item) in weighted {
            if roll < *w {
                return item;
            }
            roll -= w;
        }
        &weighted[weighted.len() - 1].1
    }
}

const DAY: i64 = 86_400;
const DAYS: i64 = 120;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn end() -> DateTime<Utc> {
    start() + TimeDelta::days(DAYS)
}

/// The sample as JSON lines: assignments, clicks, conversions.
pub struct Sample {
    pub assignments: Vec<String>,
    pub clicks: Vec<String>,
    pub conversions: Vec<String>,
}

/// The crate's JSON form of `value`, fields in the order given, without
/// null or empty fields.
fn line<T: serde::Serialize>(value: &T, order: &[&str]) -> Result<String, Box<dyn Error>> {
    let serde_json::Value::Object(map) = serde_json::to_value(value)? else {
        return Err("not a JSON object".into());
    };
    let mut fields = Vec::new();
    for key in order {
        match map.get(*key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) if items.iter().all(serde_json::Value::is_null) => {}
            Some(v) => fields.push(format!(
                "{}:{}",
                serde_json::to_string(key)?,
                serde_json::to_string(v)?
            )),
        }
    }
    if map.len() > order.len() {
        return Err("a field is missing from the order".into());
    }
    Ok(format!("{{{}}}", fields.join(",")))
}

/// Generates the sample.
pub fn sample() -> Result<Sample, Box<dyn Error>> {
    let mut dice = Dice(0x5EED_CAFE_F00D_1234);
    let t0 = start();
    let day = |d: i64| t0 + TimeDelta::days(d);
    let aff = AffiliateId::new;

    // Codes: who owns which, when, and how they are credited.
    let code = |s: &str| CouponCode::parse(s);
    let assignments = [
        CodeAssignment::new(code("TOM10")?, aff(101), day(-200)),
        CodeAssignment::new(code("PIPSPOD")?, aff(102), day(-90)),
        CodeAssignment::new(code("FUNDED20")?, aff(103), day(-30)),
        CodeAssignment::new(code("ALPHA5")?, aff(104), day(-60)).with_mode(CreditMode::IfInvolved),
        // EDU15 changes hands on day 60: its creator left, a colleague took over.
        CodeAssignment::new(code("EDU15")?, aff(105), day(-120)).with_valid_until(day(60)),
        CodeAssignment::new(code("EDU15")?, aff(106), day(60)),
        // A campaign code that ends on day 45; customers keep typing it.
        CodeAssignment::new(code("SUMMER")?, aff(107), day(-10)).with_valid_until(day(45)),
        // A trading academy's family of codes, one for each of its courses.
        CodeAssignment::family(code("FXACAD")?, aff(109), day(-30)),
        // A code revoked on day 70 for breaking the program's terms.
        CodeAssignment::new(code("BONUS50")?, aff(108), day(-10))
            .with_valid_until(day(70))
            .with_revoked(true),
    ];
    // Codes customers type, by how often; some are typos.
    let typed: &[(u64, &str)] = &[
        (35, "TOM10"),
        (25, "PIPSPOD"),
        (8, "FUNDED20"),
        (8, "EDU15"),
        (8, "SUMMER"),
        (6, "BONUS50"),
        (4, "tom-10"),
        (3, "TOMM10"),
        (3, "ALPHA5"),
    ];
    let review_sites: &[(u64, u64)] = &[
        (20, 201),
        (15, 202),
        (12, 203),
        (10, 204),
        (8, 205),
        (8, 206),
        (6, 207),
        (6, 208),
        (5, 209),
        (4, 210),
    ];
    let sources: &[(u64, &str)] = &[(3, "discord"), (3, "youtube"), (2, "newsletter"), (2, "")];

    let mut clicks: Vec<Click> = Vec::new();
    let mut conversions: Vec<Conversion> = Vec::new();
    let mut click_n = 0u32;
    let mut new_click = |affiliate: AffiliateId,
                         customer: &str,
                         at: DateTime<Utc>,
                         source: &str|
     -> Result<Click, Box<dyn Error>> {
        click_n += 1;
        let mut click =
            Click::new(format!("k-{click_n:06}").parse()?, affiliate, at).with_customer(customer.parse()?);
        if !source.is_empty() {
            click = click.with_sub_ids(SubIds::default().with(1, source.parse()?));
        }
        Ok(click)
    };
    let mut conv_n = 0u32;
    let mut new_conversion = |prefix: &str,
                              event: EventKind,
                              customer: &str,
                              at: DateTime<Utc>|
     -> Result<Conversion, Box<dyn Error>> {
        conv_n += 1;
        Ok(
            Conversion::new(format!("{prefix}-{conv_n:06}").parse()?, event, at)
                .with_customer(customer.parse()?),
        )
    };
    let price = |dice: &mut Dice,
                 event: &EventKind|
     -> Result<(attributor::Amount, attributor::Currency), Box<dyn Error>> {
        let euro = dice.chance(20);
        let amount = match (event, euro) {
            (EventKind::ChallengeReset, false) => "79",
            (EventKind::ChallengeReset, true) => "69",
            (_, false) => *dice.pick(&[(5, "99"), (3, "199"), (2, "299.99")]),
            (_, true) => *dice.pick(&[(5, "89"), (3, "179"), (2, "269.5")]),
        };
        Ok((amount.parse()?, if euro { "EUR" } else { "USD" }.parse()?))
    };

    let traders = 1_100;
    let leak_visitors = 120;
    for n in 0..traders + leak_visitors {
        let trader = format!("t-{n:05}");
        let leaked = n >= traders;
        // Coupon-site visitors arrive in the last month, once the code has leaked.
        let arrival = if leaked {
            day(DAYS - 30) + dice.secs(0, 30 * DAY)
        } else {
            t0 + dice.secs(0, DAYS * DAY)
        };
        // The affiliate that is also a trader, on its own links.
        let own = n % 97 == 13;
        let channel = if leaked {
            "coupon site"
        } else if own {
            "own link"
        } else {
            *dice.pick(&[
                (30, "code"),
                (33, "link"),
                (15, "link and code"),
                (5, "alpha"),
                (17, "organic"),
            ])
        };

        let mut registration = new_conversion("REG", EventKind::Registration, &trader, arrival)?;
        let mut purchase_code = None;
        match channel {
            "link" | "link and code" | "own link" => {
                let site = if own {
                    aff(205)
                } else {
                    aff(*dice.pick(review_sites))
                };
                let clicked_at = arrival - dice.secs(60, 5 * DAY);
                let source = *dice.pick(sources);
                let click = new_click(site, &trader, clicked_at, source)?;
                registration = registration.with_click(click.id);
                clicks.push(click);
                if own {
                    registration = registration.with_customer_affiliate(aff(205));
                }
                if channel == "link and code" {
                    purchase_code = Some(*dice.pick(typed));
                }
            }
            "code" => purchase_code = Some(*dice.pick(typed)),
            "alpha" => {
                // ALPHA5's creator shares her link and her code together;
                // now and then a viewer skips the link.
                if dice.chance(85) {
                    clicks.push(new_click(
                        aff(104),
                        &trader,
                        arrival - dice.secs(60, DAY),
                        "instagram",
                    )?);
                }
                purchase_code = Some("ALPHA5");
            }
            "coupon site" => {
                clicks.push(new_click(aff(301), &trader, arrival - dice.secs(30, 600), "")?);
                purchase_code = Some(*dice.pick(&[(9, "FUNDED20"), (1, "funded-20")]));
            }
            _ => {}
        }
        // Now and then a customer types a zero for an O, or a one for an I:
        // look-alikes of a creator's code, which the registry does not know.
        purchase_code = match (purchase_code, n % 11) {
            (Some("TOM10"), 4) => Some("T0M10"),
            (Some("PIPSPOD"), 4 | 8) => Some("P1PSPOD"),
            (typed, _) => typed,
        };
        // Some traders who came on their own took a course at the academy,
        // whose codes are its family's.
        if channel == "organic" {
            purchase_code = match n % 17 {
                3 => Some("FXACAD-SWING"),
                9 => Some("fxacad10"),
                _ => purchase_code,
            };
        }
        let self_referral = registration.customer_affiliate;
        // For a few signups through a link, the site's postback fires
        // again minutes later under a new id: the same click twice.
        if let (Some(click), true) = (registration.click, n % 23 == 5) {
            let mut again = new_conversion(
                "REG",
                EventKind::Registration,
                &trader,
                arrival + TimeDelta::minutes(7),
            )?
            .with_click(click);
            again.customer_affiliate = self_referral;
            conversions.push(again);
        }
        conversions.push(registration);

        // Most buy a challenge within two days; some reset it, some buy another.
        if !dice.chance(80) {
            continue;
        }
        let bought = arrival + dice.secs(600, 2 * DAY);
        let mut purchase = new_conversion("CP", EventKind::ChallengePurchase, &trader, bought)?;
        if let Some(typed) = purchase_code {
            purchase = purchase.with_code(CouponCode::parse(typed)?);
        }
        if let Some(own) = self_referral {
            purchase = purchase.with_customer_affiliate(own);
        }
        let (amount, currency) = price(&mut dice, &purchase.event)?;
        let purchase = purchase.with_amount(amount, currency);
        if dice.chance(2) {
            conversions.push(purchase.clone()); // a retried postback
        }
        conversions.push(purchase.clone());
        if dice.chance(40) {
            let at = bought + dice.secs(5 * DAY, 30 * DAY);
            let mut reset = new_conversion("RS", EventKind::ChallengeReset, &trader, at)?;
            reset.customer_affiliate = self_referral;
            let (amount, currency) = price(&mut dice, &reset.event)?;
            conversions.push(reset.with_amount(amount, currency));
        }
        if dice.chance(20) {
            let at = bought + dice.secs(30 * DAY, 60 * DAY);
            let mut again = new_conversion("CP", EventKind::ChallengePurchase, &trader, at)?;
            again.customer_affiliate = self_referral;
            // Some come back through another review site's link.
            if dice.chance(30) {
                clicks.push(new_click(
                    aff(*dice.pick(review_sites)),
                    &trader,
                    at - dice.secs(600, 3 * DAY),
                    "",
                )?);
            }
            let (amount, currency) = price(&mut dice, &again.event)?;
            conversions.push(again.with_amount(amount, currency));
        }
    }

    conversions.retain(|c| c.occurred_at < end());
    conversions.sort_by_key(|c| (c.occurred_at, c.id));
    clicks.sort_by_key(|c| (c.clicked_at, c.id));
    Ok(Sample {
        assignments: assignments
            .iter()
            .map(|a| {
                line(
                    a,
                    &[
                        "code",
                        "affiliate",
                        "valid_from",
                        "valid_until",
                        "revoked",
                        "mode",
                        "label",
                        "family",
                    ],
                )
            })
            .collect::<Result<_, _>>()?,
        clicks: clicks
            .iter()
            .map(|c| line(c, &["id", "affiliate", "clicked_at", "customer", "sub_ids"]))
            .collect::<Result<_, _>>()?,
        conversions: conversions
            .iter()
            .map(|c| {
                let order = [
                    "id",
                    "event",
                    "occurred_at",
                    "customer",
                    "customer_affiliate",
                    "click",
                    "codes",
                    "amount",
                    "currency",
                ];
                line(c, &order)
            })
            .collect::<Result<_, _>>()?,
    })
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_data: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--help" | "-h" => {
                println!("usage: gen_data [--out DIR]   (default: a temporary directory)");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}; try --help").into()),
        }
    }
    let dir = out.unwrap_or_else(|| std::env::temp_dir().join("attributor-sample"));
    fs::create_dir_all(&dir)?;
    let sample = sample()?;
    for (name, lines) in [
        ("assignments.jsonl", &sample.assignments),
        ("clicks.jsonl", &sample.clicks),
        ("conversions.jsonl", &sample.conversions),
    ] {
        let path = dir.join(name);
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(&path, text)?;
        println!("wrote {:>5} lines to {}", lines.len(), path.display());
    }
    println!(
        "four months of a prop trading firm's program; replay it with\n  cargo run --all-features --example replay -- --data {}",
        dir.display()
    );
    Ok(())
}
