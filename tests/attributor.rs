//! The Attributor under failing stores: nothing credited twice, nothing lost.

mod common;

use std::cell::Cell;

use attributor::{
    AffiliateId, Attributor, Binding, BindingLifetime, BindingStore, Click, ClickId, ClickQuery, ClickStore,
    CodeAssignment, CodeLookup, CodeRegistry, Conversion, ConversionId, CouponCode, CreditMode, CustomerId,
    Decision, EventKind, EventKinds, Ledger, MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry,
    MemoryLedger, NearCodes, Policy, PolicySet, Recorded, Recording, UniqueKey,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::now;

/// A store failure, injected.
#[derive(Debug, thiserror::Error)]
#[error("injected failure")]
struct Injected;

/// A tiny seeded generator (xorshift), so runs repeat.
struct Dice(Cell<u64>);

impl Dice {
    fn roll(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x
    }

    /// True with probability `p` percent.
    fn fails(&self, p: u64) -> bool {
        self.roll() % 100 < p
    }
}

/// Wraps a store and fails each call with some probability, before or after
/// doing the work.
struct Faulty<'a, S> {
    inner: S,
    dice: &'a Dice,
    percent: u64,
}

impl<S> Faulty<'_, S> {
    fn before(&self) -> Result<(), Injected> {
        if self.dice.fails(self.percent) {
            Err(Injected)
        } else {
            Ok(())
        }
    }
}

impl<S: CodeRegistry> CodeRegistry for Faulty<'_, S> {
    type Error = Injected;
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Injected> {
        self.before()?;
        self.inner.lookup(code, at).map_err(|_| Injected)
    }
    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, Injected> {
        self.before()?;
        self.inner.near(code, at).map_err(|_| Injected)
    }
    // A hint rolls no dice, so that worlds with and without hints fail alike.
    fn prefetch(&self, conversions: &[Conversion]) {
        self.inner.prefetch(conversions);
    }
}

impl<S: ClickStore> ClickStore for Faulty<'_, S> {
    type Error = Injected;
    fn click(&self, id: &ClickId) -> Result<Option<Click>, Injected> {
        self.before()?;
        self.inner.click(id).map_err(|_| Injected)
    }
    fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Injected> {
        self.before()?;
        self.inner.find(query).map_err(|_| Injected)
    }
    fn prefetch(&self, conversions: &[Conversion]) {
        self.inner.prefetch(conversions);
    }
}

impl<S: BindingStore> BindingStore for Faulty<'_, S> {
    type Error = Injected;
    fn binding_before(&self, customer: &CustomerId, at: DateTime<Utc>) -> Result<Option<Binding>, Injected> {
        self.before()?;
        self.inner.binding_before(customer, at).map_err(|_| Injected)
    }
    fn bind(&self, binding: &Binding) -> Result<(), Injected> {
        self.before()?;
        self.inner.bind(binding).map_err(|_| Injected)?;
        // Fail after the write, too: the caller cannot tell whether it landed.
        self.before()
    }
    fn prefetch(&self, conversions: &[Conversion]) {
        self.inner.prefetch(conversions);
    }
}

impl<S: Ledger> Ledger for Faulty<'_, S> {
    type Error = Injected;
    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Injected> {
        self.before()?;
        self.inner.get(id).map_err(|_| Injected)
    }
    fn record(&self, decision: &Decision) -> Result<Option<Decision>, Injected> {
        self.before()?;
        let earlier = self.inner.record(decision).map_err(|_| Injected)?;
        self.before()?;
        Ok(earlier)
    }
    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Injected> {
        self.before()?;
        self.inner.holder(key).map_err(|_| Injected)
    }
    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, Injected> {
        self.before()?;
        let recording = self
            .inner
            .record_claiming(decision, claims)
            .map_err(|_| Injected)?;
        self.before()?;
        Ok(recording)
    }
    fn prefetch(&self, conversions: &[Conversion]) {
        self.inner.prefetch(conversions);
    }
}

