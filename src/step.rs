//! One conversion's attribution as a sans-IO state machine: what to read,
//! what to write, and in which order, with the reading and writing left to
//! whoever drives it.

use chrono::{DateTime, Utc};

use crate::binding::Binding;
use crate::clicks::ClickQuery;
use crate::code::CouponCode;
use crate::conversion::Conversion;
use crate::decision::{Decision, Duplicate};
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId};
use crate::ledger::{Recorded, Recording};
use crate::policy::{Policy, UniqueKey};
use crate::registry::{CodeLookup, CreditMode, NearCode};
use crate::resolve::{ClickEvidence, CodeEvidence, Evidence, blank, judge_click, read_code, resolve_into};
use crate::time::{earlier, later};
use smallvec::SmallVec;

/// One conversion's attribution, step by step, without IO.
///
/// It holds the order in which a conversion is attributed, and the rules for
/// what is read about it, in one place for every backend: the
/// [`Attributor`](crate::Attributor) drives it over the synchronous store
/// traits, the PostgreSQL backend over one statement that reads everything
/// at once, and you can drive it over your own asynchronous stores. Each
/// call to [`Attribution::next`] returns the next [`Step`]: a question to
/// answer from a store, or the decision. The steps come in this order:
///
/// 1. [`Step::Recorded`]: the decision the ledger holds for the conversion's
///    id. If there is one, it is the answer; the machine then asks to write
///    its binding again, if it has one ([`Step::Bind`]), in case an earlier
///    call failed between recording and binding, and is done.
/// 2. [`Step::Holder`] for each key the conversion would claim under the
///    policy ([`Policy::unique_keys`]), in order. If another conversion
///    holds one, this conversion is its duplicate: the decision says so
///    and credits nobody, no evidence is read, and the machine goes on to
///    record it (step 5).
/// 3. The evidence: [`Step::Code`] for each distinct entered code, in entry
///    order, looked up at the conversion's time, each unknown one followed
///    by [`Step::Near`] for the active codes that resemble it (which a
///    policy may read it as, [`Policy::with_look_alikes`], and which a decision
///    names for review); [`Step::Click`] for the
///    click the conversion names; [`Step::Find`] for the customer's first or
///    last click in the policy's range ([`Attribution::click_query`]), then,
///    for each active [`CreditMode::IfInvolved`] code whose owner has no
///    qualifying click among those, that owner's latest one in the range
///    ([`Attribution::owner_query`]), once an owner; [`Step::Binding`] for
///    the customer's latest binding made before the conversion. A
///    conversion without a customer asks for neither clicks by query nor a
///    binding.
/// 4. The decision, by [`resolve`](crate::resolve), under the policy given.
/// 5. [`Step::Record`]: record it, insert-if-absent, with the keys it
///    claims ([`RecordWrite::claims`]), all or nothing. If another decision
///    was recorded first for the id (a concurrent retry), that one stands.
///    If another conversion took one of the keys first (a concurrent
///    duplicate), the decision becomes a duplicate of it, and the machine
///    asks to record that one, which claims nothing.
/// 6. [`Step::Bind`]: write the recorded decision's binding, if any.
/// 7. [`Step::Done`]: take the decision ([`Finished::into_decision`]).
///
/// A backend that records a decision and writes its binding in one
/// transaction says so with [`Attribution::with_records_bindings`]; the machine
/// then never asks for step 6, nor to write a recorded binding again.
/// [`Attribution::preview`] skips the ledger, the keys and the writes: a
/// preview never finds a duplicate. Every step
/// answers a question the machine asked, through the value the step holds,
/// so an answer cannot go to the wrong question. Once its decision is
/// taken, the machine keeps the evidence it gathered
/// ([`Attribution::evidence`]); asked for its next step, it drops it and
/// begins again, as a second call of
/// [`Attributor::attribute`](crate::Attributor::attribute) would.
///
/// A backend that reads in batches can learn every read up front:
/// [`Attribution::codes`], [`Attribution::click`],
/// [`Attribution::click_query`], [`Attribution::owner_query`] for any
/// owner, and [`Attribution::binding_before`] depend on the conversion and
/// the policy alone. The steps ask those and no others: all of them but
/// the owners' queries, and of those the ones the evidence calls for. The
/// keys are [`Policy::unique_keys`] of the conversion.
///
/// ```
/// use attributor::{AffiliateId, Attribution, CodeAssignment, CodeLookup, Conversion, CouponCode,
///     EventKind, Policy, Step};
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let code = CouponCode::parse("MKBHD10")?;
/// let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at).with_code(code);
/// let policy = Policy::coupon_first();
///
/// let mut attribution = Attribution::new(&order, &policy);
/// let decision = loop {
///     match attribution.next() {
///         Step::Recorded(read) => read.answer(None), // nothing recorded yet
///         Step::Holder(read) => read.answer(None), // (no keys under this policy)
///         Step::Code(read) => {
///             let owner = CodeAssignment::new(*read.code(), AffiliateId::new(7), at);
///             read.answer(CodeLookup::Active(owner));
///         }
///         Step::Near(read) => read.answer([]), // (only for an unknown code)
///         Step::Click(read) => read.answer(None),
///         Step::Find(read) => read.answer(None),
///         Step::Binding(read) => read.answer(None),
///         Step::Record(write) => write.answer(None), // recorded: no earlier decision
///         Step::Bind(write) => write.answer(),
///         Step::Done(done) => break done.into_decision(),
///     }
/// };
/// assert_eq!(decision.primary(), Some(AffiliateId::new(7)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Attribution<'a> {
    conversion: &'a Conversion,
    policy: &'a Policy,
    preview: bool,
    atomic: bool,
    state: State,
    evidence: Evidence,
    /// The decision: made blank, decided in place, handed out once.
    decision: Decision,
    /// The keys the decision claims when recorded: the policy's, read
    /// after a ledger miss; none for a duplicate. Kept here, not in a
    /// step, so that a step stays small to return.
    claims: SmallVec<[UniqueKey; 2]>,
    /// Whether the decision was found recorded rather than recorded.
    found: bool,
}

