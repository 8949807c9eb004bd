//! The answer: who is credited, by what, and why everything else lost.

use core::fmt;

use chrono::{DateTime, Utc};
use smallvec::SmallVec;

use crate::binding::Binding;
use crate::code::CouponCode;
use crate::conversion::{Amount, Currency, EventKind};
use crate::ids::{AffiliateId, ClickId, ConversionId};
use crate::policy::{Method, Policy, Priority, Uniqueness};
use crate::registry::Nearness;

/// What a duplicate repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Duplicate {
    /// The conversion recorded first, which holds the key.
    pub of: ConversionId,
    /// The rule broken.
    pub by: Uniqueness,
}

/// Credit to one affiliate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Credit {
    /// Who is credited.
    pub affiliate: AffiliateId,
    /// By what.
    pub method: Method,
    /// The share of the conversion, in basis points (10000 is all of it).
    pub share: u16,
}

/// A piece of evidence the resolver weighed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Subject {
    /// An entered code.
    Code {
        /// The code, canonical, as typed.
        code: CouponCode,
        /// The active code it was read as, when it was unknown and the
        /// policy reads look-alikes ([`Policy::with_look_alikes`]); its owner
        /// and outcome are that code's. Left out of the JSON when `None`.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        read_as: Option<CouponCode>,
        /// The prefix of the family whose assignment answered for the code,
        /// when the code has none of its own
        /// ([`CodeAssignment::family`](crate::CodeAssignment::family)).
        /// Left out of the JSON when `None`.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        family: Option<CouponCode>,
    },
    /// A click.
    Click {
        /// The click's id.
        id: ClickId,
        /// When it was made.
        at: DateTime<Utc>,
    },
    /// The customer's binding.
    Binding {
        /// When it was made.
        since: DateTime<Utc>,
    },
}

/// What became of a piece of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "snake_case", from = "OutcomeFields")
)]
#[non_exhaustive]
pub enum Outcome {
    /// It earned credit.
    Credited,
    /// It was valid, but stronger evidence won.
    Outranked {
        /// The winning method.
        by: Method,
        /// The affiliate it credited.
        affiliate: AffiliateId,
    },
    /// The click is older than the click window.
    OutsideWindow,
    /// The conversion came sooner after the click than the minimum allows
    /// (a click stamped after the conversion, within the clock skew
    /// tolerance, counts as no time at all).
    TooFast,
    /// The click is stamped after the conversion, beyond the skew tolerance.
    AfterConversion,
    /// The code was never assigned.
    CodeUnknown,
    /// The code's assignment had ended.
    CodeExpired,
    /// The code had been revoked.
    CodeRevoked,
    /// The code's first assignment starts later.
    CodeNotYetActive,
    /// The code is `IfInvolved`, and its owner has no qualifying click.
    OwnerNotInvolved,
    /// The affiliate is the customer: the customer's own code, click or
    /// binding.
    SelfReferral,
    /// An earlier valid code in entry order counts instead.
    Superseded {
        /// That code.
        by: CouponCode,
    },
    /// A live binding to another affiliate (or the same) held.
    BindingHeld {
        /// The bound affiliate.
        affiliate: AffiliateId,
    },
    /// The binding had expired.
    BindingExpired,
    /// A valid code broke the binding.
    BindingBroken {
        /// That code.
        by: CouponCode,
    },
}

/// An [`Outcome`] as read from JSON: each variant a struct, so that an
/// unknown field is refused with the outcomes that carry none too (serde
/// ignores extra fields of a unit variant).
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum OutcomeFields {
    Credited {},
    Outranked { by: Method, affiliate: AffiliateId },
    OutsideWindow {},
    TooFast {},
    AfterConversion {},
    CodeUnknown {},
    CodeExpired {},
    CodeRevoked {},
    CodeNotYetActive {},
    OwnerNotInvolved {},
    SelfReferral {},
    Superseded { by: CouponCode },
    BindingHeld { affiliate: AffiliateId },
    BindingExpired {},
    BindingBroken { by: CouponCode },
}