/// Memory stores that fail `percent` of their calls as `dice` say.
fn faulty_attributor<'a>(
    clicks: &[Click],
    dice: &'a Dice,
    percent: u64,
) -> Attributor<
    Faulty<'a, MemoryCodeRegistry>,
    Faulty<'a, MemoryClickStore>,
    Faulty<'a, MemoryBindingStore>,
    Faulty<'a, MemoryLedger>,
> {
    Attributor::new(
        Faulty {
            inner: registry(),
            dice,
            percent,
        },
        Faulty {
            inner: clicks_store(clicks),
            dice,
            percent,
        },
        Faulty {
            inner: MemoryBindingStore::new(),
            dice,
            percent,
        },
        Faulty {
            inner: MemoryLedger::new(),
            dice,
            percent,
        },
        policies(),
    )
}

const AFFILIATES: u64 = 12;
const CUSTOMERS: u64 = 150;

fn registry() -> MemoryCodeRegistry {
    let registry = MemoryCodeRegistry::new();
    for a in 0..AFFILIATES {
        let mode = [CreditMode::Standard, CreditMode::Always, CreditMode::IfInvolved][(a % 3) as usize];
        let code = CouponCode::parse(&format!("AFF{a}X")).unwrap();
        registry
            .insert(
                CodeAssignment::new(code, AffiliateId::new(a), now() - TimeDelta::days(400)).with_mode(mode),
            )
            .unwrap();
    }
    registry
}

/// Clicks and conversions, in time order, from a seed.
fn traffic(seed: u64) -> (Vec<Click>, Vec<Conversion>) {
    let dice = Dice(Cell::new(seed));
    let mut clicks = Vec::new();
    let mut conversions = Vec::new();
    let kinds = [
        EventKind::Registration,
        EventKind::FirstDeposit,
        EventKind::Deposit,
        EventKind::Purchase,
    ];
    for i in 0..3_000u64 {
        let at = now() - TimeDelta::days(200) + TimeDelta::minutes(i as i64 * 90);
        let customer: CustomerId = format!("cust{}", dice.roll() % CUSTOMERS).parse().unwrap();
        let mut conversion = Conversion::new(
            format!("conv{i}").parse().unwrap(),
            kinds[(dice.roll() % 4) as usize],
            at,
        )
        .with_customer(customer);
        if dice.fails(60) {
            let id: ClickId = format!("click{i}").parse().unwrap();
            let ago = TimeDelta::minutes((dice.roll() % (60 * 24 * 40)) as i64);
            clicks.push(
                Click::new(id, AffiliateId::new(dice.roll() % AFFILIATES), at - ago).with_customer(customer),
            );
            if dice.fails(50) {
                conversion = conversion.with_click(id);
            }
        }
        for _ in 0..dice.roll() % 3 {
            let code = format!("AFF{}X", dice.roll() % (AFFILIATES + 2));
            conversion = conversion.with_code(CouponCode::parse(&code).unwrap());
        }
        conversions.push(conversion);
    }
    (clicks, conversions)
}

fn policies() -> PolicySet {
    PolicySet::new(
        Policy::coupon_first()
            .with_bind_on(EventKinds::REGISTRATION | EventKinds::FIRST_DEPOSIT)
            .with_binding_lifetime(BindingLifetime::Days(60))
            .with_coupon_breaks_binding(true),
    )
    .with(
        EventKind::Deposit,
        Policy::split(3_000).unwrap().with_bind_on(EventKinds::DEPOSIT),
    )
    .with(EventKind::Purchase, Policy::click_first())
}

fn clicks_store(clicks: &[Click]) -> MemoryClickStore {
    let store = MemoryClickStore::new();
    for c in clicks {
        store.insert(*c).unwrap();
    }
    store
}

