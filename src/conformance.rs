//! A conformance suite for store backends.
//!
//! Each `check_*` function builds stores through a closure you give, runs
//! the store's contract against them, and returns the first [`Violation`].
//! The memory stores pass it; run it in your own tests against your
//! PostgreSQL, Redis or other backend:
//!
//! ```
//! use attributor::{conformance, MemoryCodeRegistry};
//!
//! conformance::check_code_registry(|assignments| {
//!     let registry = MemoryCodeRegistry::new();
//!     for a in assignments {
//!         registry.insert(*a).expect("fixtures are consistent");
//!     }
//!     registry
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::binding::{Binding, BindingStore};
use crate::clicks::{ClickQuery, ClickStore};
use crate::code::CouponCode;
use crate::conversion::{Click, Conversion, EventKind, EventKinds, SubIds};
use crate::decision::{Decision, Duplicate};
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId, Label, SubId};
use crate::ledger::{Ledger, Recording};
use crate::policy::{ClickPick, Policy, UniqueKey, Uniqueness};
use crate::registry::{CodeAssignment, CodeLookup, CodeRegistry, CreditMode, NearCode, Nearness};
use crate::resolve::{ClickEvidence, CodeEvidence, Evidence, resolve};

/// A store broke its contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule that was broken.
    pub check: &'static str,
    /// What the store did instead.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

impl std::error::Error for Violation {}

fn expect<T: PartialEq + fmt::Debug, E: fmt::Display>(
    check: &'static str,
    got: Result<T, E>,
    want: T,
) -> Result<(), Violation> {
    match got {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(Violation {
            check,
            detail: format!("expected {want:?}, got {got:?}"),
        }),
        Err(e) => Err(Violation {
            check,
            detail: format!("the store failed: {e}"),
        }),
    }
}

/// A fixed instant the fixtures are built around.
fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        + TimeDelta::days(i64::from(d))
}

/// `d` days and `ms` milliseconds after the fixtures' first instant, for
/// boundaries that fall within a second.
fn day_ms(d: u32, ms: i64) -> DateTime<Utc> {
    day(d) + TimeDelta::milliseconds(ms)
}

/// `d` days and `ns` nanoseconds after the fixtures' first instant, for
/// values a store must keep to the nanosecond.
fn day_ns(d: u32, ns: i64) -> DateTime<Utc> {
    day(d) + TimeDelta::nanoseconds(ns)
}

/// An instant inside a leap second: half a second into the one at the
/// end of 2016-12-31. chrono holds it as the last second of the day with
/// more than a billion nanoseconds.
fn leap_second() -> Result<DateTime<Utc>, Violation> {
    chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        .map(|t| t.and_utc())
        .ok_or(Violation {
            check: "fixture",
            detail: "no leap second".to_owned(),
        })
}

/// The second after [`leap_second`]: 2017-01-01 00:00:00.
fn new_year() -> Result<DateTime<Utc>, Violation> {
    Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0)
        .single()
        .ok_or(Violation {
            check: "fixture",
            detail: "no new year".to_owned(),
        })
}

fn code(s: &str) -> Result<CouponCode, Violation> {
    CouponCode::parse(s).map_err(|e| Violation {
        check: "fixture",
        detail: e.to_string(),
    })
}

fn id<T: core::str::FromStr>(s: &str) -> Result<T, Violation> {
    s.parse().map_err(|_| Violation {
        check: "fixture",
        detail: format!("bad id {s:?}"),
    })
}

/// Forty conversions (more than one batch of
/// [`Attributor::attribute_all`](crate::Attributor::attribute_all)) that
/// name `customers`, `clicks` and `codes` in turn, for the checks that a
/// store's `prefetch` hint changes no answer.
fn hint_conversions(
    customers: &[CustomerId],
    clicks: &[ClickId],
    codes: &[CouponCode],
) -> Result<Vec<Conversion>, Violation> {
    (0..40u32)
        .map(|i| {
            let n = i as usize;
            let mut c = Conversion::new(id(&format!("c{}", i % 12))?, EventKind::Purchase, day(i % 32));
            c.customer = customers.get(n % customers.len().max(1)).copied();
            c.click = clicks.get(n % clicks.len().max(1)).copied();
            if let Some(code) = codes.get(n % codes.len().max(1)) {
                c = c.with_code(*code);
            }
            Ok(c)
        })
        .collect()
}

