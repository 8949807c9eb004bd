//! Attribution on PostgreSQL: one statement gathers, one records.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use futures_util::future::join_all;
use smallvec::SmallVec;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::error::{db, is_conflict};
use super::sql::{
    self, GATHERED_ASSIGNMENT, affiliate_column, affiliate_of, assignment_of, corrupt, event_of, get,
    instant, optional_instant, optional_pair, pair,
};
use super::{CONFLICT_RETRIES, PgError, PgStore, nonce};
use crate::binding::Binding;
use crate::clicks::ClickQuery;
use crate::code::CouponCode;
use crate::conversion::Conversion;
use crate::decision::Decision;
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId};
use crate::ledger::{Attributed, Recorded, Recording};
use crate::policy::{ClickPick, Policy, PolicySet, UniqueKey};
use crate::registry::{CodeAssignment, CodeLookup, NearCode, NearCodes};
use crate::resolve::{ClickEvidence, Evidence};
use crate::step::{Attribution, Step};

/// Attributes conversions on PostgreSQL, as the memory
/// [`Attributor`](crate::Attributor) does on its stores, with the same
/// decisions: both drive one [`Attribution`].
///
/// A conversion the ledger has not seen takes two round trips to the
/// database: one statement reads the ledger and, when it has no decision,
/// the whole evidence (every entered code's history, the named click, the
/// customer's first or last click, an `IfInvolved` owner's click, the
/// binding); one statement records the decision and writes its binding,
/// atomically, where the first writer wins. A conversion the ledger has
/// seen takes one. [`PgAttributor::attribute_all`] sends a page's reads,
/// then its writes, together (pipelined), so that a page of conversions of
/// different customers takes two round trips in all.
///
/// Any number of tasks and processes may attribute at once, the same
/// conversions included: each conversion id is recorded once, every caller
/// gets the recorded decision, and a decision is never recorded without the
/// binding it names, nor the reverse. A call that fails may be made again.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use attributor::{Conversion, CouponCode, EventKind, PgAttributor, PgStore, Policy, Recorded};
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(); // from the postback
///
/// let store = PgStore::connect("postgres://localhost/affiliates", "acme-prop".parse()?).await?;
/// let attributor = PgAttributor::new(store, Policy::coupon_first());
/// let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, at)
///     .with_customer("cust-1".parse()?)
///     .with_code(CouponCode::parse("mkbhd10")?);
/// let first = attributor.attribute(&order).await?;
/// println!("{first}");
/// let retry = attributor.attribute(&order).await?; // a retried postback
/// assert_eq!((retry.decision, retry.recorded), (first.decision, Recorded::Before));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PgAttributor {
    store: PgStore,
    policies: PolicySet,
}

impl PgAttributor {
    /// Attribution over `store` under `policies`.
    pub fn new(store: PgStore, policies: impl Into<PolicySet>) -> Self {
        Self {
            store,
            policies: policies.into(),
        }
    }

    /// The store.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Decides who earns `conversion`, records it with its binding, and
    /// returns the decision with [`Recorded::Now`]; or returns the decision
    /// recorded before for its id (by this process or another) with
    /// [`Recorded::Before`]. Of replicas racing one postback, at most one
    /// is told [`Recorded::Now`] (see [`Recorded`] for a call that fails
    /// after its record committed).
    ///
    /// # Errors
    ///
    /// [`PgError`] if the database failed; making the call again is safe.
    pub async fn attribute(&self, conversion: &Conversion) -> Result<Attributed, PgError> {
        let client = self.store.client().await?;
        let policy = self.policies.for_event(&conversion.event);
        let mut attribution = Attribution::new(conversion, policy).with_records_bindings(true);
        let mut gathered = gather(&client, &self.store, &attribution).await?;
        attribute_gathered(&client, &self.store, &mut attribution, &mut gathered).await
    }

    /// Decides `conversion` as [`PgAttributor::attribute`] would, without
    /// the ledger (nor the claims: it never finds a duplicate) and without
    /// writing: one round trip.
    ///
    /// # Errors
    ///
    /// [`PgError`] if the database failed.
    pub async fn preview(&self, conversion: &Conversion) -> Result<Decision, PgError> {
        let policy = self.policies.for_event(&conversion.event);
        let client = self.store.client().await?;
        let mut attribution = Attribution::preview(conversion, policy);
        let mut gathered = gather(&client, &self.store, &attribution).await?;
        match advance(&client, &self.store, &mut attribution, &mut gathered).await? {
            Progress::Done(done) => Ok(done.decision),
            // A preview records nothing; it never gets here.
            Progress::Record(_) => Ok(crate::resolve::resolve(
                conversion,
                attribution.evidence(),
                policy,
            )),
        }
    }

    /// The evidence for `conversion` under `policy`, as
    /// [`Attributor::gather`](crate::Attributor::gather) reads it: one
    /// round trip.
    ///
    /// # Errors
    ///
    /// [`PgError`] if the database failed.
    pub async fn gather(&self, conversion: &Conversion, policy: &Policy) -> Result<Evidence, PgError> {
        let client = self.store.client().await?;
        let mut attribution = Attribution::preview(conversion, policy);
        let mut gathered = gather(&client, &self.store, &attribution).await?;
        advance(&client, &self.store, &mut attribution, &mut gathered).await?;
        Ok(attribution.into_evidence())
    }

