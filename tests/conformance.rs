//! The memory stores against the contracts any backend must meet.

use attributor::{MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, conformance};

#[test]
fn memory_code_registry_conforms() {
    conformance::check_code_registry(|assignments| {
        let registry = MemoryCodeRegistry::new();
        for a in assignments {
            registry.insert(*a).unwrap();
        }
        registry
    })
    .unwrap();
}

#[test]
fn memory_click_store_conforms() {
    conformance::check_click_store(|clicks| {
        let store = MemoryClickStore::new();
        for c in clicks {
            store.insert(*c).unwrap();
        }
        store
    })
    .unwrap();
}

#[test]
fn memory_binding_store_conforms() {
    conformance::check_binding_store(MemoryBindingStore::new).unwrap();
}

#[test]
fn memory_ledger_conforms() {
    conformance::check_ledger(MemoryLedger::new).unwrap();
}

#[test]
fn a_ledger_that_overwrites_is_caught() {
    use attributor::{ConversionId, Decision, Ledger, Recording, UniqueKey};
    use std::sync::Mutex;

    /// Replaces on every record: breaks insert-if-absent.
    #[derive(Default)]
    struct Overwriting(Mutex<Vec<Decision>>);
    impl Ledger for Overwriting {
        type Error = std::convert::Infallible;
        fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|d| d.conversion == *id)
                .cloned())
        }
        fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
            self.0.lock().unwrap().push(decision.clone());
            Ok(None)
        }
        fn holder(&self, _: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
            Ok(None)
        }
        fn record_claiming(&self, decision: &Decision, _: &[UniqueKey]) -> Result<Recording, Self::Error> {
            self.record(decision).map(Recording::from)
        }
    }
    let violation = conformance::check_ledger(Overwriting::default).unwrap_err();
    assert_eq!(
        violation.check,
        "record returns the earlier decision when present"
    );
}

#[test]
fn a_registry_with_an_inclusive_end_is_caught() {
    use attributor::{CodeAssignment, CodeLookup, CodeRegistry, CouponCode};
    use chrono::{DateTime, Utc};

    struct OffByOne(Vec<CodeAssignment>);
    impl CodeRegistry for OffByOne {
        type Error = std::convert::Infallible;
        fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
            let mut history: Vec<_> = self.0.iter().filter(|a| a.code == *code).copied().collect();
            history.sort_by_key(|a| a.valid_from);
            for a in &history {
                if a.valid_from <= at && a.valid_until.is_none_or(|end| at <= end) {
                    return Ok(CodeLookup::Active(*a));
                }
            }
            Ok(CodeLookup::from_history(&history, at))
        }
        fn near(&self, _: &CouponCode, _: DateTime<Utc>) -> Result<attributor::NearCodes, Self::Error> {
            Ok(attributor::NearCodes::new())
        }
    }
    let violation = conformance::check_code_registry(|a| OffByOne(a.to_vec())).unwrap_err();
    assert_eq!(violation.check, "valid_until is exclusive");
}

#[test]
fn a_registry_that_forgets_credit_modes_and_labels_is_caught() {
    use attributor::{CodeAssignment, CodeLookup, CodeRegistry, CouponCode, CreditMode};
    use chrono::{DateTime, Utc};

    /// Answers every active code as a standard one without a label.
    struct Forgetful(MemoryCodeRegistry);
    impl CodeRegistry for Forgetful {
        type Error = <MemoryCodeRegistry as CodeRegistry>::Error;
        fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
            Ok(match self.0.lookup(code, at)? {
                CodeLookup::Active(a) => CodeLookup::Active(CodeAssignment {
                    mode: CreditMode::Standard,
                    label: None,
                    ..a
                }),
                other => other,
            })
        }
        fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<attributor::NearCodes, Self::Error> {
            self.0.near(code, at)
        }
    }
    let violation = conformance::check_code_registry(|assignments| {
        let registry = MemoryCodeRegistry::new();
        for a in assignments {
            registry.insert(*a).unwrap();
        }
        Forgetful(registry)
    })
    .unwrap_err();
    assert_eq!(violation.check, "credit mode and label come back");
}