#[test]
fn failing_stores_never_credit_twice_nor_lose_a_conversion() {
    let (clicks, conversions) = traffic(0x5eed);

    let clean = Attributor::new(
        registry(),
        clicks_store(&clicks),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        policies(),
    );
    for c in &conversions {
        clean.attribute(c).unwrap();
    }

    let dice = Dice(Cell::new(0xfa17));
    let percent = 10;
    let faulty = faulty_attributor(&clicks, &dice, percent);
    let mut failures = 0;
    for c in &conversions {
        // A postback sender retries until it is acknowledged.
        loop {
            match faulty.attribute(c) {
                Ok(attributed) => {
                    assert_eq!(attributed.decision, clean.ledger().get(&c.id).unwrap().unwrap());
                    break;
                }
                Err(_) => failures += 1,
            }
        }
        // And sometimes retries an acknowledged one, too.
        if dice.fails(5) {
            while faulty.attribute(c).is_err() {
                failures += 1;
            }
        }
    }
    assert!(
        failures > 1_000,
        "the test must inject many failures, injected {failures}"
    );

    let clean_ledger = clean.ledger().decisions();
    let faulty_ledger = faulty.ledger().inner.decisions();
    assert_eq!(clean_ledger.len(), conversions.len());
    assert_eq!(clean_ledger, faulty_ledger);
    // And the binding store holds what the ledger's decisions name.
    for customer in conversions.iter().filter_map(|c| c.customer.as_ref()) {
        assert_eq!(
            clean.bindings().history(customer),
            faulty.bindings().inner.history(customer),
            "{customer}"
        );
    }
    // The traffic exercises every method and bindings.
    for method in [
        attributor::Method::Binding,
        attributor::Method::Coupon,
        attributor::Method::Click,
    ] {
        assert!(
            clean_ledger
                .iter()
                .any(|d| d.credits.iter().any(|c| c.method == method)),
            "{method}"
        );
    }
    assert!(clean_ledger.iter().any(|d| d.credits.len() == 2));
    assert!(clean_ledger.iter().any(|d| d.binding.is_some()));
}

#[test]
fn a_recorded_decision_is_returned_even_after_the_stores_change() {
    let registry = MemoryCodeRegistry::new();
    let code = CouponCode::parse("STABLE").unwrap();
    registry
        .assign(code, AffiliateId::new(1), now() - TimeDelta::days(10))
        .unwrap();
    let attributor = Attributor::new(
        registry,
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        MemoryLedger::new(),
        Policy::coupon_first(),
    );
    let order = Conversion::new("o1".parse().unwrap(), EventKind::Purchase, now()).with_code(code);
    let first = attributor.attribute(&order).unwrap();
    attributor
        .registry()
        .revoke(code, now() - TimeDelta::days(1))
        .unwrap();
    assert_eq!(attributor.attribute(&order).unwrap().decision, first.decision);
    // A new conversion sees the change.
    let next = Conversion::new("o2".parse().unwrap(), EventKind::Purchase, now()).with_code(code);
    assert!(attributor.attribute(&next).unwrap().decision.credits.is_empty());
}

#[test]
fn a_page_with_failing_stores_reports_each_failure_in_its_place_and_goes_on() {
    let (clicks, conversions) = traffic(0xba7c);
    let page = &conversions[..500];
    // Two faulty worlds that fail on the same calls: one attributed a call
    // at a time, the other a page at once.
    let (dice_one, dice_all) = (Dice(Cell::new(0xfa17)), Dice(Cell::new(0xfa17)));
    let (one_by_one, all_at_once) = (
        faulty_attributor(&clicks, &dice_one, 5),
        faulty_attributor(&clicks, &dice_all, 5),
    );

    let expected: Vec<Result<Decision, String>> = page
        .iter()
        .map(|c| {
            one_by_one
                .attribute(c)
                .map(|a| a.decision)
                .map_err(|e| e.to_string())
        })
        .collect();
    let got: Vec<Result<Decision, String>> = all_at_once
        .attribute_all(page)
        .map(|r| r.map(|a| a.decision).map_err(|e| e.to_string()))
        .collect();

    let failed = got.iter().filter(|r| r.is_err()).count();
    assert!(failed > 20, "the test must inject failures, injected {failed}");
    // A failure stops nothing: the next conversion is attributed.
    assert!(got.windows(2).any(|w| w[0].is_err() && w[1].is_ok()));
    assert_eq!(got, expected);
    assert_eq!(
        all_at_once.ledger().inner.decisions(),
        one_by_one.ledger().inner.decisions()
    );
}

/// A store that writes down every call it gets, then passes it on.
struct Recorder<'a, S> {
    inner: S,
    log: &'a std::sync::Mutex<Vec<String>>,
}