    /// [`PgAttributor::attribute`] for each of `conversions`, with the same
    /// decisions and errors, in the same order, as calling it for each in
    /// turn. The conversions are taken in waves: a conversion joins the
    /// first wave after every earlier one of its customer or its id, so
    /// that it sees their bindings and decisions; each wave's reads go
    /// together in one round trip, then its writes in another. A page of
    /// conversions of distinct customers is one wave.
    pub async fn attribute_all(&self, conversions: &[Conversion]) -> Vec<Result<Attributed, PgError>> {
        let mut results: Vec<Option<Result<Attributed, PgError>>> =
            conversions.iter().map(|_| None).collect();
        let waves = waves(conversions, &self.policies);
        let mut wave = 0;
        while let Some(members) = Some(members_of(&waves, wave)).filter(|m| !m.is_empty()) {
            wave += 1;
            let client = match self.store.client().await {
                Ok(client) => client,
                Err(_) => {
                    // No connection for the wave: each conversion makes an
                    // attempt of its own, and reports its own error.
                    for i in members {
                        if let Some(conversion) = conversions.get(i) {
                            set(&mut results, i, self.attribute(conversion).await);
                        }
                    }
                    continue;
                }
            };
            self.attribute_wave(&client, conversions, &members, &mut results)
                .await;
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Err(PgError::Config {
                    reason: "a conversion was left out of every wave".to_owned(),
                }))
            })
            .collect()
    }

    /// Attributes the conversions at `members`, which share no customer and
    /// no id: their reads in one round trip, their writes in another.
    async fn attribute_wave(
        &self,
        client: &Object,
        conversions: &[Conversion],
        members: &[usize],
        results: &mut [Option<Result<Attributed, PgError>>],
    ) {
        let store = &self.store;
        let mut machines: Vec<(usize, Attribution<'_>)> = members
            .iter()
            .filter_map(|&i| conversions.get(i).map(|c| (i, c)))
            .map(|(i, c)| {
                let policy = self.policies.for_event(&c.event);
                (i, Attribution::new(c, policy).with_records_bindings(true))
            })
            .collect();
        let reads = join_all(machines.iter().map(|(_, m)| gather(client, store, m))).await;
        let mut pending: Vec<(usize, Attribution<'_>, RecordArgs)> = Vec::new();
        for ((i, mut machine), read) in machines.drain(..).zip(reads) {
            let progress = match read {
                Ok(mut gathered) => advance(client, store, &mut machine, &mut gathered).await,
                Err(e) => Err(e),
            };
            match progress {
                Ok(Progress::Record(args)) => pending.push((i, machine, args)),
                Ok(Progress::Done(done)) => set(results, i, Ok(done)),
                Err(e) => set(results, i, Err(e)),
            }
        }
        let writes = join_all(pending.iter().map(|(_, _, args)| record(client, store, args))).await;
        for ((i, mut machine, _), written) in pending.into_iter().zip(writes) {
            let done = match written {
                Ok(earlier) => finish(client, store, &mut machine, earlier).await,
                Err(e) => Err(e),
            };
            set(results, i, done);
        }
    }
}

fn set(results: &mut [Option<Result<Attributed, PgError>>], i: usize, result: Result<Attributed, PgError>) {
    if let Some(slot) = results.get_mut(i) {
        *slot = Some(result);
    }
}

/// The wave of each conversion: one more than the latest wave of an earlier
/// conversion with its customer or its id, and no earlier than the wave of
/// an earlier conversion that claims one of its keys. Two conversions of
/// one wave that claim one key (the click they name) need not wait for
/// each other: their records run in page order on one connection, and the
/// later one finds the key taken and is recorded as the earlier one's
/// duplicate. A later conversion in an earlier wave would take the key
/// first, so it waits for that wave.
fn waves(conversions: &[Conversion], policies: &PolicySet) -> Vec<usize> {
    let mut by_customer: hashbrown::HashMap<&CustomerId, usize> = hashbrown::HashMap::new();
    let mut by_id: hashbrown::HashMap<&ConversionId, usize> = hashbrown::HashMap::new();
    let mut by_key: hashbrown::HashMap<UniqueKey, usize> = hashbrown::HashMap::new();
    conversions
        .iter()
        .map(|c| {
            let after_customer = c
                .customer
                .as_ref()
                .and_then(|k| by_customer.get(k))
                .map(|w| w + 1);
            let after_id = by_id.get(&c.id).map(|w| w + 1);
            let keys = policies.for_event(&c.event).unique_keys(c);
            let with_key = keys.iter().filter_map(|k| by_key.get(k).copied()).max();
            let wave = after_customer.max(after_id).max(with_key).unwrap_or(0);
            if let Some(k) = &c.customer {
                by_customer.insert(k, wave);
            }
            by_id.insert(&c.id, wave);
            for key in keys {
                by_key.insert(key, wave);
            }
            wave
        })
        .collect()
}

fn members_of(waves: &[usize], wave: usize) -> Vec<usize> {
    waves
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == wave)
        .map(|(i, _)| i)
        .collect()
}

