//! [Proptest](https://docs.rs/proptest) strategies for the crate's data, so
//! that you can property-test your own rules. Behind the `proptest` feature.
//!
//! The strategies draw from small pools so that values meet: affiliates
//! `1` to [`AFFILIATES`], customers `cust-1` to `cust-5`, the codes of
//! [`CODE_POOL`], clicks `clk-0` to `clk-11`, and about half a year of time
//! from [`epoch`]. A conversion's code is then often one the registry
//! knows, and a customer's click often falls in a conversion's window.
//!
//! | strategy | values |
//! |---|---|
//! | [`code`], [`pool_code`], [`mistyped_code`] | canonical coupon codes |
//! | [`code_spelling`] | a code and one way a customer may type it |
//! | [`invalid_code_input`], [`code_input`] | text that does not parse; either kind |
//! | [`click`], [`clicks`] | clicks, one or a store's worth with unique ids |
//! | [`conversion`], [`conversions`] | conversions, one or a time-ordered stream |
//! | [`history`], [`assignments`] | code assignment histories, as a registry holds them |
//! | [`policy`], [`policy_set`] | every kind of valid policy |
//! | [`lookup_at`], [`case`] | a conversion and the evidence the stores would give |
//!
//! # Example: a property of your own policy
//!
//! "Under my policy, a code with credit mode `Always` is always credited,
//! unless a live binding holds or the code is the customer's own":
//!
//! ```
//! use attributor::{resolve, strategies, CodeLookup, CreditMode, Method, Policy};
//! use proptest::test_runner::{Config, TestCaseError, TestRunner};
//!
//! let my_policy = Policy::click_first();
//! let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
//! runner.run(&strategies::case(), |(conversion, evidence)| {
//!     let Some(first) = conversion.codes.first() else { return Ok(()) };
//!     let always = evidence.codes.iter().find(|e| e.code == *first).and_then(|e| match e.lookup {
//!         CodeLookup::Active(a) if a.mode == CreditMode::Always => Some(a.affiliate),
//!         _ => None,
//!     });
//!     let Some(owner) = always else { return Ok(()) };
//!     let bound = evidence.binding.is_some_and(|b| b.is_live_at(conversion.occurred_at));
//!     if bound || conversion.customer_affiliate == Some(owner) {
//!         return Ok(());
//!     }
//!     let decision = resolve(&conversion, &evidence, &my_policy);
//!     if decision.credits.first().map(|c| (c.affiliate, c.method)) != Some((owner, Method::Coupon)) {
//!         return Err(TestCaseError::fail(format!("not credited: {decision}")));
//!     }
//!     Ok(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inside a `proptest!` block the same reads
//! `fn always_wins((conversion, evidence) in strategies::case()) { ... }`.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::binding::Binding;
use crate::code::{CouponCode, MAX_CODE_LEN, MIN_CODE_LEN};
use crate::conversion::{Amount, Click, Conversion, Currency, EventKind, EventKinds};
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId, Label};
use crate::policy::{BindingLifetime, ClickPick, Method, Policy, PolicySet};
use crate::registry::{CodeAssignment, CodeLookup, CreditMode, NearCode, Nearness};
use crate::resolve::{ClickEvidence, CodeEvidence, Evidence};
use crate::time::{earlier, later};

/// The affiliates drawn are `1..=AFFILIATES`.
pub const AFFILIATES: u64 = 6;

/// The codes [`pool_code`] draws from; no two are confusable.
pub const CODE_POOL: [&str; 6] = ["ALPHA10", "BRAVO20", "CHARLIE", "DELTA5", "ECHO", "FOXTROT"];

/// Codes a customer types for those of [`CODE_POOL`]: look-alikes
/// (`ALPHAI0`, `8RAVO20`, `F0XTR0T`) and codes one edit away (`CHARLE`
/// with a letter left out, `DELTA6` with one changed, `EHCO` with two
/// swapped, `BRAVO200` with one added). None of them is in the pool.
pub const MISTYPED_POOL: [&str; 7] = [
    "ALPHAI0", "8RAVO20", "F0XTR0T", "CHARLE", "DELTA6", "EHCO", "BRAVO200",
];