#[cfg(feature = "serde")]
impl From<OutcomeFields> for Outcome {
    fn from(f: OutcomeFields) -> Self {
        match f {
            OutcomeFields::Credited {} => Self::Credited,
            OutcomeFields::Outranked { by, affiliate } => Self::Outranked { by, affiliate },
            OutcomeFields::OutsideWindow {} => Self::OutsideWindow,
            OutcomeFields::TooFast {} => Self::TooFast,
            OutcomeFields::AfterConversion {} => Self::AfterConversion,
            OutcomeFields::CodeUnknown {} => Self::CodeUnknown,
            OutcomeFields::CodeExpired {} => Self::CodeExpired,
            OutcomeFields::CodeRevoked {} => Self::CodeRevoked,
            OutcomeFields::CodeNotYetActive {} => Self::CodeNotYetActive,
            OutcomeFields::OwnerNotInvolved {} => Self::OwnerNotInvolved,
            OutcomeFields::SelfReferral {} => Self::SelfReferral,
            OutcomeFields::Superseded { by } => Self::Superseded { by },
            OutcomeFields::BindingHeld { affiliate } => Self::BindingHeld { affiliate },
            OutcomeFields::BindingExpired {} => Self::BindingExpired,
            OutcomeFields::BindingBroken { by } => Self::BindingBroken { by },
        }
    }
}

/// One piece of evidence and its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Considered {
    /// The evidence.
    pub subject: Subject,
    /// The affiliate it names, when it names one (an unknown code does not).
    pub affiliate: Option<AffiliateId>,
    /// What became of it.
    pub outcome: Outcome,
}

/// An active code near an unknown one that a customer typed, named for
/// review: what they probably meant. A candidate is never credited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Candidate {
    /// The code as typed (canonical).
    pub typed: CouponCode,
    /// The active code it resembles.
    pub code: CouponCode,
    /// That code's owner at the conversion's time.
    pub affiliate: AffiliateId,
    /// How it resembles the typed code.
    pub nearness: Nearness,
}

/// The candidates of a decision: one fits inline, more spill to the heap.
pub type Candidates = SmallVec<[Candidate; 1]>;

/// The credits of a decision: none, one, or two for a split.
pub type Credits = SmallVec<[Credit; 2]>;

/// The evidence of a decision; four fit inline (say a code, two clicks and a
/// binding), more spill to the heap.
pub type ConsideredList = SmallVec<[Considered; 4]>;