/// Gathers, records, and finishes one attribution.
async fn attribute_gathered(
    client: &Object,
    store: &PgStore,
    attribution: &mut Attribution<'_>,
    gathered: &mut Gathered,
) -> Result<Attributed, PgError> {
    match advance(client, store, attribution, gathered).await? {
        Progress::Done(done) => Ok(done),
        Progress::Record(args) => {
            let recording = record(client, store, &args).await?;
            finish(client, store, attribution, recording).await
        }
    }
}

/// Answers the record step with what the record statement said, and
/// drives the machine to its end: once more through the record statement
/// when a key it claimed was taken (it is then a duplicate).
async fn finish(
    client: &Object,
    store: &PgStore,
    attribution: &mut Attribution<'_>,
    mut recording: Recording,
) -> Result<Attributed, PgError> {
    loop {
        if let Step::Record(write) = attribution.next() {
            write.answer(recording);
        }
        let mut nothing = Gathered::default();
        match advance(client, store, attribution, &mut nothing).await? {
            Progress::Done(done) => return Ok(done),
            Progress::Record(args) => recording = record(client, store, &args).await?,
        }
    }
}

/// What a machine reached.
// Not boxed: the network round trip dwarfs a move of a decision.
#[allow(clippy::large_enum_variant)]
enum Progress {
    /// It asks to record a decision: the statement's arguments.
    Record(RecordArgs),
    /// It is done. (A preview's says [`Recorded::Now`], unread.)
    Done(Attributed),
}

/// Answers the machine's reads from `gathered`, until it asks to record
/// or is done. A read the gather statement did not cover is made on its
/// own (a round trip more); none is, for the machine's plan.
async fn advance(
    client: &Object,
    store: &PgStore,
    attribution: &mut Attribution<'_>,
    gathered: &mut Gathered,
) -> Result<Progress, PgError> {
    loop {
        match attribution.next() {
            Step::Recorded(read) => {
                let decision = match gathered.recorded.take() {
                    Some(decision) => decision,
                    None => recorded(client, store, read.conversion()).await?,
                };
                read.answer(decision);
            }
            Step::Holder(read) => {
                let holder = match gathered.holder(read.key()) {
                    Some(holder) => holder,
                    None => holders(client, store, std::slice::from_ref(read.key()))
                        .await?
                        .first()
                        .map(|(_, by)| *by),
                };
                read.answer(holder);
            }
            Step::Code(read) => {
                let lookup = match gathered.histories.as_ref() {
                    Some(rows) => lookup_in(rows, read.code(), read.at()),
                    None => lookup(client, store, read.code(), read.at()).await?,
                };
                read.answer(lookup);
            }
            Step::Near(read) => {
                let near = match gathered.histories.as_ref() {
                    Some(rows) => near_in(rows, read.code(), read.at()),
                    None => near(client, store, read.code(), read.at()).await?,
                };
                read.answer(near);
            }
            Step::Click(read) => {
                let click = match gathered.named.take() {
                    Some(click) => click,
                    None => click_evidence(client, store, read.id()).await?,
                };
                read.answer(click);
            }
            Step::Find(read) => {
                let query = *read.query();
                let click = match gathered.answer(&query) {
                    Some(click) => click,
                    None => find_evidence(client, store, &query).await?,
                };
                read.answer(click);
            }
            Step::Binding(read) => {
                let binding = match gathered.binding.take() {
                    Some(binding) => binding,
                    None => binding_before(client, store, read.customer(), read.before()).await?,
                };
                read.answer(binding);
            }
            Step::Record(write) => {
                return RecordArgs::of(write.decision(), write.claims()).map(Progress::Record);
            }
            Step::Bind(write) => {
                // Not asked: the record statement writes the binding. A
                // machine that asks anyway gets it written.
                super::admin::bind_all(client, store, std::slice::from_ref(write.binding())).await?;
                write.answer();
            }
            Step::Done(done) => {
                let recorded = done.recorded().unwrap_or(Recorded::Now);
                let decision = done.into_decision();
                #[cfg(feature = "tracing")]
                if attribution.reads_ledger() {
                    crate::trace::decided(&decision);
                }
                return Ok(Progress::Done(Attributed { decision, recorded }));
            }
        }
    }
}

/// What one gather statement read. Each part is `None` when it was not
/// read, and `Some` with the answer (itself an option) when it was.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    recorded: Option<Option<Decision>>,
    /// The assignments of the entered codes, with the order each was made.
    histories: Option<SmallVec<[(CodeAssignment, i32); 4]>>,
    named: Option<Option<ClickEvidence>>,
    /// The question the found click answers, and the answer.
    found: Option<(ClickQuery, Option<ClickEvidence>)>,
    /// For each owner read, the question and the answer.
    owners: SmallVec<[(ClickQuery, Option<ClickEvidence>); 1]>,
    binding: Option<Option<Binding>>,
    /// Whether the holders of the conversion's keys were read, and those
    /// held.
    claims_read: bool,
    held: SmallVec<[(UniqueKey, ConversionId); 2]>,
}