/// How many distinct click ids the strategies use (`clk-0` and up).
const CLICK_IDS: usize = 12;

const ALPHANUMERIC: &[char] = &[
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U',
    'V', 'W', 'X', 'Y', 'Z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// Separators and invisible characters that parsing ignores inside a code.
const IGNORED: &[&str] = &[" ", "-", "_", ".", "\u{200B}", "\u{00A0}", "\u{FF0D}", "\u{2060}"];

/// What may surround a typed code.
const PADDING: &[&str] = &["", "", " ", "\t", "\u{FEFF}", "  \u{200B}", "\n"];

/// Characters no code may hold.
const FORBIDDEN: &[char] = &[
    '€', 'é', '\u{0410}', '@', '#', '/', '!', '😀', 'ß', '\u{0301}', '＄',
];

/// Text with nothing left once whitespace and separators are gone.
const BLANK: &[&str] = &["", " ", "--", "\u{200B}", " _ . ", "\u{FF0D}\u{00A0}"];

const EVENTS: &[EventKind] = &[
    EventKind::Registration,
    EventKind::FirstDeposit,
    EventKind::Deposit,
    EventKind::ChallengePurchase,
    EventKind::ChallengeReset,
    EventKind::Purchase,
];

const ORDERS: [[Method; 3]; 6] = [
    [Method::Binding, Method::Coupon, Method::Click],
    [Method::Binding, Method::Click, Method::Coupon],
    [Method::Coupon, Method::Binding, Method::Click],
    [Method::Coupon, Method::Click, Method::Binding],
    [Method::Click, Method::Binding, Method::Coupon],
    [Method::Click, Method::Coupon, Method::Binding],
];

const EVENT_SETS: [EventKinds; 7] = [
    EventKinds::REGISTRATION,
    EventKinds::FIRST_DEPOSIT,
    EventKinds::DEPOSIT,
    EventKinds::CHALLENGE_PURCHASE,
    EventKinds::CHALLENGE_RESET,
    EventKinds::PURCHASE,
    EventKinds::CUSTOM,
];

/// The start of the time the strategies draw from: 2026-01-01 00:00:00 UTC.
pub fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn seconds(s: i64) -> TimeDelta {
    TimeDelta::try_seconds(s).unwrap_or(TimeDelta::zero())
}

fn click_id(n: usize) -> Option<ClickId> {
    ClickId::new(&format!("clk-{n}")).ok()
}

/// An instant in the 180 days from [`epoch`], to the second.
pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..=180 * 86_400).prop_map(|s| epoch() + seconds(s))
}

/// An affiliate, `1..=AFFILIATES`.
pub fn affiliate() -> impl Strategy<Value = AffiliateId> {
    (1..=AFFILIATES).prop_map(AffiliateId::new)
}

/// A customer, `cust-1` to `cust-5`.
pub fn customer() -> impl Strategy<Value = CustomerId> {
    (1u8..=5).prop_filter_map("a customer id", |n| CustomerId::new(&format!("cust-{n}")).ok())
}

/// A built-in event kind, or now and then the custom event `upsell`.
pub fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        6 => select(EVENTS),
        1 => Just("upsell").prop_filter_map("a label", |s| Label::new(s).ok().map(EventKind::Custom)),
    ]
}

/// A credit mode, [`CreditMode::Standard`] most often.
pub fn credit_mode() -> impl Strategy<Value = CreditMode> {
    prop_oneof![
        3 => Just(CreditMode::Standard),
        1 => Just(CreditMode::Always),
        1 => Just(CreditMode::IfInvolved),
    ]
}

/// An amount from 0 to 10000.00, to the cent.
pub fn amount() -> impl Strategy<Value = Amount> {
    (0i64..=1_000_000).prop_map(|minor| Amount::from_minor(minor, 2))
}

/// `USD` or `EUR`.
pub fn currency() -> impl Strategy<Value = Currency> {
    select(vec!["USD", "EUR"]).prop_filter_map("a currency", |c| c.parse().ok())
}

