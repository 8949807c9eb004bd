//! Rule experiments: replay conversions under several policies, compare the
//! credit, and look for leaked codes.

use core::borrow::Borrow;
use core::fmt;
use std::collections::VecDeque;
use std::convert::Infallible;

use chrono::{DateTime, TimeDelta, Utc};
use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

use crate::attributor::{AttributeError, Attributor};
use crate::clicks::{ClickQuery, ClickStore};
use crate::code::CouponCode;
use crate::conversion::{Amount, Conversion, Currency, EventKind};
use crate::decision::{Decision, Outcome};
use crate::ids::{AffiliateId, ConversionId, Label};
use crate::ledger::{Ledger, Recording};
use crate::memory::MemoryBindingStore;
use crate::policy::{Method, PolicySet, UniqueKey};
use crate::registry::{CodeLookup, CodeRegistry, NearCode, Nearness};
use crate::time::earlier;

const SECONDS_PER_DAY: i64 = 86_400;

/// How an [`Experiment`] counts and what it flags: a small `Copy` value with
/// by-value setters.
///
/// | setting | default |
/// |---|---|
/// | moved conversions listed | 20 |
/// | recent period for leak signals | 30 days |
/// | click window for "a click from the owner" | 30 days |
/// | fewest uses before a code can be flagged | 20 |
/// | share of uses with no click from the owner to flag | 9000 basis points (90%) |
/// | recent surge to flag | 200% (a daily rate at least twice the earlier one) |
///
/// See [`CodeSignal`] for how the leak settings combine.
///
/// ```
/// use attributor::ExperimentOptions;
/// use chrono::TimeDelta;
///
/// let options = ExperimentOptions::new()
///     .with_moved_limit(100)
///     .with_recent_days(14)?
///     .with_leak_click_window(TimeDelta::days(7))?
///     .with_leak_share(8_000)?
///     .with_leak_surge(0); // flag on the share alone
/// assert_eq!(options.recent_days(), 14);
/// assert!(ExperimentOptions::new().with_recent_days(0).is_err());
/// assert!(ExperimentOptions::new().with_leak_share(10_001).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExperimentOptions {
    moved_limit: usize,
    recent_days: u32,
    leak_click_window: TimeDelta,
    leak_min_uses: u64,
    leak_share: u16,
    leak_surge: u32,
}

impl Default for ExperimentOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ExperimentOptions {
    /// The defaults in the table above.
    pub const fn new() -> Self {
        Self {
            moved_limit: 20,
            recent_days: 30,
            leak_click_window: TimeDelta::days(30),
            leak_min_uses: 20,
            leak_share: 9_000,
            leak_surge: 200,
        }
    }

    /// How many moved conversions the report lists in full; the others are
    /// only counted. Memory for them grows up to this limit.
    pub fn with_moved_limit(mut self, limit: usize) -> Self {
        self.moved_limit = limit;
        self
    }

    /// The length of the recent period for leak signals, in whole UTC days
    /// ending with the day of the latest conversion replayed.
    ///
    /// # Errors
    ///
    /// [`OptionsError::ZeroRecentDays`] for zero.
    pub fn with_recent_days(mut self, days: u32) -> Result<Self, OptionsError> {
        if days == 0 {
            return Err(OptionsError::ZeroRecentDays);
        }
        self.recent_days = days;
        Ok(self)
    }

    /// How long before a use of a code a click from its owner still counts
    /// as the owner's involvement (the boundary is inside).
    ///
    /// # Errors
    ///
    /// [`OptionsError::NegativeWindow`] if negative.
    pub fn with_leak_click_window(mut self, window: TimeDelta) -> Result<Self, OptionsError> {
        if window < TimeDelta::zero() {
            return Err(OptionsError::NegativeWindow {
                seconds: window.num_seconds(),
            });
        }
        self.leak_click_window = window;
        Ok(self)
    }

    /// The fewest uses before a code can be flagged.
    pub fn with_leak_min_uses(mut self, uses: u64) -> Self {
        self.leak_min_uses = uses;
        self
    }

    /// The share of uses with no click from the owner, in basis points, at
    /// or above which a code can be flagged.
    ///
    /// # Errors
    ///
    /// [`OptionsError::ShareTooLarge`] above 10000.
    pub fn with_leak_share(mut self, bp: u32) -> Result<Self, OptionsError> {
        self.leak_share = u16::try_from(bp)
            .ok()
            .filter(|bp| *bp <= 10_000)
            .ok_or(OptionsError::ShareTooLarge { bp })?;
        Ok(self)
    }

    /// How much faster, in percent, a code must be used per day in the
    /// recent period than before it to be flagged; 0 drops the condition.
    pub fn with_leak_surge(mut self, percent: u32) -> Self {
        self.leak_surge = percent;
        self
    }

    /// How many moved conversions are listed.
    pub fn moved_limit(&self) -> usize {
        self.moved_limit
    }

    /// The recent period, in days.
    pub fn recent_days(&self) -> u32 {
        self.recent_days
    }

    /// The click window for the owner's involvement.
    pub fn leak_click_window(&self) -> TimeDelta {
        self.leak_click_window
    }

    /// The fewest uses to flag.
    pub fn leak_min_uses(&self) -> u64 {
        self.leak_min_uses
    }

    /// The share of uses with no click from the owner to flag, in basis points.
    pub fn leak_share(&self) -> u16 {
        self.leak_share
    }

    /// The recent surge to flag, in percent; 0 when not required.
    pub fn leak_surge(&self) -> u32 {
        self.leak_surge
    }
}