#[test]
fn a_registry_that_reports_any_earlier_revocation_is_caught() {
    use attributor::{CodeLookup, CodeRegistry, CouponCode};
    use chrono::{DateTime, Utc};

    /// Says "revoked" when any interval started before `at` was revoked,
    /// not only the latest.
    struct AnyRevoked(MemoryCodeRegistry);
    impl CodeRegistry for AnyRevoked {
        type Error = <MemoryCodeRegistry as CodeRegistry>::Error;
        fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
            Ok(match self.0.lookup(code, at)? {
                CodeLookup::Expired(a) => {
                    let history = self.0.history(code);
                    let revoked = history.iter().find(|h| h.revoked && h.valid_from <= at);
                    revoked.map_or(CodeLookup::Expired(a), |r| CodeLookup::Revoked(*r))
                }
                other => other,
            })
        }
        fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<attributor::NearCodes, Self::Error> {
            self.0.near(code, at)
        }
    }
    let violation = conformance::check_code_registry(|assignments| {
        let registry = MemoryCodeRegistry::new();
        for a in assignments {
            registry.insert(*a).unwrap();
        }
        AnyRevoked(registry)
    })
    .unwrap_err();
    assert_eq!(
        violation.check,
        "expired after a revoked interval and a later one"
    );
}

#[test]
fn a_click_store_that_rounds_the_start_of_a_range_down_to_the_second_is_caught() {
    use attributor::{Click, ClickId, ClickQuery, ClickStore, MemoryClickStore};
    use chrono::SubsecRound;

    /// Queries from the start of `from`'s second, as a SQL backend
    /// comparing against `date_trunc('second', $from)` would.
    struct FloorsFrom(MemoryClickStore);
    impl ClickStore for FloorsFrom {
        type Error = <MemoryClickStore as ClickStore>::Error;
        fn click(&self, id: &ClickId) -> Result<Option<Click>, Self::Error> {
            self.0.click(id)
        }
        fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Self::Error> {
            self.0.find(&ClickQuery {
                from: query.from.trunc_subsecs(0),
                ..*query
            })
        }
    }
    let violation = conformance::check_click_store(|clicks| {
        let store = MemoryClickStore::new();
        for c in clicks {
            store.insert(*c).unwrap();
        }
        FloorsFrom(store)
    })
    .unwrap_err();
    assert_eq!(violation.check, "from is exact within a second");
}

#[test]
fn a_click_store_that_drops_sub_ids_is_caught() {
    use attributor::{Click, ClickId, ClickQuery, ClickStore, SubIds};

    /// Returns clicks without their sub ids.
    struct Trimmed(MemoryClickStore);
    impl ClickStore for Trimmed {
        type Error = <MemoryClickStore as ClickStore>::Error;
        fn click(&self, id: &ClickId) -> Result<Option<Click>, Self::Error> {
            Ok(self.0.click(id)?.map(|c| c.with_sub_ids(SubIds::default())))
        }
        fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Self::Error> {
            Ok(self.0.find(query)?.map(|c| c.with_sub_ids(SubIds::default())))
        }
    }
    let violation = conformance::check_click_store(|clicks| {
        let store = MemoryClickStore::new();
        for c in clicks {
            store.insert(*c).unwrap();
        }
        Trimmed(store)
    })
    .unwrap_err();
    assert_eq!(
        violation.check,
        "a click by id comes back whole, with its sub ids"
    );
}

#[test]
fn a_binding_store_that_hides_expired_bindings_is_caught() {
    use attributor::{Binding, BindingStore, CustomerId};
    use chrono::{DateTime, Utc};

    /// Answers only bindings still live at the instant asked about.
    #[derive(Default)]
    struct LiveOnly(MemoryBindingStore);
    impl BindingStore for LiveOnly {
        type Error = <MemoryBindingStore as BindingStore>::Error;
        fn binding_before(
            &self,
            customer: &CustomerId,
            at: DateTime<Utc>,
        ) -> Result<Option<Binding>, Self::Error> {
            Ok(self.0.binding_before(customer, at)?.filter(|b| b.is_live_at(at)))
        }
        fn bind(&self, binding: &Binding) -> Result<(), Self::Error> {
            self.0.bind(binding)
        }
    }
    let violation = conformance::check_binding_store(LiveOnly::default).unwrap_err();
    assert_eq!(
        violation.check,
        "an expired binding is still the latest, with its expiry and event"
    );
}