/// Any canonical coupon code: `A-Z0-9`, [`MIN_CODE_LEN`] to
/// [`MAX_CODE_LEN`] characters.
pub fn code() -> impl Strategy<Value = CouponCode> {
    vec(select(ALPHANUMERIC), MIN_CODE_LEN..=MAX_CODE_LEN).prop_filter_map("a canonical code", |chars| {
        CouponCode::parse(&chars.into_iter().collect::<String>()).ok()
    })
}

/// A code of [`CODE_POOL`].
pub fn pool_code() -> impl Strategy<Value = CouponCode> {
    select(CODE_POOL.to_vec()).prop_filter_map("a pool code", |c| CouponCode::parse(c).ok())
}

/// A code of [`MISTYPED_POOL`]: one a customer meant as a [`CODE_POOL`] code.
pub fn mistyped_code() -> impl Strategy<Value = CouponCode> {
    select(MISTYPED_POOL.to_vec()).prop_filter_map("a mistyped code", |c| CouponCode::parse(c).ok())
}

fn pool_codes() -> Vec<CouponCode> {
    CODE_POOL
        .iter()
        .filter_map(|c| CouponCode::parse(c).ok())
        .collect()
}

/// A canonical code and one way a customer may type it: letters in either
/// case, full-width forms, separators and invisible characters between the
/// characters, whitespace around. The text always parses to the code.
pub fn code_spelling() -> impl Strategy<Value = (CouponCode, String)> {
    code()
        .prop_flat_map(|code| {
            let looks = vec((0u8..4, option::weighted(0.3, select(IGNORED))), code.len());
            (Just(code), looks, select(PADDING), select(PADDING))
        })
        .prop_map(|(code, looks, lead, trail)| {
            let mut typed = String::from(lead);
            for (ch, (look, separator)) in code.as_str().chars().zip(looks) {
                let shown = match look {
                    0 => ch.to_ascii_lowercase(),
                    1 => char::from_u32(u32::from(ch) + 0xFEE0).unwrap_or(ch),
                    2 => char::from_u32(u32::from(ch.to_ascii_lowercase()) + 0xFEE0).unwrap_or(ch),
                    _ => ch,
                };
                typed.push(shown);
                if let Some(separator) = separator {
                    typed.push_str(separator);
                }
            }
            typed.push_str(trail);
            (code, typed)
        })
}

/// Text that is not a coupon code: blank, too short, too long, or holding
/// a character outside the alphabet.
pub fn invalid_code_input() -> impl Strategy<Value = String> {
    let word = |len: core::ops::RangeInclusive<usize>| {
        vec(select(ALPHANUMERIC), len).prop_map(|chars| chars.into_iter().collect::<String>())
    };
    prop_oneof![
        select(BLANK).prop_map(String::from),
        word(1..=MIN_CODE_LEN - 1),
        word(MAX_CODE_LEN + 1..=MAX_CODE_LEN + 8),
        (code(), select(FORBIDDEN), any::<prop::sample::Index>()).prop_map(|(code, bad, at)| {
            let mut chars: Vec<char> = code.as_str().chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            chars.into_iter().collect::<String>()
        }),
    ]
}

/// Text a customer may type: a valid spelling or not, about half and half.
pub fn code_input() -> impl Strategy<Value = String> {
    prop_oneof![code_spelling().prop_map(|(_, typed)| typed), invalid_code_input(),]
}

/// A click: id `clk-0` to `clk-11`, usually with a customer.
pub fn click() -> impl Strategy<Value = Click> {
    (
        0..CLICK_IDS,
        affiliate(),
        instant(),
        option::weighted(0.9, customer()),
    )
        .prop_filter_map("a click id", |(n, affiliate, at, customer)| {
            let click = Click::new(click_id(n)?, affiliate, at);
            Some(match customer {
                Some(c) => click.with_customer(c),
                None => click,
            })
        })
}

