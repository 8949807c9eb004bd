//! The pure core: evidence and policy in, decision out.

use chrono::{DateTime, TimeDelta, Utc};
use smallvec::SmallVec;

use crate::binding::Binding;
use crate::code::CouponCode;
use crate::conversion::{Click, Conversion};
use crate::decision::{
    Candidate, Candidates, Considered, ConsideredList, Credit, Credits, Decision, Outcome, Subject,
};
use crate::ids::{AffiliateId, ClickId};
use crate::policy::{ClickPick, Method, Policy, Priority};
use crate::registry::{CodeAssignment, CodeLookup, CreditMode, NearCode, Nearness};

/// An entered code and what the registry said of it at the conversion's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeEvidence {
    /// The code, canonical.
    pub code: CouponCode,
    /// The registry's answer at the conversion's time.
    pub lookup: CodeLookup,
}

/// The parts of a click the resolver weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClickEvidence {
    /// The click's id.
    pub id: ClickId,
    /// Whose link it was.
    pub affiliate: AffiliateId,
    /// When it was made.
    pub clicked_at: DateTime<Utc>,
}

impl From<&Click> for ClickEvidence {
    fn from(click: &Click) -> Self {
        Self {
            id: click.id,
            affiliate: click.affiliate,
            clicked_at: click.clicked_at,
        }
    }
}

impl From<Click> for ClickEvidence {
    fn from(click: Click) -> Self {
        Self::from(&click)
    }
}

/// Everything known about a conversion's affiliates, gathered from the stores
/// (by [`Attributor::gather`](crate::Attributor::gather), or by hand for an
/// async or remote backend).
///
/// The order of `codes` and `clicks` does not matter: codes are weighed in
/// the conversion's entry order, and a code missing here counts as unknown.
/// A click listed twice counts once. List each code's lookup once: of two
/// lookups of one code, the first counts.
///
/// ```
/// use attributor::{AffiliateId, ClickEvidence, Evidence};
/// use chrono::{TimeZone, Utc};
///
/// let evidence = Evidence::new().with_click(ClickEvidence {
///     id: "c-1".parse()?,
///     affiliate: AffiliateId::new(9),
///     clicked_at: Utc.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap(),
/// });
/// assert_eq!(evidence.clicks.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The registry's answers for the entered codes.
    pub codes: SmallVec<[CodeEvidence; 2]>,
    /// The active codes near the unknown entered codes
    /// ([`CodeRegistry::near`](crate::CodeRegistry::near)), each with the
    /// code it was asked for as [`NearCode::typed`].
    pub near: SmallVec<[NearCode; 2]>,
    /// The candidate clicks.
    pub clicks: SmallVec<[ClickEvidence; 3]>,
    /// The customer's latest binding made before the conversion, if any.
    pub binding: Option<Binding>,
}

impl Evidence {
    /// No evidence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a code's lookup.
    pub fn with_code(mut self, code: CouponCode, lookup: CodeLookup) -> Self {
        self.codes.push(CodeEvidence { code, lookup });
        self
    }

    /// Adds an active code near an entered one.
    pub fn with_near(mut self, near: NearCode) -> Self {
        self.near.push(near);
        self
    }

    /// Adds a candidate click.
    pub fn with_click(mut self, click: impl Into<ClickEvidence>) -> Self {
        self.clicks.push(click.into());
        self
    }

    /// Sets the binding.
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.binding = Some(binding);
        self
    }
}

/// Why a click does not qualify: one byte, where an [`Outcome`] takes 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClickFault {
    SelfReferral,
    AfterConversion,
    OutsideWindow,
    TooFast,
}

impl ClickFault {
    fn outcome(self) -> Outcome {
        match self {
            Self::SelfReferral => Outcome::SelfReferral,
            Self::AfterConversion => Outcome::AfterConversion,
            Self::OutsideWindow => Outcome::OutsideWindow,
            Self::TooFast => Outcome::TooFast,
        }
    }
}

/// Why a click does not qualify, or `None` if it does.
pub(crate) fn judge_click(
    conversion: &Conversion,
    click: &ClickEvidence,
    policy: &Policy,
) -> Option<ClickFault> {
    if conversion.customer_affiliate == Some(click.affiliate) {
        return Some(ClickFault::SelfReferral);
    }
    let elapsed = conversion.occurred_at.signed_duration_since(click.clicked_at);
    if elapsed < -policy.clock_skew() {
        Some(ClickFault::AfterConversion)
    } else if elapsed > policy.click_window() {
        Some(ClickFault::OutsideWindow)
    } else if elapsed.max(TimeDelta::zero()) < policy.min_click_age() {
        // A click within the skew tolerance is timed at the conversion.
        Some(ClickFault::TooFast)
    } else {
        None
    }
}