/// The assignments [`check_code_registry`] hands to `build`. They are
/// consistent: a registry that refuses one is at fault.
pub fn registry_fixture() -> Result<Vec<CodeAssignment>, Violation> {
    let (a1, a2) = (AffiliateId::new(1), AffiliateId::new(2));
    Ok(vec![
        CodeAssignment::new(code("EXPIRES")?, a1, day(10)).with_valid_until(day(20)),
        CodeAssignment::new(code("REVOKED")?, a1, day(10))
            .with_valid_until(day(20))
            .with_revoked(true),
        CodeAssignment::new(code("LATER")?, a1, day(30)),
        CodeAssignment::new(code("HANDED")?, a1, day(10)).with_valid_until(day(20)),
        CodeAssignment::new(code("HANDED")?, a2, day(20)),
        CodeAssignment::new(code("GAPPY")?, a1, day(10)).with_valid_until(day(20)),
        CodeAssignment::new(code("GAPPY")?, a2, day(30)).with_valid_until(day(40)),
        CodeAssignment::new(code("CREATOR")?, a1, day_ms(10, 250))
            .with_valid_until(day_ms(20, 750))
            .with_mode(CreditMode::IfInvolved)
            .with_label(id::<Label>("spring-sale")?),
        CodeAssignment::new(code("ALWAYS")?, a2, day(10)).with_mode(CreditMode::Always),
        // Revoked, then given again: the latest interval, not any revoked
        // one, says why nothing is active.
        CodeAssignment::new(code("RETURNS")?, a1, day(10))
            .with_valid_until(day(20))
            .with_revoked(true),
        CodeAssignment::new(code("RETURNS")?, a2, day(30)).with_valid_until(day(40)),
        // Boundaries to the nanosecond, which a store that keeps
        // microseconds (or milliseconds) rounds into another answer.
        CodeAssignment::new(code("NANOS")?, a1, day_ns(10, 123_456_789))
            .with_valid_until(day_ns(20, 987_654_321)),
        // One ends, and one starts, at the second after a leap second: a
        // lookup inside the leap second is before both ends. (A store that
        // counts a leap second as the next second answers otherwise.)
        CodeAssignment::new(code("OLDYEAR")?, a1, new_year()? - TimeDelta::days(1))
            .with_valid_until(new_year()?),
        CodeAssignment::new(code("NEWYEAR")?, a2, new_year()?),
        // Near codes: two one edit from BOSS2, of two affiliates; one that
        // runs out; two look-alikes of one affiliate.
        CodeAssignment::new(code("BOSS20")?, a1, day(10)),
        CodeAssignment::new(code("BOSS21")?, a2, day(10)),
        CodeAssignment::new(code("BOSS30")?, a1, day(10)).with_valid_until(day(20)),
        CodeAssignment::new(code("SOL10")?, a1, day(10)),
        CodeAssignment::new(code("S0L10")?, a1, day(10)),
        // Families: FAM*, a longer FAMX* that runs out, and a code of its
        // own in FAM* that runs out too.
        CodeAssignment::family(code("FAM")?, a2, day(10)).with_label(id::<Label>("creator")?),
        CodeAssignment::family(code("FAMX")?, a2, day(10))
            .with_valid_until(day(20))
            .with_mode(CreditMode::IfInvolved),
        CodeAssignment::new(code("FAMOUS")?, a2, day(10)).with_valid_until(day(20)),
    ])
}

/// Checks the [`CodeRegistry`] contract: active, expired, revoked, not yet
/// active and unknown codes, both interval boundaries (also within a
/// second, and to the nanosecond), a reassignment history, a revoked
/// interval followed by a later one, lookups at the earliest and latest
/// instants and in a leap second, that an assignment's credit mode and
/// label come back, and near lookups ([`CodeRegistry::near`]): look-alikes,
/// codes one character changed, added, removed or two swapped, only
/// those active at the instant, ordered by code, never the code itself;
/// and families ([`CodeAssignment::family`]): a code without assignments
/// of its own answers with the family of the longest prefix of it, a
/// code's own assignments decide for it even when they have run out.
/// `build` makes a registry holding exactly the assignments given.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_code_registry<R, F>(mut build: F) -> Result<(), Violation>
where
    R: CodeRegistry,
    F: FnMut(&[CodeAssignment]) -> R,
{
    let fixture = registry_fixture()?;
    let registry = build(&fixture);
    // A hint changes no answer below.
    let codes: Vec<CouponCode> = fixture.iter().map(|a| a.code).collect();
    registry.prefetch(&hint_conversions(&[], &[], &codes)?);
    registry.prefetch(&[]);
    let find = |i: usize| {
        fixture.get(i).copied().ok_or(Violation {
            check: "fixture",
            detail: format!("no assignment {i}"),
        })
    };
    let (expires, revoked, later, handed_a, handed_b, gap_a, gap_b) = (
        find(0)?,
        find(1)?,
        find(2)?,
        find(3)?,
        find(4)?,
        find(5)?,
        find(6)?,
    );
    let (creator, always, returns_a, returns_b) = (find(7)?, find(8)?, find(9)?, find(10)?);
    let (nanos, old_year, new_year_code) = (find(11)?, find(12)?, find(13)?);
    let ns = TimeDelta::nanoseconds(1);
    let at = |c: &str, t| -> Result<_, Violation> { Ok(registry.lookup(&code(c)?, t)) };

    expect(
        "valid_from is inclusive",
        at("EXPIRES", day(10))?,
        CodeLookup::Active(expires),
    )?;
    expect(
        "active inside the interval",
        at("expires", day(15))?,
        CodeLookup::Active(expires),
    )?;
    expect(
        "active just before valid_until",
        at("EXPIRES", day(20) - ns)?,
        CodeLookup::Active(expires),
    )?;
    expect(
        "valid_until is exclusive",
        at("EXPIRES", day(20))?,
        CodeLookup::Expired(expires),
    )?;
    expect(
        "expired after the interval",
        at("EXPIRES", day(90))?,
        CodeLookup::Expired(expires),
    )?;
    expect(
        "not yet active before valid_from",
        at("EXPIRES", day(10) - ns)?,
        CodeLookup::NotYetActive(expires),
    )?;
    expect(
        "active before revocation",
        at("REVOKED", day(19))?,
        CodeLookup::Active(revoked),
    )?;
    expect(
        "revoked from the revocation on",
        at("REVOKED", day(20))?,
        CodeLookup::Revoked(revoked),
    )?;
    expect(
        "not yet active",
        at("LATER", day(29))?,
        CodeLookup::NotYetActive(later),
    )?;
    expect("open-ended", at("LATER", day(3000))?, CodeLookup::Active(later))?;
    expect("unknown", at("NEVER", day(15))?, CodeLookup::Unknown)?;
    expect(
        "first owner before reassignment",
        at("HANDED", day(20) - ns)?,
        CodeLookup::Active(handed_a),
    )?;
    expect(
        "second owner from reassignment",
        at("HANDED", day(20))?,
        CodeLookup::Active(handed_b),
    )?;
    expect(
        "earliest of a history",
        at("HANDED", day(1))?,
        CodeLookup::NotYetActive(handed_a),
    )?;
    expect(
        "latest before a gap",
        at("GAPPY", day(25))?,
        CodeLookup::Expired(gap_a),
    )?;
    expect(
        "second interval",
        at("GAPPY", day(30))?,
        CodeLookup::Active(gap_b),
    )?;
    expect(
        "after the last interval",
        at("GAPPY", day(40))?,
        CodeLookup::Expired(gap_b),
    )?;
    expect(
        "revoked between a revoked interval and a later one",
        at("RETURNS", day(25))?,
        CodeLookup::Revoked(returns_a),
    )?;
    expect(
        "expired after a revoked interval and a later one",
        at("RETURNS", day(50))?,
        CodeLookup::Expired(returns_b),
    )?;
    expect(
        "credit mode and label come back",
        at("CREATOR", day(15))?,
        CodeLookup::Active(creator),
    )?;
    expect(
        "the always credit mode comes back",
        at("ALWAYS", day(15))?,
        CodeLookup::Active(always),
    )?;
    expect(
        "valid_from within a second is inclusive",
        at("CREATOR", creator.valid_from)?,
        CodeLookup::Active(creator),
    )?;
    expect(
        "not yet active a nanosecond before valid_from within a second",
        at("CREATOR", creator.valid_from - ns)?,
        CodeLookup::NotYetActive(creator),
    )?;
    let until = creator.valid_until.unwrap_or(DateTime::<Utc>::MAX_UTC);
    expect(
        "active a nanosecond before valid_until within a second",
        at("CREATOR", until - ns)?,
        CodeLookup::Active(creator),
    )?;
    expect(
        "valid_until within a second is exclusive",
        at("CREATOR", until)?,
        CodeLookup::Expired(creator),
    )?;
    expect(
        "valid_from is kept to the nanosecond",
        at("NANOS", nanos.valid_from)?,
        CodeLookup::Active(nanos),
    )?;
    expect(
        "not yet active a nanosecond before a valid_from with nanoseconds",
        at("NANOS", nanos.valid_from - ns)?,
        CodeLookup::NotYetActive(nanos),
    )?;
    let until = nanos.valid_until.unwrap_or(DateTime::<Utc>::MAX_UTC);
    expect(
        "active a nanosecond before a valid_until with nanoseconds",
        at("NANOS", until - ns)?,
        CodeLookup::Active(nanos),
    )?;
    expect(
        "valid_until is kept to the nanosecond",
        at("NANOS", until)?,
        CodeLookup::Expired(nanos),
    )?;
    expect(
        "a lookup at the earliest instant",
        at("HANDED", DateTime::<Utc>::MIN_UTC)?,
        CodeLookup::NotYetActive(handed_a),
    )?;
    expect(
        "a lookup at the latest instant",
        at("HANDED", DateTime::<Utc>::MAX_UTC)?,
        CodeLookup::Active(handed_b),
    )?;
    expect(
        "in a leap second, an interval that ends at the next second is active",
        at("OLDYEAR", leap_second()?)?,
        CodeLookup::Active(old_year),
    )?;
    expect(
        "in a leap second, an interval that starts at the next second is not yet active",
        at("NEWYEAR", leap_second()?)?,
        CodeLookup::NotYetActive(new_year_code),
    )?;
    check_near(&registry, find)?;
    check_families(&registry, find)
}

