//! Properties that hold for every input.
//!
//! Failing cases are kept in `tests/proptests.regressions`, which is
//! committed, and replayed first on every run. The properties of the
//! resolver, the `Attributor` and the experiment draw their inputs from
//! `attributor::strategies`, so they run with the `proptest` feature
//! (`cargo test --all-features`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use attributor::{Amount, CouponCode};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// `cases` cases (or `PROPTEST_CASES` for a deeper run), with failures kept
/// in the committed regressions file.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptests.regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Strings a customer might type: letters, digits, separators, full-width
/// forms, invisibles, and now and then anything at all.
fn typed() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]{1,6}",
        2 => "[ ._-]",
        1 => "[\u{FF10}-\u{FF19}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}]",
        1 => "[\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}\u{00A0}]",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn parse_is_idempotent_on_the_canonical_form(input in typed()) {
        if let Ok(code) = CouponCode::parse(&input) {
            let again = CouponCode::parse(code.as_str()).unwrap();
            prop_assert_eq!(again, code);
            prop_assert_eq!(again.as_str(), code.as_str());
            prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
    }

    #[test]
    fn every_amount_reads_back_from_its_text(
        ten_thousandths in prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), any::<i64>()],
    ) {
        let amount = Amount::from_ten_thousandths(ten_thousandths);
        prop_assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
    }

    #[test]
    fn any_string_parses_or_errors_without_panicking(input in any::<String>()) {
        let _ = CouponCode::parse(&input);
    }

    #[test]
    fn any_typed_string_parses_or_errors_without_panicking(input in typed()) {
        match CouponCode::parse(&input) {
            Ok(code) => prop_assert!((3..=32).contains(&code.len())),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn equal_canonical_forms_compare_and_hash_equal(a in typed(), b in typed()) {
        if let (Ok(x), Ok(y)) = (CouponCode::parse(&a), CouponCode::parse(&b)) {
            prop_assert_eq!(x == y, x.as_str() == y.as_str());
            if x == y {
                prop_assert_eq!(hash_of(&x), hash_of(&y));
                prop_assert_eq!(x.cmp(&y), std::cmp::Ordering::Equal);
            }
        }
    }

    #[test]
    fn case_and_separators_never_change_a_code(code in "[A-Z0-9]{3,20}", cut in 0usize..20) {
        let cut = cut.min(code.len());
        let spelled = format!(" {}-{} ", code[..cut].to_lowercase(), &code[cut..]);
        let parsed = CouponCode::parse(&spelled).unwrap();
        prop_assert_eq!(parsed.as_str(), code.as_str());
    }
}

/// The strategies keep their promises.
#[cfg(feature = "proptest")]
mod strategies_hold {
    use super::config;
    use attributor::{CouponCode, MemoryCodeRegistry, strategies};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(128))]

        #[test]
        fn every_spelling_parses_to_its_code((code, typed) in strategies::code_spelling()) {
            prop_assert_eq!(CouponCode::parse(&typed), Ok(code));
        }

        #[test]
        fn no_invalid_input_parses(typed in strategies::invalid_code_input()) {
            prop_assert!(CouponCode::parse(&typed).is_err(), "{:?} parsed", typed);
        }

        #[test]
        fn a_registry_accepts_every_drawn_history(assignments in strategies::assignments()) {
            let registry = MemoryCodeRegistry::new();
            for a in assignments {
                prop_assert!(registry.insert(a).is_ok(), "{:?}", a);
            }
        }

        #[test]
        fn drawn_conversions_come_in_time_order_with_distinct_ids(conversions in strategies::conversions()) {
            for pair in conversions.windows(2) {
                prop_assert!(pair[0].occurred_at <= pair[1].occurred_at);
                prop_assert_ne!(pair[0].id, pair[1].id);
            }
        }
    }

    #[test]
    fn drawn_policies_reach_every_binding_lifetime_the_docs_promise() {
        use attributor::BindingLifetime;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;

        let mut runner = TestRunner::deterministic();
        let policies = strategies::policy();
        let mut seen = [false; 4];
        for _ in 0..2_000 {
            let lifetime = policies
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .binding_lifetime();
            let kind = match lifetime {
                BindingLifetime::OneOff => 0,
                BindingLifetime::Days(0) => 1,
                BindingLifetime::Days(_) => 2,
                BindingLifetime::Forever => 3,
            };
            seen[kind] = true;
        }
        assert_eq!(seen, [true; 4], "one-off, zero days, some days, forever");
    }
}