impl Gathered {
    /// The holder of `key`, if the holders were read.
    fn holder(&self, key: &UniqueKey) -> Option<Option<ConversionId>> {
        self.claims_read
            .then(|| self.held.iter().find(|(k, _)| k == key).map(|(_, by)| *by))
    }

    /// The answer to `query`, if it was read.
    fn answer(&mut self, query: &ClickQuery) -> Option<Option<ClickEvidence>> {
        if let Some((asked, found)) = &self.found {
            if asked == query {
                return Some(*found);
            }
        }
        self.owners
            .iter()
            .find(|(asked, _)| asked == query)
            .map(|(_, found)| *found)
    }
}

/// The codes active at `at` near `code` ([`NearCode::nearness`]), from the
/// gathered histories, by code.
fn near_in(rows: &[(CodeAssignment, i32)], code: &CouponCode, at: DateTime<Utc>) -> NearCodes {
    let mut near = NearCodes::new();
    for (a, _) in rows.iter().filter(|(a, _)| !a.family) {
        let Some(nearness) = NearCode::nearness(code, &a.code) else {
            continue;
        };
        if near.iter().any(|n| n.assignment.code == a.code) {
            continue;
        }
        if let CodeLookup::Active(assignment) = lookup_in(rows, &a.code, at) {
            near.push(NearCode {
                typed: *code,
                assignment,
                nearness,
            });
        }
    }
    near.sort_unstable_by_key(|n| n.assignment.code);
    near
}

/// The answer to "who owned `code` at `at`" from the gathered histories.
fn lookup_in(rows: &[(CodeAssignment, i32)], code: &CouponCode, at: DateTime<Utc>) -> CodeLookup {
    // The code's own rows; without any, those of the family with the
    // longest prefix of it.
    let own = rows.iter().any(|(a, _)| !a.family && a.code == *code);
    let family = rows
        .iter()
        .filter(|(a, _)| a.family && a.covers(code))
        .map(|(a, _)| a.code)
        .max_by_key(CouponCode::len);
    let key = match (own, family) {
        (true, _) | (false, None) => (*code, false),
        (false, Some(prefix)) => (prefix, true),
    };
    let mut history: SmallVec<[(CodeAssignment, i32); 4]> = rows
        .iter()
        .filter(|(a, _)| (a.code, a.family) == key)
        .copied()
        .collect();
    history.sort_unstable_by_key(|(a, made)| (a.valid_from, *made));
    let history: SmallVec<[CodeAssignment; 4]> = history.into_iter().map(|(a, _)| a).collect();
    CodeLookup::from_history(&history, at)
}

/// The gather statement's parameters for `attribution`'s plan.
struct GatherArgs<'a> {
    conversion: Option<&'a str>,
    skeletons: SmallVec<[String; 2]>,
    /// The codes' near lookup keys.
    keys_near: Vec<String>,
    click: Option<&'a str>,
    customer: Option<&'a str>,
    from: (i64, i32),
    to: (i64, i32),
    exclude: Option<i64>,
    only: Option<i64>,
    at: (i64, i32),
    binding: bool,
    owners: bool,
    pick: ClickPick,
    keys: KeyColumns,
}

/// Keys as the claims table's columns, one array a column.
#[derive(Default)]
struct KeyColumns {
    kinds: SmallVec<[&'static str; 2]>,
    subjects: SmallVec<[String; 2]>,
    events: SmallVec<[String; 2]>,
}

impl KeyColumns {
    fn of(keys: &[UniqueKey]) -> Self {
        let mut columns = Self::default();
        for key in keys {
            let (kind, subject, event) = key_columns(key);
            columns.kinds.push(kind);
            columns.subjects.push(subject.to_owned());
            columns.events.push(event.to_owned());
        }
        columns
    }
}

/// A key's kind, subject and event columns.
fn key_columns(key: &UniqueKey) -> (&'static str, &str, &str) {
    match key {
        UniqueKey::Customer { customer, event } => ("customer", customer.as_str(), event.name()),
        UniqueKey::Click { click, event } => ("click", click.as_str(), event.name()),
    }
}

/// The key of a claims row's columns, if they make one.
fn key_of(kind: &str, subject: &str, event: &str) -> Option<UniqueKey> {
    match kind {
        "customer" => Some(UniqueKey::Customer {
            customer: CustomerId::new(subject).ok()?,
            event: event_of(event)?,
        }),
        "click" => Some(UniqueKey::Click {
            click: ClickId::new(subject).ok()?,
            event: event_of(event)?,
        }),
        _ => None,
    }
}

impl<'a> GatherArgs<'a> {
    /// Nothing to read.
    fn none() -> Self {
        Self {
            conversion: None,
            skeletons: SmallVec::new(),
            keys_near: Vec::new(),
            click: None,
            customer: None,
            from: (0, 0),
            to: (0, 0),
            exclude: None,
            only: None,
            at: (0, 0),
            binding: false,
            owners: false,
            pick: ClickPick::Last,
            keys: KeyColumns::default(),
        }
    }

    /// Reads `code`'s rows, its look-alikes' and families', and, when it
    /// has none of its own, those of the codes near it.
    fn code(&mut self, code: &CouponCode) {
        self.skeletons.push(code.skeleton().as_str().to_owned());
        self.skeletons.extend(sql::family_columns(code));
        self.keys_near
            .extend(code.near_keys().map(|key| format!("{code} {key}")));
    }