#[test]
fn a_ledger_that_keeps_only_the_outcome_is_caught() {
    use attributor::{ConversionId, Decision, Ledger, Recording, UniqueKey};

    /// Keeps each decision without its evidence.
    #[derive(Default)]
    struct Summary(MemoryLedger);
    impl Ledger for Summary {
        type Error = <MemoryLedger as Ledger>::Error;
        fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error> {
            self.0.get(id)
        }
        fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
            let mut summary = decision.clone();
            summary.considered.clear();
            self.0.record(&summary)
        }
        fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
            self.0.holder(key)
        }
        fn record_claiming(
            &self,
            decision: &Decision,
            claims: &[UniqueKey],
        ) -> Result<Recording, Self::Error> {
            self.0.record_claiming(decision, claims)
        }
    }
    let violation = conformance::check_ledger(Summary::default).unwrap_err();
    assert_eq!(
        violation.check,
        "a decision comes back whole, with its credits, evidence and binding"
    );
}

/// How a SQL backend under a case- and punctuation-blind collation would
/// order ids: `a-9` and `a1` before `B-7`.
fn collated(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

mod listed {
    //! Backends that keep a plain list and scan it, with a tie-break rule
    //! of their own, for the conformance suite to judge.

    use std::{convert::Infallible, sync::Mutex};

    use attributor::{Binding, BindingStore, Click, ClickId, ClickPick, ClickQuery, ClickStore, CustomerId};
    use chrono::{DateTime, Utc};

    /// Clicks in insertion order; `(self.1)(c, best, pick)` says whether `c`
    /// is a better answer than `best`.
    pub struct Clicks<F>(pub Vec<Click>, pub F);

    impl<F: Fn(&Click, &Click, ClickPick) -> bool> ClickStore for Clicks<F> {
        type Error = Infallible;
        fn click(&self, id: &ClickId) -> Result<Option<Click>, Infallible> {
            Ok(self.0.iter().find(|c| c.id == *id).copied())
        }
        fn find(&self, query: &ClickQuery) -> Result<Option<Click>, Infallible> {
            let mut best: Option<&Click> = None;
            for c in self.0.iter().filter(|c| {
                c.customer == Some(query.customer)
                    && (query.from..=query.to).contains(&c.clicked_at)
                    && query.affiliate.is_none_or(|a| a == c.affiliate)
                    && query.exclude != Some(c.affiliate)
            }) {
                if best.is_none_or(|b| (self.1)(c, b, query.pick)) {
                    best = Some(c);
                }
            }
            Ok(best.copied())
        }
    }

    /// Bindings in write order; `(self.1)(b, best)` says whether `b` is a
    /// later binding than `best`.
    pub struct Bindings<F>(pub Mutex<Vec<Binding>>, pub F);

    impl<F: Fn(&Binding, &Binding) -> bool> BindingStore for Bindings<F> {
        type Error = Infallible;
        fn binding_before(
            &self,
            customer: &CustomerId,
            at: DateTime<Utc>,
        ) -> Result<Option<Binding>, Infallible> {
            let all = self.0.lock().unwrap();
            let mut best: Option<&Binding> = None;
            for b in all.iter().filter(|b| b.customer == *customer && b.bound_at < at) {
                if best.is_none_or(|x| (self.1)(b, x)) {
                    best = Some(b);
                }
            }
            Ok(best.copied())
        }
        fn bind(&self, binding: &Binding) -> Result<(), Infallible> {
            let mut all = self.0.lock().unwrap();
            all.retain(|b| !(b.customer == binding.customer && b.conversion == binding.conversion));
            all.push(*binding);
            Ok(())
        }
    }
}

#[test]
fn a_click_store_that_breaks_ties_by_a_collation_is_caught() {
    use attributor::ClickPick;
    use std::cmp::Reverse;

    // The earliest or latest time, then the smallest collated id.
    let by_collation = |c: &attributor::Click, best: &attributor::Click, pick| {
        let id = |c: &attributor::Click| collated(c.id.as_str());
        match pick {
            ClickPick::First => (c.clicked_at, id(c)) < (best.clicked_at, id(best)),
            ClickPick::Last => (c.clicked_at, Reverse(id(c))) > (best.clicked_at, Reverse(id(best))),
        }
    };
    let violation =
        conformance::check_click_store(|clicks| listed::Clicks(clicks.to_vec(), by_collation)).unwrap_err();
    assert_eq!(
        violation.check,
        "ids compare byte-wise: upper case before lower case"
    );
}

#[test]
fn a_binding_store_that_breaks_ties_by_a_collation_is_caught() {
    let by_collation = |b: &attributor::Binding, best: &attributor::Binding| {
        (b.bound_at, collated(b.conversion.as_str())) > (best.bound_at, collated(best.conversion.as_str()))
    };
    let violation =
        conformance::check_binding_store(|| listed::Bindings(Default::default(), by_collation)).unwrap_err();
    assert_eq!(
        violation.check,
        "equal times go to the byte-wise greater conversion id"
    );
}

#[test]
fn a_click_store_that_breaks_ties_by_insertion_order_is_caught() {
    use attributor::{Click, ClickPick};

    // On a tie in time, the click inserted first wins, or the one inserted last.
    for first_wins in [true, false] {
        let by_insertion = move |c: &Click, best: &Click, pick| match (pick, first_wins) {
            (ClickPick::First, true) => c.clicked_at < best.clicked_at,
            (ClickPick::First, false) => c.clicked_at <= best.clicked_at,
            (ClickPick::Last, true) => c.clicked_at > best.clicked_at,
            (ClickPick::Last, false) => c.clicked_at >= best.clicked_at,
        };
        let result = conformance::check_click_store(|clicks| listed::Clicks(clicks.to_vec(), by_insertion));
        assert!(result.is_err(), "first_wins: {first_wins}");
    }
}

#[test]
fn a_binding_store_that_breaks_ties_by_write_order_is_caught() {
    use attributor::Binding;

    // On a tie in time, the binding written first wins, or the one written last.
    for first_wins in [true, false] {
        let by_write = move |b: &Binding, best: &Binding| {
            b.bound_at > best.bound_at || (!first_wins && b.bound_at == best.bound_at)
        };
        let result = conformance::check_binding_store(|| listed::Bindings(Default::default(), by_write));
        assert!(result.is_err(), "first_wins: {first_wins}");
    }
}

/// `t` as a store that keeps microseconds keeps it.
fn to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

#[test]
fn a_registry_that_keeps_microseconds_is_caught() {
    let violation = conformance::check_code_registry(|assignments| {
        let registry = MemoryCodeRegistry::new();
        for a in assignments {
            let mut kept = *a;
            kept.valid_from = to_micros(a.valid_from);
            kept.valid_until = a.valid_until.map(to_micros);
            registry.insert(kept).unwrap();
        }
        registry
    })
    .unwrap_err();
    assert_eq!(violation.check, "valid_from is kept to the nanosecond");
}

#[test]
fn a_click_store_that_keeps_microseconds_is_caught() {
    let violation = conformance::check_click_store(|clicks| {
        let store = MemoryClickStore::new();
        for c in clicks {
            let mut kept = *c;
            kept.clicked_at = to_micros(c.clicked_at);
            store.insert(kept).unwrap();
        }
        store
    })
    .unwrap_err();
    assert_eq!(violation.check, "a click comes back with its nanoseconds");
}

#[test]
fn a_binding_store_that_keeps_microseconds_is_caught() {
    use attributor::{Binding, BindingStore, CustomerId};
    use chrono::{DateTime, Utc};

    /// Keeps each instant to the microsecond, as `timestamptz` does.
    #[derive(Default)]
    struct Micros(MemoryBindingStore);
    impl BindingStore for Micros {
        type Error = std::convert::Infallible;
        fn binding_before(
            &self,
            customer: &CustomerId,
            at: DateTime<Utc>,
        ) -> Result<Option<Binding>, Self::Error> {
            self.0.binding_before(customer, at)
        }
        fn bind(&self, binding: &Binding) -> Result<(), Self::Error> {
            self.0.bind(&Binding {
                bound_at: to_micros(binding.bound_at),
                expires_at: binding.expires_at.map(to_micros),
                ..*binding
            })
        }
    }
    let violation = conformance::check_binding_store(Micros::default).unwrap_err();
    assert_eq!(violation.check, "bound_at is exclusive to the nanosecond");
}

#[test]
fn a_ledger_that_checks_then_inserts_without_a_lock_is_caught_by_the_race() {
    use attributor::{ConversionId, Decision, Ledger, Recording, UniqueKey};
    use std::sync::Mutex;

    /// Looks, then (a moment later) writes: two racing calls both see
    /// nothing and both report that they recorded.
    #[derive(Default)]
    struct Racy(Mutex<Vec<Decision>>);
    impl Ledger for Racy {
        type Error = std::convert::Infallible;
        fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|d| d.conversion == *id)
                .cloned())
        }
        fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
            if let Some(earlier) = self.get(&decision.conversion)? {
                return Ok(Some(earlier));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut all = self.0.lock().unwrap();
            if !all.iter().any(|d| d.conversion == decision.conversion) {
                all.push(decision.clone());
            }
            Ok(None)
        }
        fn holder(&self, _: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
            Ok(None)
        }
        fn record_claiming(&self, decision: &Decision, _: &[UniqueKey]) -> Result<Recording, Self::Error> {
            self.record(decision).map(Recording::from)
        }
    }
    let violation = conformance::check_ledger(Racy::default).unwrap_err();
    assert_eq!(
        violation.check,
        "racing records of one conversion: one records, the others get its decision"
    );
}

