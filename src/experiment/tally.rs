//! What each policy credits, to whom and why not: the tallies of a replay.

use core::fmt;

use hashbrown::HashMap;

use crate::conversion::{Amount, Conversion, Currency};
use crate::decision::{Decision, Outcome};
use crate::ids::AffiliateId;
use crate::policy::Method;

#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) credited: u64,
    pub(super) uncredited: u64,
    pub(super) amounts: Vec<Money>,
    pub(super) affiliates: HashMap<AffiliateId, AffiliateTally>,
    pub(super) reasons: Vec<ReasonTally>,
}

impl Tally {
    pub(super) fn add(&mut self, conversion: &Conversion, decision: &Decision) {
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

pub(super) fn add_money(amounts: &mut Vec<Money>, currency: Option<Currency>, amount: Amount) {
    match amounts.iter_mut().find(|m| m.currency == currency) {
        Some(m) => m.amount = m.amount.saturating_add(amount),
        None => {
            amounts.push(Money { currency, amount });
            amounts.sort_unstable_by_key(|m| m.currency);
        }
    }
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
