//! The stores and the policy wired together.

use chrono::{DateTime, Utc};

use crate::binding::BindingStore;
use crate::clicks::{ClickQuery, ClickStore};
use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::error::AttributeError;
use crate::ledger::Ledger;
use crate::policy::{ClickPick, Policy, PolicySet};
use crate::registry::{CodeLookup, CodeRegistry, CreditMode};
use crate::resolve::{CodeEvidence, Evidence, judge_click, resolve};

/// The error of [`Attributor::attribute`] for these four stores.
pub type AttributorError<R, C, B, L> = AttributeError<
    <R as CodeRegistry>::Error,
    <C as ClickStore>::Error,
    <B as BindingStore>::Error,
    <L as Ledger>::Error,
>;

/// The four stores and a [`PolicySet`]: attributes conversions, once each.
///
/// [`Attributor::attribute`] runs, in this order:
///
/// 1. **ledger lookup**: a conversion id seen before returns the recorded
///    decision unchanged, even if the stores changed since, after writing
///    its binding again, if it has one;
/// 2. **gather** the evidence ([`Attributor::gather`]);
/// 3. **resolve** it under the event's policy ([`resolve`]);
/// 4. **record** the decision in the ledger, insert-if-absent;
/// 5. **write the binding** the recorded decision names, if any.
///
/// If a store fails, the call returns the error. A retry gives the decision
/// an unfailing run would have given: nothing is written before the ledger
/// records the decision, and once it has, a retry returns that decision and
/// writes its binding again (rewriting a binding is idempotent, the
/// [`BindingStore`] contract). So nothing is credited twice, nothing is
/// lost, and the binding store holds no binding that a recorded decision
/// does not name.
///
/// Attribute one customer's conversions in time order, as they happen: a
/// conversion sees the bindings of those decided before it (retry a failed
/// call before going on to the customer's next conversion: until the retry,
/// its binding may be missing). Two calls for the same conversion may race;
/// the first to reach the ledger wins, and the other returns its decision
/// and writes its binding, never its own.
///
/// ```
/// use attributor::{AffiliateId, Attributor, Conversion, CouponCode, EventKind, MemoryBindingStore,
///     MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy};
/// use chrono::{TimeZone, Utc};
///
/// let registry = MemoryCodeRegistry::new();
/// let jan = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// registry.assign(CouponCode::parse("MKBHD10")?, AffiliateId::new(7), jan)?;
/// let attributor = Attributor::new(
///     registry,
///     MemoryClickStore::new(),
///     MemoryBindingStore::new(),
///     MemoryLedger::new(),
///     Policy::coupon_first(),
/// );
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
/// let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at).code(CouponCode::parse("mkbhd-10")?);
/// let decision = attributor.attribute(&order)?;
/// assert_eq!(decision.primary(), Some(AffiliateId::new(7)));
/// assert_eq!(attributor.attribute(&order)?, decision); // a retry changes nothing
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Attributor<R, C, B, L> {
    registry: R,
    clicks: C,
    bindings: B,
    ledger: L,
    policies: PolicySet,
}

