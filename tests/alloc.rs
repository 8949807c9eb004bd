//! Heap allocations, counted by a global allocator. Alone in its binary so
//! that the counts are deterministic: the tests here run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use attributor::{
    AffiliateId, Binding, ClickEvidence, CodeAssignment, CodeLookup, Conversion, CouponCode, CreditMode,
    EventKind, EventKinds, Evidence, Policy, resolve,
};
use chrono::{TimeDelta, TimeZone, Utc};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

#[test]
fn resolve_does_not_allocate_in_the_common_cases() {
    let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let code = CouponCode::parse("MKBHD10").unwrap();
    let second = CouponCode::parse("BACKUP").unwrap();
    let owner = CodeAssignment::new(code, AffiliateId::new(7), at - TimeDelta::days(100))
        .mode(CreditMode::IfInvolved);
    let click = |id: &str, affiliate, ago| ClickEvidence {
        id: id.parse().unwrap(),
        affiliate: AffiliateId::new(affiliate),
        clicked_at: at - TimeDelta::hours(ago),
    };
    let customer = "cust-1".parse().unwrap();
    let binding = Binding {
        customer,
        affiliate: AffiliateId::new(3),
        bound_at: at - TimeDelta::days(3),
        expires_at: None,
        event: EventKind::Registration,
        conversion: "reg-1".parse().unwrap(),
    };
    let conversion = Conversion::new("ORD-1".parse().unwrap(), EventKind::Purchase, at)
        .customer(customer)
        .code(code)
        .code(second);
    let cases = [
        (
            "coupon only",
            Evidence::new().with_code(code, CodeLookup::Active(owner)),
        ),
        ("click only", Evidence::new().with_click(click("c-1", 9, 1))),
        (
            "code, two clicks and a binding",
            Evidence::new()
                .with_code(code, CodeLookup::Active(owner))
                .with_code(second, CodeLookup::Unknown)
                .with_click(click("c-1", 9, 1))
                .with_click(click("c-2", 7, 5))
                .with_binding(binding),
        ),
    ];
    let policies = [
        Policy::coupon_first(),
        Policy::click_first(),
        Policy::last_touch(),
        Policy::first_touch(),
        Policy::split(5_000).unwrap().bind_on(EventKinds::ALL),
        Policy::coupon_first()
            .coupon_breaks_binding(true)
            .bind_on(EventKinds::PURCHASE),
    ];
    for (name, evidence) in &cases {
        for policy in &policies {
            let (n, decision) = allocations(|| resolve(&conversion, evidence, policy));
            assert_eq!(n, 0, "{name} under {}: {decision}", policy.name());
            assert!(!decision.considered.spilled());
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = allocations(|| vec![1u8; 10]);
    assert_eq!(v.len(), 10);
    assert!(n >= 1);
}