/// The resolver's answer for one conversion. A conversion that credits
/// nobody is a decision too, and says why.
///
/// `considered` lists the entered codes in entry order, then the clicks by
/// time (equal times by click id), then the binding.
///
/// # JSON
///
/// With the `serde` feature a decision serialises to this stable shape,
/// meant to be read by people and by programs in any language (field order
/// as shown; `binding` is `null` when nothing is bound; `tests/serde.rs`
/// fails when the shape changes):
///
/// ```json
/// {
///   "conversion": "ORD-1",
///   "event": "purchase",
///   "occurred_at": "2026-06-01T12:00:00Z",
///   "amount": "49.99",
///   "currency": "USD",
///   "explanation": "conversion ORD-1 (purchase at 2026-06-01 12:00:00 UTC, coupon-first) credits affiliate 1 by code MKBHD10; click click-1 of affiliate 2 was outranked by the coupon of affiliate 1.",
///   "credits": [{ "affiliate": 1, "method": "coupon", "share": 10000 }],
///   "considered": [
///     { "subject": { "kind": "code", "code": "MKBHD10" }, "affiliate": 1,
///       "outcome": { "kind": "credited" } },
///     { "subject": { "kind": "click", "id": "click-1", "at": "2026-05-31T12:00:00Z" },
///       "affiliate": 2,
///       "outcome": { "kind": "outranked", "by": "coupon", "affiliate": 1 } }
///   ],
///   "binding": null,
///   "policy": { "priority": { "kind": "order", "order": ["binding", "coupon", "click"] },
///               "click_window_secs": 2592000, "click_pick": "last",
///               "min_click_age_secs": 0, "clock_skew_secs": 0,
///               "bind_on": ["registration", "first_deposit"],
///               "binding_lifetime": { "kind": "forever" }, "coupon_breaks_binding": false,
///               "once_per_customer": ["first_deposit"] }
/// }
/// ```
///
/// * `amount` and `currency` are the conversion's, left out when it has
///   none; a credit of a split is worth its `share` (basis points) of it.
/// * `explanation` is the decision's sentence (its `Display`). It is
///   derived from the rest, so reading accepts it, or its absence, and does
///   not keep it.
/// * `outcome` is one object, `kind` naming what became of the evidence,
///   with the fields that kind has (`by`, `affiliate`).
/// * Event kinds are listed by name: `registration`, `first_deposit`,
///   `deposit`, `challenge_purchase`, `challenge_reset`, `purchase`, and
///   `custom` for every custom event. `once_per_customer` and
///   `once_per_click` are left out when empty
///   ([`Policy::with_once_per_customer`], [`Policy::with_once_per_click`]),
///   and `"look_alikes": true` follows them when the policy reads
///   look-alikes ([`Policy::with_look_alikes`]).
/// * A duplicate ([`Decision::duplicate`]) adds
///   `"duplicate": { "of": "FTD-1", "by": "customer" }` (or `"by": "click"`)
///   before `"policy"`; its `credits` and `considered` are empty.
/// * An entered code read as its look-alike has the code it was read as:
///   `{ "kind": "code", "code": "B0SS20", "read_as": "BOSS20" }`; one a
///   family answered for has the family's prefix:
///   `{ "kind": "code", "code": "MKBHD10OFF", "family": "MKBHD" }`. When an
///   unknown code resembles active ones ([`Decision::candidates`]),
///   `"candidates"` follows `"binding"`:
///   `[{ "typed": "BOSS2", "code": "BOSS20", "affiliate": 1, "nearness": "one_edit" }]`
///   (`"look_alike"` for a look-alike).
///
/// Reading is strict: a field the shape does not have is refused at every
/// level, and so are an amount without its currency and an unknown event
/// kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The conversion decided.
    pub conversion: ConversionId,
    /// Its event.
    pub event: EventKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The conversion's amount, when it has one: what the credit is worth,
    /// so that the ledger alone can drive payouts. Split credits share it
    /// by their shares ([`Amount::share`]).
    pub amount: Option<Amount>,
    /// The amount's currency, set exactly when `amount` is.
    pub currency: Option<Currency>,
    /// Who is credited; shares sum to 10000 when anyone is.
    pub credits: Credits,
    /// Every piece of evidence weighed, with its outcome.
    pub considered: ConsideredList,
    /// The binding to write, if the decision creates or moves one.
    pub binding: Option<Binding>,
    /// For each unknown entered code, the active codes it resembles, in
    /// entry order then by code: its look-alikes and the codes one edit
    /// from it, for review. None of them is credited (a look-alike the
    /// policy read the code as is in `considered`, not here). Left out of
    /// the JSON when empty.
    pub candidates: Candidates,
    /// When the conversion repeats one recorded before it under a rule of
    /// the policy: that conversion. A duplicate credits nobody, weighs no
    /// evidence and binds nobody. Left out of the JSON when `None`.
    pub duplicate: Option<Duplicate>,
    /// The policy that decided.
    pub policy: Policy,
}

/// A [`Decision`] as written to JSON: its fields, with the explanation
/// sentence after the conversion's own.
#[cfg(feature = "serde")]
#[derive(serde::Serialize)]
struct DecisionOut<'a> {
    conversion: &'a ConversionId,
    event: &'a EventKind,
    occurred_at: &'a DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<&'a Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a Currency>,
    explanation: String,
    credits: &'a Credits,
    considered: &'a ConsideredList,
    binding: Option<&'a Binding>,
    #[serde(skip_serializing_if = "<[Candidate]>::is_empty")]
    candidates: &'a [Candidate],
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<&'a Duplicate>,
    policy: &'a Policy,
}

/// A [`Decision`] as read from JSON. The explanation is derived from the
/// rest, so it is read and not kept.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionIn {
    conversion: ConversionId,
    event: EventKind,
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default, rename = "explanation")]
    _explanation: Option<String>,
    credits: Credits,
    considered: ConsideredList,
    binding: Option<Binding>,
    #[serde(default)]
    candidates: Candidates,
    #[serde(default)]
    duplicate: Option<Duplicate>,
    policy: Policy,
}

#[cfg(feature = "serde")]
impl serde::Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DecisionOut {
            conversion: &self.conversion,
            event: &self.event,
            occurred_at: &self.occurred_at,
            amount: self.amount.as_ref(),
            currency: self.currency.as_ref(),
            explanation: self.to_string(),
            credits: &self.credits,
            considered: &self.considered,
            binding: self.binding.as_ref(),
            candidates: &self.candidates,
            duplicate: self.duplicate.as_ref(),
            policy: &self.policy,
        }
        .serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Decision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = DecisionIn::deserialize(d)?;
        if f.amount.is_some() != f.currency.is_some() {
            return Err(serde::de::Error::custom(
                "a decision's amount and currency come together: give both or neither",
            ));
        }
        Ok(Self {
            conversion: f.conversion,
            event: f.event,
            occurred_at: f.occurred_at,
            amount: f.amount,
            currency: f.currency,
            credits: f.credits,
            considered: f.considered,
            binding: f.binding,
            candidates: f.candidates,
            duplicate: f.duplicate,
            policy: f.policy,
        })
    }
}

