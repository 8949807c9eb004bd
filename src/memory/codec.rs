//! A compact byte encoding of decisions, for the memory ledger: ids as
//! their bytes, instants as seconds and nanoseconds, enums as one-byte tags,
//! the policy as an index into a list the shard keeps. A decision that
//! names a code and a click takes about 145 bytes, a seventh of its size
//! as a value.
//!
//! Decoding reads only what encoding wrote: it returns `None` rather than
//! panicking on bytes it cannot read.

use chrono::{DateTime, Utc};

use crate::binding::Binding;
use crate::code::CouponCode;
use crate::conversion::{Amount, Currency, EventKind};
use crate::decision::{
    Candidate, Candidates, Considered, ConsideredList, Credit, Credits, Decision, Duplicate, Outcome, Subject,
};
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId, Label};
use crate::policy::{Method, Policy, Uniqueness};
use crate::registry::Nearness;

/// The bit of the duplicate's tag that says candidates follow.
const CANDIDATES: u8 = 0x10;
/// The bit of the duplicate's tag that says the amount and currency follow
/// (after the candidates, if any).
const MONEY: u8 = 0x20;

/// Whether [`encode`] can count `decision`'s credits and evidence: at most
/// `u32::MAX` of each.
pub(crate) fn fits(decision: &Decision) -> bool {
    u32::try_from(decision.credits.len()).is_ok()
        && u32::try_from(decision.considered.len()).is_ok()
        && u32::try_from(decision.candidates.len()).is_ok()
}

/// Appends the encoding of `decision`, its policy given as `policy`. The
/// caller has checked that it [`fits`].
pub(crate) fn encode(decision: &Decision, policy: u16, out: &mut Vec<u8>) {
    put_bytes(out, decision.conversion.as_bytes());
    put_event(out, &decision.event);
    put_time(out, decision.occurred_at);
    out.extend_from_slice(&policy.to_le_bytes());
    out.extend_from_slice(&(decision.credits.len() as u32).to_le_bytes());
    for credit in &decision.credits {
        put_u64(out, credit.affiliate.get());
        out.push(method_tag(credit.method));
        out.extend_from_slice(&credit.share.to_le_bytes());
    }
    out.extend_from_slice(&(decision.considered.len() as u32).to_le_bytes());
    for c in &decision.considered {
        put_considered(out, c);
    }
    match &decision.binding {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            put_bytes(out, b.customer.as_bytes());
            put_u64(out, b.affiliate.get());
            put_time(out, b.bound_at);
            put_optional_time(out, b.expires_at);
            put_event(out, &b.event);
            put_bytes(out, b.conversion.as_bytes());
        }
    }
    // The duplicate's tag also says what follows it.
    let money = match (decision.amount, decision.currency) {
        (Some(amount), Some(currency)) => Some((amount, currency)),
        _ => None,
    };
    let mut follows = 0;
    if !decision.candidates.is_empty() {
        follows |= CANDIDATES;
    }
    if money.is_some() {
        follows |= MONEY;
    }
    match &decision.duplicate {
        None => out.push(follows),
        Some(d) => {
            out.push(
                follows
                    | match d.by {
                        Uniqueness::Customer => 1,
                        Uniqueness::Click => 2,
                    },
            );
            put_bytes(out, d.of.as_bytes());
        }
    }
    if follows & CANDIDATES != 0 {
        out.extend_from_slice(&(decision.candidates.len() as u32).to_le_bytes());
        for c in &decision.candidates {
            put_bytes(out, c.typed.as_bytes());
            put_bytes(out, c.code.as_bytes());
            put_u64(out, c.affiliate.get());
            out.push(match c.nearness {
                Nearness::LookAlike => 0,
                Nearness::OneEdit => 1,
            });
        }
    }
    if let Some((amount, currency)) = money {
        out.extend_from_slice(&amount.ten_thousandths().to_le_bytes());
        out.extend_from_slice(currency.as_str().as_bytes());
    }
}

/// Whether the encoding at the start of `bytes` is the decision of `id`.
pub(crate) fn is_of(bytes: &[u8], id: &ConversionId) -> bool {
    id_bytes(bytes) == Some(id.as_bytes())
}

