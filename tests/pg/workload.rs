//! A fixed workload for the fault tests: codes, clicks and conversions of
//! forty customers, loaded the same into the memory stores (the fault-free
//! reference) and into PostgreSQL.

use attributor::{
    AffiliateId, Attributor, BindingLifetime, Click, CodeAssignment, Conversion, CouponCode, CreditMode,
    EventKind, EventKinds, MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, PgStore,
    Policy,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

pub type Memory = Attributor<MemoryCodeRegistry, MemoryClickStore, MemoryBindingStore, MemoryLedger>;

pub struct Workload {
    pub assignments: Vec<CodeAssignment>,
    pub clicks: Vec<Click>,
    /// In time order.
    pub conversions: Vec<Conversion>,
}

/// A small generator, so that the workload is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Registrations and purchases bind the customer for 30 days.
pub fn policy() -> Policy {
    Policy::coupon_first()
        .with_bind_on(EventKinds::REGISTRATION | EventKinds::PURCHASE)
        .with_binding_lifetime(BindingLifetime::Days(30))
}

pub fn workload(conversions: usize) -> Workload {
    let mut rng = Lcg(7);
    let codes = [
        "ALPHA10", "BRAVO20", "CHARLIE", "DELTA5", "ECHO", "FOXTROT", "GOLF", "HOTEL9",
    ];
    let assignments = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mode = match i % 3 {
                0 => CreditMode::Standard,
                1 => CreditMode::IfInvolved,
                _ => CreditMode::Always,
            };
            CodeAssignment::new(
                CouponCode::parse(c).unwrap(),
                AffiliateId::new(1 + i as u64 % 5),
                start() - TimeDelta::days(30),
            )
            .with_mode(mode)
        })
        .collect();
    let clicks = (0..300)
        .map(|i| {
            let at = start() + TimeDelta::minutes(rng.next(60 * 24 * 60) as i64);
            Click::new(
                format!("k-{i}").parse().unwrap(),
                AffiliateId::new(1 + rng.next(5)),
                at,
            )
            .with_customer(format!("cust-{}", rng.next(40)).parse().unwrap())
        })
        .collect();
    let mut conversions: Vec<Conversion> = (0..conversions)
        .map(|i| {
            let at = start() + TimeDelta::minutes(rng.next(60 * 24 * 60) as i64);
            let event = if rng.next(4) == 0 {
                EventKind::Registration
            } else {
                EventKind::Purchase
            };
            let mut c = Conversion::new(format!("conv-{i}").parse().unwrap(), event, at)
                .with_customer(format!("cust-{}", rng.next(40)).parse().unwrap());
            if rng.next(2) == 0 {
                c = c.with_code(CouponCode::parse(codes[rng.next(codes.len() as u64) as usize]).unwrap());
            }
            if rng.next(5) == 0 {
                c = c.with_click(format!("k-{}", rng.next(300)).parse().unwrap());
            }
            c
        })
        .collect();
    conversions.sort_by_key(|c| c.occurred_at);
    Workload {
        assignments,
        clicks,
        conversions,
    }
}

impl Workload {
    /// The memory stores with the workload's codes and clicks.
    pub fn memory(&self) -> Memory {
        let memory = Attributor::new(
            MemoryCodeRegistry::new(),
            MemoryClickStore::new(),
            MemoryBindingStore::new(),
            MemoryLedger::new(),
            policy(),
        );
        for a in &self.assignments {
            memory.registry().insert(*a).unwrap();
        }
        for c in &self.clicks {
            memory.clicks().insert(*c).unwrap();
        }
        memory
    }

    /// Loads the codes and clicks into `store`.
    pub async fn load(&self, store: &PgStore) {
        for a in &self.assignments {
            store.insert(*a).await.unwrap();
        }
        store.insert_clicks(&self.clicks).await.unwrap();
    }

    /// The fault-free ledger: the memory stores' decisions, in order.
    pub fn reference(&self) -> Vec<attributor::Decision> {
        let memory = self.memory();
        self.conversions
            .iter()
            .map(|c| memory.attribute(c).unwrap().decision)
            .collect()
    }
}

/// Checks that the database holds the reference ledger, and exactly the
/// bindings its decisions name: no decision without its binding, no
/// binding without its decision.
pub async fn assert_ledger_is(url: &str, program: &str, reference: &[attributor::Decision]) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT decision::text FROM attributor.ledger WHERE program = $1 ORDER BY occurred_at_s, occurred_at_ns, conversion",
            &[&program],
        )
        .await
        .unwrap();
    let recorded: Vec<attributor::Decision> = rows
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
        .collect();
    let mut want = reference.to_vec();
    want.sort_by_key(|a| (a.occurred_at, a.conversion));
    assert_eq!(recorded.len(), want.len(), "one ledger row a conversion");
    for (got, want) in recorded.iter().zip(&want) {
        assert_eq!(got, want, "conversion {}", want.conversion);
    }
    let bindings: i64 = client
        .query_one(
            "SELECT count(*) FROM attributor.bindings WHERE program = $1",
            &[&program],
        )
        .await
        .unwrap()
        .get(0);
    let named = want.iter().filter(|d| d.binding.is_some()).count();
    assert_eq!(
        bindings as usize, named,
        "one binding row for each decision that binds"
    );
    let unmatched: i64 = client
        .query_one(
            "SELECT count(*) FROM attributor.bindings b WHERE b.program = $1 AND NOT EXISTS (
                 SELECT 1 FROM attributor.ledger l
                 WHERE l.program = b.program AND l.conversion = b.conversion
                   AND l.decision -> 'binding' ->> 'customer' = b.customer
                   AND (l.decision -> 'binding' ->> 'affiliate')::bigint = b.affiliate)",
            &[&program],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        unmatched, 0,
        "every binding row is the binding its decision names"
    );
}