/// A total order on clicks: time, then id, then affiliate.
fn click_key(c: &ClickEvidence) -> (DateTime<Utc>, ClickId, AffiliateId) {
    (c.clicked_at, c.id, c.affiliate)
}

/// Whether `a` beats `b` under `pick`: the earliest or latest time, and on
/// equal times the smaller id.
fn click_beats(a: &ClickEvidence, b: &ClickEvidence, pick: ClickPick) -> bool {
    let by_time = match pick {
        ClickPick::First => a.clicked_at.cmp(&b.clicked_at),
        ClickPick::Last => b.clicked_at.cmp(&a.clicked_at),
    };
    by_time
        .then_with(|| (a.id, a.affiliate).cmp(&(b.id, b.affiliate)))
        .is_lt()
}

/// The winner among methods.
#[derive(Clone, Copy)]
enum Winner {
    Nobody,
    Binding(AffiliateId),
    Coupon(AffiliateId),
    Click(AffiliateId),
    /// One affiliate owns both the code and the click, and both count.
    Both(AffiliateId),
    /// Code owner and click owner share; both shares are above zero.
    Split {
        coupon_share: u16,
        code: AffiliateId,
        click: AffiliateId,
    },
}

/// What a qualifying piece of evidence is to the decision.
#[derive(Clone, Copy)]
enum Role {
    Code,
    ChosenClick,
    OtherClick,
    Binding,
}

/// Decides who earns `conversion`, from `evidence`, under `policy`.
///
/// Pure and deterministic: no clock, no store, no global; the order of the
/// evidence does not matter. It does not allocate when the decision weighs
/// at most four pieces of evidence (say a code, two clicks and a binding),
/// the capacity held inline. The crate docs' "Priority rules" state what it
/// does.
///
/// ```
/// use attributor::{resolve, AffiliateId, ClickEvidence, CodeAssignment, CodeLookup,
///     Conversion, CouponCode, EventKind, Evidence, Method, Policy};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let code = CouponCode::parse("MKBHD10")?;
/// let conversion = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at).with_code(code);
/// let owner = CodeAssignment::new(code, AffiliateId::new(7), at - TimeDelta::days(100));
/// let evidence = Evidence::new()
///     .with_code(code, CodeLookup::Active(owner))
///     .with_click(ClickEvidence {
///         id: "c-1".parse()?,
///         affiliate: AffiliateId::new(9),
///         clicked_at: at - TimeDelta::hours(1),
///     });
///
/// let coupon_first = resolve(&conversion, &evidence, &Policy::coupon_first());
/// assert_eq!(coupon_first.credits[0].affiliate, AffiliateId::new(7));
/// assert_eq!(coupon_first.credits[0].method, Method::Coupon);
///
/// let click_first = resolve(&conversion, &evidence, &Policy::click_first());
/// assert_eq!(click_first.primary(), Some(AffiliateId::new(9)));
/// println!("{click_first}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve(conversion: &Conversion, evidence: &Evidence, policy: &Policy) -> Decision {
    // Built where it is returned, so that its evidence list is written once
    // rather than moved at the end.
    let mut decision = blank(conversion, policy);
    resolve_into(conversion, evidence, policy, &mut decision);
    decision
}

/// A decision about `conversion` that credits nobody and weighs nothing
/// yet: what [`resolve_into`] fills in. Cheap: its lists are empty.
pub(crate) fn blank(conversion: &Conversion, policy: &Policy) -> Decision {
    Decision {
        conversion: conversion.id,
        event: conversion.event,
        occurred_at: conversion.occurred_at,
        // Both or neither, even from a conversion whose public fields were
        // set apart: an amount without its currency is no sum of money.
        amount: conversion.currency.and(conversion.amount),
        currency: conversion.amount.and(conversion.currency),
        credits: Credits::new(),
        considered: ConsideredList::new(),
        binding: None,
        candidates: Candidates::new(),
        duplicate: None,
        policy: *policy,
    }
}

