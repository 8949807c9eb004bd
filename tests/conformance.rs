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
    use attributor::{ConversionId, Decision, Ledger};
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
    }
    let violation = conformance::check_code_registry(|a| OffByOne(a.to_vec())).unwrap_err();
    assert_eq!(violation.check, "valid_until is exclusive");
}