/// Up to 12 clicks with distinct ids, as a click store would hold them.
pub fn clicks() -> impl Strategy<Value = Vec<Click>> {
    vec(click(), 0..=CLICK_IDS).prop_map(|clicks| {
        clicks
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| {
                Some(Click {
                    id: click_id(i)?,
                    ..c
                })
            })
            .collect()
    })
}

/// A conversion: mostly with a customer, sometimes with a carried click id,
/// zero to two codes of [`CODE_POOL`] (now and then the same one twice), an
/// amount most of the time, and rarely a customer who is an affiliate.
pub fn conversion() -> impl Strategy<Value = Conversion> {
    (
        (0u32..1_000, event_kind(), instant()),
        option::weighted(0.9, customer()),
        option::weighted(0.1, affiliate()),
        // Often one of a few clicks, so that conversions name the same one.
        option::weighted(0.4, prop_oneof![0..2usize, 0..CLICK_IDS]),
        // Now and then mistyped.
        vec(prop_oneof![4 => pool_code(), 1 => mistyped_code()], 0..=2),
        option::weighted(0.8, (amount(), currency())),
    )
        .prop_filter_map(
            "a conversion id",
            |((n, event, at), customer, customer_affiliate, click, codes, money)| {
                let mut conversion =
                    Conversion::new(ConversionId::new(&format!("conv-{n}")).ok()?, event, at);
                conversion.customer = customer;
                conversion.customer_affiliate = customer_affiliate;
                conversion.click = click.and_then(click_id);
                conversion.codes.extend(codes);
                if let Some((amount, currency)) = money {
                    conversion = conversion.with_amount(amount, currency);
                }
                Some(conversion)
            },
        )
}

/// Up to 20 conversions in time order, with distinct ids `conv-0` and up.
pub fn conversions() -> impl Strategy<Value = Vec<Conversion>> {
    vec(conversion(), 0..=20).prop_map(|mut conversions| {
        conversions.sort_by_key(|c| c.occurred_at);
        conversions
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| {
                Some(Conversion {
                    id: ConversionId::new(&format!("conv-{i}")).ok()?,
                    ..c
                })
            })
            .collect()
    })
}

/// The assignment history of `code`: one to three intervals in time order,
/// never overlapping, sometimes back to back (a reassignment), ended as
/// planned or revoked, the last one sometimes open-ended. A
/// [`MemoryCodeRegistry`](crate::MemoryCodeRegistry) accepts it.
pub fn history(code: CouponCode) -> impl Strategy<Value = Vec<CodeAssignment>> {
    let interval = (
        affiliate(),
        credit_mode(),
        prop_oneof![Just(0i64), 1i64..=60 * 24],
        1i64..=90 * 24,
        any::<bool>(),
    );
    (vec(interval, 1..=3), any::<bool>(), 0i64..=60 * 24).prop_map(move |(intervals, open, lead)| {
        let mut t = epoch() - TimeDelta::days(30) + TimeDelta::hours(lead);
        let last = intervals.len().saturating_sub(1);
        let mut history = Vec::with_capacity(intervals.len());
        for (i, (affiliate, mode, gap, len, revoked)) in intervals.into_iter().enumerate() {
            let from = t + TimeDelta::hours(gap);
            let until = from + TimeDelta::hours(len);
            let mut assignment = CodeAssignment::new(code, affiliate, from).with_mode(mode);
            if !(open && i == last) {
                assignment = assignment.with_valid_until(until);
                if revoked {
                    assignment = assignment.with_revoked(true);
                }
            }
            history.push(assignment);
            t = until;
        }
        history
    })
}

/// The histories of some codes of [`CODE_POOL`], as a registry holds them.
pub fn assignments() -> impl Strategy<Value = Vec<CodeAssignment>> {
    let per_code: Vec<_> = pool_codes()
        .into_iter()
        .map(|code| option::weighted(0.8, history(code)))
        .collect();
    per_code.prop_map(|histories| histories.into_iter().flatten().flatten().collect())
}