/// The conversion id's bytes of the encoding at the start of `bytes`.
fn id_bytes(bytes: &[u8]) -> Option<&[u8]> {
    Reader(bytes).bytes()
}

/// Reads a decision back, its policy from the list the index points into.
pub(crate) fn decode(bytes: &[u8], policies: &[Policy]) -> Option<Decision> {
    let mut r = Reader(bytes);
    let conversion = ConversionId::from_stored(r.bytes()?)?;
    let event = r.event()?;
    let occurred_at = r.time()?;
    let policy = *policies.get(usize::from(r.u16()?))?;
    let mut credits = Credits::new();
    for _ in 0..r.u32()? {
        credits.push(Credit {
            affiliate: r.affiliate()?,
            method: method_of(r.u8()?)?,
            share: r.u16()?,
        });
    }
    let mut considered = ConsideredList::new();
    for _ in 0..r.u32()? {
        considered.push(r.considered()?);
    }
    let binding = match r.u8()? {
        0 => None,
        1 => Some(Binding {
            customer: CustomerId::from_stored(r.bytes()?)?,
            affiliate: r.affiliate()?,
            bound_at: r.time()?,
            expires_at: r.optional_time()?,
            event: r.event()?,
            conversion: ConversionId::from_stored(r.bytes()?)?,
        }),
        _ => return None,
    };
    let tag = r.u8()?;
    let by = match tag & !(CANDIDATES | MONEY) {
        0 => None,
        1 => Some(Uniqueness::Customer),
        2 => Some(Uniqueness::Click),
        _ => return None,
    };
    let duplicate = match by {
        Some(by) => Some(Duplicate {
            of: ConversionId::from_stored(r.bytes()?)?,
            by,
        }),
        None => None,
    };
    let mut candidates = Candidates::new();
    if tag & CANDIDATES != 0 {
        for _ in 0..r.u32()? {
            candidates.push(Candidate {
                typed: r.code()?,
                code: r.code()?,
                affiliate: r.affiliate()?,
                nearness: match r.u8()? {
                    0 => Nearness::LookAlike,
                    1 => Nearness::OneEdit,
                    _ => return None,
                },
            });
        }
    }
    let (amount, currency) = if tag & MONEY != 0 {
        let amount = Amount::from_ten_thousandths(i64::from_le_bytes(r.take()?));
        let currency = core::str::from_utf8(&r.take::<3>()?)
            .ok()?
            .parse::<Currency>()
            .ok()?;
        (Some(amount), Some(currency))
    } else {
        (None, None)
    };
    Some(Decision {
        conversion,
        event,
        occurred_at,
        amount,
        currency,
        credits,
        considered,
        binding,
        candidates,
        duplicate,
        policy,
    })
}