mod claims {
    //! Ledgers that get claims wrong in one way each, for the conformance
    //! suite to judge. Decisions are kept by a memory ledger; claims by a
    //! list of their own.

    use std::sync::Mutex;

    use attributor::{ConversionId, Decision, Ledger, MemoryLedger, Recording, UniqueKey, conformance};

    #[derive(Clone, Copy, Default)]
    enum Flaw {
        /// Keeps no claims at all, as a ledger written before claims.
        #[default]
        Ignores,
        /// Claims keys one by one and stops at the first taken one, so
        /// the keys before it stay claimed.
        OneByOne,
        /// Keeps only the text of a key's customer or click id.
        KindBlind,
        /// Looks, then writes a moment later without holding a lock.
        Unlocked,
    }

    #[derive(Default)]
    struct Flawed {
        flaw: Flaw,
        decisions: MemoryLedger,
        claims: Mutex<Vec<(String, ConversionId)>>,
    }

    impl Flawed {
        fn new(flaw: Flaw) -> Self {
            Self {
                flaw,
                ..Self::default()
            }
        }

        fn text(&self, key: &UniqueKey) -> String {
            match (self.flaw, key) {
                (Flaw::KindBlind, UniqueKey::Customer { customer, .. }) => customer.to_string(),
                (Flaw::KindBlind, UniqueKey::Click { click, .. }) => click.to_string(),
                _ => format!("{key:?}"),
            }
        }
    }