/// The resolver's promises: "Priority rules" in the crate docs.
#[cfg(feature = "proptest")]
mod resolver {
    use super::config;
    use attributor::strategies::{affiliate, case, policy};
    use attributor::{
        ClickPick, CodeEvidence, CodeLookup, Conversion, CreditMode, Decision, EventKinds, Evidence, Method,
        Nearness, Outcome, Policy, Subject, resolve,
    };
    use chrono::TimeDelta;
    use proptest::prelude::*;

    /// A case, with its codes and clicks shuffled and one click listed twice.
    fn shuffled() -> impl Strategy<Value = ((Conversion, Evidence), Evidence)> {
        case().prop_flat_map(|(conversion, evidence)| {
            let codes = Just(evidence.codes.to_vec()).prop_shuffle();
            let clicks = Just(evidence.clicks.to_vec()).prop_shuffle();
            let twice = any::<prop::sample::Index>();
            (Just((conversion, evidence.clone())), codes, clicks, twice).prop_map(
                |(original, codes, mut clicks, twice)| {
                    if let Some(again) = clicks.get(twice.index(clicks.len().max(1))).copied() {
                        clicks.push(again);
                    }
                    let shuffled = Evidence {
                        codes: codes.into_iter().collect(),
                        near: original.1.near.clone(),
                        clicks: clicks.into_iter().collect(),
                        binding: original.1.binding,
                    };
                    (original, shuffled)
                },
            )
        })
    }