/// Where a machine is. The decision is kept beside it, so that moving from
/// one state to the next never copies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ledger,
    /// The next key the conversion claims to ask the holder of, by index.
    Claims(usize),
    /// The next entered code to look up, by index.
    Code(usize),
    /// The entered code at this index is unknown: ask for its near codes.
    Near(usize),
    Click,
    Query,
    /// The next code of the evidence whose owner may need a click read, by
    /// index.
    Owner(usize),
    Binding,
    Decide,
    Record,
    Bind,
    Done,
    /// The decision was handed out; the next step begins again.
    Spent,
}

/// What an [`Attribution`] needs next.
///
/// Each question holds the machine until it is answered; answering it moves
/// the machine on. Dropping a question unanswered leaves the machine where
/// it was, and it asks again.
#[derive(Debug)]
pub enum Step<'m, 'a> {
    /// Read the ledger.
    Recorded(LedgerRead<'m, 'a>),
    /// Read which conversion holds a key this one would claim.
    Holder(HolderRead<'m, 'a>),
    /// Look up an entered code.
    Code(CodeRead<'m, 'a>),
    /// Find the active codes near an unknown entered code.
    Near(NearRead<'m, 'a>),
    /// Read the click the conversion names.
    Click(ClickRead<'m, 'a>),
    /// Find a customer's first or last click.
    Find(FindRead<'m, 'a>),
    /// Read the customer's latest binding before the conversion.
    Binding(BindingRead<'m, 'a>),
    /// Record the decision.
    Record(RecordWrite<'m>),
    /// Write a recorded decision's binding.
    Bind(BindWrite<'m>),
    /// The decision: recorded, found recorded, or previewed.
    Done(Finished<'m, 'a>),
}

impl<'a> Attribution<'a> {
    /// The attribution of `conversion` under `policy` (for a
    /// [`PolicySet`](crate::PolicySet), the policy
    /// [`for_event`](crate::PolicySet::for_event) of the conversion's
    /// event), starting with the ledger.
    pub fn new(conversion: &'a Conversion, policy: &'a Policy) -> Self {
        Self {
            conversion,
            policy,
            preview: false,
            atomic: false,
            state: State::Ledger,
            evidence: Evidence::new(),
            decision: blank(conversion, policy),
            claims: SmallVec::new(),
            found: false,
        }
    }

    /// A dry run: the evidence and the decision, without the ledger and
    /// without writes, as [`Attributor::preview`](crate::Attributor::preview)
    /// does.
    pub fn preview(conversion: &'a Conversion, policy: &'a Policy) -> Self {
        Self {
            preview: true,
            state: State::Code(0),
            ..Self::new(conversion, policy)
        }
    }

    /// Tells the machine that the backend writes a decision's binding in
    /// the same transaction that records it: no [`Step::Bind`] follows.
    pub fn with_records_bindings(mut self, atomic: bool) -> Self {
        self.atomic = atomic;
        self
    }

    /// The conversion.
    pub fn conversion(&self) -> &'a Conversion {
        self.conversion
    }

    /// The policy.
    pub fn policy(&self) -> &'a Policy {
        self.policy
    }

