//! The stores and the policy wired together.

use crate::binding::BindingStore;
use crate::clicks::ClickStore;
use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ledger::{Attributed, Ledger, Recorded};
use crate::policy::{Policy, PolicySet};
use crate::registry::CodeRegistry;
use crate::resolve::Evidence;
use crate::step::{Attribution, Step};

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
/// 3. **resolve** it under the event's policy ([`resolve`](crate::resolve));
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
///     MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy, Recorded};
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
/// let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at).with_code(CouponCode::parse("mkbhd-10")?);
/// let first = attributor.attribute(&order)?;
/// assert_eq!(first.decision.primary(), Some(AffiliateId::new(7)));
/// let retry = attributor.attribute(&order)?; // a retry changes nothing, and says so
/// assert_eq!((retry.decision, retry.recorded), (first.decision, Recorded::Before));
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

    /// Decides who earns `conversion`, records it, and returns the decision
    /// with [`Recorded::Now`]; or returns the decision recorded before for
    /// its id with [`Recorded::Before`], so that a retried postback is not
    /// acted on twice.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] naming the store that failed. Retrying is safe.
    pub fn attribute(&self, conversion: &Conversion) -> Result<Attributed, AttributorError<R, C, B, L>> {
        self.drive(&mut Attribution::new(
            conversion,
            self.policies.for_event(&conversion.event),
        ))
    }

    /// Answers each step of `attribution` from the stores, until it is
    /// done. A preview's answer says [`Recorded::Now`], unread.
    fn drive(&self, attribution: &mut Attribution<'_>) -> Result<Attributed, AttributorError<R, C, B, L>> {
        loop {
            match attribution.next() {
                Step::Recorded(read) => {
                    let recorded = self
                        .ledger
                        .get(read.conversion())
                        .map_err(AttributeError::Ledger)?;
                    read.answer(recorded);
                }
                Step::Holder(read) => {
                    let holder = self.ledger.holder(read.key()).map_err(AttributeError::Ledger)?;
                    read.answer(holder);
                }
                Step::Code(read) => {
                    let lookup = self
                        .registry
                        .lookup(read.code(), read.at())
                        .map_err(AttributeError::Registry)?;
                    read.answer(lookup);
                }
                Step::Near(read) => {
                    let near = self
                        .registry
                        .near(read.code(), read.at())
                        .map_err(AttributeError::Registry)?;
                    read.answer(near);
                }
                Step::Click(read) => {
                    let click = match read.customer() {
                        Some(customer) => self.clicks.customer_click_evidence(customer, read.id()),
                        None => self.clicks.click_evidence(read.id()),
                    };
                    read.answer(click.map_err(AttributeError::Clicks)?);
                }
                Step::Find(read) => {
                    let click = self
                        .clicks
                        .find_evidence(read.query())
                        .map_err(AttributeError::Clicks)?;
                    read.answer(click);
                }
                Step::Binding(read) => {
                    let binding = self
                        .bindings
                        .binding_before(read.customer(), read.before())
                        .map_err(AttributeError::Bindings)?;
                    read.answer(binding);
                }
                Step::Record(write) => {
                    // Without claims, the plain insert-if-absent.
                    if write.claims().is_empty() {
                        let earlier = self
                            .ledger
                            .record(write.decision())
                            .map_err(AttributeError::Ledger)?;
                        write.answer(earlier);
                    } else {
                        let recording = self
                            .ledger
                            .record_claiming(write.decision(), write.claims())
                            .map_err(AttributeError::Ledger)?;
                        write.answer(recording);
                    }
                }
                Step::Bind(write) => {
                    self.bindings
                        .bind(write.binding())
                        .map_err(AttributeError::Bindings)?;
                    write.answer();
                }
                Step::Done(done) => {
                    let recorded = done.recorded().unwrap_or(Recorded::Now);
                    let decision = done.into_decision();
                    #[cfg(feature = "tracing")]
                    if attribution.reads_ledger() {
                        crate::trace::decided(&decision);
                    }
                    return Ok(Attributed { decision, recorded });
                }
            }
        }
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
    ///         Ok(if i == 2 { order.with_code(CouponCode::parse("mkbhd10")?) } else { order })
    ///     })
    ///     .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    ///
    /// let credited: Vec<Option<AffiliateId>> = attributor
    ///     .attribute_all(&page)
    ///     .map(|attributed| attributed.map(|a| a.decision.primary()))
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
    /// without writing a binding: a dry run, for previews and reports. It
    /// reads no claims either, so it never finds a duplicate
    /// ([`Policy::with_once_per_customer`](crate::Policy::with_once_per_customer)):
    /// it says what the evidence would credit.
    ///
    /// # Errors
    ///
    /// [`AttributeError`] naming the store that failed.
    pub fn preview(&self, conversion: &Conversion) -> Result<Decision, AttributorError<R, C, B, L>> {
        let policy = self.policies.for_event(&conversion.event);
        self.drive(&mut Attribution::preview(conversion, policy))
            .map(Attributed::into_decision)
    }

    /// Reads the evidence for `conversion` under `policy`, without deciding
    /// or writing anything: what [`Attribution`] asks for, namely
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
        let mut attribution = Attribution::preview(conversion, policy);
        self.drive(&mut attribution)?;
        Ok(attribution.into_evidence())
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
    type Item = Result<Attributed, AttributorError<R, C, B, L>>;

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

/// [`Attributor::attribute`](crate::Attributor::attribute) failed because a
/// store failed. Nothing was credited twice and nothing is lost: retrying the
/// call gives the decision an unfailing run would have given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError<R, C, B, L> {
    /// The code registry failed.
    #[error("code registry failed: {0}")]
    Registry(#[source] R),
    /// The click store failed.
    #[error("click store failed: {0}")]
    Clicks(#[source] C),
    /// The binding store failed.
    #[error("binding store failed: {0}")]
    Bindings(#[source] B),
    /// The ledger failed.
    #[error("ledger failed: {0}")]
    Ledger(#[source] L),
}