    /// The credit of `affiliate` by click, in basis points.
    fn click_share(decision: &Decision, affiliate: attributor::AffiliateId) -> u16 {
        decision
            .credits
            .iter()
            .filter(|c| c.affiliate == affiliate && c.method == Method::Click)
            .map(|c| c.share)
            .sum()
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn decisions_are_deterministic((conversion, evidence) in case(), policy in policy()) {
            // Once here, once on another thread from copies at other addresses:
            // nothing but the inputs may reach the decision.
            let first = resolve(&conversion, &evidence, &policy);
            let (c, e) = (conversion.clone(), evidence.clone());
            let second = std::thread::spawn(move || resolve(&c, &e, &policy)).join().unwrap();
            prop_assert_eq!(second.to_string(), first.to_string());
            prop_assert_eq!(second, first);
        }

        #[test]
        fn the_memory_ledger_gives_back_every_decision_as_it_was_recorded(
            cases in prop::collection::vec((case(), policy()), 1..8),
        ) {
            use attributor::{Ledger, MemoryLedger};
            let ledger = MemoryLedger::new();
            let mut first = std::collections::HashMap::new();
            for ((conversion, evidence), policy) in &cases {
                let decision = resolve(conversion, evidence, policy);
                let earlier = ledger.record(&decision).unwrap();
                prop_assert_eq!(earlier.as_ref(), first.get(&decision.conversion));
                first.entry(decision.conversion).or_insert(decision);
            }
            for (id, decision) in &first {
                prop_assert_eq!(ledger.get(id).unwrap(), Some(decision.clone()));
            }
            prop_assert_eq!(ledger.len(), first.len());
        }

        #[test]
        fn the_order_of_the_evidence_does_not_change_the_decision(
            ((conversion, evidence), shuffled) in shuffled(),
            policy in policy(),
        ) {
            prop_assert_eq!(
                resolve(&conversion, &shuffled, &policy),
                resolve(&conversion, &evidence, &policy)
            );
        }

        #[test]
        fn a_credit_always_names_an_affiliate_present_in_the_evidence_or_the_binding(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let decision = resolve(&conversion, &evidence, &policy);
            for credit in &decision.credits {
                let present = match credit.method {
                    Method::Coupon => evidence.codes.iter().any(|e| {
                        conversion.codes.contains(&e.code)
                            && matches!(e.lookup, CodeLookup::Active(a) if a.affiliate == credit.affiliate)
                    }) || evidence.near.iter().any(|n| {
                        // A code read as its look-alike.
                        conversion.codes.contains(&n.typed)
                            && n.nearness == Nearness::LookAlike
                            && n.assignment.affiliate == credit.affiliate
                    }),
                    Method::Click => evidence.clicks.iter().any(|c| c.affiliate == credit.affiliate),
                    Method::Binding => evidence.binding.is_some_and(|b| b.affiliate == credit.affiliate),
                };
                prop_assert!(present, "{}", decision);
            }
        }

        #[test]
        fn no_credit_ever_goes_to_the_customers_own_affiliate_account(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let decision = resolve(&conversion, &evidence, &policy);
            for credit in &decision.credits {
                prop_assert_ne!(Some(credit.affiliate), conversion.customer_affiliate, "{}", decision);
            }
        }

        #[test]
        fn shares_sum_to_10000_whenever_anything_is_credited(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let decision = resolve(&conversion, &evidence, &policy);
            if decision.is_credited() {
                let total: u32 = decision.credits.iter().map(|c| u32::from(c.share)).sum();
                prop_assert_eq!(total, 10_000, "{}", decision);
                prop_assert!(decision.credits.iter().all(|c| c.share > 0), "{}", decision);
            }
        }

        #[test]
        fn coupon_first_with_a_valid_standard_code_and_no_binding_credits_the_code_owner(
            (conversion, evidence) in case(),
            owner in affiliate(),
            binds in any::<bool>(),
        ) {
            // Make the first entered code an active Standard code of `owner`,
            // who is not the customer, and drop the binding.
            let mut conversion = conversion;
            let mut evidence = evidence;
            let code = match conversion.codes.first() {
                Some(code) => *code,
                None => {
                    let code = attributor::CouponCode::parse("ALPHA10").unwrap();
                    conversion.codes.push(code);
                    code
                }
            };
            if conversion.customer_affiliate == Some(owner) {
                conversion.customer_affiliate = None;
            }
            let assignment = attributor::CodeAssignment::new(code, owner, conversion.occurred_at - TimeDelta::days(1));
            evidence.codes.retain(|e| e.code != code);
            evidence.codes.push(CodeEvidence { code, lookup: CodeLookup::Active(assignment) });
            evidence.binding = None;
            let policy = if binds { Policy::coupon_first().with_bind_on(EventKinds::ALL) } else { Policy::coupon_first() };

            let decision = resolve(&conversion, &evidence, &policy);
            prop_assert_eq!(decision.credits.len(), 1, "{}", decision);
            prop_assert_eq!(
                (decision.credits[0].affiliate, decision.credits[0].method, decision.credits[0].share),
                (owner, Method::Coupon, 10_000),
                "{}", decision
            );
        }

        /// With the last click counting, widening the window only adds older
        /// clicks, which never beat the latest one. Two things may rightly
        /// take a click credit away, so they are left out here: with
        /// `ClickPick::First` an older click is the one that counts, and an
        /// `IfInvolved` code whose owner's click the wider window takes in
        /// starts to count.
        #[test]
        fn widening_the_click_window_never_takes_away_a_click_credit_the_narrower_window_gave(
            (conversion, evidence) in case(),
            policy in policy(),
            narrow_days in 0i64..=45,
            extra_secs in 0i64..=60 * 86_400,
        ) {
            let mut evidence = evidence;
            for e in &mut evidence.codes {
                if let CodeLookup::Active(a) = &mut e.lookup {
                    if a.mode == CreditMode::IfInvolved {
                        a.mode = CreditMode::Standard;
                    }
                }
            }
            // A look-alike of an `IfInvolved` code counts under the same
            // rule as the code itself.
            for near in &mut evidence.near {
                if near.assignment.mode == CreditMode::IfInvolved {
                    near.assignment.mode = CreditMode::Standard;
                }
            }
            let narrow_window = TimeDelta::days(narrow_days);
            let policy = policy.with_click_pick(ClickPick::Last);
            let narrow = policy.with_click_window(narrow_window).unwrap();
            let wide = policy.with_click_window(narrow_window + TimeDelta::seconds(extra_secs)).unwrap();
            let before = resolve(&conversion, &evidence, &narrow);
            let after = resolve(&conversion, &evidence, &wide);
            for credit in before.credits.iter().filter(|c| c.method == Method::Click) {
                prop_assert!(
                    click_share(&after, credit.affiliate) >= credit.share,
                    "narrow: {}\nwide: {}", before, after
                );
            }
        }

        /// With the first click counting, a wider window may take in an
        /// older click, and the credit moves to it: never to a later one.
        #[test]
        fn with_the_first_click_counting_a_wider_window_moves_click_credit_only_to_an_older_click(
            (conversion, evidence) in case(),
            narrow_days in 0i64..=45,
            extra_secs in 0i64..=60 * 86_400,
        ) {
            let policy = Policy::click_first().with_click_pick(ClickPick::First);
            let narrow = policy.with_click_window(TimeDelta::days(narrow_days)).unwrap();
            let wide = policy.with_click_window(TimeDelta::days(narrow_days) + TimeDelta::seconds(extra_secs)).unwrap();
            let credited_click = |d: &Decision| {
                d.considered.iter().find_map(|c| match (c.subject, c.outcome) {
                    (attributor::Subject::Click { at, .. }, attributor::Outcome::Credited) => Some(at),
                    _ => None,
                })
            };
            let before = resolve(&conversion, &evidence, &narrow);
            let after = resolve(&conversion, &evidence, &wide);
            if let (Some(was), Some(now)) = (credited_click(&before), credited_click(&after)) {
                prop_assert!(now <= was, "narrow: {}\nwide: {}", before, after);
            }
            if credited_click(&before).is_some() {
                prop_assert!(credited_click(&after).is_some(), "narrow: {}\nwide: {}", before, after);
            }
        }

        /// The example of a user's property from the `strategies` docs.
        #[test]
        fn an_always_code_is_credited_under_every_policy_unless_a_live_binding_holds(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let Some(first) = conversion.codes.first() else { return Ok(()) };
            let always = evidence.codes.iter().find(|e| e.code == *first).and_then(|e| match e.lookup {
                CodeLookup::Active(a) if a.mode == CreditMode::Always => Some(a.affiliate),
                _ => None,
            });
            let Some(owner) = always else { return Ok(()) };
            let bound = evidence.binding.is_some_and(|b| b.is_live_at(conversion.occurred_at));
            if bound || conversion.customer_affiliate == Some(owner) {
                return Ok(());
            }
            let decision = resolve(&conversion, &evidence, &policy);
            prop_assert_eq!(
                decision.credits.iter().map(|c| (c.affiliate, c.method, c.share)).collect::<Vec<_>>(),
                vec![(owner, Method::Coupon, 10_000)],
                "{}", decision
            );
        }

        #[test]
        fn with_look_alikes_off_near_codes_change_nothing_but_the_candidates(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let policy = policy.with_look_alikes(false);
            let mut named = resolve(&conversion, &evidence, &policy);
            let without = Evidence { near: Default::default(), ..evidence.clone() };
            let today = resolve(&conversion, &without, &policy);
            prop_assert!(today.candidates.is_empty());
            // Every candidate is a near code of an entered code that is unknown.
            for c in &named.candidates {
                let unknown = !evidence.codes.iter().any(|e| e.code == c.typed && e.lookup != CodeLookup::Unknown);
                prop_assert!(unknown, "{:?}", c);
                prop_assert!(evidence.near.iter().any(|n| n.typed == c.typed && n.assignment.code == c.code));
            }
            named.candidates.clear();
            prop_assert_eq!(named, today);
        }

        #[test]
        fn an_unknown_code_is_read_only_as_its_one_look_alike_and_a_near_code_never_credited_otherwise(
            (conversion, evidence) in case(),
            policy in policy(),
        ) {
            let policy = policy.with_look_alikes(true);
            let decision = resolve(&conversion, &evidence, &policy);
            for entry in &decision.considered {
                let Subject::Code { code, read_as, .. } = entry.subject else { continue };
                let known = evidence.codes.iter().any(|e| e.code == code && e.lookup != CodeLookup::Unknown);
                let look_alikes: Vec<_> = evidence
                    .near
                    .iter()
                    .filter(|n| n.typed == code && n.nearness == Nearness::LookAlike)
                    .collect();
                match read_as {
                    Some(read) => {
                        prop_assert!(!known);
                        prop_assert_eq!(look_alikes.len(), 1);
                        prop_assert_eq!(look_alikes[0].assignment.code, read);
                        prop_assert_eq!(entry.affiliate, Some(look_alikes[0].assignment.affiliate));
                    }
                    None if !known => {
                        // Unknown and not read: no owner, never credited.
                        prop_assert!(look_alikes.len() != 1, "{}", decision);
                        prop_assert_eq!(entry.affiliate, None);
                        prop_assert_eq!(entry.outcome, Outcome::CodeUnknown);
                    }
                    None => {}
                }
            }
        }
    }
}