/// Where an encoding goes: a ledger's chunk, or a buffer on the stack.
pub(super) trait Sink {
    /// Appends one byte.
    fn push(&mut self, byte: u8);
    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

impl<A: smallvec::Array<Item = u8>> Sink for smallvec::SmallVec<A> {
    fn push(&mut self, byte: u8) {
        smallvec::SmallVec::push(self, byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        smallvec::SmallVec::extend_from_slice(self, bytes);
    }
}

pub(super) fn put_u64(out: &mut impl Sink, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length (ids are at most 64 bytes) and the bytes.
pub(super) fn put_bytes(out: &mut impl Sink, bytes: &[u8]) {
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

pub(super) fn put_time(out: &mut impl Sink, t: DateTime<Utc>) {
    let (secs, nanos) = raw_time(t);
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
}

pub(super) use crate::time::{raw_time, time_of};

pub(super) fn put_optional_time(out: &mut impl Sink, t: Option<DateTime<Utc>>) {
    match t {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            put_time(out, t);
        }
    }
}

/// The tag of a custom event, which its label follows.
pub(super) const CUSTOM_EVENT: u8 = 6;

pub(super) fn put_event(out: &mut impl Sink, event: &EventKind) {
    let tag = match event {
        EventKind::Registration => 0,
        EventKind::FirstDeposit => 1,
        EventKind::Deposit => 2,
        EventKind::ChallengePurchase => 3,
        EventKind::ChallengeReset => 4,
        EventKind::Purchase => 5,
        EventKind::Custom(label) => {
            out.push(CUSTOM_EVENT);
            put_bytes(out, label.as_bytes());
            return;
        }
    };
    out.push(tag);
}

fn method_tag(method: Method) -> u8 {
    match method {
        Method::Binding => 0,
        Method::Coupon => 1,
        Method::Click => 2,
    }
}

fn method_of(tag: u8) -> Option<Method> {
    match tag {
        0 => Some(Method::Binding),
        1 => Some(Method::Coupon),
        2 => Some(Method::Click),
        _ => None,
    }
}

fn put_considered(out: &mut Vec<u8>, c: &Considered) {
    match c.subject {
        Subject::Code {
            code,
            read_as,
            family,
        } => {
            // 0 the code alone; 3 with the code it was read as; 4 with its
            // family; 5 with both.
            out.push(match (read_as, family) {
                (None, None) => 0,
                (Some(_), None) => 3,
                (None, Some(_)) => 4,
                (Some(_), Some(_)) => 5,
            });
            put_bytes(out, code.as_bytes());
            for other in read_as.iter().chain(family.iter()) {
                put_bytes(out, other.as_bytes());
            }
        }
        Subject::Click { id, at } => {
            out.push(1);
            put_bytes(out, id.as_bytes());
            put_time(out, at);
        }
        Subject::Binding { since } => {
            out.push(2);
            put_time(out, since);
        }
    }
    match c.affiliate {
        None => out.push(0),
        Some(a) => {
            out.push(1);
            put_u64(out, a.get());
        }
    }
    match c.outcome {
        Outcome::Credited => out.push(0),
        Outcome::Outranked { by, affiliate } => {
            out.push(1);
            out.push(method_tag(by));
            put_u64(out, affiliate.get());
        }
        Outcome::OutsideWindow => out.push(2),
        Outcome::TooFast => out.push(3),
        Outcome::AfterConversion => out.push(4),
        Outcome::CodeUnknown => out.push(5),
        Outcome::CodeExpired => out.push(6),
        Outcome::CodeRevoked => out.push(7),
        Outcome::CodeNotYetActive => out.push(8),
        Outcome::OwnerNotInvolved => out.push(9),
        Outcome::SelfReferral => out.push(10),
        Outcome::Superseded { by } => {
            out.push(11);
            put_bytes(out, by.as_bytes());
        }
        Outcome::BindingHeld { affiliate } => {
            out.push(12);
            put_u64(out, affiliate.get());
        }
        Outcome::BindingExpired => out.push(13),
        Outcome::BindingBroken { by } => {
            out.push(14);
            put_bytes(out, by.as_bytes());
        }
    }
}

/// The unread rest of an encoding.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u8()?);
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        time_of(self.raw_time()?)
    }

    /// An instant as [`put_time`] wrote it, seconds and nanoseconds, which
    /// order as the instants do ([`raw_time`]).
    pub(super) fn raw_time(&mut self) -> Option<(i64, u32)> {
        Some((i64::from_le_bytes(self.take()?), self.u32()?))
    }