    impl Ledger for Flawed {
        type Error = <MemoryLedger as Ledger>::Error;
        fn get(&self, id: &ConversionId) -> Result<Option<Decision>, Self::Error> {
            self.decisions.get(id)
        }
        fn record(&self, decision: &Decision) -> Result<Option<Decision>, Self::Error> {
            self.decisions.record(decision)
        }
        fn holder(&self, key: &UniqueKey) -> Result<Option<ConversionId>, Self::Error> {
            let text = self.text(key);
            let claims = self.claims.lock().unwrap();
            Ok(claims.iter().find(|(k, _)| *k == text).map(|(_, by)| *by))
        }
        fn record_claiming(&self, decision: &Decision, keys: &[UniqueKey]) -> Result<Recording, Self::Error> {
            if let Flaw::Ignores = self.flaw {
                return self.record(decision).map(Recording::from);
            }
            if let Some(earlier) = self.get(&decision.conversion)? {
                return Ok(Recording::Earlier(earlier));
            }
            if let Flaw::Unlocked = self.flaw {
                for key in keys {
                    if let Some(by) = self.holder(key)? {
                        return Ok(Recording::Taken { key: *key, by });
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                let mut claims = self.claims.lock().unwrap();
                claims.extend(keys.iter().map(|k| (self.text(k), decision.conversion)));
                drop(claims);
                return self.record(decision).map(Recording::from);
            }
            let mut claims = self.claims.lock().unwrap();
            for key in keys {
                let text = self.text(key);
                if let Some((_, by)) = claims.iter().find(|(k, _)| *k == text) {
                    return Ok(Recording::Taken { key: *key, by: *by });
                }
                claims.push((text, decision.conversion));
            }
            drop(claims);
            self.record(decision).map(Recording::from)
        }
    }

    fn caught(flaw: Flaw) -> &'static str {
        conformance::check_ledger(|| Flawed::new(flaw)).unwrap_err().check
    }