    /// Reads a customer's clicks as `query` asks.
    fn query(mut self, query: &'a ClickQuery) -> Self {
        self.customer = Some(query.customer.as_str());
        self.from = pair(query.from);
        self.to = pair(query.to);
        self.exclude = query.exclude.map(affiliate_column);
        self.only = query.affiliate.map(affiliate_column);
        self.pick = query.pick;
        self
    }

    /// The plan of `attribution`: everything it will ask.
    fn of(attribution: &Attribution<'a>, query: Option<&'a ClickQuery>) -> Self {
        let mut args = match query {
            Some(query) => Self::none().query(query),
            None => Self::none(),
        };
        let conversion = attribution.conversion();
        if attribution.reads_ledger() {
            args.conversion = Some(conversion.id.as_str());
            args.keys = KeyColumns::of(&attribution.policy().unique_keys(conversion));
        }
        for code in attribution.codes() {
            args.code(code);
        }
        args.click = attribution.click().map(|(id, _)| id.as_str());
        args.at = pair(attribution.at());
        args.binding = attribution.binding_before().is_some();
        args.owners = query.is_some();
        args
    }

    async fn run(&self, client: &Object, program: &str) -> Result<Vec<Row>, PgError> {
        let text = match self.pick {
            ClickPick::First => sql::GATHER_FIRST,
            ClickPick::Last => sql::GATHER_LAST,
        };
        let skeletons: SmallVec<[&str; 2]> = self.skeletons.iter().map(String::as_str).collect();
        let kinds = self.keys.kinds.as_slice();
        let subjects: SmallVec<[&str; 2]> = self.keys.subjects.iter().map(String::as_str).collect();
        let events: SmallVec<[&str; 2]> = self.keys.events.iter().map(String::as_str).collect();
        let (subjects, events) = (subjects.as_slice(), events.as_slice());
        let params: [&(dyn ToSql + Sync); 19] = [
            &program,
            &self.conversion,
            &skeletons.as_slice(),
            &self.keys_near,
            &self.click,
            &self.customer,
            &self.from.0,
            &self.from.1,
            &self.to.0,
            &self.to.1,
            &self.exclude,
            &self.only,
            &self.at.0,
            &self.at.1,
            &self.binding,
            &self.owners,
            &kinds,
            &subjects,
            &events,
        ];
        query(client, "gather", text, &params).await
    }
}

/// Runs a prepared statement, again when it loses to a concurrent
/// transaction (a serialization failure or deadlock), a few times.
pub(crate) async fn query(
    client: &Object,
    statement: &'static str,
    text: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, PgError> {
    let prepared = client.prepare_cached(text).await.map_err(db(statement))?;
    let mut attempt = 0;
    loop {
        match client.query(&prepared, params).await {
            Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
            }
            other => return other.map_err(db(statement)),
        }
    }
}

/// Runs the gather statement for `attribution`'s plan.
async fn gather(
    client: &Object,
    store: &PgStore,
    attribution: &Attribution<'_>,
) -> Result<Gathered, PgError> {
    let query = attribution.click_query();
    let args = GatherArgs::of(attribution, query.as_ref());
    let rows = args.run(client, store.program.as_str()).await?;
    let customer = attribution.conversion().customer;
    let mut gathered = read_gathered(&rows, customer.as_ref(), query.as_ref(), &|owner| {
        attribution.owner_query(owner)
    })?;
    if attribution.reads_ledger() {
        gathered.recorded.get_or_insert(None);
        gathered.claims_read = true;
    }
    if gathered.recorded.as_ref().is_some_and(Option::is_some) {
        // A hit: nothing else was read.
        return Ok(gathered);
    }
    gathered.histories.get_or_insert_with(SmallVec::new);
    if args.click.is_some() {
        gathered.named.get_or_insert(None);
    }
    if let Some(query) = query {
        gathered.found.get_or_insert((query, None));
    }
    if args.binding {
        gathered.binding.get_or_insert(None);
    }
    Ok(gathered)
}

/// Reads the rows of a gather statement: `customer` is the one whose
/// clicks and binding were read, `found` the question the found click
/// answers, and `owner_query` gives the question an owner's click answers.
fn read_gathered(
    rows: &[Row],
    customer: Option<&CustomerId>,
    found: Option<&ClickQuery>,
    owner_query: &dyn Fn(AffiliateId) -> Option<ClickQuery>,
) -> Result<Gathered, PgError> {
    let mut gathered = Gathered::default();
    for row in rows {
        let kind: &str = get(row, 0, "gather", &String::new)?;
        match kind {
            "L" => {
                let json: &str = get(row, 1, "attributor.ledger", &String::new)?;
                let decision: Decision = serde_json::from_str(json).map_err(|e| {
                    corrupt(
                        "attributor.ledger",
                        String::new(),
                        &format!("the decision's JSON: {e}"),
                    )
                })?;
                gathered.recorded = Some(Some(decision));
            }
            "A" => {
                let assignment = assignment_of(row, GATHERED_ASSIGNMENT)?;
                gathered
                    .histories
                    .get_or_insert_with(SmallVec::new)
                    .push(assignment);
            }
            "N" => gathered.named = Some(click_of(row)?),
            "F" => {
                if let Some(query) = found {
                    gathered.found = Some((*query, click_of(row)?));
                }
            }
            "O" => {
                let owner = affiliate_of(get(row, 7, "attributor.customer_clicks", &String::new)?);
                if let Some(query) = owner_query(owner) {
                    gathered.owners.push((query, click_of(row)?));
                }
            }
            "B" => {
                if let Some(customer) = customer {
                    gathered.binding = Some(Some(binding_of(row, customer)?));
                }
            }
            "U" => {
                const TABLE: &str = "attributor.claims";
                let kind: &str = get(row, 1, TABLE, &String::new)?;
                let subject: &str = get(row, 2, TABLE, &String::new)?;
                let event: &str = get(row, 3, TABLE, &String::new)?;
                let key = || format!("{kind}/{subject}/{event}");
                let by: &str = get(row, 11, TABLE, &key)?;
                let by =
                    ConversionId::new(by).map_err(|e| corrupt(TABLE, key(), &format!("conversion: {e}")))?;
                // Rows that match the lists but none of the keys asked are
                // not the conversion's.
                if let Some(k) = key_of(kind, subject, event) {
                    gathered.held.push((k, by));
                }
            }
            other => return Err(corrupt("gather", other.to_owned(), "a row of an unknown kind")),
        }
    }
    Ok(gathered)
}

/// A click's evidence from the `id, affiliate, s, ns` columns 1, 4, 5, 6
/// of a gather row, or `None` when they are null (an owner without a
/// click).
fn click_of(row: &Row) -> Result<Option<ClickEvidence>, PgError> {
    const TABLE: &str = "attributor.clicks";
    let id: Option<&str> = get(row, 1, TABLE, &String::new)?;
    let Some(id) = id else {
        return Ok(None);
    };
    let key = || id.to_owned();
    let click_id = ClickId::new(id).map_err(|e| corrupt(TABLE, key(), &format!("id: {e}")))?;
    let affiliate = affiliate_of(get(row, 4, TABLE, &key)?);
    let clicked_at = instant(get(row, 5, TABLE, &key)?, get(row, 6, TABLE, &key)?)
        .ok_or_else(|| corrupt(TABLE, key(), "clicked_at is not an instant"))?;
    Ok(Some(ClickEvidence {
        id: click_id,
        affiliate,
        clicked_at,
    }))
}

/// A binding of `customer` from a gather row of kind `B`.
fn binding_of(row: &Row, customer: &CustomerId) -> Result<Binding, PgError> {
    const TABLE: &str = "attributor.bindings";
    let conversion: &str = get(row, 1, TABLE, &String::new)?;
    let key = || format!("{customer}/{conversion}");
    let event: &str = get(row, 2, TABLE, &key)?;
    Ok(Binding {
        customer: *customer,
        affiliate: affiliate_of(get(row, 4, TABLE, &key)?),
        bound_at: instant(get(row, 5, TABLE, &key)?, get(row, 6, TABLE, &key)?)
            .ok_or_else(|| corrupt(TABLE, key(), "bound_at is not an instant"))?,
        expires_at: optional_instant(get(row, 7, TABLE, &key)?, get(row, 8, TABLE, &key)?)
            .map_err(|what| corrupt(TABLE, key(), &format!("expires_at {what}")))?,
        event: event_of(event).ok_or_else(|| corrupt(TABLE, key(), "event is not an event kind"))?,
        conversion: ConversionId::new(conversion)
            .map_err(|e| corrupt(TABLE, key(), &format!("conversion: {e}")))?,
    })
}

/// Whether an instant of `decision` falls inside a leap second.
fn has_leap_second(decision: &Decision) -> bool {
    use crate::decision::Subject;
    let leap = |t: &DateTime<Utc>| t.timestamp_subsec_nanos() >= 1_000_000_000;
    let binding = decision
        .binding
        .is_some_and(|b| leap(&b.bound_at) || b.expires_at.as_ref().is_some_and(leap));
    let considered = decision.considered.iter().any(|c| match &c.subject {
        Subject::Click { at, .. } => leap(at),
        Subject::Binding { since } => leap(since),
        Subject::Code { .. } => false,
    });
    leap(&decision.occurred_at) || binding || considered
}

/// The record statement's arguments for a decision.
pub(crate) struct RecordArgs {
    conversion: ConversionId,
    at: (i64, i32),
    json: String,
    binding: Option<Binding>,
    claims: SmallVec<[UniqueKey; 2]>,
}

impl RecordArgs {
    /// The arguments for recording `decision`, refused when its JSON would
    /// not read back as the same decision: chrono writes an instant inside
    /// a leap second away from a minute's last second as another instant.
    fn of(decision: &Decision, claims: &[UniqueKey]) -> Result<Self, PgError> {
        let unwritable = |reason: String| PgError::Unwritable {
            what: format!("the decision of conversion {}", decision.conversion),
            reason,
        };
        let json = serde_json::to_string(decision).map_err(|e| unwritable(e.to_string()))?;
        // Only an instant inside a leap second can fail to read back: check
        // those decisions, not every one.
        if has_leap_second(decision)
            && serde_json::from_str::<Decision>(&json).ok().as_ref() != Some(decision)
        {
            return Err(unwritable(
                "an instant in it does not read back from JSON as itself (a leap second away from a minute's end)"
                    .to_owned(),
            ));
        }
        Ok(Self {
            conversion: decision.conversion,
            at: pair(decision.occurred_at),
            json,
            binding: decision.binding,
            claims: claims.iter().copied().collect(),
        })
    }