    /// The evidence gathered so far; once done, the evidence the decision
    /// was made from (until the next step begins again).
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// The evidence gathered, taken out of the machine.
    pub fn into_evidence(self) -> Evidence {
        self.evidence
    }

    /// Whether the machine reads the ledger first (not in a preview).
    pub fn reads_ledger(&self) -> bool {
        !self.preview
    }

    /// The instant the codes are looked up at, and bindings are made
    /// before: the conversion's time.
    pub fn at(&self) -> DateTime<Utc> {
        self.conversion.occurred_at
    }

    /// The entered codes to look up: each distinct code once, in entry
    /// order.
    pub fn codes(&self) -> impl Iterator<Item = &'a CouponCode> + use<'a> {
        self.conversion.distinct_codes().map(|(_, code)| code)
    }

    /// The click the conversion names, and its customer, which the click
    /// probably belongs to (a hint: see
    /// [`ClickStore::customer_click_evidence`](crate::ClickStore::customer_click_evidence)).
    pub fn click(&self) -> Option<(&'a ClickId, Option<&'a CustomerId>)> {
        let conversion = self.conversion;
        conversion
            .click
            .as_ref()
            .map(|id| (id, conversion.customer.as_ref()))
    }

    /// The question for the customer's first or last click (as the policy
    /// picks) in `[t - window, t + skew]`, or, when a minimum click age is
    /// set, in `[t - window, t - minimum]`, leaving out the clicks of the
    /// customer's own affiliate account
    /// ([`Conversion::customer_affiliate`]), which are self-referral and
    /// must not hide another affiliate's click. `None` without a customer.
    pub fn click_query(&self) -> Option<ClickQuery> {
        let customer = self.conversion.customer?;
        let (t, policy) = (self.conversion.occurred_at, self.policy);
        let to = if policy.min_click_age().is_zero() {
            later(t, policy.clock_skew())
        } else {
            earlier(t, policy.min_click_age())
        };
        Some(ClickQuery {
            customer,
            from: earlier(t, policy.click_window()),
            to,
            pick: policy.click_pick(),
            affiliate: None,
            exclude: self.conversion.customer_affiliate,
        })
    }

    /// The question for `owner`'s latest click in the range of
    /// [`Attribution::click_query`]: asked for the owner of an active
    /// [`CreditMode::IfInvolved`] code who has no qualifying click among the
    /// evidence. `None` without a customer.
    pub fn owner_query(&self, owner: AffiliateId) -> Option<ClickQuery> {
        self.click_query().map(|query| ClickQuery {
            exclude: query.exclude,
            ..ClickQuery::owner(query.customer, query.from, query.to, owner)
        })
    }

    /// The customer's latest binding made strictly before this instant is
    /// asked for: the customer and the instant. `None` without a customer.
    pub fn binding_before(&self) -> Option<(&'a CustomerId, DateTime<Utc>)> {
        let conversion = self.conversion;
        conversion.customer.as_ref().map(|c| (c, conversion.occurred_at))
    }