impl Decision {
    /// Whether, under this decision's policy, only a code of
    /// [`CreditMode::Always`](crate::CreditMode::Always) outranks `subject`:
    /// a click, where the policy ranks clicks above codes or, under first
    /// touch, where the click came first. The decision does not keep the
    /// code's mode, so its sentence infers it from this.
    fn only_an_always_code_outranks(&self, subject: Subject) -> bool {
        let Subject::Click { at, .. } = subject else {
            return false;
        };
        let priority = self.policy.priority();
        match priority {
            Priority::FirstTouch => at < self.occurred_at,
            _ => priority.puts_first(Method::Click, Method::Coupon) == Some(true),
        }
    }

    /// The affiliate with the largest share (the code owner on a tie).
    pub fn primary(&self) -> Option<AffiliateId> {
        let mut best: Option<&Credit> = None;
        for c in &self.credits {
            let code_owner_on_a_tie =
                |b: &Credit| c.share == b.share && c.method == Method::Coupon && b.method != Method::Coupon;
            if best.is_none_or(|b| c.share > b.share || code_owner_on_a_tie(b)) {
                best = Some(c);
            }
        }
        best.map(|c| c.affiliate)
    }

    /// Whether anyone is credited.
    pub fn is_credited(&self) -> bool {
        !self.credits.is_empty()
    }

    /// The share of `affiliate`, in basis points.
    pub fn share_of(&self, affiliate: AffiliateId) -> u32 {
        self.credits
            .iter()
            .filter(|c| c.affiliate == affiliate)
            .map(|c| u32::from(c.share))
            .sum()
    }
}

struct SubjectText<'a>(&'a Considered);

impl fmt::Display for SubjectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", ByText(self.0))?;
        match (self.0.subject, self.0.affiliate) {
            (Subject::Code { read_as: Some(_), .. } | Subject::Code { family: Some(_), .. }, Some(a)) => {
                write!(f, ", of affiliate {a},")
            }
            (Subject::Binding { .. }, Some(a)) => write!(f, " to affiliate {a}"),
            (_, Some(a)) => write!(f, " of affiliate {a}"),
            (_, None) => Ok(()),
        }
    }
}