    /// The arguments for recording `decision` and writing no binding.
    pub(crate) fn without_binding(decision: &Decision, claims: &[UniqueKey]) -> Result<Self, PgError> {
        Ok(Self {
            binding: None,
            ..Self::of(decision, claims)?
        })
    }
}

/// Records a decision (and its binding, if the arguments name one); returns
/// the decision recorded before, if there was one.
pub(crate) async fn record(
    client: &Object,
    store: &PgStore,
    args: &RecordArgs,
) -> Result<Recording, PgError> {
    let b = args.binding.as_ref();
    let customer = b.map(|b| b.customer.as_str());
    let affiliate = b.map(|b| affiliate_column(b.affiliate));
    let (bound_s, bound_ns) = optional_pair(b.map(|b| b.bound_at));
    let (expires_s, expires_ns) = optional_pair(b.and_then(|b| b.expires_at));
    let event = b.map(|b| b.event.name().to_owned());
    let keys = KeyColumns::of(&args.claims);
    let kinds = keys.kinds.as_slice();
    let subjects: SmallVec<[&str; 2]> = keys.subjects.iter().map(String::as_str).collect();
    let events: SmallVec<[&str; 2]> = keys.events.iter().map(String::as_str).collect();
    let (subjects, events) = (subjects.as_slice(), events.as_slice());
    let marker = nonce();
    let result = query(
        client,
        "record",
        sql::RECORD,
        &[
            &store.program.as_str(),
            &args.conversion.as_str(),
            &args.at.0,
            &args.at.1,
            &args.json.as_str(),
            &marker,
            &customer,
            &affiliate,
            &bound_s,
            &bound_ns,
            &expires_s,
            &expires_ns,
            &event,
            &kinds,
            &subjects,
            &events,
        ],
    )
    .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(PgError::Db { source, .. }) if held_already(&source) => {
            return after_a_taken_claim(client, store, args).await;
        }
        Err(e) => return Err(e),
    };
    let key = || args.conversion.to_string();
    let row = rows
        .first()
        .ok_or_else(|| corrupt("attributor.ledger", key(), "recording returned no row"))?;
    let ours: bool = get(row, 1, "attributor.ledger", &key)?;
    if ours {
        return Ok(Recording::Recorded);
    }
    let json: &str = get(row, 0, "attributor.ledger", &key)?;
    serde_json::from_str(json)
        .map(Recording::Earlier)
        .map_err(|e| corrupt("attributor.ledger", key(), &format!("the decision's JSON: {e}")))
}