/// A ledger that keeps no decisions, only claims. An experiment detects
/// repeated conversion ids itself (see [`Experiment`]), so that its memory
/// does not grow with the number of conversions.
#[derive(Debug, Default)]
struct Forgetful {
    /// Who holds each key claimed, so that a policy that pays conversions
    /// once a customer or once a click is replayed as it would run. It
    /// grows with the customers and clicks of those conversions only.
    claims: std::sync::Mutex<HashMap<UniqueKey, ConversionId>>,
}

impl Ledger for Forgetful {
    type Error = Infallible;

    fn get(&self, _: &ConversionId) -> Result<Option<Decision>, Infallible> {
        Ok(None)
    }

    fn record(&self, _: &Decision) -> Result<Option<Decision>, Infallible> {
        Ok(None)
    }

    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Infallible> {
        let claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(claims.get(key).copied())
    }

    fn record_claiming(&self, decision: &Decision, keys: &[UniqueKey]) -> Result<Recording, Infallible> {
        let mut claims = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = decision.conversion;
        if let Some((key, by)) = keys
            .iter()
            .find_map(|key| claims.get(key).filter(|by| **by != id).map(|by| (*key, *by)))
        {
            return Ok(Recording::Taken { key, by });
        }
        for key in keys {
            claims.entry(*key).or_insert(id);
        }
        Ok(Recording::Recorded)
    }
}

/// One policy under test: its attributor over the shared read-only stores,
/// with a scratch binding store of its own, and its tallies.
#[derive(Debug)]
struct Arm<'a, R, C> {
    name: Label,
    attributor: Attributor<&'a R, &'a C, MemoryBindingStore, Forgetful>,
    tally: Tally,
}

#[derive(Debug, Default)]
struct Tally {
    credited: u64,
    uncredited: u64,
    amounts: Vec<Money>,
    affiliates: HashMap<AffiliateId, AffiliateTally>,
    reasons: Vec<ReasonTally>,
}

impl Tally {
    fn add(&mut self, conversion: &Conversion, decision: &Decision) {
        if !decision.is_credited() {
            self.uncredited += 1;
            let reason = UncreditedReason::of(decision);
            match self.reasons.iter_mut().find(|r| r.reason == reason) {
                Some(tally) => tally.conversions += 1,
                None => self.reasons.push(ReasonTally {
                    reason,
                    conversions: 1,
                }),
            }
            return;
        }
        self.credited += 1;
        // The parts of a split are rounded down, and what that leaves (at
        // most a ten-thousandth a credit) goes to the primary affiliate, so
        // that the parts add up to the amount.
        let primary = decision
            .credits
            .iter()
            .position(|c| Some(c.affiliate) == decision.primary());
        let remainder = conversion.amount.map(|amount| {
            let parts: i64 = decision
                .credits
                .iter()
                .map(|c| amount.share(c.share).ten_thousandths())
                .fold(0, i64::saturating_add);
            amount.ten_thousandths().saturating_sub(parts)
        });
        for (i, credit) in decision.credits.iter().enumerate() {
            let tally = self
                .affiliates
                .entry(credit.affiliate)
                .or_insert_with(|| AffiliateTally::new(credit.affiliate));
            if !decision
                .credits
                .iter()
                .take(i)
                .any(|c| c.affiliate == credit.affiliate)
            {
                tally.conversions += 1;
            }
            tally.shares += u64::from(credit.share);
            match credit.method {
                Method::Binding => tally.by_binding += 1,
                Method::Coupon => tally.by_coupon += 1,
                Method::Click => tally.by_click += 1,
            }
            if let (Some(amount), Some(remainder)) = (conversion.amount, remainder) {
                let mut part = amount.share(credit.share);
                if primary == Some(i) {
                    part = part.saturating_add(Amount::from_ten_thousandths(remainder));
                }
                add_money(&mut tally.amounts, conversion.currency, part);
                add_money(&mut self.amounts, conversion.currency, part);
            }
        }
    }
}

fn add_money(amounts: &mut Vec<Money>, currency: Option<Currency>, amount: Amount) {
    match amounts.iter_mut().find(|m| m.currency == currency) {
        Some(m) => m.amount = m.amount.saturating_add(amount),
        None => {
            amounts.push(Money { currency, amount });
            amounts.sort_unstable_by_key(|m| m.currency);
        }
    }
}

/// What the experiment keeps of one code's uses: counts, and per-day counts
/// for the recent period only.
#[derive(Debug)]
struct CodeUses {
    owner: AffiliateId,
    uses: u64,
    without_owner_click: u64,
    first_day: i64,
    /// Uses on days that have left the recent period.
    earlier: u64,
    /// Uses by UTC day, for days that may still be in the recent period.
    by_day: VecDeque<(i64, u64)>,
}

impl CodeUses {
    fn add(&mut self, day: i64, recent_days: u32) {
        let cutoff = day - i64::from(recent_days);
        while let Some(&(d, n)) = self.by_day.front() {
            if d > cutoff {
                break;
            }
            self.earlier += n;
            self.by_day.pop_front();
        }
        match self.by_day.back_mut() {
            Some((d, n)) if *d == day => *n += 1,
            _ => self.by_day.push_back((day, 1)),
        }
    }

    /// Uses in the recent period ending on `last_day`, and before it.
    fn split(&self, last_day: i64, recent_days: u32) -> (u64, u64) {
        let cutoff = last_day - i64::from(recent_days);
        let (mut recent, mut earlier) = (0, self.earlier);
        for &(d, n) in &self.by_day {
            if d > cutoff {
                recent += n;
            } else {
                earlier += n;
            }
        }
        (recent, earlier)
    }
}