impl fmt::Display for Decision {
    /// One sentence an operator can paste into a dispute, e.g.
    /// `conversion ORD-1 (purchase at 2026-03-01 12:00:00 UTC, coupon-first)
    /// credits affiliate 7 by code MKBHD10; click c-1 of affiliate 9 was
    /// outranked by the coupon of affiliate 7.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conversion {} ({} at {}, {}) ",
            self.conversion,
            self.event,
            self.occurred_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.policy.name()
        )?;
        if let Some(d) = &self.duplicate {
            let once = match d.by {
                Uniqueness::Customer => "customer",
                Uniqueness::Click => "click",
            };
            return write!(
                f,
                "credits nobody: a duplicate of conversion {} ({} is paid once a {once}).",
                d.of, self.event
            );
        }
        if self.credits.is_empty() {
            f.write_str("credits nobody")?;
        } else {
            f.write_str("credits ")?;
            for (i, credit) in self.credits.iter().enumerate() {
                if i > 0 {
                    f.write_str(" and ")?;
                }
                write!(f, "affiliate {}", credit.affiliate)?;
                if credit.share != 10_000 {
                    write!(f, " ({}.{:02}%)", credit.share / 100, credit.share % 100)?;
                }
                let by = self.considered.iter().find(|c| {
                    c.outcome == Outcome::Credited
                        && c.affiliate == Some(credit.affiliate)
                        && matches!(
                            (credit.method, c.subject),
                            (Method::Coupon, Subject::Code { .. })
                                | (Method::Click, Subject::Click { .. })
                                | (Method::Binding, Subject::Binding { .. })
                        )
                });
                match by {
                    Some(c) => write!(f, " by {}", SubjectText(c).by_text())?,
                    None => write!(f, " by {}", credit.method)?,
                }
                // One affiliate with both the code and the chosen click in a
                // split: credited by coupon, and its click counted too.
                let own_click = self.considered.iter().find(|c| {
                    credit.method == Method::Coupon
                        && c.outcome == Outcome::Credited
                        && c.affiliate == Some(credit.affiliate)
                        && matches!(c.subject, Subject::Click { .. })
                });
                if let Some(c) = own_click {
                    write!(f, " and {}", SubjectText(c).by_text())?;
                }
            }
        }
        for c in self.considered.iter().filter(|c| c.outcome != Outcome::Credited) {
            write!(f, "; {} ", SubjectText(c))?;
            match c.outcome {
                Outcome::Credited => {}
                Outcome::Outranked { by, affiliate } => {
                    write!(f, "was outranked by the {by} of affiliate {affiliate}")?;
                    if by == Method::Coupon && self.only_an_always_code_outranks(c.subject) {
                        f.write_str(", an always-credit code")?;
                    }
                }
                Outcome::OutsideWindow => write!(
                    f,
                    "was outside the click window of {}",
                    Span(self.policy.click_window())
                )?,
                Outcome::TooFast => match c.subject {
                    Subject::Click { at, .. } if at > self.occurred_at => write!(
                        f,
                        "was stamped after the conversion, within the clock skew allowed, so less than {} had passed (too fast)",
                        Span(self.policy.min_click_age())
                    )?,
                    _ => write!(
                        f,
                        "came less than {} before the conversion (too fast)",
                        Span(self.policy.min_click_age())
                    )?,
                },
                Outcome::AfterConversion => f.write_str("was stamped after the conversion")?,
                Outcome::CodeUnknown => {
                    f.write_str("is unknown")?;
                    let typed = match c.subject {
                        Subject::Code { code, .. } => Some(code),
                        _ => None,
                    };
                    let near = self.candidates.iter().filter(|n| Some(n.typed) == typed);
                    for (i, n) in near.enumerate() {
                        f.write_str(if i == 0 { ", close to " } else { " and " })?;
                        let how = match n.nearness {
                            Nearness::LookAlike => "a look-alike",
                            Nearness::OneEdit => "one edit away",
                        };
                        write!(f, "code {} of affiliate {} ({how})", n.code, n.affiliate)?;
                    }
                }
                Outcome::CodeExpired => f.write_str("had expired")?,
                Outcome::CodeRevoked => f.write_str("had been revoked")?,
                Outcome::CodeNotYetActive => f.write_str("was not yet active")?,
                Outcome::OwnerNotInvolved => {
                    f.write_str("needs a qualifying click from its owner, and there was none")?
                }
                Outcome::SelfReferral => f.write_str("was rejected as self-referral")?,
                Outcome::Superseded { by } => write!(f, "was superseded by code {by}, entered before it")?,
                Outcome::BindingHeld { affiliate } => {
                    write!(f, "lost to the binding to affiliate {affiliate}")?
                }
                Outcome::BindingExpired => f.write_str("had expired")?,
                Outcome::BindingBroken { by } => write!(f, "was broken by code {by}")?,
            }
        }
        if let Some(b) = &self.binding {
            write!(
                f,
                "; customer {} is now bound to affiliate {}",
                b.customer, b.affiliate
            )?;
            match b.expires_at {
                Some(end) if end <= b.bound_at => f.write_str(" for this conversion only")?,
                Some(end) => write!(f, " until {}", end.format("%Y-%m-%d"))?,
                None => f.write_str(" for good")?,
            }
        }
        f.write_str(".")
    }
}

impl SubjectText<'_> {
    fn by_text(&self) -> ByText<'_> {
        ByText(self.0)
    }
}

struct ByText<'a>(&'a Considered);

impl fmt::Display for ByText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.subject {
            Subject::Code {
                code,
                read_as: Some(read),
                ..
            } => write!(f, "typed code {code}, read as {read}"),
            Subject::Code {
                code,
                family: Some(prefix),
                ..
            } => write!(f, "code {code}, of family {prefix}*"),
            Subject::Code { code, .. } => write!(f, "code {code}"),
            Subject::Click { id, .. } => write!(f, "click {id}"),
            Subject::Binding { since } => write!(f, "the binding since {}", since.format("%Y-%m-%d")),
        }
    }
}

/// A policy duration in the largest unit that states it exactly.
struct Span(chrono::TimeDelta);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.num_seconds();
        let (n, unit) = match secs {
            s if s != 0 && s % 86_400 == 0 => (s / 86_400, "day"),
            s if s != 0 && s % 3_600 == 0 => (s / 3_600, "hour"),
            s if s != 0 && s % 60 == 0 => (s / 60, "minute"),
            s => (s, "second"),
        };
        write!(f, "{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}