impl<R, C, B, L> Attributor<R, C, B, L>
where
    R: CodeRegistry,
    C: ClickStore,
    B: BindingStore,
    L: Ledger,
{
    /// Wires the stores and the policies together.
    pub fn new(registry: R, clicks: C, bindings: B, ledger: L, policies: impl Into<PolicySet>) -> Self {
        Self {
            registry,
            clicks,
            bindings,
            ledger,
            policies: policies.into(),
        }
    }

    /// Decides who earns `conversion`, records it, and returns the decision;
    /// or returns the decision recorded before for its id.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] naming the store that failed. Retrying is safe.
    pub fn attribute(&self, conversion: &Conversion) -> Result<Decision, AttributorError<R, C, B, L>> {
        if let Some(recorded) = self.ledger.get(&conversion.id).map_err(AttributeError::Ledger)? {
            // An earlier call may have failed between recording and binding.
            if let Some(binding) = &recorded.binding {
                self.bindings.bind(binding).map_err(AttributeError::Bindings)?;
            }
            return Ok(recorded);
        }
        // The decision stays in the `Result` that `preview` wrote, and is
        // returned in it, rather than moved out and back in: a `Decision`
        // is close to a kilobyte.
        let mut out = self.preview(conversion);
        let Ok(decision) = &out else {
            return out;
        };
        if let Some(earlier) = self.ledger.record(decision).map_err(AttributeError::Ledger)? {
            // Another call recorded this conversion first (a concurrent
            // retry): its decision stands, and its binding is the one to write.
            out = Ok(earlier);
        }
        if let Ok(Decision {
            binding: Some(binding),
            ..
        }) = &out
        {
            self.bindings.bind(binding).map_err(AttributeError::Bindings)?;
        }
        out
    }

    /// [`Attributor::attribute`] for each of `conversions` in turn, lazily:
    /// the same decisions and errors, in the same order, as calling it in a
    /// loop. An error stops nothing; the next conversion is attributed when
    /// the iterator is asked for it. Skipping ahead (`nth`, `skip`, `last`,
    /// `count`) attributes and records the conversions passed over, as the
    /// loop would.
    ///
    /// Before every 16 conversions it tells each store which ones
    /// come next (the stores' `prefetch` hints), so that a store can read
    /// what they need in one pass, where one call at a time waits for each
    /// read in turn. With the memory stores at a million customers this
    /// raises throughput; when the stores fit in cache there is nothing to
    /// overlap, and the hints are extra work.
    /// See the README's Performance section.
    ///
    /// ```
    /// use attributor::{AffiliateId, Attributor, Conversion, CouponCode, EventKind, MemoryBindingStore,
    ///     MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy};
    /// use chrono::{TimeZone, Utc};
    ///
    /// let registry = MemoryCodeRegistry::new();
    /// let jan = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// registry.assign(CouponCode::parse("MKBHD10")?, AffiliateId::new(7), jan)?;
    /// let attributor = Attributor::new(
    ///     registry,
    ///     MemoryClickStore::new(),
    ///     MemoryBindingStore::new(),
    ///     MemoryLedger::new(),
    ///     Policy::coupon_first(),
    /// );
    ///
    /// // A page of postbacks from a queue.
    /// let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    /// let page: Vec<Conversion> = (1..=3)
    ///     .map(|i| {
    ///         let order = Conversion::new(format!("ORD-{i}").parse()?, EventKind::Purchase, at);
    ///         Ok(if i == 2 { order.code(CouponCode::parse("mkbhd10")?) } else { order })
    ///     })
    ///     .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    ///
    /// let credited: Vec<Option<AffiliateId>> = attributor
    ///     .attribute_all(&page)
    ///     .map(|decision| decision.map(|d| d.primary()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(credited, [None, Some(AffiliateId::new(7)), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the iterator is lazy: nothing is attributed until it is consumed"]
    pub fn attribute_all<'a>(&'a self, conversions: &'a [Conversion]) -> AttributeAll<'a, R, C, B, L> {
        AttributeAll {
            attributor: self,
            conversions,
            next: 0,
        }
    }

    /// Tells each store that `conversions` come next.
    fn prefetch(&self, conversions: &[Conversion]) {
        self.ledger.prefetch(conversions);
        self.registry.prefetch(conversions);
        self.clicks.prefetch(conversions);
        self.bindings.prefetch(conversions);
    }

    /// Decides `conversion` as [`Attributor::attribute`] would, from the
    /// stores as they are, without consulting or writing the ledger and
    /// without writing a binding: a dry run, for previews and reports.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] naming the store that failed.
    pub fn preview(&self, conversion: &Conversion) -> Result<Decision, AttributorError<R, C, B, L>> {
        let policy = self.policies.for_event(&conversion.event);
        let mut evidence = Evidence::new();
        self.gather_into(conversion, policy, &mut evidence)?;
        Ok(resolve(conversion, &evidence, policy))
    }

    /// Reads the evidence for `conversion` under `policy`, without deciding
    /// or writing anything:
    ///
    /// * each distinct entered code, looked up at the conversion's time;
    /// * the click named by the conversion's click id;
    /// * the customer's first or last click (as the policy picks) in
    ///   `[occurred_at - window, occurred_at + skew]`, or, when a minimum
    ///   click age is set, in `[occurred_at - window, occurred_at - minimum]`,
    ///   leaving out the clicks of the customer's own affiliate account
    ///   ([`Conversion::customer_affiliate`]), which are self-referral;
    /// * for an active `IfInvolved` code whose owner has no qualifying click
    ///   among those, the owner's latest click of the customer in that range;
    /// * the customer's latest binding made before the conversion.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] naming the store that failed.
    pub fn gather(
        &self,
        conversion: &Conversion,
        policy: &Policy,
    ) -> Result<Evidence, AttributorError<R, C, B, L>> {
        let mut evidence = Evidence::new();
        self.gather_into(conversion, policy, &mut evidence)?;
        Ok(evidence)
    }

    /// [`Attributor::gather`] into `evidence`, which starts empty: the
    /// attribute path's evidence stays where it was made.
    fn gather_into(
        &self,
        conversion: &Conversion,
        policy: &Policy,
        evidence: &mut Evidence,
    ) -> Result<(), AttributorError<R, C, B, L>> {
        let t = conversion.occurred_at;
        for (i, code) in conversion.codes.iter().enumerate() {
            if conversion.codes.iter().take(i).any(|c| c == code) {
                continue;
            }
            let lookup = self.registry.lookup(code, t).map_err(AttributeError::Registry)?;
            evidence.codes.push(CodeEvidence { code: *code, lookup });
        }
        if let Some(id) = &conversion.click {
            let click = match &conversion.customer {
                Some(customer) => self.clicks.customer_click_evidence(customer, id),
                None => self.clicks.click_evidence(id),
            };
            if let Some(click) = click.map_err(AttributeError::Clicks)? {
                evidence.clicks.push(click);
            }
        }
        if let Some(customer) = conversion.customer {
            let from = earlier(t, policy.get_click_window());
            let to = if policy.get_min_click_age().is_zero() {
                later(t, policy.get_clock_skew())
            } else {
                earlier(t, policy.get_min_click_age())
            };
            let mut query = ClickQuery {
                customer,
                from,
                to,
                pick: policy.get_click_pick(),
                affiliate: None,
                // The customer's own clicks are self-referral: they must not
                // hide another affiliate's click.
                exclude: conversion.customer_affiliate,
            };
            self.push_click(evidence, &query)?;
            for code in &conversion.codes {
                let owner = match evidence.codes.iter().find(|e| e.code == *code).map(|e| e.lookup) {
                    Some(CodeLookup::Active(a)) if a.mode == CreditMode::IfInvolved => a.affiliate,
                    _ => continue,
                };
                let involved = evidence
                    .clicks
                    .iter()
                    .any(|c| c.affiliate == owner && judge_click(conversion, c, policy).is_none());
                if !involved {
                    query.pick = ClickPick::Last;
                    query.affiliate = Some(owner);
                    self.push_click(evidence, &query)?;
                }
            }
            evidence.binding = self
                .bindings
                .binding_before(&customer, t)
                .map_err(AttributeError::Bindings)?;
        }
        Ok(())
    }

    fn push_click(
        &self,
        evidence: &mut Evidence,
        query: &ClickQuery,
    ) -> Result<(), AttributorError<R, C, B, L>> {
        if let Some(click) = self.clicks.find_evidence(query).map_err(AttributeError::Clicks)? {
            if !evidence.clicks.contains(&click) {
                evidence.clicks.push(click);
            }
        }
        Ok(())
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The code registry.
    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The click store.
    pub fn clicks(&self) -> &C {
        &self.clicks
    }

    /// The binding store.
    pub fn bindings(&self) -> &B {
        &self.bindings
    }

    /// The ledger.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }
}

fn earlier(t: DateTime<Utc>, d: chrono::TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn later(t: DateTime<Utc>, d: chrono::TimeDelta) -> DateTime<Utc> {
    // No skew is the default: skip chrono's calendar arithmetic for it.
    if d.is_zero() {
        return t;
    }
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// How many conversions [`Attributor::attribute_all`] announces to the
/// stores at a time: enough for their reads to overlap, few enough that
/// what they read stays in cache until it is used.
const BATCH: usize = 16;

/// The decisions of [`Attributor::attribute_all`], one per conversion, in
/// order.
#[derive(Debug)]
pub struct AttributeAll<'a, R, C, B, L> {
    attributor: &'a Attributor<R, C, B, L>,
    conversions: &'a [Conversion],
    next: usize,
}

impl<R, C, B, L> Iterator for AttributeAll<'_, R, C, B, L>
where
    R: CodeRegistry,
    C: ClickStore,
    B: BindingStore,
    L: Ledger,
{
    type Item = Result<Decision, AttributorError<R, C, B, L>>;

    fn next(&mut self) -> Option<Self::Item> {
        let conversion = self.conversions.get(self.next)?;
        if self.next % BATCH == 0 {
            let rest = self.conversions.get(self.next..).unwrap_or_default();
            self.attributor.prefetch(rest.get(..BATCH).unwrap_or(rest));
        }
        self.next += 1;
        Some(self.attributor.attribute(conversion))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.conversions.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<R, C, B, L> ExactSizeIterator for AttributeAll<'_, R, C, B, L>
where
    R: CodeRegistry,
    C: ClickStore,
    B: BindingStore,
    L: Ledger,
{
}

impl<R, C, B, L> std::iter::FusedIterator for AttributeAll<'_, R, C, B, L>
where
    R: CodeRegistry,
    C: ClickStore,
    B: BindingStore,
    L: Ledger,
{
}