    #[test]
    fn a_ledger_that_keeps_no_claims_is_caught() {
        assert_eq!(
            caught(Flaw::Ignores),
            "a customer key is held by the conversion that claimed it"
        );
    }

    #[test]
    fn a_ledger_that_claims_keys_until_one_is_taken_is_caught() {
        assert_eq!(
            caught(Flaw::OneByOne),
            "a conversion that found a key taken claimed none of its keys"
        );
    }

    #[test]
    fn a_ledger_that_forgets_what_kind_of_key_it_holds_is_caught() {
        assert_eq!(
            caught(Flaw::KindBlind),
            "keys differ by kind, not only by their text"
        );
    }

    #[test]
    fn a_ledger_that_checks_keys_then_claims_without_a_lock_is_caught_by_the_race() {
        assert_eq!(
            caught(Flaw::Unlocked),
            "conversions racing for one key: one records, the others are told it holds the key"
        );
    }
}

#[test]
fn a_registry_without_near_lookups_or_one_that_names_lapsed_codes_is_caught() {
    use attributor::{CodeLookup, CodeRegistry, CouponCode, NearCodes};
    use chrono::{DateTime, Utc};

    let filled = |registry: MemoryCodeRegistry, assignments: &[attributor::CodeAssignment]| {
        for a in assignments {
            registry.insert(*a).unwrap();
        }
        registry
    };
    // Exact lookups only: its near lookup finds nothing.
    struct ExactOnly(MemoryCodeRegistry);
    impl CodeRegistry for ExactOnly {
        type Error = <MemoryCodeRegistry as CodeRegistry>::Error;
        fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
            self.0.lookup(code, at)
        }
        fn near(&self, _: &CouponCode, _: DateTime<Utc>) -> Result<NearCodes, Self::Error> {
            Ok(NearCodes::new())
        }
    }
    let violation =
        conformance::check_code_registry(|a| ExactOnly(filled(MemoryCodeRegistry::new(), a))).unwrap_err();
    assert_eq!(violation.check, "a look-alike of an active code");

    // Look-alikes without the index of codes one edit apart.
    let violation = conformance::check_code_registry(|a| filled(MemoryCodeRegistry::without_near_index(), a))
        .unwrap_err();
    assert_eq!(violation.check, "two codes one character added, by code");

    // Near codes as of one fixed instant, whatever instant is asked.
    struct Stale(MemoryCodeRegistry);
    impl CodeRegistry for Stale {
        type Error = <MemoryCodeRegistry as CodeRegistry>::Error;
        fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<CodeLookup, Self::Error> {
            self.0.lookup(code, at)
        }
        fn near(&self, code: &CouponCode, _at: DateTime<Utc>) -> Result<NearCodes, Self::Error> {
            let when = "2026-01-16T00:00:00Z".parse().unwrap();
            self.0.near(code, when)
        }
    }
    // At that instant BOSS30 was active, one edit from BOSS20.
    let violation =
        conformance::check_code_registry(|a| Stale(filled(MemoryCodeRegistry::new(), a))).unwrap_err();
    assert_eq!(
        violation.check,
        "a code one character changed, never the code itself"
    );
}