    /// The next step. See [`Attribution`] for their order.
    #[allow(clippy::should_implement_trait)] // a step borrows the machine: not an iterator
    pub fn next(&mut self) -> Step<'_, 'a> {
        loop {
            match self.state {
                State::Ledger => return Step::Recorded(LedgerRead { m: self }),
                State::Claims(i) => match self.claims.get(i) {
                    Some(key) => {
                        let key = *key;
                        return Step::Holder(HolderRead { m: self, key });
                    }
                    None => self.state = State::Code(0),
                },
                State::Code(from) => match self.conversion.distinct_codes_from(from).next() {
                    Some((i, code)) => {
                        self.state = State::Code(i);
                        return Step::Code(CodeRead { m: self, code });
                    }
                    None => self.state = State::Click,
                },
                State::Near(i) => match self.conversion.distinct_codes_from(i).next() {
                    Some((_, code)) => return Step::Near(NearRead { m: self, code }),
                    None => self.state = State::Click,
                },
                State::Click => match self.click() {
                    Some((id, customer)) => {
                        return Step::Click(ClickRead {
                            m: self,
                            id,
                            customer,
                        });
                    }
                    None => self.state = State::Query,
                },
                State::Query => match self.click_query() {
                    Some(query) => return Step::Find(FindRead { m: self, query }),
                    None => self.state = State::Binding,
                },
                State::Owner(from) => match self.next_owner(from) {
                    Some((i, query)) => {
                        self.state = State::Owner(i);
                        return Step::Find(FindRead { m: self, query });
                    }
                    None => self.state = State::Binding,
                },
                State::Binding => match self.binding_before() {
                    Some((customer, before)) => {
                        return Step::Binding(BindingRead {
                            m: self,
                            customer,
                            before,
                        });
                    }
                    None => self.state = State::Decide,
                },
                State::Decide => {
                    // Written in place: a decision is close to a kilobyte.
                    // It is blank here: made so, or put back so when the
                    // last one was taken (a ledger hit never decides).
                    resolve_into(self.conversion, &self.evidence, self.policy, &mut self.decision);
                    self.state = if self.preview { State::Done } else { State::Record };
                }
                State::Record => {
                    return Step::Record(RecordWrite {
                        state: &mut self.state,
                        atomic: self.atomic,
                        decision: &mut self.decision,
                        claims: &mut self.claims,
                        found: &mut self.found,
                        conversion: self.conversion,
                        policy: self.policy,
                    });
                }
                State::Bind => match self.decision.binding {
                    Some(binding) => {
                        return Step::Bind(BindWrite {
                            state: &mut self.state,
                            binding,
                        });
                    }
                    None => self.state = State::Done,
                },
                State::Done => return Step::Done(Finished { m: self }),
                State::Spent => {
                    self.evidence = Evidence::new();
                    self.found = false;
                    self.state = if self.preview {
                        State::Code(0)
                    } else {
                        State::Ledger
                    };
                }
            }
        }
    }

    /// The first code of the evidence, from index `from` on, whose owner
    /// needs a click read, and the question for it: an active `IfInvolved`
    /// code whose owner has no qualifying click among the evidence and
    /// does not own an earlier such code (asked about already). The
    /// evidence holds the distinct entered codes in entry order.
    fn next_owner(&self, from: usize) -> Option<(usize, ClickQuery)> {
        // The code's answer, or its look-alike's where the policy reads it.
        let owner_of = |e: &CodeEvidence| match read_code(&e.code, &self.evidence, self.policy).0 {
            CodeLookup::Active(a) if a.mode == CreditMode::IfInvolved => Some(a.affiliate),
            _ => None,
        };
        let codes = &self.evidence.codes;
        codes.iter().enumerate().skip(from).find_map(|(i, e)| {
            let owner = owner_of(e)?;
            let involved = self
                .evidence
                .clicks
                .iter()
                .any(|c| c.affiliate == owner && judge_click(self.conversion, c, self.policy).is_none());
            let asked = codes
                .iter()
                .take(i)
                .any(|earlier| owner_of(earlier) == Some(owner));
            if involved || asked {
                return None;
            }
            Some((i, self.owner_query(owner)?))
        })
    }

    /// Adds a click to the evidence, unless it is there already.
    fn add_click(&mut self, click: Option<ClickEvidence>) {
        if let Some(click) = click {
            if !self.evidence.clicks.contains(&click) {
                self.evidence.clicks.push(click);
            }
        }
    }
}

/// [`Step::Recorded`]: read the decision recorded for a conversion id.
#[derive(Debug)]
pub struct LedgerRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
}

impl<'a> LedgerRead<'_, 'a> {
    /// The conversion id to read.
    pub fn conversion(&self) -> &'a ConversionId {
        &self.m.conversion.id
    }

    /// The decision the ledger holds for it, if any.
    pub fn answer(self, recorded: Option<Decision>) {
        let m = self.m;
        match recorded {
            Some(decision) => {
                let rebind = !m.atomic && decision.binding.is_some();
                m.decision = decision;
                m.found = true;
                m.state = if rebind { State::Bind } else { State::Done };
            }
            None => {
                m.claims = m.policy.unique_keys(m.conversion);
                m.state = State::Claims(0);
            }
        }
    }
}