/// The family checks of [`check_code_registry`], over its fixture.
fn check_families<R: CodeRegistry>(
    registry: &R,
    find: impl Fn(usize) -> Result<CodeAssignment, Violation>,
) -> Result<(), Violation> {
    let (fam, famx, famous) = (find(19)?, find(20)?, find(21)?);
    let at = |c: &str, t| -> Result<_, Violation> { Ok(registry.lookup(&code(c)?, t)) };
    expect(
        "a code without assignments of its own answers with its family's",
        at("FAM-10-OFF", day(15))?,
        CodeLookup::Active(fam),
    )?;
    expect(
        "a family's prefix is in the family",
        at("FAM", day(15))?,
        CodeLookup::Active(fam),
    )?;
    expect(
        "a family is not yet active before it starts",
        at("FAM10", day(5))?,
        CodeLookup::NotYetActive(fam),
    )?;
    expect(
        "the longer prefix decides, with its mode",
        at("FAMX1", day(15))?,
        CodeLookup::Active(famx),
    )?;
    expect(
        "the longer prefix decides once it has run out too",
        at("FAMX1", day(30))?,
        CodeLookup::Expired(famx),
    )?;
    expect(
        "a code's own assignment beats its family's",
        at("FAMOUS", day(15))?,
        CodeLookup::Active(famous),
    )?;
    expect(
        "and decides once it has run out, though the family is active",
        at("FAMOUS", day(30))?,
        CodeLookup::Expired(famous),
    )?;
    expect(
        "a code outside every family is unknown",
        at("FAN10", day(15))?,
        CodeLookup::Unknown,
    )?;
    Ok(())
}

/// The near lookup checks of [`check_code_registry`], over its fixture.
fn check_near<R: CodeRegistry>(
    registry: &R,
    find: impl Fn(usize) -> Result<CodeAssignment, Violation>,
) -> Result<(), Violation> {
    let (boss20, boss21, boss30, sol, s0l) = (find(14)?, find(15)?, find(16)?, find(17)?, find(18)?);
    let near = |typed: &str, t| -> Result<_, Violation> {
        let typed = code(typed)?;
        Ok(registry
            .near(&typed, t)
            .map(|found| found.into_iter().collect::<Vec<_>>()))
    };
    let of = |typed: &str, list: &[(CodeAssignment, Nearness)]| -> Result<Vec<NearCode>, Violation> {
        let typed = code(typed)?;
        Ok(list
            .iter()
            .map(|&(assignment, nearness)| NearCode {
                typed,
                assignment,
                nearness,
            })
            .collect())
    };
    use Nearness::{LookAlike, OneEdit};
    expect(
        "a look-alike of an active code",
        near("B0SS20", day(30))?,
        of("B0SS20", &[(boss20, LookAlike)])?,
    )?;
    expect(
        "two codes one character added, by code",
        near("BOSS2", day(30))?,
        of("BOSS2", &[(boss20, OneEdit), (boss21, OneEdit)])?,
    )?;
    expect(
        "a code one character removed",
        near("BOSSS20", day(30))?,
        of("BOSSS20", &[(boss20, OneEdit)])?,
    )?;
    expect(
        "a code with two neighbours swapped",
        near("OBSS20", day(30))?,
        of("OBSS20", &[(boss20, OneEdit)])?,
    )?;
    expect(
        "a code one character changed, never the code itself",
        near("BOSS20", day(30))?,
        of("BOSS20", &[(boss21, OneEdit)])?,
    )?;
    expect(
        "a near code while it is active",
        near("BOSS3O", day(15))?,
        of("BOSS3O", &[(boss30, LookAlike)])?,
    )?;
    expect("not once it has run out", near("BOSS3O", day(30))?, Vec::new())?;
    expect(
        "two look-alikes of one affiliate, by code",
        near("5OL1O", day(30))?,
        of("5OL1O", &[(s0l, LookAlike), (sol, LookAlike)])?,
    )?;
    expect("nothing near", near("QWERTY", day(30))?, Vec::new())?;
    Ok(())
}

