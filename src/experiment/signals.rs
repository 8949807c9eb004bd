//! Signals about codes: uses without a click from the owner (leaks), and
//! codes customers mistype.

use std::collections::VecDeque;

use crate::code::CouponCode;
use crate::ids::AffiliateId;
use crate::registry::Nearness;

use super::options::ExperimentOptions;

/// What the experiment keeps of one code's uses: counts, and per-day counts
/// for the recent period only.
#[derive(Debug)]
pub(super) struct CodeUses {
    pub(super) owner: AffiliateId,
    pub(super) uses: u64,
    pub(super) without_owner_click: u64,
    pub(super) first_day: i64,
    /// Uses on days that have left the recent period.
    pub(super) earlier: u64,
    /// Uses by UTC day, for days that may still be in the recent period.
    pub(super) by_day: VecDeque<(i64, u64)>,
}

impl CodeUses {
    pub(super) fn add(&mut self, day: i64, recent_days: u32) {
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
    pub(super) fn split(&self, last_day: i64, recent_days: u32) -> (u64, u64) {
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

    pub(super) fn flag(&self, options: &ExperimentOptions) -> bool {
        if self.uses == 0 || self.uses < options.leak_min_uses() {
            return false;
        }
        if u128::from(self.without_owner_click) * 10_000
            < u128::from(options.leak_share()) * u128::from(self.uses)
        {
            return false;
        }
        if options.leak_surge() == 0 {
            return true;
        }
        // recent / recent_days >= surge% * earlier / earlier_days
        self.earlier_days > 0
            && u128::from(self.recent_uses) * u128::from(self.earlier_days) * 100
                >= u128::from(options.leak_surge())
                    * u128::from(self.earlier_uses)
                    * u128::from(options.recent_days())
    }
}

/// An unknown code customers entered, and an active code it resembles
/// ([`CodeRegistry::near`](crate::CodeRegistry::near)): one row of [`ExperimentReport::near_codes`](crate::ExperimentReport::near_codes).
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