/// What counts of the entered `code`: the registry's answer for it, and,
/// when it is unknown and the policy reads look-alikes, the answer for its
/// one active look-alike instead, with that code.
pub(crate) fn read_code(
    code: &CouponCode,
    evidence: &Evidence,
    policy: &Policy,
) -> (CodeLookup, Option<CouponCode>) {
    let lookup = evidence
        .codes
        .iter()
        .find(|e| e.code == *code)
        .map_or(CodeLookup::Unknown, |e| e.lookup);
    if lookup != CodeLookup::Unknown || !policy.look_alikes() {
        return (lookup, None);
    }
    let mut look_alikes = evidence
        .near
        .iter()
        .filter(|n| n.typed == *code && n.nearness == Nearness::LookAlike);
    match (look_alikes.next(), look_alikes.next()) {
        (Some(only), None) => (CodeLookup::Active(only.assignment), Some(only.assignment.code)),
        _ => (lookup, None),
    }
}

/// [`resolve`], into `decision`, which [`blank`] made for the same
/// conversion and policy: a caller that keeps the decision (the
/// [`Attribution`](crate::Attribution) machine) has it written in place
/// rather than copied in.
pub(crate) fn resolve_into(
    conversion: &Conversion,
    evidence: &Evidence,
    policy: &Policy,
    decision: &mut Decision,
) {
    let t = conversion.occurred_at;
    let considered = &mut decision.considered;

    // Each click judged once: `None` when it qualifies.
    let verdicts: SmallVec<[Option<ClickFault>; 8]> = evidence
        .clicks
        .iter()
        .map(|click| judge_click(conversion, click, policy))
        .collect();
    let qualifying = || {
        evidence
            .clicks
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_none())
            .map(|(click, _)| click)
    };

    // Clicks: the one that counts among those that qualify.
    let mut chosen_click: Option<&ClickEvidence> = None;
    for click in qualifying() {
        if chosen_click.is_none_or(|best| click_beats(click, best, policy.click_pick())) {
            chosen_click = Some(click);
        }
    }
    let owner_clicked = |owner: AffiliateId| qualifying().any(|c| c.affiliate == owner);

    // Codes, in entry order, each once: the first valid one counts.
    let mut chosen_code: Option<CodeAssignment> = None;
    let mut chosen_entered: Option<CouponCode> = None;
    for (_, code) in conversion.distinct_codes() {
        let (lookup, read_as) = read_code(code, evidence, policy);
        if lookup == CodeLookup::Unknown || read_as.is_some() {
            // The near codes of an unknown one, named for review (but the
            // one it was read as).
            for n in evidence.near.iter().filter(|n| n.typed == *code) {
                let candidate = Candidate {
                    typed: *code,
                    code: n.assignment.code,
                    affiliate: n.assignment.affiliate,
                    nearness: n.nearness,
                };
                if Some(candidate.code) != read_as && !decision.candidates.contains(&candidate) {
                    decision.candidates.push(candidate);
                }
            }
        }
        let affiliate = lookup.assignment().map(|a| a.affiliate);
        let outcome = match lookup {
            CodeLookup::Unknown => Outcome::CodeUnknown,
            CodeLookup::Expired(_) => Outcome::CodeExpired,
            CodeLookup::Revoked(_) => Outcome::CodeRevoked,
            CodeLookup::NotYetActive(_) => Outcome::CodeNotYetActive,
            CodeLookup::Active(a) if conversion.customer_affiliate == Some(a.affiliate) => {
                Outcome::SelfReferral
            }
            CodeLookup::Active(a) if a.mode == CreditMode::IfInvolved && !owner_clicked(a.affiliate) => {
                Outcome::OwnerNotInvolved
            }
            CodeLookup::Active(a) => match chosen_entered {
                Some(first) => Outcome::Superseded { by: first },
                None => {
                    chosen_code = Some(a);
                    chosen_entered = Some(*code);
                    // Settled below, once the winner is known.
                    Outcome::Credited
                }
            },
        };
        considered.push(Considered {
            subject: Subject::Code {
                code: *code,
                read_as,
                family: lookup.assignment().filter(|a| a.family).map(|a| a.code),
            },
            affiliate,
            outcome,
        });
    }

    // Clicks, by time then id, each once.
    let clicks_start = considered.len();
    for (i, (click, verdict)) in evidence.clicks.iter().zip(&verdicts).enumerate() {
        if evidence.clicks.iter().take(i).any(|earlier| earlier == click) {
            continue;
        }
        considered.push(Considered {
            subject: Subject::Click {
                id: click.id,
                at: click.clicked_at,
            },
            affiliate: Some(click.affiliate),
            outcome: verdict.map_or(Outcome::Credited, ClickFault::outcome),
        });
    }
    if let Some(segment) = considered.get_mut(clicks_start..) {
        segment.sort_unstable_by(|a, b| match (a.subject, b.subject) {
            (Subject::Click { id: ia, at: ta }, Subject::Click { id: ib, at: tb }) => {
                (ta, ia, a.affiliate).cmp(&(tb, ib, b.affiliate))
            }
            _ => core::cmp::Ordering::Equal,
        });
    }

    // The binding: live, expired, or broken by a code.
    let mut live_binding: Option<&Binding> = None;
    let mut broken = false;
    // A code breaks a binding, where the policy lets it, only when it would
    // win without the binding (in a split, take at least half, as the
    // affiliate a new binding goes to does), and only a binding to another
    // affiliate: the bound affiliate's own code moves nothing.
    let coupon_would_win = |bound: AffiliateId| {
        policy.coupon_breaks_binding()
            && chosen_code.is_some_and(|c| c.affiliate != bound)
            && match choose(policy, t, None, chosen_code.as_ref(), chosen_click) {
                Winner::Coupon(_) | Winner::Both(_) => true,
                Winner::Split { coupon_share, .. } => code_takes_binding(coupon_share),
                Winner::Binding(_) | Winner::Click(_) | Winner::Nobody => false,
            }
    };
    if let Some(b) = &evidence.binding {
        let outcome = if !b.is_live_at(t) {
            Outcome::BindingExpired
        } else if conversion.customer_affiliate == Some(b.affiliate) {
            // Bound, say, before the operator linked the customer to their
            // affiliate account: crediting it now would be self-referral.
            Outcome::SelfReferral
        } else if let (Some(code), true) = (chosen_entered, coupon_would_win(b.affiliate)) {
            broken = true;
            Outcome::BindingBroken { by: code }
        } else {
            live_binding = Some(b);
            Outcome::Credited
        };
        considered.push(Considered {
            subject: Subject::Binding { since: b.bound_at },
            affiliate: Some(b.affiliate),
            outcome,
        });
    }

    let winner = choose(
        policy,
        t,
        live_binding.map(|b| b.affiliate),
        chosen_code.as_ref(),
        chosen_click,
    );

    // Settle the outcomes of the evidence that qualified.
    let chosen_click_key = chosen_click.map(click_key);
    for entry in considered.iter_mut().filter(|c| c.outcome == Outcome::Credited) {
        let role = match entry.subject {
            Subject::Code { .. } => Role::Code,
            Subject::Click { id, at } if entry.affiliate.map(|a| (at, id, a)) == chosen_click_key => {
                Role::ChosenClick
            }
            Subject::Click { .. } => Role::OtherClick,
            Subject::Binding { .. } => Role::Binding,
        };
        entry.outcome = match (winner, role) {
            (Winner::Binding(_), Role::Binding)
            | (Winner::Coupon(_), Role::Code)
            | (Winner::Click(_), Role::ChosenClick)
            | (Winner::Split { .. } | Winner::Both(_), Role::Code | Role::ChosenClick) => Outcome::Credited,
            (Winner::Binding(affiliate), _) => Outcome::BindingHeld { affiliate },
            (Winner::Click(affiliate), _) => Outcome::Outranked {
                by: Method::Click,
                affiliate,
            },
            // In a split, a click loses only to the chosen click.
            (Winner::Split { click: affiliate, .. } | Winner::Both(affiliate), Role::OtherClick) => {
                Outcome::Outranked {
                    by: Method::Click,
                    affiliate,
                }
            }
            (
                Winner::Coupon(affiliate) | Winner::Both(affiliate) | Winner::Split { code: affiliate, .. },
                _,
            ) => Outcome::Outranked {
                by: Method::Coupon,
                affiliate,
            },
            // Nothing won, so nothing qualified: no entry reaches this arm.
            (Winner::Nobody, _) => Outcome::Credited,
        };
    }

    let credits = &mut decision.credits;
    match winner {
        Winner::Nobody => {}
        Winner::Binding(affiliate) => credits.push(full(affiliate, Method::Binding)),
        Winner::Coupon(affiliate) | Winner::Both(affiliate) => credits.push(full(affiliate, Method::Coupon)),
        Winner::Click(affiliate) => credits.push(full(affiliate, Method::Click)),
        Winner::Split {
            coupon_share,
            code,
            click,
        } => {
            credits.push(Credit {
                affiliate: code,
                method: Method::Coupon,
                share: coupon_share,
            });
            credits.push(Credit {
                affiliate: click,
                method: Method::Click,
                share: 10_000 - coupon_share,
            });
        }
    }

    decision.binding = new_binding(conversion, policy, winner, broken);
}