/// Whether a statement failed because a key it claimed is held.
fn held_already(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("claims_pkey")
    })
}

/// What recording met when one of its keys was held (the statement wrote
/// nothing): the decision a racing call recorded for the id, or the
/// holder of the first key held by another conversion, read in one
/// gather statement.
async fn after_a_taken_claim(
    client: &Object,
    store: &PgStore,
    args: &RecordArgs,
) -> Result<Recording, PgError> {
    let found = recorded_and_held(client, store, Some(&args.conversion), &args.claims).await?;
    if let Some(Some(earlier)) = found.recorded {
        return Ok(Recording::Earlier(earlier));
    }
    for key in &args.claims {
        if let Some((_, by)) = found
            .held
            .iter()
            .find(|(k, by)| k == key && *by != args.conversion)
        {
            return Ok(Recording::Taken { key: *key, by: *by });
        }
    }
    Err(corrupt(
        "attributor.claims",
        args.conversion.to_string(),
        "a key was held when recording, and is held by nobody else now",
    ))
}

/// The holders of `keys`, those held: one gather statement with the
/// claims part alone.
pub(crate) async fn holders(
    client: &Object,
    store: &PgStore,
    keys: &[UniqueKey],
) -> Result<SmallVec<[(UniqueKey, ConversionId); 2]>, PgError> {
    Ok(recorded_and_held(client, store, None, keys).await?.held)
}

/// The decision recorded for `id`, if one is asked, and the holders of
/// `keys`: one gather statement with those parts alone.
async fn recorded_and_held(
    client: &Object,
    store: &PgStore,
    id: Option<&ConversionId>,
    keys: &[UniqueKey],
) -> Result<Gathered, PgError> {
    let args = GatherArgs {
        conversion: id.map(ConversionId::as_str),
        keys: KeyColumns::of(keys),
        ..GatherArgs::none()
    };
    let rows = args.run(client, store.program.as_str()).await?;
    let mut found = read_gathered(&rows, None, None, &|_| None)?;
    // Rows that match the lists of columns but none of the keys are
    // another key's.
    found.held.retain(|(k, _)| keys.contains(k));
    Ok(found)
}