/// The `Attributor` and the experiment over memory stores.
#[cfg(feature = "proptest")]
mod stores {
    use super::config;
    use attributor::strategies::{assignments, clicks, conversions, policy_set};
    use attributor::{
        AffiliateId, Attributor, BindingStore, Click, ClickEvidence, CodeAssignment, CodeEvidence,
        CodeLookup, CodeRegistry, Conversion, ConversionId, Duplicate, Evidence, Experiment,
        MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PolicySet, Recorded,
        UniqueKey, Uniqueness, resolve,
    };
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    /// The worlds the properties below draw make duplicates of both kinds
    /// often enough to test them.
    #[test]
    fn drawn_worlds_reach_duplicates_by_customer_and_by_click() {
        let mut seen: HashMap<Uniqueness, u32> = HashMap::new();
        for decision in drawn_decisions(300) {
            if let Some(d) = decision.duplicate {
                *seen.entry(d.by).or_default() += 1;
            }
        }
        for by in [Uniqueness::Customer, Uniqueness::Click] {
            assert!(seen.get(&by).copied().unwrap_or(0) >= 10, "{seen:?}");
        }
    }

    /// The worlds the properties below draw read codes as look-alikes and
    /// name candidates of both kinds often enough to test them.
    #[test]
    fn drawn_worlds_reach_look_alikes_read_and_candidates_of_both_kinds() {
        use attributor::{Nearness, Subject};

        let (mut read, mut look_alikes, mut one_edits) = (0, 0, 0);
        for decision in drawn_decisions(300) {
            read += decision
                .considered
                .iter()
                .filter(|e| matches!(e.subject, Subject::Code { read_as: Some(_), .. }))
                .count();
            for candidate in &decision.candidates {
                match candidate.nearness {
                    Nearness::LookAlike => look_alikes += 1,
                    Nearness::OneEdit => one_edits += 1,
                }
            }
        }
        assert!(
            read >= 10 && look_alikes >= 10 && one_edits >= 10,
            "{read} {look_alikes} {one_edits}"
        );
    }

