//! Replaying conversions under several policies at once: [`Experiment`].

use core::borrow::Borrow;
use std::collections::VecDeque;
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

use crate::attributor::{AttributeError, Attributor};
use crate::clicks::{ClickQuery, ClickStore};
use crate::code::CouponCode;
use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ids::{AffiliateId, ConversionId, Label};
use crate::ledger::{Ledger, Recording};
use crate::memory::MemoryBindingStore;
use crate::policy::{PolicySet, UniqueKey};
use crate::registry::{CodeLookup, CodeRegistry, NearCode, Nearness};
use crate::time::earlier;

use super::options::ExperimentOptions;
use super::report::{ExperimentReport, MovedConversion, PolicyReport};
use super::signals::{CodeSignal, CodeUses, NearCodeTally};
use super::tally::{AffiliateTally, Money, Tally, add_money};

pub(super) const SECONDS_PER_DAY: i64 = 86_400;

/// A ledger that keeps no decisions, only claims. An experiment detects
/// repeated conversion ids itself (see [`Experiment`]), so that its memory
/// does not grow with the number of conversions.
#[derive(Debug, Default)]
pub(super) struct Forgetful {
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
pub(super) struct Arm<'a, R, C> {
    name: Label,
    attributor: Attributor<&'a R, &'a C, MemoryBindingStore, Forgetful>,
    tally: Tally,
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
            decisions.push(
                arm.attributor
                    .attribute(conversion)
                    .map_err(from_attribute)?
                    .decision,
            );
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
            entry.add(day, self.options.recent_days());
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
            if self.moved.len() < self.options.moved_limit() {
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
        let from = earlier(t, self.options.leak_click_window());
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
        let recent_days = self.options.recent_days();
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

pub(super) fn from_attribute<R, C>(e: AttributeError<R, C, Infallible, Infallible>) -> ExperimentError<R, C> {
    match e {
        AttributeError::Registry(e) => ExperimentError::Registry(e),
        AttributeError::Clicks(e) => ExperimentError::Clicks(e),
        AttributeError::Bindings(never) | AttributeError::Ledger(never) => match never {},
    }
}

/// Who is paid what: the credited affiliates and their shares, by affiliate.
pub(super) fn payout(decision: &Decision) -> SmallVec<[(AffiliateId, u32); 2]> {
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
pub(super) fn moved(decisions: &[Decision]) -> bool {
    let mut payouts = decisions.iter().map(payout);
    let Some(first) = payouts.next() else {
        return false;
    };
    payouts.any(|p| p != first)
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