/// Replays conversions, in time order, under several policies at once, and
/// reports whose credit would move. It reads a registry and a click store
/// and never writes to them.
///
/// Each policy gets its own scratch [`MemoryBindingStore`], so its bindings
/// evolve as they would have had it been live: a registration credited to
/// one affiliate under one policy binds the customer there, and the repeat
/// purchases follow under that policy only.
///
/// # Streaming
///
/// Conversions go through one at a time ([`Experiment::replay`]) and are
/// not kept. Memory grows with the number of affiliates and codes, with the
/// bindings each policy writes (the scratch binding stores keep every
/// customer's history, so a policy that binds on every purchase grows with
/// the purchases), and with the moved conversions listed, up to
/// [`ExperimentOptions::with_moved_limit`]; not with the conversions otherwise.
///
/// There is no ledger of every conversion id, which would grow with the
/// input. Instead a conversion id seen again at the same instant (a retried
/// postback in an export) is skipped and counted in
/// [`ExperimentReport::duplicates`]; the ids of the latest instant are all
/// that is kept for this. The replay assumes that a conversion id does not
/// come back at another time: if it does, it is counted again.
///
/// # Leak signals
///
/// For every code entered on a conversion and active at its time, the
/// experiment checks whether the code's owner had a click of the customer
/// (or the click the conversion carries) in the
/// [`leak click window`](ExperimentOptions::with_leak_click_window) before it,
/// and reports the signals per code as [`CodeSignal`]s. A flag is a signal
/// for a person to look at, never an automatic change: the experiment
/// changes no code, and a code with many uses and no clicks may just belong
/// to a creator whose audience never clicks.
///
/// ```
/// use attributor::{AffiliateId, Click, Conversion, CouponCode, EventKind, Experiment, MemoryClickStore,
///     MemoryCodeRegistry, Policy};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let (creator, blogger) = (AffiliateId::new(7), AffiliateId::new(9));
/// let registry = MemoryCodeRegistry::new();
/// registry.assign(CouponCode::parse("MKBHD10")?, creator, start - TimeDelta::days(90))?;
/// let clicks = MemoryClickStore::new();
/// clicks.insert(Click::new("c-1".parse()?, blogger, start - TimeDelta::hours(2)).with_customer("ann".parse()?))?;
///
/// let mut experiment = Experiment::new(&registry, &clicks)
///     .with_policy("coupon-first".parse()?, Policy::coupon_first())
///     .with_policy("click-first".parse()?, Policy::click_first());
/// let orders = [
///     Conversion::new("ORD-1".parse()?, EventKind::Purchase, start)
///         .with_customer("ann".parse()?)
///         .with_code(CouponCode::parse("mkbhd10")?)
///         .with_amount("50".parse()?, "USD".parse()?),
///     Conversion::new("ORD-2".parse()?, EventKind::Purchase, start + TimeDelta::hours(1))
///         .with_customer("bob".parse()?)
///         .with_code(CouponCode::parse("mkbhd10")?)
///         .with_amount("20".parse()?, "USD".parse()?),
/// ];
/// experiment.replay_all(&orders)?;
/// let report = experiment.report();
///
/// let coupon_first = &report.policies[0];
/// assert_eq!(coupon_first.affiliate(creator).map(|a| a.conversions), Some(2));
/// let click_first = &report.policies[1];
/// assert_eq!(click_first.affiliate(blogger).map(|a| a.conversions), Some(1));
/// let usd = Some("USD".parse()?);
/// assert_eq!(click_first.affiliate(blogger).map(|a| a.amount(usd)), Some("50".parse()?));
/// // ORD-1 moves from the creator to the blogger.
/// assert_eq!(report.moved_total, 1);
/// assert_eq!(report.moved[0].conversion.as_str(), "ORD-1");
/// println!("{report}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Experiment<'a, R, C> {
    registry: &'a R,
    clicks: &'a C,
    options: ExperimentOptions,
    arms: Vec<Arm<'a, R, C>>,
    conversions: u64,
    duplicates: u64,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    /// The ids replayed at `last_at`, to skip repeats.
    at_last_instant: HashSet<ConversionId>,
    amounts: Vec<Money>,
    moved: Vec<MovedConversion>,
    moved_total: u64,
    codes: HashMap<CouponCode, CodeUses>,
    /// For each unknown code entered and active code near it: the owner,
    /// how near, and how many conversions.
    near: HashMap<(CouponCode, CouponCode), (AffiliateId, Nearness, u64)>,
}