    /// The decisions of `worlds` drawn worlds, each attributed in order.
    fn drawn_decisions(worlds: usize) -> Vec<attributor::Decision> {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;

        let mut runner = TestRunner::deterministic();
        let mut decisions = Vec::new();
        for _ in 0..worlds {
            let (assignments, clicks, conversions, policies) =
                world().new_tree(&mut runner).unwrap().current();
            let (registry, click_store) = stores(&assignments, &clicks);
            let attributor = Attributor::new(
                &registry,
                &click_store,
                MemoryBindingStore::new(),
                MemoryLedger::new(),
                policies,
            );
            decisions.extend(
                conversions
                    .iter()
                    .map(|c| attributor.attribute(c).unwrap().decision),
            );
        }
        decisions
    }

    fn stores(assignments: &[CodeAssignment], clicks: &[Click]) -> (MemoryCodeRegistry, MemoryClickStore) {
        let registry = MemoryCodeRegistry::new();
        for a in assignments {
            registry.insert(*a).unwrap();
        }
        let store = MemoryClickStore::new();
        for c in clicks {
            store.insert(*c).unwrap();
        }
        (registry, store)
    }

    fn world() -> impl Strategy<Value = (Vec<CodeAssignment>, Vec<Click>, Vec<Conversion>, PolicySet)> {
        (assignments(), clicks(), conversions(), policy_set())
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn the_attributor_is_idempotent(
            (assignments, clicks, conversions, policies) in world(),
            retry_order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
        ) {
            let (registry, click_store) = stores(&assignments, &clicks);
            let attributor = Attributor::new(
                &registry, &click_store, MemoryBindingStore::new(), MemoryLedger::new(), policies,
            );
            let first: Vec<_> = conversions.iter().map(|c| attributor.attribute(c).unwrap()).collect();
            let bindings: Vec<_> = conversions
                .iter()
                .filter_map(|c| c.customer)
                .map(|customer| attributor.bindings().history(&customer))
                .collect();

            // Retry every conversion, in a scrambled order.
            let mut order: Vec<usize> = (0..conversions.len()).collect();
            order.sort_by_key(|i| (*i as u64).wrapping_mul(retry_order | 1).rotate_left(17));
            prop_assert!(first.iter().all(|a| a.recorded == Recorded::Now));
            for i in order {
                let retry = attributor.attribute(&conversions[i]).unwrap();
                prop_assert_eq!(&retry.decision, &first[i].decision);
                prop_assert_eq!(retry.recorded, Recorded::Before);
            }
            prop_assert_eq!(attributor.ledger().len(), conversions.len());
            let after: Vec<_> = conversions
                .iter()
                .filter_map(|c| c.customer)
                .map(|customer| attributor.bindings().history(&customer))
                .collect();
            prop_assert_eq!(after, bindings);
        }

        /// `attribute_all` decides as a loop of `attribute` calls does, in
        /// order, even across its batches of 16, with retries inside the page
        /// and a customer's binding made earlier in the same page.
        #[test]
        fn attributing_a_page_at_once_decides_as_one_call_at_a_time_does(
            (assignments, clicks, conversions, policies) in world(),
            repeats in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut page = conversions.clone();
            if !conversions.is_empty() {
                page.extend(repeats.iter().map(|i| conversions[i.index(conversions.len())].clone()));
            }
            page.extend(conversions.iter().cloned());
            let (registry, click_store) = stores(&assignments, &clicks);
            let one_by_one = Attributor::new(
                &registry, &click_store, MemoryBindingStore::new(), MemoryLedger::new(), policies.clone(),
            );
            let all_at_once = Attributor::new(
                &registry, &click_store, MemoryBindingStore::new(), MemoryLedger::new(), policies,
            );
            let expected: Vec<_> = page.iter().map(|c| one_by_one.attribute(c).unwrap()).collect();
            let decisions = all_at_once.attribute_all(&page);
            prop_assert_eq!(decisions.len(), page.len());
            let got: Vec<_> = decisions.map(Result::unwrap).collect();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(all_at_once.ledger().decisions(), one_by_one.ledger().decisions());
            for customer in page.iter().filter_map(|c| c.customer) {
                prop_assert_eq!(
                    all_at_once.bindings().history(&customer),
                    one_by_one.bindings().history(&customer)
                );
            }
        }

        /// What the `Attributor` gathers from the stores is enough: it decides
        /// as the resolver would with every click of the customer in hand.
        /// And a conversion is a duplicate exactly when a key it would claim
        /// is held by a conversion attributed before it, the first of them
        /// not itself a duplicate (a plain map keeps the keys here).
        #[test]
        fn the_attributor_decides_as_the_resolver_would_with_every_click_in_hand(
            (assignments, clicks, conversions, policies) in world(),
        ) {
            let (registry, click_store) = stores(&assignments, &clicks);
            let attributor = Attributor::new(
                &registry, &click_store, MemoryBindingStore::new(), MemoryLedger::new(), policies.clone(),
            );
            let mut held: HashMap<UniqueKey, ConversionId> = HashMap::new();
            for c in &conversions {
                let policy = policies.for_event(&c.event);
                let keys = policy.unique_keys(c);
                if let Some((key, by)) = keys.iter().find_map(|k| held.get(k).map(|by| (k, *by))) {
                    let decision = attributor.attribute(c).unwrap();
                    let want = Duplicate { of: by, by: key.uniqueness() };
                    prop_assert_eq!(decision.decision.duplicate, Some(want), "{}", decision);
                    prop_assert!(decision.decision.credits.is_empty() && decision.decision.binding.is_none());
                    continue;
                }
                for key in keys {
                    held.insert(key, c.id);
                }
                let mut all = Evidence::new();
                for code in &c.codes {
                    if !all.codes.iter().any(|e| e.code == *code) {
                        let lookup = registry.lookup(code, c.occurred_at).unwrap();
                        all.codes.push(CodeEvidence { code: *code, lookup });
                        if lookup == CodeLookup::Unknown {
                            all.near.extend(registry.near(code, c.occurred_at).unwrap());
                        }
                    }
                }
                for click in &clicks {
                    let carried = c.click == Some(click.id);
                    if carried || (c.customer.is_some() && click.customer == c.customer) {
                        all.clicks.push(ClickEvidence::from(click));
                    }
                }
                if let Some(customer) = c.customer {
                    all.binding = attributor.bindings().binding_before(&customer, c.occurred_at).unwrap();
                }
                let expected = resolve(c, &all, policy);
                let decision = attributor.attribute(c).unwrap();
                prop_assert_eq!(decision.decision.duplicate, None);
                prop_assert_eq!(&decision.decision.credits, &expected.credits, "\ngot:  {}\nwant: {}", decision, expected);
                prop_assert_eq!(&decision.decision.binding, &expected.binding);
            }
        }

        #[test]
        fn an_experiment_with_one_policy_credits_what_the_attributor_credits(
            (assignments, clicks, conversions, policies) in world(),
        ) {
            let (registry, click_store) = stores(&assignments, &clicks);
            let attributor = Attributor::new(
                &registry, &click_store, MemoryBindingStore::new(), MemoryLedger::new(), policies.clone(),
            );
            let mut want: BTreeMap<AffiliateId, (u64, u64)> = BTreeMap::new();
            let mut uncredited = 0;
            for c in &conversions {
                let decision = attributor.attribute(c).unwrap();
                if !decision.decision.is_credited() {
                    uncredited += 1;
                }
                for credit in &decision.decision.credits {
                    let entry = want.entry(credit.affiliate).or_default();
                    entry.0 += 1;
                    entry.1 += u64::from(credit.share);
                }
            }

            let mut experiment = Experiment::new(&registry, &click_store)
                .with_policy("mine".parse().unwrap(), policies.clone())
                .with_policy("mine-again".parse().unwrap(), policies);
            prop_assert_eq!(experiment.replay_all(&conversions).unwrap(), conversions.len() as u64);
            let report = experiment.report();
            let got: BTreeMap<AffiliateId, (u64, u64)> = report.policies[0]
                .affiliates
                .iter()
                .map(|a| (a.affiliate, (a.conversions, a.shares)))
                .collect();
            prop_assert_eq!(got, want);
            let mine = &report.policies[0];
            prop_assert_eq!(mine.uncredited, uncredited);
            prop_assert_eq!(mine.credited + mine.uncredited, conversions.len() as u64);
            prop_assert_eq!(mine.uncredited_by_reason.iter().map(|r| r.conversions).sum::<u64>(), uncredited);
            // The same policy twice moves nothing.
            prop_assert_eq!(report.moved_total, 0);
            prop_assert_eq!(&report.policies[1].affiliates, &mine.affiliates);
        }
    }
}