/// The decision recorded for `id`: one gather statement with the ledger
/// part alone.
pub(crate) async fn recorded(
    client: &Object,
    store: &PgStore,
    id: &ConversionId,
) -> Result<Option<Decision>, PgError> {
    let args = GatherArgs {
        conversion: Some(id.as_str()),
        ..GatherArgs::none()
    };
    let rows = args.run(client, store.program.as_str()).await?;
    Ok(read_gathered(&rows, None, None, &|_| None)?.recorded.flatten())
}

/// Who owned `code` at `at`: one gather statement with the codes part
/// alone.
pub(crate) async fn lookup(
    client: &Object,
    store: &PgStore,
    code: &crate::code::CouponCode,
    at: DateTime<Utc>,
) -> Result<CodeLookup, PgError> {
    Ok(lookup_in(
        &code_rows(client, store, code, at, false).await?,
        code,
        at,
    ))
}

/// The active codes near `code` at `at`: one gather statement with the
/// codes part alone.
pub(crate) async fn near(
    client: &Object,
    store: &PgStore,
    code: &CouponCode,
    at: DateTime<Utc>,
) -> Result<NearCodes, PgError> {
    Ok(near_in(
        &code_rows(client, store, code, at, true).await?,
        code,
        at,
    ))
}

/// The rows of `code`, of its look-alikes and families, and, if `near`,
/// of the codes near it, whether or not it has rows of its own.
async fn code_rows(
    client: &Object,
    store: &PgStore,
    code: &CouponCode,
    at: DateTime<Utc>,
    near: bool,
) -> Result<SmallVec<[(CodeAssignment, i32); 4]>, PgError> {
    let mut args = GatherArgs::none();
    args.code(code);
    args.keys_near.clear();
    if near {
        // No code is empty: the keys are read whatever the code's rows.
        args.keys_near
            .extend(code.near_keys().map(|key| format!(" {key}")));
    }
    args.at = pair(at);
    let rows = args.run(client, store.program.as_str()).await?;
    Ok(read_gathered(&rows, None, None, &|_| None)?
        .histories
        .unwrap_or_default())
}

/// The evidence of the click `id`: one gather statement with the named
/// click part alone.
pub(crate) async fn click_evidence(
    client: &Object,
    store: &PgStore,
    id: &ClickId,
) -> Result<Option<ClickEvidence>, PgError> {
    let args = GatherArgs {
        click: Some(id.as_str()),
        ..GatherArgs::none()
    };
    let rows = args.run(client, store.program.as_str()).await?;
    Ok(read_gathered(&rows, None, None, &|_| None)?.named.flatten())
}

/// The click `query` finds: one gather statement with the found click part
/// alone.
pub(crate) async fn find_evidence(
    client: &Object,
    store: &PgStore,
    query: &ClickQuery,
) -> Result<Option<ClickEvidence>, PgError> {
    let args = GatherArgs::none().query(query);
    let rows = args.run(client, store.program.as_str()).await?;
    Ok(
        read_gathered(&rows, Some(&query.customer), Some(query), &|_| None)?
            .found
            .and_then(|(_, click)| click),
    )
}

/// The customer's latest binding made before `at`: one gather statement
/// with the binding part alone.
pub(crate) async fn binding_before(
    client: &Object,
    store: &PgStore,
    customer: &CustomerId,
    at: DateTime<Utc>,
) -> Result<Option<Binding>, PgError> {
    let args = GatherArgs {
        customer: Some(customer.as_str()),
        at: pair(at),
        binding: true,
        ..GatherArgs::none()
    };
    let rows = args.run(client, store.program.as_str()).await?;
    Ok(read_gathered(&rows, Some(customer), None, &|_| None)?
        .binding
        .flatten())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::conversion::{EventKind, EventKinds};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0)
            .single()
            .unwrap_or_default()
    }

    fn conversion(id: &str, minute: u32) -> Conversion {
        Conversion::new(
            id.parse().unwrap_or_else(|_| unreachable!()),
            EventKind::Purchase,
            at(minute),
        )
    }

    #[test]
    fn a_conversion_that_claims_a_click_waits_for_the_earlier_claimant_of_that_click() {
        let (ann, click) = ("ann".parse(), "clk-1".parse());
        let (Ok(ann), Ok(click)) = (ann, click) else {
            unreachable!("valid ids")
        };
        let policies = PolicySet::from(Policy::coupon_first().with_once_per_click(EventKinds::PURCHASE));
        let page = [
            // Ann's first purchase, then her second, which waits a wave.
            conversion("ORD-1", 1).with_customer(ann),
            conversion("ORD-2", 2).with_customer(ann).with_click(click),
            // Nobody's, naming the same click: it must not record before
            // ORD-2 takes the click, or ORD-2 would be its duplicate.
            conversion("ORD-3", 3).with_click(click),
        ];
        assert_eq!(waves(&page, &policies), [0, 1, 1]);
        // Without the once-a-click rule the click orders nothing.
        assert_eq!(waves(&page, &PolicySet::from(Policy::coupon_first())), [0, 1, 0]);
    }
}