/// Any valid policy: every priority (fixed orders, last and first touch,
/// splits from 0 to 10000), click windows from 0 to 60 days (30 often),
/// either click pick, minimum click ages and clock-skew tolerances (zero
/// often), any events that bind, every binding lifetime, either answer
/// to whether a coupon breaks a binding, (in one policy of three each)
/// events paid once a customer and once a click, and either answer to
/// whether look-alikes are read.
pub fn policy() -> impl Strategy<Value = Policy> {
    let priority = prop_oneof![
        Just(Policy::coupon_first()),
        Just(Policy::click_first()),
        Just(Policy::last_touch()),
        Just(Policy::first_touch()),
        prop_oneof![Just(0u32), Just(5_000), Just(10_000), 0u32..=10_000]
            .prop_filter_map("a share", |bp| Policy::split(bp).ok()),
        select(ORDERS.to_vec()).prop_filter_map("an order", |order| Policy::ordered(order).ok()),
    ];
    let window = prop_oneof![Just(30 * 86_400i64), 0i64..=60 * 86_400];
    let short = prop_oneof![2 => Just(0i64), 1 => 1i64..=600];
    let lifetime = prop_oneof![
        Just(BindingLifetime::OneOff),
        // No time at all, which binds like `OneOff`: an edge of its own.
        Just(BindingLifetime::Days(0)),
        (1u32..=365).prop_map(BindingLifetime::Days),
        Just(BindingLifetime::Forever),
    ];
    (
        priority,
        window,
        prop_oneof![Just(ClickPick::Last), Just(ClickPick::First)],
        short.clone(),
        short,
        event_set(),
        lifetime,
        any::<bool>(),
        // Most policies pay every conversion, as most programs do.
        prop_oneof![2 => Just(EventKinds::NONE), 1 => event_set()],
        prop_oneof![2 => Just(EventKinds::NONE), 1 => event_set()],
        any::<bool>(),
    )
        .prop_filter_map(
            "a valid policy",
            |(
                base,
                window,
                pick,
                min_age,
                skew,
                bind_on,
                lifetime,
                breaks,
                per_customer,
                per_click,
                look,
            )| {
                Some(
                    base.with_click_window(seconds(window))
                        .ok()?
                        .with_click_pick(pick)
                        .with_min_click_age(seconds(min_age))
                        .ok()?
                        .with_clock_skew(seconds(skew))
                        .ok()?
                        .with_bind_on(bind_on)
                        .with_binding_lifetime(lifetime)
                        .with_coupon_breaks_binding(breaks)
                        .with_once_per_customer(per_customer)
                        .with_once_per_click(per_click)
                        .with_look_alikes(look),
                )
            },
        )
}

/// A set of event kinds, each in it or not.
fn event_set() -> impl Strategy<Value = EventKinds> {
    vec(any::<bool>(), EVENT_SETS.len()).prop_map(|on| {
        EVENT_SETS
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .fold(EventKinds::NONE, |set, (kind, _)| set | *kind)
    })
}

/// A default [`policy`] and up to two overrides by event kind.
pub fn policy_set() -> impl Strategy<Value = PolicySet> {
    (policy(), vec((event_kind(), policy()), 0..=2)).prop_map(|(default, overrides)| {
        overrides
            .into_iter()
            .fold(PolicySet::new(default), |set, (event, policy)| {
                set.with(event, policy)
            })
    })
}

/// What a registry may answer for `code` at `at`, consistent with `at`:
/// active (most often), expired, revoked, not yet active, or unknown.
pub fn lookup_at(code: CouponCode, at: DateTime<Utc>) -> impl Strategy<Value = CodeLookup> {
    let hours = |max: i64| (0i64..=max).prop_map(TimeDelta::hours);
    let active = (
        affiliate(),
        credit_mode(),
        hours(400 * 24),
        option::of(1i64..=400 * 86_400),
    )
        .prop_map(move |(affiliate, mode, back, ahead)| {
            let mut a = CodeAssignment::new(code, affiliate, earlier(at, back)).with_mode(mode);
            a.valid_until = ahead.map(|s| later(at, seconds(s)));
            CodeLookup::Active(a)
        });
    let ended = (affiliate(), hours(400 * 24), 1i64..=90 * 24, any::<bool>()).prop_map(
        move |(affiliate, back, len, revoked)| {
            let until = earlier(at, back);
            let a = CodeAssignment::new(code, affiliate, earlier(until, TimeDelta::hours(len)))
                .with_valid_until(until);
            if revoked {
                CodeLookup::Revoked(a.with_revoked(true))
            } else {
                CodeLookup::Expired(a)
            }
        },
    );
    let later = (affiliate(), 1i64..=90 * 86_400).prop_map(move |(affiliate, s)| {
        CodeLookup::NotYetActive(CodeAssignment::new(code, affiliate, later(at, seconds(s))))
    });
    prop_oneof![
        6 => active,
        2 => ended,
        1 => later,
        1 => Just(CodeLookup::Unknown),
    ]
}