impl<S> Recorder<'_, S> {
    fn note(&self, event: String) {
        self.log.lock().unwrap().push(event);
    }
}

fn ids(conversions: &[Conversion]) -> String {
    conversions
        .iter()
        .map(|c| c.id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl<S: CodeRegistry> CodeRegistry for Recorder<'_, S> {
    type Error = S::Error;
    fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, S::Error> {
        self.note(format!("registry lookup {code}"));
        self.inner.lookup(code, at)
    }
    fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<NearCodes, S::Error> {
        self.note(format!("registry near {code}"));
        self.inner.near(code, at)
    }
    fn prefetch(&self, conversions: &[Conversion]) {
        self.note(format!("registry prefetch {}", ids(conversions)));
        self.inner.prefetch(conversions);
    }
}

impl<S: Ledger> Ledger for Recorder<'_, S> {
    type Error = S::Error;
    fn get(&self, id: &ConversionId) -> Result<Option<Decision>, S::Error> {
        self.note(format!("ledger get {id}"));
        self.inner.get(id)
    }
    fn record(&self, decision: &Decision) -> Result<Option<Decision>, S::Error> {
        self.note(format!("ledger record {}", decision.conversion));
        self.inner.record(decision)
    }
    fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, S::Error> {
        self.note(format!("ledger holder {key:?}"));
        self.inner.holder(key)
    }
    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, S::Error> {
        self.note(format!(
            "ledger record {} claiming {claims:?}",
            decision.conversion
        ));
        self.inner.record_claiming(decision, claims)
    }
    fn prefetch(&self, conversions: &[Conversion]) {
        self.note(format!("ledger prefetch {}", ids(conversions)));
        self.inner.prefetch(conversions);
    }
}

#[test]
fn a_page_tells_the_stores_each_batch_of_16_before_attributing_it() {
    let log = std::sync::Mutex::new(Vec::new());
    // Behind an `Arc` and a `Box`, so that the hint must pass through them.
    let attributor = Attributor::new(
        std::sync::Arc::new(Recorder {
            inner: registry(),
            log: &log,
        }),
        MemoryClickStore::new(),
        MemoryBindingStore::new(),
        Box::new(Recorder {
            inner: MemoryLedger::new(),
            log: &log,
        }),
        Policy::coupon_first(),
    );
    let page: Vec<Conversion> = (0..40)
        .map(|i| {
            let code = CouponCode::parse(&format!("AFF{}X", i % AFFILIATES)).unwrap();
            Conversion::new(format!("o{i}").parse().unwrap(), EventKind::Purchase, now()).with_code(code)
        })
        .collect();

    let mut decisions = attributor.attribute_all(&page);
    assert_eq!(decisions.len(), 40);
    decisions.next().unwrap().unwrap();
    assert_eq!(decisions.len(), 39);
    assert_eq!(decisions.filter(Result::is_ok).count(), 39);

    let mut expected = Vec::new();
    for batch in page.chunks(16) {
        expected.push(format!("ledger prefetch {}", ids(batch)));
        expected.push(format!("registry prefetch {}", ids(batch)));
        for c in batch {
            expected.push(format!("ledger get {}", c.id));
            expected.push(format!("registry lookup {}", c.codes[0]));
            expected.push(format!("ledger record {}", c.id));
        }
    }
    assert_eq!(*log.lock().unwrap(), expected);
}

/// A ledger read by a call that raced another: its lookup ran before the
/// other call recorded, so it misses, and its `record` finds the winner.
struct LostTheRace<'a>(&'a MemoryLedger);

impl Ledger for LostTheRace<'_> {
    type Error = attributor::LedgerError;
    fn get(&self, _: &ConversionId) -> Result<Option<Decision>, Self::Error> {
        Ok(None)
    }
    fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
        self.0.record(decision)
    }
    fn holder(&self, _: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
        Ok(None)
    }
    fn record_claiming(&self, decision: &Decision, claims: &[UniqueKey]) -> Result<Recording, Self::Error> {
        self.0.record_claiming(decision, claims)
    }
}