/// [`Step::Holder`]: read which conversion holds a key this one would
/// claim ([`Ledger::holder`](crate::Ledger::holder)).
#[derive(Debug)]
pub struct HolderRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    key: UniqueKey,
}

impl HolderRead<'_, '_> {
    /// The key.
    pub fn key(&self) -> &UniqueKey {
        &self.key
    }

    /// The conversion that holds it, if any. Another conversion makes this
    /// one its duplicate: decided at once, and recorded claiming nothing.
    pub fn answer(self, holder: Option<ConversionId>) {
        let m = self.m;
        match holder {
            Some(by) if by != m.conversion.id => {
                m.decision = duplicate_of(m.conversion, m.policy, by, self.key);
                // A duplicate claims nothing.
                m.claims.clear();
                m.state = State::Record;
            }
            _ => {
                if let State::Claims(i) = m.state {
                    m.state = State::Claims(i + 1);
                }
            }
        }
    }
}

/// The decision that `conversion` repeats `by`, which holds `key`.
fn duplicate_of(conversion: &Conversion, policy: &Policy, by: ConversionId, key: UniqueKey) -> Decision {
    let mut decision = blank(conversion, policy);
    decision.duplicate = Some(Duplicate {
        of: by,
        by: key.uniqueness(),
    });
    decision
}

/// [`Step::Code`]: look up an entered code at the conversion's time.
#[derive(Debug)]
pub struct CodeRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    code: &'a CouponCode,
}

impl<'a> CodeRead<'_, 'a> {
    /// The code.
    pub fn code(&self) -> &'a CouponCode {
        self.code
    }

    /// The instant to look it up at.
    pub fn at(&self) -> DateTime<Utc> {
        self.m.conversion.occurred_at
    }

    /// What the registry answered. An unknown code is followed by a
    /// [`Step::Near`] for it.
    pub fn answer(self, lookup: CodeLookup) {
        let m = self.m;
        m.evidence.codes.push(CodeEvidence {
            code: *self.code,
            lookup,
        });
        if let State::Code(i) = m.state {
            m.state = if lookup == CodeLookup::Unknown {
                State::Near(i)
            } else {
                State::Code(i + 1)
            };
        }
    }
}

/// [`Step::Near`]: find the codes active at the conversion's time that
/// resemble an unknown entered code
/// ([`CodeRegistry::near`](crate::CodeRegistry::near)).
#[derive(Debug)]
pub struct NearRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    code: &'a CouponCode,
}

impl<'a> NearRead<'_, 'a> {
    /// The unknown code.
    pub fn code(&self) -> &'a CouponCode {
        self.code
    }

    /// The instant the codes must be active at.
    pub fn at(&self) -> DateTime<Utc> {
        self.m.conversion.occurred_at
    }

    /// What the registry answered. Answers for another code than
    /// [`NearRead::code`] are left out.
    pub fn answer(self, near: impl IntoIterator<Item = NearCode>) {
        let m = self.m;
        let code = *self.code;
        m.evidence.near.extend(
            near.into_iter()
                .filter(|n| n.typed == code && n.assignment.code != code),
        );
        if let State::Near(i) = m.state {
            m.state = State::Code(i + 1);
        }
    }
}

/// [`Step::Click`]: read the click the conversion names.
#[derive(Debug)]
pub struct ClickRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    id: &'a ClickId,
    customer: Option<&'a CustomerId>,
}

impl<'a> ClickRead<'_, 'a> {
    /// The click's id.
    pub fn id(&self) -> &'a ClickId {
        self.id
    }

    /// The conversion's customer, whose click it probably is: a hint.
    pub fn customer(&self) -> Option<&'a CustomerId> {
        self.customer
    }

    /// The click with that id, if any.
    pub fn answer(self, click: Option<ClickEvidence>) {
        self.m.add_click(click);
        self.m.state = State::Query;
    }
}

/// [`Step::Find`]: find a customer's first or last click, as
/// [`ClickStore::find_evidence`](crate::ClickStore::find_evidence) does.
#[derive(Debug)]
pub struct FindRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    query: ClickQuery,
}