/// The clicks [`check_click_store`] hands to `build`.
pub fn click_fixture() -> Result<Vec<Click>, Violation> {
    let c: CustomerId = id("alice")?;
    let other: CustomerId = id("bob")?;
    let dave: CustomerId = id("dave")?;
    let (a1, a2) = (AffiliateId::new(1), AffiliateId::new(2));
    Ok(vec![
        Click::new(id("k1")?, a1, day(1)).with_customer(c),
        Click::new(id("k3")?, a2, day(2)).with_customer(c),
        Click::new(id("k2")?, a1, day(2)).with_customer(c),
        Click::new(id("k4")?, a2, day_ms(3, 500))
            .with_customer(c)
            .with_sub_ids(
                SubIds::default()
                    .with(1, id::<SubId>("yt")?)
                    .with(3, id::<SubId>("spring")?),
            ),
        Click::new(id("k5")?, a1, day(2)).with_customer(other),
        Click::new(id("anon")?, a1, day(2)),
        // A tie that byte-wise order breaks otherwise than a collation
        // that ignores case or punctuation would. The first click listed
        // wins this tie and the last listed wins alice's, so that a store
        // breaking ties by the order of insertion fails one of them.
        Click::new(id("B-7")?, a1, day(4)).with_customer(dave),
        Click::new(id("a1")?, a2, day(4)).with_customer(dave),
        Click::new(id("a-9")?, a2, day(4)).with_customer(dave),
        // A time to the nanosecond, which a store that keeps microseconds
        // rounds.
        Click::new(id("ns-1")?, a1, day_ns(5, 123_456_789)).with_customer(id("erin")?),
        // At the second after a leap second.
        Click::new(id("ny")?, a2, new_year()?).with_customer(id("gina")?),
    ])
}