/// A binding store that fails to write one binding, once.
struct FailsOnce<'a> {
    inner: &'a MemoryBindingStore,
    binding: Cell<Option<Binding>>,
}

impl BindingStore for FailsOnce<'_> {
    type Error = Injected;
    fn binding_before(&self, customer: &CustomerId, at: DateTime<Utc>) -> Result<Option<Binding>, Injected> {
        self.inner.binding_before(customer, at).map_err(|_| Injected)
    }
    fn bind(&self, binding: &Binding) -> Result<(), Injected> {
        if self.binding.get().as_ref() == Some(binding) {
            self.binding.set(None);
            return Err(Injected);
        }
        self.inner.bind(binding).map_err(|_| Injected)
    }
}

fn customer() -> CustomerId {
    "shopper".parse().unwrap()
}

/// Memory stores for two calls that race over one order, under a policy
/// that binds the customer to a purchase's clicker.
struct Race {
    registry: MemoryCodeRegistry,
    clicks: MemoryClickStore,
    bindings: MemoryBindingStore,
    ledger: MemoryLedger,
    policy: Policy,
    order: Conversion,
}

impl Race {
    fn new() -> Self {
        Self {
            registry: MemoryCodeRegistry::new(),
            clicks: MemoryClickStore::new(),
            bindings: MemoryBindingStore::new(),
            ledger: MemoryLedger::new(),
            policy: Policy::click_first().with_bind_on(EventKinds::PURCHASE),
            order: Conversion::new("ORD-1".parse().unwrap(), EventKind::Purchase, now())
                .with_customer(customer()),
        }
    }

    /// A click of the customer's by `affiliate`, `ago` before the order.
    fn click(&self, id: &str, affiliate: u64, ago: TimeDelta) {
        let click = Click::new(id.parse().unwrap(), AffiliateId::new(affiliate), now() - ago);
        self.clicks.insert(click.with_customer(customer())).unwrap();
    }

    /// The order attributed with these binding store and ledger.
    fn attribute<B: BindingStore, L: Ledger>(&self, bindings: B, ledger: L) -> Result<Decision, ()> {
        Attributor::new(&self.registry, &self.clicks, bindings, ledger, self.policy)
            .attribute(&self.order)
            .map(|a| a.decision)
            .map_err(|_| ())
    }
}

#[test]
fn a_call_that_loses_the_race_to_a_decision_without_binding_binds_nobody() {
    let race = Race::new();
    // The first call decides before the click reaches the store: nobody.
    let winner = race.attribute(&race.bindings, &race.ledger).unwrap();
    assert!(winner.binding.is_none());
    // The click lands; a retry running beside the first call read the
    // ledger before the first call recorded, and sees the click.
    race.click("k1", 9, TimeDelta::hours(1));
    let loser = race.attribute(&race.bindings, LostTheRace(&race.ledger)).unwrap();

    assert_eq!(loser, winner, "the first decision recorded stands");
    assert_eq!(
        race.bindings.history(&customer()),
        [],
        "no binding the ledger does not name"
    );
}

#[test]
fn a_binding_lost_to_a_failure_after_losing_the_race_is_written_by_the_retry() {
    let race = Race::new();
    race.click("k5", 5, TimeDelta::hours(2));
    let winner = race.attribute(&race.bindings, &race.ledger).unwrap();
    assert_eq!(winner.binding.map(|b| b.affiliate), Some(AffiliateId::new(5)));
    // A racing call sees a later click and decides for affiliate 9; the
    // binding store fails to write the first call's binding.
    race.click("k9", 9, TimeDelta::hours(1));
    let flaky = FailsOnce {
        inner: &race.bindings,
        binding: Cell::new(winner.binding),
    };
    assert!(race.attribute(&flaky, LostTheRace(&race.ledger)).is_err());
    // Its sender retries, and this time reads the ledger.
    let retry = race.attribute(&flaky, &race.ledger).unwrap();

    assert_eq!(retry, winner);
    let bound = race
        .bindings
        .binding_before(&customer(), now() + TimeDelta::days(1))
        .unwrap();
    assert_eq!(
        bound.map(|b| b.affiliate),
        Some(AffiliateId::new(5)),
        "the store agrees with the ledger"
    );
}