impl<'a, R, C> Experiment<'a, R, C>
where
    R: CodeRegistry,
    C: ClickStore,
{
    /// An experiment over these stores, with no policy yet and the default
    /// [`ExperimentOptions`].
    pub fn new(registry: &'a R, clicks: &'a C) -> Self {
        Self {
            registry,
            clicks,
            options: ExperimentOptions::new(),
            arms: Vec::new(),
            conversions: 0,
            duplicates: 0,
            first_at: None,
            last_at: None,
            at_last_instant: HashSet::new(),
            amounts: Vec::new(),
            moved: Vec::new(),
            moved_total: 0,
            codes: HashMap::new(),
            near: HashMap::new(),
        }
    }

    /// Adds a policy under test, named for the report. Add every policy
    /// before replaying: one added later has missed what came before.
    /// A policy added under a name already used replaces the earlier one,
    /// in its place, with a fresh tally.
    pub fn with_policy(mut self, name: Label, policies: impl Into<PolicySet>) -> Self {
        let arm = Arm {
            name,
            attributor: Attributor::new(
                self.registry,
                self.clicks,
                MemoryBindingStore::new(),
                Forgetful::default(),
                policies,
            ),
            tally: Tally::default(),
        };
        match self.arms.iter_mut().find(|a| a.name == name) {
            Some(slot) => *slot = arm,
            None => self.arms.push(arm),
        }
        self
    }

    /// Sets the options.
    pub fn with_options(mut self, options: ExperimentOptions) -> Self {
        self.options = options;
        self
    }

    /// Replays one conversion under every policy. Returns `false` when it
    /// was skipped as a repeat of a conversion id at the same instant.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::OutOfOrder`] if the conversion happened before the
    /// one replayed last; [`ExperimentError::Registry`] or
    /// [`ExperimentError::Clicks`] if a store failed. The tallies are then
    /// unchanged, and replaying the conversion again is safe.
    pub fn replay(&mut self, conversion: &Conversion) -> Result<bool, ExperimentError<R::Error, C::Error>> {
        let t = conversion.occurred_at;
        match self.last_at {
            Some(previous) if t < previous => {
                return Err(ExperimentError::OutOfOrder {
                    conversion: conversion.id,
                    at: t,
                    previous,
                });
            }
            Some(previous) if t == previous && self.at_last_instant.contains(&conversion.id) => {
                self.duplicates += 1;
                return Ok(false);
            }
            _ => {}
        }

        // Decide under every policy, and read the leak evidence, before
        // counting anything: a failing store leaves the tallies as they were.
        // A binding written before a later failure is written again, to the
        // same effect, by the retry.
        let mut decisions = Vec::with_capacity(self.arms.len());
        for arm in &self.arms {
            decisions.push(arm.attributor.attribute(conversion).map_err(from_attribute)?);
        }
        let uses = self.code_uses(conversion)?;
        let near = self.near_codes(conversion)?;

        if self.last_at != Some(t) {
            self.at_last_instant.clear();
        }
        self.at_last_instant.insert(conversion.id);
        self.last_at = Some(t);
        self.first_at.get_or_insert(t);
        self.conversions += 1;
        if let Some(amount) = conversion.amount {
            add_money(&mut self.amounts, conversion.currency, amount);
        }
        for (arm, decision) in self.arms.iter_mut().zip(&decisions) {
            arm.tally.add(conversion, decision);
        }
        let day = t.timestamp().div_euclid(SECONDS_PER_DAY);
        for (code, owner, clicked) in uses {
            let entry = self.codes.entry(code).or_insert_with(|| CodeUses {
                owner,
                uses: 0,
                without_owner_click: 0,
                first_day: day,
                earlier: 0,
                by_day: VecDeque::new(),
            });
            entry.owner = owner;
            entry.uses += 1;
            if !clicked {
                entry.without_owner_click += 1;
            }
            entry.add(day, self.options.recent_days);
        }
        for n in near {
            let entry = self.near.entry((n.typed, n.assignment.code)).or_insert((
                n.assignment.affiliate,
                n.nearness,
                0,
            ));
            entry.0 = n.assignment.affiliate;
            entry.2 += 1;
        }
        if moved(&decisions) {
            self.moved_total += 1;
            if self.moved.len() < self.options.moved_limit {
                self.moved.push(MovedConversion {
                    conversion: conversion.id,
                    event: conversion.event,
                    occurred_at: t,
                    decisions,
                });
            }
        }
        Ok(true)
    }

    /// Replays conversions in order, as [`Experiment::replay`] does; returns
    /// how many were replayed (repeats skipped).
    ///
    /// # Errors
    ///
    /// As [`Experiment::replay`], for the first conversion that fails; the
    /// ones before it stay replayed.
    pub fn replay_all<I>(&mut self, conversions: I) -> Result<u64, ExperimentError<R::Error, C::Error>>
    where
        I: IntoIterator,
        I::Item: Borrow<Conversion>,
    {
        let mut replayed = 0;
        for conversion in conversions {
            if self.replay(conversion.borrow())? {
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    /// The codes entered on `conversion` that were active at its time: the
    /// owner, and whether the owner had a click.
    #[allow(clippy::type_complexity)]
    fn code_uses(
        &self,
        conversion: &Conversion,
    ) -> Result<SmallVec<[(CouponCode, AffiliateId, bool); 2]>, ExperimentError<R::Error, C::Error>> {
        let t = conversion.occurred_at;
        let from = earlier(t, self.options.leak_click_window);
        let mut carried = None;
        let mut uses = SmallVec::new();
        for (_, code) in conversion.distinct_codes() {
            let owner = match self.registry.lookup(code, t).map_err(ExperimentError::Registry)? {
                CodeLookup::Active(a) => a.affiliate,
                _ => continue,
            };
            if carried.is_none() {
                carried = Some(match &conversion.click {
                    Some(id) => self.clicks.click(id).map_err(ExperimentError::Clicks)?,
                    None => None,
                });
            }
            let by_carried = carried
                .flatten()
                .is_some_and(|c| c.affiliate == owner && from <= c.clicked_at && c.clicked_at <= t);
            let clicked = by_carried
                || match conversion.customer {
                    Some(customer) => self
                        .clicks
                        .find(&ClickQuery::owner(customer, from, t, owner))
                        .map_err(ExperimentError::Clicks)?
                        .is_some(),
                    None => false,
                };
            uses.push((*code, owner, clicked));
        }
        Ok(uses)
    }

    /// The active codes near the unknown codes entered on `conversion`.
    #[allow(clippy::type_complexity)]
    fn near_codes(
        &self,
        conversion: &Conversion,
    ) -> Result<SmallVec<[NearCode; 2]>, ExperimentError<R::Error, C::Error>> {
        let t = conversion.occurred_at;
        let mut near = SmallVec::new();
        for (_, code) in conversion.distinct_codes() {
            if self.registry.lookup(code, t).map_err(ExperimentError::Registry)? == CodeLookup::Unknown {
                near.extend(self.registry.near(code, t).map_err(ExperimentError::Registry)?);
            }
        }
        Ok(near)
    }

    /// The report so far. It can be taken at any time, and replaying can go
    /// on after it.
    pub fn report(&self) -> ExperimentReport {
        let policies = self
            .arms
            .iter()
            .map(|arm| {
                let mut affiliates: Vec<AffiliateTally> = arm.tally.affiliates.values().cloned().collect();
                affiliates.sort_unstable_by_key(|a| a.affiliate);
                let mut reasons = arm.tally.reasons.clone();
                reasons
                    .sort_unstable_by(|a, b| b.conversions.cmp(&a.conversions).then(a.reason.cmp(&b.reason)));
                PolicyReport {
                    name: arm.name,
                    credited: arm.tally.credited,
                    uncredited: arm.tally.uncredited,
                    amounts: arm.tally.amounts.clone(),
                    affiliates,
                    uncredited_by_reason: reasons,
                }
            })
            .collect();
        let recent_days = self.options.recent_days;
        let last_day = self
            .last_at
            .map_or(0, |t| t.timestamp().div_euclid(SECONDS_PER_DAY));
        let mut codes: Vec<CodeSignal> = self
            .codes
            .iter()
            .map(|(code, uses)| {
                let (recent_uses, earlier_uses) = uses.split(last_day, recent_days);
                let earlier_days =
                    u64::try_from(last_day - i64::from(recent_days) - uses.first_day + 1).unwrap_or(0);
                let mut signal = CodeSignal {
                    code: *code,
                    owner: uses.owner,
                    uses: uses.uses,
                    without_owner_click: uses.without_owner_click,
                    recent_uses,
                    earlier_uses,
                    earlier_days,
                    probably_leaked: false,
                };
                signal.probably_leaked = signal.flag(&self.options);
                signal
            })
            .collect();
        codes.sort_unstable_by(|a, b| {
            b.probably_leaked
                .cmp(&a.probably_leaked)
                .then(b.uses.cmp(&a.uses))
                .then(a.code.cmp(&b.code))
        });
        let mut near_codes: Vec<NearCodeTally> = self
            .near
            .iter()
            .map(
                |(&(typed, code), &(owner, nearness, conversions))| NearCodeTally {
                    typed,
                    code,
                    owner,
                    nearness,
                    conversions,
                },
            )
            .collect();
        near_codes.sort_unstable_by(|a, b| {
            b.conversions
                .cmp(&a.conversions)
                .then(a.code.cmp(&b.code))
                .then(a.typed.cmp(&b.typed))
        });
        ExperimentReport {
            conversions: self.conversions,
            duplicates: self.duplicates,
            first_at: self.first_at,
            last_at: self.last_at,
            amounts: self.amounts.clone(),
            policies,
            moved: self.moved.clone(),
            moved_total: self.moved_total,
            recent_days,
            codes,
            near_codes,
        }
    }
}

fn from_attribute<R, C>(e: AttributeError<R, C, Infallible, Infallible>) -> ExperimentError<R, C> {
    match e {
        AttributeError::Registry(e) => ExperimentError::Registry(e),
        AttributeError::Clicks(e) => ExperimentError::Clicks(e),
        AttributeError::Bindings(never) | AttributeError::Ledger(never) => match never {},
    }
}

/// Who is paid what: the credited affiliates and their shares, by affiliate.
fn payout(decision: &Decision) -> SmallVec<[(AffiliateId, u32); 2]> {
    let mut out: SmallVec<[(AffiliateId, u32); 2]> = SmallVec::new();
    for credit in &decision.credits {
        match out.iter_mut().find(|(a, _)| *a == credit.affiliate) {
            Some((_, share)) => *share += u32::from(credit.share),
            None => out.push((credit.affiliate, u32::from(credit.share))),
        }
    }
    out.sort_unstable();
    out
}

/// Whether the policies disagree on who is paid what.
fn moved(decisions: &[Decision]) -> bool {
    let mut payouts = decisions.iter().map(payout);
    let Some(first) = payouts.next() else {
        return false;
    };
    payouts.any(|p| p != first)
}

/// An amount in one currency. A conversion without a currency is counted
/// under `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Money {
    /// The currency, if the conversion named one.
    pub currency: Option<Currency>,
    /// The amount.
    pub amount: Amount,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.currency {
            Some(c) => write!(f, "{} {c}", self.amount),
            None => write!(f, "{}", self.amount),
        }
    }
}

/// What one affiliate earned under one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AffiliateTally {
    /// The affiliate.
    pub affiliate: AffiliateId,
    /// The conversions that credit it, wholly or in part.
    pub conversions: u64,
    /// The sum of its shares, in basis points: 10000 for each whole
    /// conversion, 5000 for each half of a split.
    pub shares: u64,
    /// Credits by a binding.
    pub by_binding: u64,
    /// Credits by a coupon code.
    pub by_coupon: u64,
    /// Credits by a click.
    pub by_click: u64,
    /// The credited amounts, shares applied ([`Amount::share`]), by
    /// currency. In a split, what rounding the parts down leaves goes to
    /// the primary affiliate ([`Decision::primary`](crate::Decision::primary)),
    /// so that the parts add up to the conversion's amount.
    pub amounts: Vec<Money>,
}