/// The memory binding store keeps each customer's history as the
/// `BindingStore` contract orders it, whatever the lengths of its ids and
/// labels, and at the edges of time: checked against a plain list.
mod binding_store {
    use super::config;
    use attributor::{
        AffiliateId, Binding, BindingStore, Conversion, ConversionId, CustomerId, EventKind, Label,
        MemoryBindingStore,
    };
    use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
    use proptest::prelude::*;

    /// Instants close enough together to tie, leap seconds, instants just
    /// before 1970, and the first and last instants there are.
    fn instants() -> Vec<DateTime<Utc>> {
        let t = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc();
        // chrono also holds a leap second in the middle of a minute.
        let odd_leap = leap.with_second(30).unwrap();
        let mut all = vec![DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, leap, odd_leap];
        all.extend([-1, -1_500_000_000].map(DateTime::from_timestamp_nanos));
        all.extend([
            leap - TimeDelta::milliseconds(600),
            leap + TimeDelta::milliseconds(600),
        ]);
        all.extend((0..4).map(|d| t + TimeDelta::days(d)));
        all.push(t + TimeDelta::nanoseconds(1));
        all
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        proptest::sample::select(instants())
    }

    /// Ids of one character, of a typical length, and of the longest.
    fn id_text(prefix: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![
            (0u8..3).prop_map(move |n| format!("{}", n)),
            (0u8..3).prop_map(move |n| format!("{prefix}-{n:07}")),
            (0u8..3).prop_map(move |n| format!("{prefix}-{n}-{}", "x".repeat(61 - prefix.len()))),
        ]
    }