    pub(super) fn optional_time(&mut self) -> Option<Option<DateTime<Utc>>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.time().map(Some),
            _ => None,
        }
    }

    fn code(&mut self) -> Option<CouponCode> {
        CouponCode::from_canonical(self.bytes()?)
    }

    pub(super) fn affiliate(&mut self) -> Option<AffiliateId> {
        self.u64().map(AffiliateId::new)
    }

    pub(super) fn event(&mut self) -> Option<EventKind> {
        Some(match self.u8()? {
            0 => EventKind::Registration,
            1 => EventKind::FirstDeposit,
            2 => EventKind::Deposit,
            3 => EventKind::ChallengePurchase,
            4 => EventKind::ChallengeReset,
            5 => EventKind::Purchase,
            CUSTOM_EVENT => EventKind::Custom(Label::from_stored(self.bytes()?)?),
            _ => return None,
        })
    }

    fn considered(&mut self) -> Option<Considered> {
        let subject = match self.u8()? {
            tag @ (0 | 3 | 4 | 5) => {
                let code = self.code()?;
                let read_as = if matches!(tag, 3 | 5) {
                    Some(self.code()?)
                } else {
                    None
                };
                let family = if matches!(tag, 4 | 5) {
                    Some(self.code()?)
                } else {
                    None
                };
                Subject::Code {
                    code,
                    read_as,
                    family,
                }
            }
            1 => Subject::Click {
                id: ClickId::from_stored(self.bytes()?)?,
                at: self.time()?,
            },
            2 => Subject::Binding { since: self.time()? },
            _ => return None,
        };
        let affiliate = match self.u8()? {
            0 => None,
            1 => Some(self.affiliate()?),
            _ => return None,
        };
        let outcome = match self.u8()? {
            0 => Outcome::Credited,
            1 => Outcome::Outranked {
                by: method_of(self.u8()?)?,
                affiliate: self.affiliate()?,
            },
            2 => Outcome::OutsideWindow,
            3 => Outcome::TooFast,
            4 => Outcome::AfterConversion,
            5 => Outcome::CodeUnknown,
            6 => Outcome::CodeExpired,
            7 => Outcome::CodeRevoked,
            8 => Outcome::CodeNotYetActive,
            9 => Outcome::OwnerNotInvolved,
            10 => Outcome::SelfReferral,
            11 => Outcome::Superseded { by: self.code()? },
            12 => Outcome::BindingHeld {
                affiliate: self.affiliate()?,
            },
            13 => Outcome::BindingExpired,
            14 => Outcome::BindingBroken { by: self.code()? },
            _ => return None,
        };
        Some(Considered {
            subject,
            affiliate,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use chrono::{TimeZone, Timelike};

    #[test]
    fn every_kind_of_evidence_and_outcome_round_trips() {
        let t = |s: i64| {
            Utc.timestamp_opt(1_780_000_000 + s, 123_456_789)
                .single()
                .unwrap()
        };
        let code = CouponCode::parse("MKBHD10").unwrap();
        let other = CouponCode::parse("SPRING-SALE-2026").unwrap();
        let outcomes = [
            Outcome::Credited,
            Outcome::Outranked {
                by: Method::Click,
                affiliate: AffiliateId::new(u64::MAX),
            },
            Outcome::OutsideWindow,
            Outcome::TooFast,
            Outcome::AfterConversion,
            Outcome::CodeUnknown,
            Outcome::CodeExpired,
            Outcome::CodeRevoked,
            Outcome::CodeNotYetActive,
            Outcome::OwnerNotInvolved,
            Outcome::SelfReferral,
            Outcome::Superseded { by: other },
            Outcome::BindingHeld {
                affiliate: AffiliateId::new(3),
            },
            Outcome::BindingExpired,
            Outcome::BindingBroken { by: code },
        ];
        let subjects = [
            Subject::Code {
                code,
                read_as: None,
                family: None,
            },
            Subject::Code {
                code: other,
                read_as: Some(code),
                family: None,
            },
            Subject::Code {
                code: other,
                read_as: None,
                family: Some(code),
            },
            Subject::Code {
                code: other,
                read_as: Some(code),
                family: Some(code),
            },
            Subject::Click {
                id: "9f1c2e4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b".parse().unwrap(),
                at: t(-5),
            },
            Subject::Binding { since: t(-86_400) },
        ];
        let considered: ConsideredList = outcomes
            .iter()
            .zip(subjects.iter().cycle())
            .enumerate()
            .map(|(i, (outcome, subject))| Considered {
                subject: *subject,
                affiliate: (i % 4 != 0).then(|| AffiliateId::new(i as u64)),
                outcome: *outcome,
            })
            .collect();
        let mut credits = Credits::new();
        credits.push(Credit {
            affiliate: AffiliateId::new(7),
            method: Method::Coupon,
            share: 2_500,
        });
        credits.push(Credit {
            affiliate: AffiliateId::new(9),
            method: Method::Binding,
            share: 7_500,
        });
        let custom = EventKind::Custom(Label::new("bonus claim").unwrap());
        let decisions = [
            Decision {
                conversion: "ORD-1".parse().unwrap(),
                event: custom,
                occurred_at: t(0),
                amount: Some(Amount::from_ten_thousandths(i64::MIN)),
                currency: Some("EUR".parse().unwrap()),
                credits,
                considered,
                binding: Some(Binding {
                    customer: "cust-1".parse().unwrap(),
                    affiliate: AffiliateId::new(7),
                    bound_at: t(0),
                    expires_at: Some(t(86_400 * 30)),
                    event: custom,
                    conversion: "ORD-1".parse().unwrap(),
                }),
                candidates: [Nearness::LookAlike, Nearness::OneEdit]
                    .into_iter()
                    .map(|nearness| Candidate {
                        typed: other,
                        code,
                        affiliate: AffiliateId::new(u64::MAX),
                        nearness,
                    })
                    .collect(),
                duplicate: None,
                policy: Policy::split(2_500).unwrap(),
            },
            Decision {
                conversion: "x".repeat(64).parse().unwrap(),
                event: EventKind::FirstDeposit,
                occurred_at: DateTime::<Utc>::MIN_UTC,
                amount: None,
                currency: None,
                credits: Credits::new(),
                considered: ConsideredList::new(),
                binding: Some(Binding {
                    customer: "c".parse().unwrap(),
                    affiliate: AffiliateId::new(0),
                    bound_at: DateTime::<Utc>::MAX_UTC,
                    expires_at: None,
                    event: EventKind::Registration,
                    conversion: "y".parse().unwrap(),
                }),
                candidates: Candidates::new(),
                duplicate: Some(Duplicate {
                    of: "z".repeat(64).parse().unwrap(),
                    by: Uniqueness::Customer,
                }),
                policy: Policy::click_first(),
            },
        ];
        let policies = [Policy::click_first(), Policy::split(2_500).unwrap()];
        for decision in decisions {
            let index = policies.iter().position(|p| *p == decision.policy).unwrap() as u16;
            let mut bytes = Vec::new();
            encode(&decision, index, &mut bytes);
            assert!(is_of(&bytes, &decision.conversion));
            assert_eq!(decode(&bytes, &policies), Some(decision.clone()));
            // A cut encoding reads as nothing rather than as something else.
            for cut in 0..bytes.len() {
                assert_eq!(decode(bytes.get(..cut).unwrap(), &policies), None);
            }
        }
    }

    #[test]
    fn long_lists_and_leap_seconds_round_trip() {
        // A second of 23:59:60, which chrono can hold and nanoseconds
        // since 1970 cannot.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        let credits: Credits = (0..300)
            .map(|i| Credit {
                affiliate: AffiliateId::new(i),
                method: Method::Click,
                share: 1,
            })
            .collect();
        // A leap second in the middle of a minute, which chrono also holds
        // (as a UTC view of a leap second at another offset), and an
        // instant before 1970 with a fraction of a second.
        let odd_leap = leap.with_second(30).unwrap();
        assert_eq!(odd_leap.timestamp_subsec_nanos(), 1_500_000_000);
        let before_1970 = DateTime::from_timestamp_nanos(-1_500_000_000);
        // A leap second in chrono's last second, which is past `MAX_UTC`.
        let last_leap = DateTime::<Utc>::MAX_UTC
            .date_naive()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert!(last_leap > DateTime::<Utc>::MAX_UTC);
        let considered: ConsideredList = (0..300)
            .map(|i| Considered {
                subject: Subject::Binding {
                    since: [leap, odd_leap, before_1970, last_leap][i as usize % 4],
                },
                affiliate: Some(AffiliateId::new(i)),
                outcome: Outcome::BindingExpired,
            })
            .collect();
        let decision = Decision {
            conversion: "ORD-LEAP".parse().unwrap(),
            event: EventKind::Deposit,
            occurred_at: last_leap,
            // Money beside a duplicate and no candidates.
            amount: Some(Amount::from_ten_thousandths(i64::MAX)),
            currency: Some("USD".parse().unwrap()),
            credits,
            considered,
            binding: None,
            candidates: Candidates::new(),
            duplicate: Some(Duplicate {
                of: "ORD-1".parse().unwrap(),
                by: Uniqueness::Click,
            }),
            policy: Policy::coupon_first(),
        };
        assert!(fits(&decision));
        let mut bytes = Vec::new();
        encode(&decision, 0, &mut bytes);
        assert_eq!(decode(&bytes, &[Policy::coupon_first()]), Some(decision));
    }
}