impl AffiliateTally {
    fn new(affiliate: AffiliateId) -> Self {
        Self {
            affiliate,
            conversions: 0,
            shares: 0,
            by_binding: 0,
            by_coupon: 0,
            by_click: 0,
            amounts: Vec::new(),
        }
    }

    /// The credited amount in `currency` (zero if none).
    pub fn amount(&self, currency: Option<Currency>) -> Amount {
        self.amounts
            .iter()
            .find(|m| m.currency == currency)
            .map_or(Amount::ZERO, |m| m.amount)
    }
}

/// Why a conversion credits nobody: that it is a duplicate, else the
/// outcome of the first piece of evidence it considered (codes in entry
/// order, then clicks by time, then the binding), or no evidence at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum UncreditedReason {
    /// No code, no click and no binding.
    NoEvidence,
    /// The code was never assigned.
    CodeUnknown,
    /// The code's assignment had ended.
    CodeExpired,
    /// The code had been revoked.
    CodeRevoked,
    /// The code's first assignment starts later.
    CodeNotYetActive,
    /// The code needs a qualifying click from its owner, and there was none.
    OwnerNotInvolved,
    /// The code, click or binding belongs to the customer.
    SelfReferral,
    /// The click is older than the click window.
    OutsideWindow,
    /// The click came too soon before the conversion.
    TooFast,
    /// The click is stamped after the conversion.
    AfterConversion,
    /// The binding had expired.
    BindingExpired,
    /// A duplicate of a conversion replayed before it, under a policy that
    /// pays once a customer or once a click ([`Decision::duplicate`]).
    Duplicate,
    /// Any other outcome.
    Other,
}