#[test]
fn gather_reads_the_evidence_a_preview_decides_from() {
    use attributor::resolve;

    let world = common::World::new(Policy::coupon_first());
    world.code("MKBHD10", common::A);
    world.assignment(
        CodeAssignment::new(common::code("CREATOR"), common::B, now() - TimeDelta::days(90))
            .with_mode(CreditMode::IfInvolved),
    );
    let owner = world.click(common::B, "ann", TimeDelta::days(9));
    let last = world.click(common::C, "ann", TimeDelta::days(1));
    let order = common::purchase("o1", "ann")
        .with_code(common::code("mkbhd10"))
        .with_code(common::code("creator"));
    let attributor = &world.attributor;
    let policy = Policy::coupon_first();
    let evidence = attributor.gather(&order, &policy).unwrap();
    assert_eq!(evidence.codes.len(), 2);
    let mut clicks: Vec<ClickId> = evidence.clicks.iter().map(|c| c.id).collect();
    clicks.sort();
    let mut want = vec![owner, last];
    want.sort();
    assert_eq!(clicks, want, "the last click, and the IfInvolved owner's own");
    assert_eq!(
        resolve(&order, &evidence, &policy),
        attributor.preview(&order).unwrap()
    );
}

#[test]
fn a_retried_postback_says_it_was_recorded_before_so_it_is_acted_on_once() {
    let world = common::World::new(Policy::coupon_first());
    world.code("MKBHD10", common::A);
    let order = common::purchase("ORD-1", "shopper").with_code(common::code("MKBHD10"));
    let first = world.attributor.attribute(&order).unwrap();
    assert_eq!(first.recorded, Recorded::Now);
    assert!(first.is_new());
    let retry = world.attributor.attribute(&order).unwrap();
    assert_eq!(retry.recorded, Recorded::Before);
    assert_eq!(retry.decision, first.decision);

    // In a page too: the second copy of ORD-2 was recorded by the first.
    let other = common::purchase("ORD-2", "browser");
    let page = [other.clone(), order, other];
    let recorded: Vec<Recorded> = world
        .attributor
        .attribute_all(&page)
        .map(|a| a.unwrap().recorded)
        .collect();
    assert_eq!(recorded, [Recorded::Now, Recorded::Before, Recorded::Before]);
    // A preview records nothing, so the next call still records.
    let third = common::purchase("ORD-3", "shopper");
    world.attributor.preview(&third).unwrap();
    assert!(world.attributor.attribute(&third).unwrap().is_new());
}

#[test]
fn of_threads_racing_one_postback_exactly_one_is_told_it_recorded_it() {
    let world = common::World::new(Policy::coupon_first());
    world.code("MKBHD10", common::A);
    let order = common::purchase("ORD-1", "shopper").with_code(common::code("MKBHD10"));
    let start = std::sync::Barrier::new(8);
    let answers: Vec<attributor::Attributed> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    world.attributor.attribute(&order).unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let new = answers.iter().filter(|a| a.is_new()).count();
    assert_eq!(new, 1, "{answers:?}");
    assert!(answers.iter().all(|a| a.decision == answers[0].decision));
}

#[test]
fn a_call_that_fails_after_recording_leaves_its_retry_to_say_before_and_bind() {
    let race = Race::new();
    race.click("k5", 5, TimeDelta::hours(2));
    let expected = race
        .attribute(MemoryBindingStore::new(), MemoryLedger::new())
        .unwrap();
    let binding = expected.binding;
    assert!(binding.is_some());
    // The record succeeds, then the binding's write fails: an error.
    let flaky = FailsOnce {
        inner: &race.bindings,
        binding: Cell::new(binding),
    };
    let attributor = Attributor::new(&race.registry, &race.clicks, flaky, &race.ledger, race.policy);
    assert!(attributor.attribute(&race.order).is_err());
    // The retry finds the decision recorded, says so, and writes the binding.
    let retry = attributor.attribute(&race.order).unwrap();
    assert_eq!(retry.recorded, Recorded::Before);
    assert_eq!(retry.decision, expected);
    assert_eq!(race.bindings.history(&customer()), [binding.unwrap()]);
}