/// How long before a conversion a click was made: mostly within 45 days,
/// often on the boundaries that matter (0, a second, the 30-day window,
/// after the conversion).
fn click_age() -> impl Strategy<Value = TimeDelta> {
    const BOUNDARIES: &[i64] = &[0, 1, 4, 5, 30 * 86_400, 30 * 86_400 + 1, -1, -30, -3_600];
    prop_oneof![
        3 => (0i64..=45 * 86_400).prop_map(seconds),
        1 => select(BOUNDARIES).prop_map(seconds),
    ]
}

/// A [`conversion`] and the evidence the stores would give for it: one
/// lookup per distinct entered code ([`lookup_at`]) and up to two active
/// pool codes near it (as look-alikes or one edit away), up to four clicks
/// around its time with distinct ids, and for a known customer sometimes a
/// binding made before it, live or expired.
pub fn case() -> impl Strategy<Value = (Conversion, Evidence)> {
    conversion()
        .prop_flat_map(|conversion| {
            let t = conversion.occurred_at;
            let mut distinct: Vec<CouponCode> = Vec::new();
            for code in &conversion.codes {
                if !distinct.contains(code) {
                    distinct.push(*code);
                }
            }
            let near = || {
                let nearness = prop_oneof![Just(Nearness::LookAlike), Just(Nearness::OneEdit)];
                vec((pool_code(), affiliate(), credit_mode(), nearness), 0..=2)
            };
            let lookups: Vec<_> = distinct
                .into_iter()
                .map(|code| (Just(code), lookup_at(code, t), near()))
                .collect();
            let clicks = vec((affiliate(), click_age()), 0..=4);
            let binding = option::weighted(
                0.3,
                (
                    affiliate(),
                    1i64..=400 * 86_400,
                    option::of(1i64..=400 * 86_400),
                    event_kind(),
                ),
            );
            (Just(conversion), lookups, clicks, binding)
        })
        .prop_map(|(conversion, lookups, clicks, binding)| {
            let t = conversion.occurred_at;
            let mut evidence = Evidence::new();
            for (code, lookup, near) in lookups {
                evidence.codes.push(CodeEvidence { code, lookup });
                for (other, affiliate, mode, nearness) in near.into_iter().filter(|n| n.0 != code) {
                    let since = earlier(t, TimeDelta::days(1));
                    evidence.near.push(NearCode {
                        typed: code,
                        assignment: CodeAssignment::new(other, affiliate, since).with_mode(mode),
                        nearness,
                    });
                }
            }
            for (i, (affiliate, age)) in clicks.into_iter().enumerate() {
                if let Some(id) = click_id(i) {
                    evidence.clicks.push(ClickEvidence {
                        id,
                        affiliate,
                        clicked_at: earlier(t, age),
                    });
                }
            }
            let bound_by = ConversionId::new("conv-earlier").ok();
            if let (Some((affiliate, back, lifetime, event)), Some(customer), Some(by)) =
                (binding, conversion.customer, bound_by)
            {
                let bound_at = earlier(t, seconds(back));
                evidence.binding = Some(Binding {
                    customer,
                    affiliate,
                    bound_at,
                    expires_at: lifetime.map(|s| later(bound_at, seconds(s))),
                    event,
                    conversion: by,
                });
            }
            (conversion, evidence)
        })
}