impl UncreditedReason {
    fn of(decision: &Decision) -> Self {
        if decision.duplicate.is_some() {
            return Self::Duplicate;
        }
        let Some(first) = decision.considered.first() else {
            return Self::NoEvidence;
        };
        match first.outcome {
            Outcome::CodeUnknown => Self::CodeUnknown,
            Outcome::CodeExpired => Self::CodeExpired,
            Outcome::CodeRevoked => Self::CodeRevoked,
            Outcome::CodeNotYetActive => Self::CodeNotYetActive,
            Outcome::OwnerNotInvolved => Self::OwnerNotInvolved,
            Outcome::SelfReferral => Self::SelfReferral,
            Outcome::OutsideWindow => Self::OutsideWindow,
            Outcome::TooFast => Self::TooFast,
            Outcome::AfterConversion => Self::AfterConversion,
            Outcome::BindingExpired => Self::BindingExpired,
            Outcome::Credited
            | Outcome::Outranked { .. }
            | Outcome::Superseded { .. }
            | Outcome::BindingHeld { .. }
            | Outcome::BindingBroken { .. } => Self::Other,
        }
    }
}

impl fmt::Display for UncreditedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoEvidence => "no evidence",
            Self::CodeUnknown => "code unknown",
            Self::CodeExpired => "code expired",
            Self::CodeRevoked => "code revoked",
            Self::CodeNotYetActive => "code not yet active",
            Self::OwnerNotInvolved => "code owner not involved",
            Self::SelfReferral => "self-referral",
            Self::OutsideWindow => "click outside the window",
            Self::TooFast => "click too fast",
            Self::AfterConversion => "click after the conversion",
            Self::BindingExpired => "binding expired",
            Self::Duplicate => "duplicate",
            Self::Other => "other",
        })
    }
}

/// How many conversions credit nobody for one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReasonTally {
    /// The reason.
    pub reason: UncreditedReason,
    /// The conversions.
    pub conversions: u64,
}

/// The results of one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PolicyReport {
    /// The name it was given.
    pub name: Label,
    /// Conversions that credit someone.
    pub credited: u64,
    /// Conversions that credit nobody.
    pub uncredited: u64,
    /// The credited amounts, shares applied, by currency.
    pub amounts: Vec<Money>,
    /// Every affiliate credited, by affiliate id.
    pub affiliates: Vec<AffiliateTally>,
    /// The uncredited conversions by reason, the most common first; they
    /// add up to `uncredited`.
    pub uncredited_by_reason: Vec<ReasonTally>,
}

impl PolicyReport {
    /// The tally of `affiliate`, if it was credited.
    pub fn affiliate(&self, affiliate: AffiliateId) -> Option<&AffiliateTally> {
        self.affiliates
            .binary_search_by_key(&affiliate, |a| a.affiliate)
            .ok()
            .and_then(|i| self.affiliates.get(i))
    }
}

/// A conversion the policies disagree on: they pay different affiliates, or
/// the same ones different shares. A change of method alone (the same
/// affiliate by code instead of by click) is not a move.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MovedConversion {
    /// The conversion.
    pub conversion: ConversionId,
    /// Its event.
    pub event: EventKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// One decision per policy, in the order of
    /// [`ExperimentReport::policies`].
    pub decisions: Vec<Decision>,
}

/// The leak signals of one code, over the conversions replayed.
///
/// A code is flagged as [probably leaked](CodeSignal::probably_leaked) when
/// all of these hold (see [`ExperimentOptions`] for the settings):
///
/// 1. it has at least `leak_min_uses` uses;
/// 2. the share of uses with no click from its owner is at least
///    `leak_share`;
/// 3. unless `leak_surge` is 0, it was used before the recent period, and
///    its uses per day in the recent period are at least `leak_surge`
///    percent of its uses per day before (from the day of its first use).
///
/// The third rule is what tells a leak from a creator whose audience never
/// clicks: such a code has no clicks from the start, while a leaked one
/// takes off when it reaches coupon sites. A flag is a signal for a person
/// to look at, never an automatic change; making the code
/// [`CreditMode::IfInvolved`](crate::CreditMode::IfInvolved), replacing it,
/// or leaving it is the operator's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CodeSignal {
    /// The code.
    pub code: CouponCode,
    /// Its owner at its latest use.
    pub owner: AffiliateId,
    /// Conversions that entered it while it was active.
    pub uses: u64,
    /// Those with no click from the code's owner in the leak click window.
    pub without_owner_click: u64,
    /// Uses in the recent period.
    pub recent_uses: u64,
    /// Uses before it.
    pub earlier_uses: u64,
    /// The days from the code's first use to the recent period; 0 when it
    /// was first used within the recent period.
    pub earlier_days: u64,
    /// Whether the rules above flag it.
    pub probably_leaked: bool,
}

impl CodeSignal {
    /// The share of uses with no click from the owner, in basis points.
    pub fn without_click_share(&self) -> u16 {
        if self.uses == 0 {
            return 0;
        }
        let bp = u128::from(self.without_owner_click) * 10_000 / u128::from(self.uses);
        u16::try_from(bp).unwrap_or(10_000)
    }