impl FindRead<'_, '_> {
    /// The question: [`Attribution::click_query`], or
    /// [`Attribution::owner_query`] for an owner.
    pub fn query(&self) -> &ClickQuery {
        &self.query
    }

    /// The click found, if any.
    pub fn answer(self, click: Option<ClickEvidence>) {
        let m = self.m;
        m.add_click(click);
        m.state = match m.state {
            State::Owner(i) => State::Owner(i + 1),
            _ => State::Owner(0),
        };
    }
}

/// [`Step::Binding`]: read a customer's latest binding made strictly before
/// an instant.
#[derive(Debug)]
pub struct BindingRead<'m, 'a> {
    m: &'m mut Attribution<'a>,
    customer: &'a CustomerId,
    before: DateTime<Utc>,
}

impl<'a> BindingRead<'_, 'a> {
    /// The customer.
    pub fn customer(&self) -> &'a CustomerId {
        self.customer
    }

    /// The instant the binding was made strictly before.
    pub fn before(&self) -> DateTime<Utc> {
        self.before
    }

    /// The binding, if any.
    pub fn answer(self, binding: Option<Binding>) {
        self.m.evidence.binding = binding;
        self.m.state = State::Decide;
    }
}

/// [`Step::Record`]: record the decision, insert-if-absent.
#[derive(Debug)]
pub struct RecordWrite<'m> {
    state: &'m mut State,
    atomic: bool,
    decision: &'m mut Decision,
    claims: &'m mut SmallVec<[UniqueKey; 2]>,
    found: &'m mut bool,
    conversion: &'m Conversion,
    policy: &'m Policy,
}

impl RecordWrite<'_> {
    /// The decision to record.
    pub fn decision(&self) -> &Decision {
        self.decision
    }

    /// The keys to claim with it, all or nothing
    /// ([`Ledger::record_claiming`](crate::Ledger::record_claiming)).
    pub fn claims(&self) -> &[UniqueKey] {
        self.claims
    }

    /// What the ledger did: recorded it ([`Recording::Recorded`], or `None`
    /// from [`Ledger::record`](crate::Ledger::record)); found a decision
    /// recorded before for the id, which stands instead
    /// ([`Recording::Earlier`], or `Some`); or found a key held by another
    /// conversion ([`Recording::Taken`]), which makes this one its
    /// duplicate, to be recorded next.
    #[inline]
    pub fn answer(self, outcome: impl Into<Recording>) {
        match outcome.into() {
            Recording::Recorded => {}
            Recording::Earlier(earlier) => {
                *self.decision = earlier;
                *self.found = true;
            }
            Recording::Taken { key, by } => {
                *self.decision = duplicate_of(self.conversion, self.policy, by, key);
                self.claims.clear();
                *self.state = State::Record;
                return;
            }
        }
        *self.state = if !self.atomic && self.decision.binding.is_some() {
            State::Bind
        } else {
            State::Done
        };
    }
}

/// [`Step::Done`]: the attribution is over; take its decision.
#[derive(Debug)]
pub struct Finished<'m, 'a> {
    m: &'m mut Attribution<'a>,
}

impl Finished<'_, '_> {
    /// The decision: recorded, found recorded, or previewed.
    pub fn decision(&self) -> &Decision {
        &self.m.decision
    }

    /// Whether the machine recorded the decision ([`Recorded::Now`]) or
    /// found it recorded ([`Recorded::Before`]); `None` in a preview, which
    /// records nothing.
    pub fn recorded(&self) -> Option<Recorded> {
        match (self.m.preview, self.m.found) {
            (true, _) => None,
            (false, true) => Some(Recorded::Before),
            (false, false) => Some(Recorded::Now),
        }
    }

    /// The decision, taken out of the machine. The machine keeps its
    /// evidence until its next step, which begins again.
    pub fn into_decision(self) -> Decision {
        let m = self.m;
        m.state = State::Spent;
        std::mem::replace(&mut m.decision, blank(m.conversion, m.policy))
    }
}

/// [`Step::Bind`]: write the recorded decision's binding (writing one again
/// is idempotent, the [`BindingStore`](crate::BindingStore) contract).
#[derive(Debug)]
pub struct BindWrite<'m> {
    state: &'m mut State,
    binding: Binding,
}

impl BindWrite<'_> {
    /// The binding to write.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// It was written.
    pub fn answer(self) {
        *self.state = State::Done;
    }
}