fn full(affiliate: AffiliateId, method: Method) -> Credit {
    Credit {
        affiliate,
        method,
        share: 10_000,
    }
}

/// Picks the winning method; see the crate docs' "Priority rules".
fn choose(
    policy: &Policy,
    t: DateTime<Utc>,
    binding: Option<AffiliateId>,
    code: Option<&CodeAssignment>,
    click: Option<&ClickEvidence>,
) -> Winner {
    let always = code.is_some_and(|c| c.mode == CreditMode::Always);
    let binding_above_coupon = policy
        .priority()
        .puts_first(Method::Binding, Method::Coupon)
        .unwrap_or(true);
    if let Priority::Order { order } = policy.priority() {
        if always {
            return match (binding, code) {
                (Some(b), _) if binding_above_coupon => Winner::Binding(b),
                (_, Some(c)) => Winner::Coupon(c.affiliate),
                _ => Winner::Nobody,
            };
        }
        for method in order {
            match method {
                Method::Binding => {
                    if let Some(b) = binding {
                        return Winner::Binding(b);
                    }
                }
                Method::Coupon => {
                    if let Some(c) = code {
                        return Winner::Coupon(c.affiliate);
                    }
                }
                Method::Click => {
                    if let Some(c) = click {
                        return Winner::Click(c.affiliate);
                    }
                }
            }
        }
        return Winner::Nobody;
    }
    if let Some(b) = binding {
        return Winner::Binding(b);
    }
    match (code, click) {
        (None, None) => Winner::Nobody,
        (Some(c), None) => Winner::Coupon(c.affiliate),
        (None, Some(k)) => Winner::Click(k.affiliate),
        // Rule 9 before rule 8: in a split, one owner of code and click
        // takes the whole by coupon, whatever the code's mode.
        (Some(c), Some(k))
            if matches!(policy.priority(), Priority::Split { .. }) && c.affiliate == k.affiliate =>
        {
            Winner::Both(c.affiliate)
        }
        (Some(c), Some(_)) if always => Winner::Coupon(c.affiliate),
        (Some(c), Some(k)) => {
            // A click stamped after the conversion (within the skew) is timed at it.
            let click_time = k.clicked_at.min(t);
            match policy.priority() {
                Priority::FirstTouch if click_time < t => Winner::Click(k.affiliate),
                Priority::Split { coupon_share: 10_000 } => Winner::Coupon(c.affiliate),
                Priority::Split { coupon_share: 0 } => Winner::Click(k.affiliate),
                Priority::Split { coupon_share } => Winner::Split {
                    coupon_share,
                    code: c.affiliate,
                    click: k.affiliate,
                },
                _ => Winner::Coupon(c.affiliate),
            }
        }
    }
}

/// Whether, in a split giving the code owner `coupon_share` basis points,
/// the code owner is the affiliate with the largest share (the code owner
/// on a tie): the one a new binding goes to.
fn code_takes_binding(coupon_share: u16) -> bool {
    coupon_share >= 5_000
}

/// The binding a decision writes, if any.
fn new_binding(conversion: &Conversion, policy: &Policy, winner: Winner, broken: bool) -> Option<Binding> {
    let affiliate = match winner {
        Winner::Nobody | Winner::Binding(_) => return None,
        Winner::Coupon(a) | Winner::Click(a) | Winner::Both(a) => a,
        Winner::Split {
            coupon_share,
            code,
            click,
        } => {
            if code_takes_binding(coupon_share) {
                code
            } else {
                click
            }
        }
    };
    let lifetime = policy.binding_lifetime();
    let binds =
        policy.bind_on().contains(&conversion.event) && lifetime.duration() != Some(TimeDelta::zero());
    if !(binds || broken) {
        return None;
    }
    let t = conversion.occurred_at;
    Some(Binding {
        customer: conversion.customer?,
        affiliate,
        bound_at: t,
        expires_at: lifetime
            .duration()
            .map(|d| t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)),
        event: conversion.event,
        conversion: conversion.id,
    })
}