    fn flag(&self, options: &ExperimentOptions) -> bool {
        if self.uses == 0 || self.uses < options.leak_min_uses {
            return false;
        }
        if u128::from(self.without_owner_click) * 10_000
            < u128::from(options.leak_share) * u128::from(self.uses)
        {
            return false;
        }
        if options.leak_surge == 0 {
            return true;
        }
        // recent / recent_days >= surge% * earlier / earlier_days
        self.earlier_days > 0
            && u128::from(self.recent_uses) * u128::from(self.earlier_days) * 100
                >= u128::from(options.leak_surge)
                    * u128::from(self.earlier_uses)
                    * u128::from(options.recent_days)
    }
}

/// An unknown code customers entered, and an active code it resembles
/// ([`CodeRegistry::near`]): one row of [`ExperimentReport::near_codes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NearCodeTally {
    /// The code as entered (canonical).
    pub typed: CouponCode,
    /// The active code it resembles.
    pub code: CouponCode,
    /// That code's owner at the latest such conversion.
    pub owner: AffiliateId,
    /// How it resembles it.
    pub nearness: Nearness,
    /// Conversions that entered the unknown code while the other was active.
    pub conversions: u64,
}

/// What an [`Experiment`] found. `Display` renders it as tables for a
/// person; with the `serde` feature it serialises to JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExperimentReport {
    /// Conversions replayed, repeats skipped.
    pub conversions: u64,
    /// Repeats skipped: a conversion id seen again at the same instant.
    pub duplicates: u64,
    /// When the first conversion replayed happened.
    pub first_at: Option<DateTime<Utc>>,
    /// When the last conversion replayed happened.
    pub last_at: Option<DateTime<Utc>>,
    /// The amounts of all conversions replayed, by currency.
    pub amounts: Vec<Money>,
    /// One report per policy, in the order they were added.
    pub policies: Vec<PolicyReport>,
    /// The first conversions the policies disagree on, up to
    /// [`ExperimentOptions::with_moved_limit`].
    pub moved: Vec<MovedConversion>,
    /// All conversions the policies disagree on, listed or not.
    pub moved_total: u64,
    /// The length of the recent period of the leak signals, in days.
    pub recent_days: u32,
    /// The leak signals of every code used: flagged codes first, then by
    /// uses, most first.
    pub codes: Vec<CodeSignal>,
    /// The unknown codes entered that resemble active ones, with how many
    /// conversions entered each: which creator's code customers mistype.
    /// Most entered first.
    pub near_codes: Vec<NearCodeTally>,
}

impl ExperimentReport {
    /// The report of the policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&PolicyReport> {
        self.policies.iter().find(|p| p.name.as_str() == name)
    }

    /// The moved conversions counted but not listed.
    pub fn moved_not_listed(&self) -> u64 {
        self.moved_total
            .saturating_sub(u64::try_from(self.moved.len()).unwrap_or(u64::MAX))
    }

    /// The codes flagged as probably leaked.
    pub fn probably_leaked(&self) -> impl Iterator<Item = &CodeSignal> {
        self.codes.iter().filter(|c| c.probably_leaked)
    }
}

/// Rows of cells, printed with aligned columns.
struct Table(Vec<Vec<String>>);

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = Vec::new();
        for row in &self.0 {
            for (i, cell) in row.iter().enumerate() {
                let len = cell.chars().count();
                match widths.get_mut(i) {
                    Some(w) => *w = (*w).max(len),
                    None => widths.push(len),
                }
            }
        }
        for row in &self.0 {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let width = widths.get(i).copied().unwrap_or(0);
                line.push_str(cell);
                line.extend(core::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()),
                ));
            }
            writeln!(f, "  {}", line.trim_end())?;
        }
        Ok(())
    }
}

fn money_list(amounts: &[Money]) -> String {
    let parts: Vec<String> = amounts.iter().map(Money::to_string).collect();
    parts.join(" + ")
}

fn percent(bp: u64) -> String {
    format!("{}.{}%", bp / 100, (bp % 100) / 10)
}

fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How many codes `Display` lists beside the flagged ones.
const CODES_SHOWN: usize = 10;