    fn event() -> impl Strategy<Value = EventKind> {
        prop_oneof![
            Just(EventKind::Registration),
            Just(EventKind::FirstDeposit),
            Just(EventKind::Purchase),
            Just(EventKind::Custom(Label::new("upsell").unwrap())),
            Just(EventKind::Custom(Label::new(&"l".repeat(32)).unwrap())),
        ]
    }

    fn binding() -> impl Strategy<Value = Binding> {
        (
            id_text("cust"),
            1u64..4,
            instant(),
            proptest::option::of(instant()),
            event(),
            id_text("reg"),
        )
            .prop_map(
                |(customer, affiliate, bound_at, expires_at, event, conversion)| Binding {
                    customer: CustomerId::new(&customer).unwrap(),
                    affiliate: AffiliateId::new(affiliate),
                    bound_at,
                    expires_at,
                    event,
                    conversion: ConversionId::new(&conversion).unwrap(),
                },
            )
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn histories_and_lookups_match_a_plain_list(bindings in proptest::collection::vec(binding(), 1..24)) {
            let store = MemoryBindingStore::new();
            // The contract as a list: one binding a conversion of a
            // customer (the last written), ordered by (bound_at, conversion).
            let mut model: Vec<Binding> = Vec::new();
            for b in &bindings {
                store.bind(b).unwrap();
                model.retain(|m| !(m.customer == b.customer && m.conversion == b.conversion));
                model.push(*b);
            }
            model.sort_by_key(|m| (m.bound_at, m.conversion));
            let mut customers: Vec<CustomerId> = model.iter().map(|m| m.customer).collect();
            customers.sort();
            customers.dedup();
            prop_assert_eq!(store.len(), customers.len());
            // The hint reads ahead and must change no answer.
            let conversions: Vec<Conversion> = customers
                .iter()
                .map(|c| Conversion::new("ORD-1".parse().unwrap(), EventKind::Purchase, instants()[0]).with_customer(*c))
                .collect();
            store.prefetch(&conversions);
            for customer in customers {
                let theirs: Vec<Binding> = model.iter().filter(|m| m.customer == customer).copied().collect();
                prop_assert_eq!(store.history(&customer), theirs.clone());
                for at in instants() {
                    let latest = theirs.iter().rev().find(|m| m.bound_at < at).copied();
                    prop_assert_eq!(store.binding_before(&customer, at).unwrap(), latest, "at {}", at);
                }
            }
        }
    }
}

