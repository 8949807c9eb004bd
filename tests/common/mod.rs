//! A small world of memory stores for the tests to tell stories in.
#![allow(dead_code)]

use attributor::{
    AffiliateId, Attributor, Click, CodeAssignment, Conversion, CouponCode, Decision, EventKind,
    MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PolicySet,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

pub type MemoryAttributor =
    Attributor<MemoryCodeRegistry, MemoryClickStore, MemoryBindingStore, MemoryLedger>;

/// Affiliates by the names the stories use.
pub const A: AffiliateId = AffiliateId::new(1);
pub const B: AffiliateId = AffiliateId::new(2);
pub const C: AffiliateId = AffiliateId::new(3);

/// Noon on 1 June 2026, "now" in the stories.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub fn code(s: &str) -> CouponCode {
    CouponCode::parse(s).unwrap()
}

pub struct World {
    pub attributor: MemoryAttributor,
    next_id: std::cell::Cell<u32>,
}

impl World {
    pub fn new(policies: impl Into<PolicySet>) -> Self {
        Self {
            attributor: Attributor::new(
                MemoryCodeRegistry::new(),
                MemoryClickStore::new(),
                MemoryBindingStore::new(),
                MemoryLedger::new(),
                policies,
            ),
            next_id: std::cell::Cell::new(0),
        }
    }

    /// Gives `code` to `affiliate` a year before now, open-ended.
    pub fn code(&self, code: &str, affiliate: AffiliateId) -> &Self {
        self.assignment(CodeAssignment::new(
            self::code(code),
            affiliate,
            now() - days(365),
        ))
    }

    pub fn assignment(&self, assignment: CodeAssignment) -> &Self {
        self.attributor.registry().insert(assignment).unwrap();
        self
    }

    /// Records a click by `affiliate` for `customer`, `ago` before now; returns its id.
    pub fn click(&self, affiliate: AffiliateId, customer: &str, ago: TimeDelta) -> attributor::ClickId {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        let id = format!("click-{n}").parse().unwrap();
        let click = Click::new(id, affiliate, now() - ago).with_customer(customer.parse().unwrap());
        self.attributor.clicks().insert(click).unwrap();
        id
    }

    pub fn attribute(&self, conversion: &Conversion) -> Decision {
        self.attributor.attribute(conversion).unwrap().decision
    }
}

/// A conversion by `customer` at `at`.
pub fn conversion(id: &str, event: EventKind, customer: &str, at: DateTime<Utc>) -> Conversion {
    Conversion::new(id.parse().unwrap(), event, at).with_customer(customer.parse().unwrap())
}

pub fn purchase(id: &str, customer: &str) -> Conversion {
    conversion(id, EventKind::Purchase, customer, now())
}