impl fmt::Display for ExperimentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day =
            |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d").to_string());
        write!(
            f,
            "replayed {} from {} to {} under {}",
            counted(self.conversions, "conversion", "conversions"),
            day(self.first_at),
            day(self.last_at),
            counted(self.policies.len() as u64, "policy", "policies")
        )?;
        if self.duplicates > 0 {
            write!(
                f,
                " ({} skipped)",
                counted(self.duplicates, "repeated id", "repeated ids")
            )?;
        }
        writeln!(f)?;
        if !self.amounts.is_empty() {
            writeln!(f, "amount replayed: {}", money_list(&self.amounts))?;
        }

        if !self.policies.is_empty() {
            writeln!(
                f,
                "\ncredit by affiliate: conversions, and amount with shares applied"
            )?;
            let mut header = vec!["affiliate".to_owned()];
            header.extend(self.policies.iter().map(|p| p.name.to_string()));
            let mut rows = vec![header];
            let mut affiliates: Vec<AffiliateId> = self
                .policies
                .iter()
                .flat_map(|p| p.affiliates.iter().map(|a| a.affiliate))
                .collect();
            affiliates.sort_unstable();
            affiliates.dedup();
            for affiliate in affiliates {
                let mut row = vec![affiliate.to_string()];
                for policy in &self.policies {
                    row.push(match policy.affiliate(affiliate) {
                        Some(a) if a.amounts.is_empty() => a.conversions.to_string(),
                        Some(a) => format!("{} ({})", a.conversions, money_list(&a.amounts)),
                        None => "-".to_owned(),
                    });
                }
                rows.push(row);
            }
            let mut total = vec!["credited".to_owned()];
            let mut nobody = vec!["uncredited".to_owned()];
            for policy in &self.policies {
                total.push(if policy.amounts.is_empty() {
                    policy.credited.to_string()
                } else {
                    format!("{} ({})", policy.credited, money_list(&policy.amounts))
                });
                nobody.push(policy.uncredited.to_string());
            }
            rows.push(total);
            rows.push(nobody);
            write!(f, "{}", Table(rows))?;

            let mut reasons: Vec<UncreditedReason> = self
                .policies
                .iter()
                .flat_map(|p| p.uncredited_by_reason.iter().map(|r| r.reason))
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            if !reasons.is_empty() {
                writeln!(f, "\nuncredited conversions by reason")?;
                let mut header = vec!["reason".to_owned()];
                header.extend(self.policies.iter().map(|p| p.name.to_string()));
                let mut rows = vec![header];
                for reason in reasons {
                    let mut row = vec![reason.to_string()];
                    for policy in &self.policies {
                        let n = policy
                            .uncredited_by_reason
                            .iter()
                            .find(|r| r.reason == reason)
                            .map_or(0, |r| r.conversions);
                        row.push(n.to_string());
                    }
                    rows.push(row);
                }
                write!(f, "{}", Table(rows))?;
            }

            write!(
                f,
                "\nmoved conversions, paid differently by the policies: {}",
                self.moved_total
            )?;
            if self.moved_not_listed() > 0 {
                match self.moved.len() {
                    1 => write!(f, "; the first is listed")?,
                    n => write!(f, "; the first {n} are listed")?,
                }
            }
            writeln!(f)?;
            for moved in &self.moved {
                writeln!(
                    f,
                    "  {} ({} at {})",
                    moved.conversion,
                    moved.event,
                    moved.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
                )?;
                for (policy, decision) in self.policies.iter().zip(&moved.decisions) {
                    writeln!(f, "    {}: {decision}", policy.name)?;
                }
            }
        }

        if !self.near_codes.is_empty() {
            writeln!(
                f,
                "\nunknown codes that resemble active ones (candidates for review, never credited unless read as a look-alike)"
            )?;
            let mut rows = vec![vec![
                "entered".to_owned(),
                "resembles".to_owned(),
                "owner".to_owned(),
                "how".to_owned(),
                "conversions".to_owned(),
            ]];
            for n in self.near_codes.iter().take(CODES_SHOWN) {
                rows.push(vec![
                    n.typed.to_string(),
                    n.code.to_string(),
                    n.owner.to_string(),
                    match n.nearness {
                        Nearness::LookAlike => "look-alike",
                        Nearness::OneEdit => "one edit",
                    }
                    .to_owned(),
                    n.conversions.to_string(),
                ]);
            }
            write!(f, "{}", Table(rows))?;
            if self.near_codes.len() > CODES_SHOWN {
                let more = u64::try_from(self.near_codes.len() - CODES_SHOWN).unwrap_or(u64::MAX);
                writeln!(f, "  ... and {}", counted(more, "more", "more"))?;
            }
        }

        writeln!(
            f,
            "\nleak signals by code (last {} against before; a flag is a signal to check, never applied)",
            counted(u64::from(self.recent_days), "day", "days")
        )?;
        if self.codes.is_empty() {
            return writeln!(f, "  no code was used");
        }
        let mut rows = vec![vec![
            "code".to_owned(),
            "owner".to_owned(),
            "uses".to_owned(),
            "no owner click".to_owned(),
            "recent".to_owned(),
            "before".to_owned(),
            String::new(),
        ]];
        let shown = self.probably_leaked().count().max(CODES_SHOWN);
        for signal in self.codes.iter().take(shown) {
            rows.push(vec![
                signal.code.to_string(),
                signal.owner.to_string(),
                signal.uses.to_string(),
                percent(u64::from(signal.without_click_share())),
                signal.recent_uses.to_string(),
                format!(
                    "{} in {}",
                    signal.earlier_uses,
                    counted(signal.earlier_days, "day", "days")
                ),
                if signal.probably_leaked {
                    "probably leaked".to_owned()
                } else {
                    String::new()
                },
            ]);
        }
        write!(f, "{}", Table(rows))?;
        if self.codes.len() > shown {
            let more = u64::try_from(self.codes.len().saturating_sub(shown)).unwrap_or(u64::MAX);
            writeln!(f, "  ... and {}", counted(more, "more code", "more codes"))?;
        }
        Ok(())
    }
}

/// An [`ExperimentOptions`](crate::ExperimentOptions) setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A recent period of zero days.
    #[error("recent period of 0 days is empty")]
    ZeroRecentDays,
    /// A leak share above 10000 basis points.
    #[error("leak share of {bp} basis points is more than 10000")]
    ShareTooLarge {
        /// The share given.
        bp: u32,
    },
    /// A negative leak click window.
    #[error("leak click window of {seconds} s is negative")]
    NegativeWindow {
        /// The value given, in whole seconds.
        seconds: i64,
    },
}

/// [`Experiment::replay`](crate::Experiment::replay) failed. The
/// experiment's tallies are unchanged, so the conversion can be replayed
/// again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError<R, C> {
    /// The code registry failed.
    #[error("code registry failed: {0}")]
    Registry(#[source] R),
    /// The click store failed.
    #[error("click store failed: {0}")]
    Clicks(#[source] C),
    /// The conversion happened before the one replayed last: a replay needs
    /// its conversions in time order.
    #[error(
        "conversion {conversion} at {at} comes after one at {previous}; replay needs conversions in time order"
    )]
    OutOfOrder {
        /// The conversion refused.
        conversion: crate::ids::ConversionId,
        /// When it happened.
        at: DateTime<Utc>,
        /// When the conversion replayed last happened.
        previous: DateTime<Utc>,
    },
}