/// What the PostgreSQL ledger relies on: a decision reads back from its
/// JSON as itself (it checks only decisions with an instant inside a leap
/// second, which chrono may write as another instant).
#[cfg(all(feature = "proptest", feature = "serde"))]
mod json {
    use super::config;
    use attributor::{Decision, resolve, strategies};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn every_decision_without_a_leap_second_reads_back_from_json_as_itself(
            (conversion, evidence) in strategies::case(),
            policy in strategies::policy(),
        ) {
            let decision = resolve(&conversion, &evidence, &policy);
            let json = serde_json::to_string(&decision).unwrap();
            let back: Decision = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, decision);
        }
    }
}

/// Families against a plain model of the rule: a code's own history
/// decides; without one, the family of the longest prefix.
#[cfg(feature = "proptest")]
mod families {
    use super::config;
    use attributor::strategies::{CODE_POOL, assignments, history, instant};
    use attributor::{CodeLookup, CodeRegistry, CouponCode, MemoryCodeRegistry};
    use proptest::prelude::*;

    /// Families over prefixes of the pool's codes, with histories.
    fn families() -> impl Strategy<Value = Vec<attributor::CodeAssignment>> {
        let one = (prop::sample::select(CODE_POOL.to_vec()), 3usize..=7).prop_flat_map(|(code, len)| {
            let prefix = CouponCode::parse(&code[..len.min(code.len())]).unwrap();
            history(prefix).prop_map(|h| {
                h.into_iter()
                    .map(|a| attributor::CodeAssignment { family: true, ..a })
                    .collect::<Vec<_>>()
            })
        });
        prop::collection::vec(one, 0..=4).prop_map(|v| v.into_iter().flatten().collect())
    }

    /// The draws below reach families that answer, and families refused.
    #[test]
    fn drawn_families_answer_for_codes_often_enough_to_test() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;

        let mut runner = TestRunner::deterministic();
        let (mut answered, mut refused) = (0, 0);
        for _ in 0..200 {
            let (codes, families, at) = (assignments(), families(), instant())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let registry = MemoryCodeRegistry::new();
            for a in codes.iter().chain(&families) {
                refused += usize::from(registry.insert(*a).is_err());
            }
            for c in CODE_POOL {
                let probe = CouponCode::parse(&format!("{c}X9")).unwrap();
                let found = registry.lookup(&probe, at).unwrap();
                answered += usize::from(found.assignment().is_some_and(|a| a.family));
            }
        }
        assert!(answered >= 50 && refused >= 20, "{answered} {refused}");
    }

    proptest! {
        #![proptest_config(config(128))]

        #[test]
        fn a_family_never_beats_a_code_of_its_own_and_the_longest_prefix_decides(
            codes in assignments(),
            families in families(),
            at in instant(),
        ) {
            let registry = MemoryCodeRegistry::new();
            for a in codes.iter().chain(&families) {
                // The rules refuse some draws (another affiliate's code in
                // a family): those are simply not there.
                let _ = registry.insert(*a);
            }
            let mut probes: Vec<CouponCode> = CODE_POOL.iter().map(|c| CouponCode::parse(c).unwrap()).collect();
            probes.extend(CODE_POOL.iter().map(|c| CouponCode::parse(&format!("{c}X9")).unwrap()));
            for code in probes {
                let own = registry.history(&code);
                let want = if !own.is_empty() {
                    CodeLookup::from_history(&own, at)
                } else {
                    let longest = (3..=code.len())
                        .rev()
                        .filter_map(|n| CouponCode::parse(&code.as_str()[..n]).ok())
                        .map(|prefix| registry.family_history(&prefix))
                        .find(|h| !h.is_empty());
                    longest.map_or(CodeLookup::Unknown, |h| CodeLookup::from_history(&h, at))
                };
                let got = registry.lookup(&code, at).unwrap();
                prop_assert_eq!(got, want, "{}", code);
                if !own.is_empty() {
                    prop_assert!(got.assignment().is_none_or(|a| !a.family), "a family beat {}", code);
                }
            }
        }
    }
}