/// Checks the [`ClickStore`] contract: lookup by id, first and last click
/// in an inclusive range (also at both boundaries within a second, and to
/// the nanosecond), ties to the smaller id, the affiliate filter and
/// exclusion, an empty range, the earliest and latest instants as bounds,
/// and that a click comes back whole, its customer, sub ids and
/// nanoseconds included. `build` makes a store holding exactly the clicks
/// given.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_click_store<S, F>(mut build: F) -> Result<(), Violation>
where
    S: ClickStore,
    F: FnMut(&[Click]) -> S,
{
    let fixture = click_fixture()?;
    let store = build(&fixture);
    // A hint changes no answer below.
    let mut customers: Vec<CustomerId> = fixture.iter().filter_map(|c| c.customer).collect();
    customers.push(id("carol")?);
    let ids: Vec<ClickId> = fixture.iter().map(|c| c.id).collect();
    store.prefetch(&hint_conversions(&customers, &ids, &[])?);
    store.prefetch(&[]);
    let by_id = |s: &str| fixture.iter().find(|c| c.id.as_str() == s).copied();
    let alice: CustomerId = id("alice")?;
    let k: ClickId = id("k1")?;
    expect("click by id", store.click(&k), by_id("k1"))?;
    expect("unknown click id", store.click(&id("nope")?), None)?;
    let q = |from, to, pick, affiliate| ClickQuery {
        customer: alice,
        from,
        to,
        pick,
        affiliate,
        exclude: None,
    };
    let id_of = |r: Result<Option<Click>, S::Error>| r.map(|c| c.map(|c| c.id.to_string()));
    let some = |s: &str| Some(s.to_owned());
    let (a1, a2) = (AffiliateId::new(1), AffiliateId::new(2));
    expect(
        "first click",
        id_of(store.find(&q(day(0), day(9), ClickPick::First, None))),
        some("k1"),
    )?;
    expect(
        "last click",
        id_of(store.find(&q(day(0), day(9), ClickPick::Last, None))),
        some("k4"),
    )?;
    expect(
        "from is inclusive",
        id_of(store.find(&q(day(1), day(1), ClickPick::Last, None))),
        some("k1"),
    )?;
    expect(
        "to is inclusive",
        id_of(store.find(&q(day_ms(3, 500), day_ms(3, 500), ClickPick::First, None))),
        some("k4"),
    )?;
    expect(
        "from is exact within a second",
        id_of(store.find(&q(day_ms(3, 501), day(9), ClickPick::First, None))),
        None,
    )?;
    expect(
        "to is exact within a second",
        id_of(store.find(&q(day(3), day_ms(3, 499), ClickPick::First, None))),
        None,
    )?;
    expect(
        "a click by id comes back whole, with its sub ids",
        store.click(&id("k4")?),
        by_id("k4"),
    )?;
    expect(
        "a click found by a query comes back whole",
        store.find(&q(day(0), day(9), ClickPick::Last, None)),
        by_id("k4"),
    )?;
    expect(
        "first on a tie goes to the smaller id",
        id_of(store.find(&q(day(2), day(9), ClickPick::First, None))),
        some("k2"),
    )?;
    expect(
        "last on a tie goes to the smaller id",
        id_of(store.find(&q(day(0), day(2), ClickPick::Last, None))),
        some("k2"),
    )?;
    expect(
        "affiliate filter",
        id_of(store.find(&q(day(0), day(9), ClickPick::Last, Some(a1)))),
        some("k2"),
    )?;
    expect(
        "affiliate filter, first",
        id_of(store.find(&q(day(0), day(9), ClickPick::First, Some(a2)))),
        some("k3"),
    )?;
    let without = |affiliate, query: ClickQuery| ClickQuery {
        exclude: Some(affiliate),
        ..query
    };
    expect(
        "exclusion",
        id_of(store.find(&without(a2, q(day(0), day(9), ClickPick::Last, None)))),
        some("k2"),
    )?;
    expect(
        "exclusion keeps the other click of a tie",
        id_of(store.find(&without(a1, q(day(2), day(2), ClickPick::Last, None)))),
        some("k3"),
    )?;
    expect(
        "exclusion of the only affiliate asked for",
        id_of(store.find(&without(a1, q(day(0), day(9), ClickPick::Last, Some(a1))))),
        None,
    )?;
    expect(
        "empty range",
        id_of(store.find(&q(day(9), day(0), ClickPick::First, None))),
        None,
    )?;
    let dave_id: CustomerId = id("dave")?;
    let dave = |pick, exclude| ClickQuery {
        customer: dave_id,
        exclude,
        ..q(day(0), day(9), pick, None)
    };
    expect(
        "ids compare byte-wise: upper case before lower case",
        id_of(store.find(&dave(ClickPick::First, None))),
        some("B-7"),
    )?;
    expect(
        "ids compare byte-wise on a tie for the last click too",
        id_of(store.find(&dave(ClickPick::Last, None))),
        some("B-7"),
    )?;
    expect(
        "ids compare byte-wise: `-` before digits",
        id_of(store.find(&dave(ClickPick::Last, Some(a1)))),
        some("a-9"),
    )?;
    expect(
        "nothing in range",
        id_of(store.find(&q(day(4), day(9), ClickPick::First, None))),
        None,
    )?;
    let erin = |from, to, pick| ClickQuery {
        customer: id::<CustomerId>("erin").unwrap_or(alice),
        ..q(from, to, pick, None)
    };
    let at_ns = day_ns(5, 123_456_789);
    let ns = TimeDelta::nanoseconds(1);
    expect(
        "a click comes back with its nanoseconds",
        store.click(&id("ns-1")?),
        by_id("ns-1"),
    )?;
    expect(
        "from is exact to the nanosecond",
        id_of(store.find(&erin(at_ns + ns, day(9), ClickPick::First))),
        None,
    )?;
    expect(
        "to is exact to the nanosecond",
        id_of(store.find(&erin(day(0), at_ns - ns, ClickPick::Last))),
        None,
    )?;
    expect(
        "a range of one nanosecond",
        id_of(store.find(&erin(at_ns, at_ns, ClickPick::Last))),
        some("ns-1"),
    )?;
    let (earliest, latest) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    expect(
        "the earliest and latest instants as bounds, last click",
        id_of(store.find(&q(earliest, latest, ClickPick::Last, None))),
        some("k4"),
    )?;
    expect(
        "the earliest and latest instants as bounds, first click",
        id_of(store.find(&q(earliest, latest, ClickPick::First, None))),
        some("k1"),
    )?;
    expect(
        "a range that ends at the earliest instant",
        id_of(store.find(&q(earliest, earliest, ClickPick::First, None))),
        None,
    )?;
    let gina = |from, to| ClickQuery {
        customer: id::<CustomerId>("gina").unwrap_or(alice),
        ..q(from, to, ClickPick::First, None)
    };
    expect(
        "a range that ends in a leap second is before the next second",
        id_of(store.find(&gina(earliest, leap_second()?))),
        None,
    )?;
    expect(
        "a range that starts in a leap second holds the next second",
        id_of(store.find(&gina(leap_second()?, new_year()?))),
        some("ny"),
    )?;
    let stranger = ClickQuery {
        customer: id("carol")?,
        ..q(day(0), day(9), ClickPick::First, None)
    };
    expect("unknown customer", id_of(store.find(&stranger)), None)?;
    for click in &fixture {
        let want = Some(crate::resolve::ClickEvidence::from(click));
        expect(
            "click evidence agrees with click",
            store.click_evidence(&click.id),
            want,
        )?;
    }
    // The customer is only a hint: every click, with every customer named.
    for click in &fixture {
        for customer in &customers {
            expect(
                "customer click evidence agrees with click evidence",
                store.customer_click_evidence(customer, &click.id),
                Some(crate::resolve::ClickEvidence::from(click)),
            )?;
        }
    }
    for customer in &customers {
        expect(
            "customer click evidence of an unknown click",
            store.customer_click_evidence(customer, &id("nope")?),
            None,
        )?;
    }
    for pick in [ClickPick::First, ClickPick::Last] {
        for affiliate in [None, Some(a1), Some(a2)] {
            let query = q(day(0), day(9), pick, affiliate);
            let whole = store
                .find(&query)
                .map(|c| c.map(|c| crate::resolve::ClickEvidence::from(&c)));
            let evidence = store.find_evidence(&query);
            match (whole, evidence) {
                (Ok(a), Ok(b)) if a == b => {}
                (a, b) => {
                    return Err(Violation {
                        check: "find evidence agrees with find",
                        detail: format!("{:?} against {:?}", a.ok(), b.ok()),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Checks the [`BindingStore`] contract: the latest binding strictly before
/// an instant, expired or not, idempotent rewrites, late writes of older
/// bindings, that a binding comes back whole (its expiry, or none, and its
/// event), instants kept to the nanosecond and in a leap second, and the
/// earliest and latest instants as bounds. `build` makes an empty store.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_binding_store<S, F>(mut build: F) -> Result<(), Violation>
where
    S: BindingStore,
    F: FnMut() -> S,
{
    let store = build();
    let customer: CustomerId = id("alice")?;
    let binding = |affiliate: u64, d: u32, conversion: &str| -> Result<Binding, Violation> {
        Ok(Binding {
            customer,
            affiliate: AffiliateId::new(affiliate),
            bound_at: day(d),
            expires_at: Some(day(d + 100)),
            event: EventKind::Registration,
            conversion: id(conversion)?,
        })
    };
    let before = |t| store.binding_before(&customer, t);
    let write = |b: &Binding, check: &'static str| {
        store.bind(b).map_err(|e| Violation {
            check,
            detail: format!("the store failed: {e}"),
        })
    };
    let ns = TimeDelta::nanoseconds(1);
    expect("nothing bound yet", before(day(50)), None)?;
    let first = binding(1, 10, "c1")?;
    write(&first, "bind")?;
    expect("bound_at is exclusive", before(day(10)), None)?;
    expect("latest before", before(day(10) + ns), Some(first))?;
    let second = binding(2, 20, "c2")?;
    write(&second, "bind a later binding")?;
    // A hint changes no answer below.
    store.prefetch(&hint_conversions(&[customer, id("bob")?], &[], &[])?);
    expect(
        "the earlier binding before the later one",
        before(day(20)),
        Some(first),
    )?;
    expect("the later binding after it", before(day(21)), Some(second))?;
    let rewritten = Binding {
        affiliate: AffiliateId::new(3),
        ..second
    };
    write(&rewritten, "rebind")?;
    write(&rewritten, "rebind again")?;
    expect(
        "a rewrite of the same conversion replaces it",
        before(day(21)),
        Some(rewritten),
    )?;
    expect("a rewrite keeps other conversions", before(day(15)), Some(first))?;
    let late = binding(4, 5, "c0")?;
    write(&late, "bind an older binding late")?;
    expect(
        "a late older binding does not hide a newer one",
        before(day(21)),
        Some(rewritten),
    )?;
    expect(
        "a late older binding applies to its own past",
        before(day(6)),
        Some(late),
    )?;
    // The winner of this tie is written last, and of the tie at day 80
    // first, so that a store breaking ties by the order of writes fails one.
    let twin = binding(5, 30, "c9")?;
    let sibling = binding(6, 30, "c8")?;
    write(&sibling, "bind at an instant")?;
    write(&twin, "bind another conversion at the same instant")?;
    expect(
        "equal times go to the greater conversion id",
        before(day(31)),
        Some(twin),
    )?;
    let moved = Binding {
        bound_at: day(1),
        ..twin
    };
    write(&moved, "rewrite the latest binding to an earlier time")?;
    expect(
        "a rewrite to an earlier time leaves the next latest in force",
        before(day(31)),
        Some(sibling),
    )?;
    expect("a rewrite moves a binding in time", before(day(2)), Some(moved))?;
    let short = Binding {
        expires_at: Some(day_ms(41, 250)),
        event: EventKind::FirstDeposit,
        ..binding(7, 40, "c7")?
    };
    write(&short, "bind for a day")?;
    expect(
        "an expired binding is still the latest, with its expiry and event",
        before(day(60)),
        Some(short),
    )?;
    let lasting = Binding {
        expires_at: None,
        event: EventKind::Custom(id::<Label>("upsell")?),
        ..binding(8, 70, "c6")?
    };
    write(&lasting, "bind for good on a custom event")?;
    expect(
        "a binding without expiry on a custom event comes back whole",
        before(day(71)),
        Some(lasting),
    )?;
    // Conversion ids compare byte-wise: `B` (0x42) before `a` (0x61), where
    // a case-insensitive collation would put `a-9` first.
    let upper = binding(9, 80, "B-7")?;
    let lower = binding(10, 80, "a-9")?;
    write(&lower, "bind a lower-case conversion id")?;
    write(&upper, "bind an upper-case conversion id at the same instant")?;
    expect(
        "equal times go to the byte-wise greater conversion id",
        before(day(81)),
        Some(lower),
    )?;
    expect(
        "nothing is bound before the earliest instant",
        before(DateTime::<Utc>::MIN_UTC),
        None,
    )?;
    expect(
        "the latest binding before the latest instant",
        before(DateTime::<Utc>::MAX_UTC),
        Some(lower),
    )?;
    // To the nanosecond, and in a leap second, for a customer of its own.
    let frank: CustomerId = id("frank")?;
    let precise = Binding {
        customer: frank,
        bound_at: day_ns(90, 123_456_789),
        expires_at: Some(day_ns(91, 987_654_321)),
        ..binding(11, 90, "c-ns")?
    };
    write(&precise, "bind to the nanosecond")?;
    let frank_before = |t| store.binding_before(&frank, t);
    expect(
        "bound_at is exclusive to the nanosecond",
        frank_before(precise.bound_at),
        None,
    )?;
    expect(
        "a binding comes back with its nanoseconds",
        frank_before(precise.bound_at + ns),
        Some(precise),
    )?;
    let leap = Binding {
        customer: frank,
        bound_at: leap_second()?,
        expires_at: Some(leap_second()? + TimeDelta::milliseconds(100)),
        ..binding(12, 1, "c-leap")?
    };
    write(&leap, "bind in a leap second")?;
    expect(
        "a binding made in a leap second is not before it",
        frank_before(leap.bound_at),
        None,
    )?;
    expect(
        "a binding made in a leap second comes back exactly",
        frank_before(leap.bound_at + ns),
        Some(leap),
    )?;
    expect(
        "other customers are not bound",
        store.binding_before(&id("bob")?, day(50)),
        None,
    )?;
    Ok(())
}

/// A decision for `conversion` that credits nobody, for ledger checks.
fn sample_decision(conversion: &str, event: EventKind) -> Result<Decision, Violation> {
    let conversion = Conversion::new(id::<ConversionId>(conversion)?, event, day(1));
    Ok(resolve(&conversion, &Evidence::new(), &Policy::coupon_first()))
}

/// A decision that credits a code owner, reports an outranked click and
/// binds the customer, for the check that a ledger keeps all of it.
fn full_decision(conversion: &str) -> Result<Decision, Violation> {
    let customer: CustomerId = id("alice")?;
    let entered = code("ALICE10")?;
    let assignment =
        CodeAssignment::new(entered, AffiliateId::new(1), day(0)).with_label(id::<Label>("spring-sale")?);
    let click = Click::new(id("k1")?, AffiliateId::new(2), day_ms(1, 250)).with_customer(customer);
    let conversion = Conversion::new(id(conversion)?, EventKind::Purchase, day_ms(2, 500))
        .with_customer(customer)
        .with_click(click.id)
        .with_code(entered);
    let mut evidence = Evidence::new();
    evidence.codes.push(CodeEvidence {
        code: entered,
        lookup: CodeLookup::Active(assignment),
    });
    evidence.clicks.push(ClickEvidence::from(&click));
    Ok(resolve(
        &conversion,
        &evidence,
        &Policy::coupon_first().with_bind_on(EventKinds::PURCHASE),
    ))
}

/// A decision made in a leap second, with a click to the nanosecond, for
/// the check that a ledger keeps instants exactly.
fn precise_decision(conversion: &str) -> Result<Decision, Violation> {
    let at = leap_second()?;
    let click = ClickEvidence {
        id: id("k-ns")?,
        affiliate: AffiliateId::new(4),
        clicked_at: at - TimeDelta::nanoseconds(86_399_999_999_999),
    };
    let conversion = Conversion::new(id(conversion)?, EventKind::Registration, at)
        .with_customer(id("alice")?)
        .with_click(click.id);
    Ok(resolve(
        &conversion,
        &Evidence::new().with_click(click),
        &Policy::click_first().with_bind_on(EventKinds::REGISTRATION),
    ))
}

/// Checks the [`Ledger`] contract: get, insert-if-absent, that a recorded
/// decision is never replaced, that it comes back whole (its credits, its
/// evidence, the binding it wrote and the conversion it duplicates, with
/// instants to the nanosecond and in a leap second), and that of eight
/// threads recording decisions for one conversion id at once exactly one
/// records, and the others get its decision. Then the claims
/// ([`UniqueKey`]): that a key is held by the conversion that recorded
/// with it, that a conversion which claims a held key records nothing
/// (not its decision, not its other keys) and is told the first such key
/// and its holder, that the conversion id is checked before the keys, that
/// keys differ by kind, customer, event and click, and that of eight
/// conversions claiming one key at once exactly one records. `build`
/// makes an empty ledger.
///
/// # Errors
///
/// The first [`Violation`] found.
pub fn check_ledger<L, F>(mut build: F) -> Result<(), Violation>
where
    L: Ledger + Sync,
    F: FnMut() -> L,
{
    let ledger = build();
    let first = sample_decision("c1", EventKind::Purchase)?;
    let conflicting = sample_decision("c1", EventKind::Registration)?;
    let other = sample_decision("c2", EventKind::Purchase)?;
    expect("nothing recorded yet", ledger.get(&first.conversion), None)?;
    expect("record inserts when absent", ledger.record(&first), None)?;
    // A hint changes no answer below.
    ledger.prefetch(&hint_conversions(&[], &[], &[])?);
    expect(
        "get returns the recorded decision",
        ledger.get(&first.conversion),
        Some(first.clone()),
    )?;
    expect(
        "record returns the earlier decision when present",
        ledger.record(&conflicting),
        Some(first.clone()),
    )?;
    expect(
        "a recorded decision is never replaced",
        ledger.get(&first.conversion),
        Some(first.clone()),
    )?;
    expect("ids are independent", ledger.get(&other.conversion), None)?;
    expect("record another id", ledger.record(&other), None)?;
    expect("both kept", ledger.get(&first.conversion), Some(first))?;
    expect("the other is kept", ledger.get(&other.conversion), Some(other))?;
    let full = full_decision("c3")?;
    expect(
        "record a decision that credits and binds",
        ledger.record(&full),
        None,
    )?;
    expect(
        "a decision comes back whole, with its credits, evidence and binding",
        ledger.get(&full.conversion),
        Some(full),
    )?;
    let precise = precise_decision("c4")?;
    expect(
        "record a decision made in a leap second",
        ledger.record(&precise),
        None,
    )?;
    expect(
        "a decision comes back with its instants exact",
        ledger.get(&precise.conversion),
        Some(precise),
    )?;
    check_race(&ledger)?;
    check_claims(&build())?;
    check_claim_race(&build())
}

/// The claims part of [`check_ledger`], on an empty ledger.
fn check_claims<L: Ledger>(ledger: &L) -> Result<(), Violation> {
    let alice: CustomerId = id("alice")?;
    let deposits = UniqueKey::Customer {
        customer: alice,
        event: EventKind::FirstDeposit,
    };
    let registrations = UniqueKey::Customer {
        customer: alice,
        event: EventKind::Registration,
    };
    let click = UniqueKey::Click {
        click: id("k1")?,
        event: EventKind::FirstDeposit,
    };
    let registered_by_click = UniqueKey::Click {
        click: id("k1")?,
        event: EventKind::Registration,
    };
    // The same text as a customer id and as a click id: different keys.
    let alice_click = UniqueKey::Click {
        click: id("alice")?,
        event: EventKind::FirstDeposit,
    };
    let bob = UniqueKey::Customer {
        customer: id("bob")?,
        event: EventKind::FirstDeposit,
    };
    let first = sample_decision("ftd-1", EventKind::FirstDeposit)?;
    expect("no key is held yet", ledger.holder(&deposits), None)?;
    expect(
        "record_claiming records when the id and the keys are free",
        ledger.record_claiming(&first, &[deposits, click]),
        Recording::Recorded,
    )?;
    expect(
        "the decision recorded with claims can be read",
        ledger.get(&first.conversion),
        Some(first.clone()),
    )?;
    expect(
        "a customer key is held by the conversion that claimed it",
        ledger.holder(&deposits),
        Some(first.conversion),
    )?;
    expect(
        "a click key is held by the conversion that claimed it",
        ledger.holder(&click),
        Some(first.conversion),
    )?;
    for (check, free) in [
        ("keys differ by kind, not only by their text", alice_click),
        ("keys differ by event kind", registrations),
        ("click keys differ by event kind", registered_by_click),
        ("keys differ by customer", bob),
    ] {
        expect(check, ledger.holder(&free), None)?;
    }

    let mut second = sample_decision("ftd-2", EventKind::FirstDeposit)?;
    second.duplicate = Some(Duplicate {
        of: first.conversion,
        by: Uniqueness::Customer,
    });
    expect(
        "a conversion claiming a held key is told the first held key and its holder",
        ledger.record_claiming(&second, &[bob, click, deposits]),
        Recording::Taken {
            key: click,
            by: first.conversion,
        },
    )?;
    expect(
        "a conversion that found a key taken recorded nothing",
        ledger.get(&second.conversion),
        None,
    )?;
    expect(
        "a conversion that found a key taken claimed none of its keys",
        ledger.holder(&bob),
        None,
    )?;
    expect(
        "a duplicate is recorded without the keys it broke",
        ledger.record_claiming(&second, &[]),
        Recording::Recorded,
    )?;
    expect(
        "a duplicate comes back whole, naming the conversion it repeats",
        ledger.get(&second.conversion),
        Some(second.clone()),
    )?;

    let retried = sample_decision("ftd-1", EventKind::Purchase)?;
    expect(
        "the conversion id is checked before the keys",
        ledger.record_claiming(&retried, &[deposits, registrations]),
        Recording::Earlier(first.clone()),
    )?;
    expect(
        "a conversion recorded before claims nothing more when retried",
        ledger.holder(&registrations),
        None,
    )?;
    expect(
        "a decision recorded without keys is found by record_claiming",
        ledger.record_claiming(&second, &[registrations]),
        Recording::Earlier(second),
    )?;

    let registration = sample_decision("reg-1", EventKind::Registration)?;
    expect(
        "another event kind of the same customer is free",
        ledger.record_claiming(&registration, &[registrations, alice_click]),
        Recording::Recorded,
    )?;
    expect(
        "its keys are held by it",
        ledger.holder(&alice_click),
        Some(registration.conversion),
    )?;
    expect(
        "the keys held before keep their holder",
        ledger.holder(&deposits),
        Some(first.conversion),
    )
}

/// Runs `call` on each of `racers`, a thread each, the threads let go
/// together; each result in order, an error or a panic as text.
fn race_each<T: Send, E: fmt::Display>(
    racers: &[Decision],
    call: impl Fn(&Decision) -> Result<T, E> + Sync,
) -> Vec<Result<T, String>> {
    let start = std::sync::Barrier::new(racers.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = racers
            .iter()
            .map(|d| {
                let (start, call) = (&start, &call);
                scope.spawn(move || {
                    start.wait();
                    call(d).map_err(|e| e.to_string())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("the thread panicked".to_owned())))
            .collect()
    })
}

/// Eight threads record eight conversions claiming one key at once.
fn check_claim_race<L: Ledger + Sync>(ledger: &L) -> Result<(), Violation> {
    let key = UniqueKey::Customer {
        customer: id("racer")?,
        event: EventKind::FirstDeposit,
    };
    let racers = (0..8u32)
        .map(|i| sample_decision(&format!("ftd-race-{i}"), EventKind::FirstDeposit))
        .collect::<Result<Vec<Decision>, Violation>>()?;
    let results = race_each(&racers, |d| ledger.record_claiming(d, &[key]));
    let race = |detail: String| Violation {
        check: "conversions racing for one key: one records, the others are told it holds the key",
        detail,
    };
    let mut winner = None;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(Recording::Recorded) if winner.is_none() => winner = racers.get(i),
            Ok(Recording::Recorded) => return Err(race("two calls recorded".to_owned())),
            Ok(Recording::Taken { .. }) => {}
            Ok(Recording::Earlier(d)) => {
                return Err(race(format!(
                    "a call was told of an earlier decision for {}",
                    d.conversion
                )));
            }
            Err(e) => return Err(race(format!("the store failed: {e}"))),
        }
    }
    let winner = winner.ok_or_else(|| race("no call recorded".to_owned()))?;
    for (result, racer) in results.iter().zip(&racers) {
        if let Ok(Recording::Taken { key: taken, by }) = result {
            if *taken != key || *by != winner.conversion {
                return Err(race(format!(
                    "told {taken:?} is held by {by}, not by {}",
                    winner.conversion
                )));
            }
            if let Ok(Some(_)) = ledger.get(&racer.conversion) {
                return Err(race(format!("the loser {} was recorded", racer.conversion)));
            }
        }
    }
    expect(
        "after a race for a key, the winner holds it",
        ledger.holder(&key),
        Some(winner.conversion),
    )
}

/// Eight threads record eight decisions for one conversion id at once.
fn check_race<L: Ledger + Sync>(ledger: &L) -> Result<(), Violation> {
    let racers = (0..8u32)
        .map(|i| {
            let conversion = Conversion::new(id("race")?, EventKind::Purchase, day(i));
            Ok(resolve(&conversion, &Evidence::new(), &Policy::coupon_first()))
        })
        .collect::<Result<Vec<Decision>, Violation>>()?;
    let results = race_each(&racers, |d| ledger.record(d));
    let race = |detail: String| Violation {
        check: "racing records of one conversion: one records, the others get its decision",
        detail,
    };
    let mut winner = None;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(None) if winner.is_none() => winner = racers.get(i),
            Ok(None) => return Err(race("two calls recorded".to_owned())),
            Ok(Some(_)) => {}
            Err(e) => return Err(race(format!("the store failed: {e}"))),
        }
    }
    let winner = winner.ok_or_else(|| race("no call recorded".to_owned()))?;
    for result in &results {
        if let Ok(Some(earlier)) = result {
            if earlier != winner {
                return Err(race(format!(
                    "a call was told of a decision at {}, the one recorded is at {}",
                    earlier.occurred_at, winner.occurred_at
                )));
            }
        }
    }
    expect(
        "after a race, the winner's decision is recorded",
        ledger.get(&winner.conversion),
        Some(winner.clone()),
    )
}
