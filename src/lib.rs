//! Affiliate attribution: decide which affiliate earns a conversion from the
//! coupon code the customer typed and the tracked link they clicked, under
//! priority rules chosen up front, and explain every decision.
//!
//! ```
//! use attributor::{AffiliateId, Attributor, Click, Conversion, CouponCode, EventKind,
//!     MemoryBindingStore, MemoryClickStore, MemoryCodeRegistry, MemoryLedger, Policy};
//! use chrono::{TimeDelta, TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
//! let (creator, blogger) = (AffiliateId::new(7), AffiliateId::new(9));
//!
//! // A creator's vanity code, and a blogger's tracked click.
//! let registry = MemoryCodeRegistry::new();
//! registry.assign(CouponCode::parse("MKBHD10")?, creator, now - TimeDelta::days(90))?;
//! let clicks = MemoryClickStore::new();
//! clicks.insert(Click::new("c-1".parse()?, blogger, now - TimeDelta::days(2)).with_customer("cust-1".parse()?))?;
//!
//! let attributor = Attributor::new(registry, clicks, MemoryBindingStore::new(), MemoryLedger::new(),
//!     Policy::coupon_first());
//!
//! let order = Conversion::new("ORD-1".parse()?, EventKind::Purchase, now)
//!     .with_customer("cust-1".parse()?)
//!     .with_code(CouponCode::parse(" mkbhd-10 ")?);
//! let decision = attributor.attribute(&order)?.decision;
//!
//! assert_eq!(decision.primary(), Some(creator));
//! assert_eq!(
//!     decision.to_string(),
//!     "conversion ORD-1 (purchase at 2026-06-01 12:00:00 UTC, coupon-first) credits affiliate 7 \
//!      by code MKBHD10; click c-1 of affiliate 9 was outranked by the coupon of affiliate 7."
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! * [`resolve`] is the pure core: a [`Conversion`], its [`Evidence`] and a
//!   [`Policy`] in, a [`Decision`] out. It reads no clock and no store, gives
//!   the same answer for the same input whatever the order of the evidence
//!   (with each code's lookup listed once), and does not allocate in the
//!   common case.
//! * Storage sits behind four small synchronous traits: [`CodeRegistry`]
//!   (who owned a code when), [`ClickStore`], [`BindingStore`] (a customer
//!   locked to an affiliate for repeat conversions) and [`Ledger`] (the
//!   decision recorded for each conversion id). Each states its contract;
//!   [`conformance`] checks a backend against it.
//! * [`MemoryCodeRegistry`], [`MemoryClickStore`], [`MemoryBindingStore`] and
//!   [`MemoryLedger`] are the in-memory reference stores.
//! * [`Attribution`] is one conversion's attribution as a sans-IO state
//!   machine: the order of the work (ledger, evidence, decision, record,
//!   bind) and the rules for what is read, in one place. The
//!   [`Attributor`] drives it over the store traits, the PostgreSQL
//!   backend over two statements, and you may drive it over your own
//!   asynchronous stores.
//! * With the `postgres` feature, `PgStore` keeps the stores in
//!   PostgreSQL, shared by many processes, and `PgAttributor` attributes on
//!   it with the same decisions, in two round trips for a new conversion
//!   and one for a retried postback, each conversion credited once across
//!   every process.
//! * [`Attributor`] wires stores and a [`PolicySet`] together and is
//!   idempotent: a retried postback returns the recorded decision.
//! * A [`Decision`] names the credits and every piece of evidence that lost,
//!   with its reason; its `Display` is one sentence for a dispute.
//! * Around the core, with the `postback` feature: [`TrackedLink`] builds and
//!   parses tracked affiliate links; [`PostbackTemplate`] renders a
//!   partner's outbound postback URL; [`PostbackParser`] reads an inbound
//!   postback into a [`Conversion`]; [`PostbackVerifier`] checks its
//!   HMAC-SHA256 signature against a `now` you pass.
//! * An [`Experiment`] replays conversions under several policies before
//!   you switch rules: whose credit moves, and which codes look leaked.
//! * With the `proptest` feature, [`strategies`](crate#crate-features) draws
//!   conversions, evidence and policies for your own property tests.
//!
//! # Recipes
//!
//! **Async or remote stores.** Drive an [`Attribution`]: it asks for each
//! read and write in turn (its docs show the loop), and a backend that
//! reads in batches can learn every read up front. Or gather the evidence
//! yourself and call the pure resolver:
//!
//! ```
//! use attributor::{resolve, AffiliateId, ClickEvidence, Conversion, EventKind, Evidence, Policy};
//! use chrono::{TimeDelta, TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
//! let conversion = Conversion::new("FTD-9".parse()?, EventKind::FirstDeposit, now);
//! // ... fetched from your own database, asynchronously:
//! let evidence = Evidence::new().with_click(ClickEvidence {
//!     id: "c-9".parse()?,
//!     affiliate: AffiliateId::new(3),
//!     clicked_at: now - TimeDelta::days(31),
//! });
//! let decision = resolve(&conversion, &evidence, &Policy::click_first());
//! assert!(!decision.is_credited()); // outside the 30-day window
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **One rule per event.** Registrations by click, challenge purchases by
//! code, and a player bound to the affiliate that brought the registration:
//!
//! ```
//! use attributor::{EventKind, EventKinds, Policy, PolicySet};
//!
//! let policies = PolicySet::new(Policy::click_first().with_bind_on(EventKinds::REGISTRATION))
//!     .with(EventKind::ChallengePurchase, Policy::coupon_first());
//! assert_eq!(policies.for_event(&EventKind::Registration).name().to_string(), "click-first");
//! assert_eq!(policies.for_event(&EventKind::ChallengePurchase).name().to_string(), "coupon-first");
//! assert!(policies.for_event(&EventKind::Registration).bind_on().contains(&EventKind::Registration));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Signed postbacks.** Verify the signature, parse the payload, attribute,
//! and tell the partner; see [`PostbackVerifier`] for the signing scheme and
//! `examples/postback.rs` for the whole trip:
//!
//! ```text
//! let signed_at = verifier.verify(timestamp_header, signature_header, body, now)?;
//! let conversion = PostbackParser::new().parse(body)?;
//! let attributed = attributor.attribute(&conversion)?;
//! if attributed.is_new() {
//!     // Once per conversion, not per retried postback.
//!     let url = partner_template.render(&conversion, &attributed.decision, stored_click.as_ref());
//! }
//! ```
//!
//! **Try a rule before switching to it.** Replay last quarter's conversions
//! under the current policy and a candidate, against the live registry and
//! click store (read only), and read whose credit moves:
//!
//! ```
//! use attributor::{Experiment, ExperimentOptions, MemoryClickStore, MemoryCodeRegistry, Policy};
//! # let (registry, clicks) = (MemoryCodeRegistry::new(), MemoryClickStore::new());
//! # let conversions: Vec<attributor::Conversion> = Vec::new();
//!
//! let mut experiment = Experiment::new(&registry, &clicks)
//!     .with_policy("today".parse()?, Policy::coupon_first())
//!     .with_policy("candidate".parse()?, Policy::split(5_000)?)
//!     .with_options(ExperimentOptions::new().with_moved_limit(50));
//! for conversion in &conversions {
//!     // in time order, streamed from wherever they are kept
//!     experiment.replay(conversion)?;
//! }
//! let report = experiment.report();
//! println!("{report}"); // tables per affiliate, moved conversions, leak signals
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Priority rules
//!
//! Let `t` be the conversion's `occurred_at` and `P` the policy for its
//! event.
//!
//! 1. **Codes.** The entered codes are weighed in entry order. Each is looked
//!    up at `t`: an assignment is active when `valid_from <= t <
//!    valid_until`. A code with no active assignment is reported as
//!    unknown, expired, revoked or not yet active, and does not count
//!    (a code without assignments of its own may be answered for by a
//!    family, rule 14, and an unknown one read as its look-alike, rule 13).
//! 2. **Code guards.** An active code whose owner is the customer's own
//!    affiliate account ([`Conversion::customer_affiliate`]) is rejected as
//!    self-referral. An active [`CreditMode::IfInvolved`] code counts only
//!    if its owner has a qualifying click (rule 4) among the evidence;
//!    otherwise it is reported as owner not involved.
//! 3. **Several codes.** A code entered twice is weighed once. The first
//!    code that passes rules 1 and 2 counts; every later one that would also
//!    pass is reported as superseded by it.
//! 4. **Clicks.** A click is judged by `elapsed = t - clicked_at`, in this
//!    order: a click by the customer's own affiliate account is
//!    self-referral; `elapsed < -skew` is after the conversion; `elapsed >
//!    window` is outside the window (exactly `window` is inside);
//!    `max(elapsed, 0) < minimum` is too fast (so with a minimum set, a
//!    click stamped after the conversion is too fast). The others qualify.
//! 5. **Which click.** Among qualifying clicks the earliest
//!    ([`ClickPick::First`]) or the latest ([`ClickPick::Last`], the default)
//!    counts; equal times go to the smaller click id (and, for one id seen
//!    with two affiliates, to the smaller affiliate). The others are
//!    outranked by the winner.
//! 6. **Binding.** The evidence holds the customer's latest binding made
//!    strictly before `t` (the [`Attributor`] gathers no other). It is live
//!    when `bound_at <= t < expires_at`; otherwise it is reported as
//!    expired. A binding to the customer's own affiliate account is
//!    rejected as self-referral and does not count. If
//!    [`Policy::with_coupon_breaks_binding`] is set and a code of another
//!    affiliate than the bound one counts (rule 3) and would win were there
//!    no binding (rules 7 to 9; in a split, its owner would take at least
//!    half), a live binding is broken and does not count; otherwise it
//!    holds.
//! 7. **Priority.** With a fixed order ([`Policy::coupon_first`] is binding,
//!    coupon, click; [`Policy::click_first`] is binding, click, coupon), the
//!    first method present wins. With last touch, first touch or a split, a
//!    live binding wins; otherwise code and click compete: a code is timed at
//!    `t` and a click at `min(clicked_at, t)`; last touch takes the later,
//!    first touch the earlier, and ties go to the code; a split gives the
//!    code owner `coupon_share` basis points and the click owner the rest.
//! 8. **Always codes.** A counting [`CreditMode::Always`] code beats any
//!    click under every priority; in a split, a click of the code's own
//!    owner is credited with it, as rule 9 says. A live binding still beats
//!    it when the policy ranks binding above coupon (every preset does).
//! 9. **Shares.** A sole winner gets 10000 basis points. In a split, when
//!    one affiliate owns both the code and the click it gets 10000 by
//!    coupon; a share of 0 or 10000 leaves a single credit. Shares always sum
//!    to 10000 when anyone is credited.
//! 10. **New bindings.** When someone is credited by coupon or click, the
//!     conversion has a customer, and either the event is in
//!     [`Policy::with_bind_on`] with a lifetime longer than zero (not one-off,
//!     not `Days(0)`) or a binding
//!     was broken (rule 6), the decision binds the customer to the affiliate
//!     with the largest share (the code owner on a tie) from `t` for the
//!     lifetime. A broken binding with a one-off lifetime is replaced by one
//!     that is never live. A binding that won is left as it is.
//! 11. **Outcomes.** Every piece of evidence is reported: `credited`, or why
//!     not. Evidence that qualified but lost is outranked by the winning
//!     method, or lost to the binding that held.
//! 12. **Duplicates** (recorded attribution only: the [`Attributor`] and the
//!     PostgreSQL backend, not [`resolve`] nor a preview). Checked before
//!     every rule above, once the conversion's id is found unrecorded. A
//!     conversion claims a key for its customer and event if the event is in
//!     [`Policy::with_once_per_customer`] and it has a customer, and a key for the
//!     click it names ([`Conversion::click`], not a click found for its
//!     customer) and event if the event is in [`Policy::with_once_per_click`].
//!     If a conversion recorded before it holds one of its keys (the first
//!     such key, customer before click), it is a duplicate of that one
//!     ([`Decision::duplicate`]): it credits nobody, considers no evidence,
//!     binds nobody and claims nothing. Otherwise it is decided by rules 1
//!     to 11 and, credited or not, holds its keys for good. "Before" is the
//!     order of recording, not of `occurred_at`; two conversions racing for
//!     a key are ordered by the ledger, which records exactly one of them
//!     as the holder.
//! 13. **Mistyped codes.** For an entered code that was never assigned
//!     (unknown at every time, not merely inactive at `t`), the registry
//!     names the codes active at `t` that resemble it
//!     ([`CodeRegistry::near`]): its look-alikes (the same [`Skeleton`]:
//!     `B0SS20` for `BOSS20`) and the codes one edit from it (one character
//!     changed, added or removed, or two neighbours swapped). If
//!     [`Policy::with_look_alikes`] is set and exactly one of them is a
//!     look-alike, the entered code is read as it: weighed by rules 1 to 3
//!     as that code, at its place in entry order, with its owner, mode and
//!     guards (`typed B0SS20, read as BOSS20`). Otherwise the code stays
//!     unknown. Every near code but the one read is named in
//!     [`Decision::candidates`] for review and credited by nothing: a code
//!     one edit away is never read, nor one of two look-alikes (the
//!     registry refuses look-alikes of two affiliates at one time, so two
//!     look-alikes share an owner, but may differ in mode). With
//!     look-alikes off, the decision is what it would be without the near
//!     codes, candidates aside.
//! 14. **Code families.** A family ([`CodeAssignment::family`], `MKBHD*`)
//!     covers every code that starts with its prefix, the prefix itself
//!     included; the prefix is a valid code, so at least [`MIN_CODE_LEN`]
//!     characters. A code with assignments of its own is answered by them
//!     alone, by rule 1, whatever its families say, even when they have
//!     all run out or been revoked. A code without any is answered by the
//!     history of the family with the longest prefix of it, by rule 1 as if
//!     the family's assignments were the code's: a family that has run out
//!     or was revoked leaves the code expired or revoked, and one that has
//!     not begun leaves it not yet active, even when a shorter family is
//!     active. The family's owner, mode and guards then
//!     apply (rules 2 and 3), and the decision names the family
//!     (`code MKBHD10OFF, of family MKBHD*`). A code with neither is
//!     unknown. The registry keeps every code or family a customer could
//!     confuse with one of a family's codes (a code whose skeleton starts
//!     with the prefix's, a family whose prefix's skeleton starts or is
//!     started by it) from another affiliate at an overlapping time, so
//!     nested families and codes within a family belong to its owner while
//!     it holds them.
//!
//! # API conventions
//!
//! * **Setters are `with_<field>`** on every type built step by step
//!   ([`Policy`], [`CodeAssignment`], [`ImportRow`], [`ImportOptions`],
//!   [`Conversion`], [`Click`], [`TrackedLink`], [`LinkParams`],
//!   [`ExperimentOptions`], [`Experiment`], [`PostbackParser`],
//!   [`PostbackVerifier`], [`Evidence`], [`Attribution`]). Each takes
//!   `self` and returns the value (or `Result<Self, _>` when it checks its
//!   argument), so calls chain: `Policy::click_first().with_click_window(d)?`.
//!   A setter that fills a keyed slot is `with(key, value)`
//!   ([`SubIds::with`], [`PolicySet::with`]).
//! * **Getters carry the bare name**, without `get_`:
//!   [`Policy::click_window`] reads what [`Policy::with_click_window`]
//!   set. Types with public fields have no getters; read the field.
//! * **Constructors** are `new` for the required parts, and named
//!   constructors for common starting points ([`Policy::coupon_first`],
//!   [`CodeAssignment::family`]); conversions from text are `parse` or
//!   [`FromStr`](core::str::FromStr).
//! * **The modules stand in floors**, each using only the floors below it:
//!   ids and errors; codes and values (amounts, events, conversions,
//!   clicks); policy and evidence (the registry's answers, bindings);
//!   resolve and decision; then the store traits, the memory stores, the
//!   attributor, experiments, links, postbacks and PostgreSQL.
//!
//! # Crate features
//!
//! * `postback` (on by default): tracked links ([`TrackedLink`],
//!   [`LinkParams`]), outbound postback templates ([`PostbackTemplate`]),
//!   inbound postbacks ([`PostbackParser`]) and their signatures
//!   ([`PostbackVerifier`], [`PostbackSigner`]). It brings in `url`,
//!   `percent-encoding`, `hmac`, `sha2` and `hex`; build with
//!   `default-features = false` for the attribution core without them.
//! * `serde`: `Serialize` and `Deserialize` for the data types; a
//!   [`Decision`] serialises to the stable JSON shape documented on it, and
//!   an [`ExperimentReport`] to JSON. Reading refuses a field the type does
//!   not have, so a misspelled optional field (`valid_to` for
//!   `valid_until`) is an error, not a value left at its default.
//! * `postgres`: the PostgreSQL backend: `PgStore` (the stores and their
//!   administration, `SCHEMA_VERSION` and
//!   `PgStore::migrate`), `PgAttributor` (asynchronous attribution) and
//!   `PgBlockingStore` (the store traits, for synchronous code and the
//!   conformance suite). It brings in `tokio-postgres`,
//!   `deadpool-postgres` (re-exported as `deadpool_postgres`), `tokio`,
//!   `futures-util` and `serde_json`, and turns on `serde`. The README's
//!   "PostgreSQL" and "Scaling out" sections describe the schema.
//! * `tracing`: an event at debug level for each decision the
//!   [`Attributor`] and `PgAttributor` record or find recorded (target
//!   `attributor`, with the conversion id, the affiliate credited and the
//!   decision's sentence), through the `tracing` crate.
//! * `proptest`: the `strategies` module of [proptest] strategies for
//!   coupon codes (valid and invalid text), conversions, clicks, code
//!   assignment histories, policies, and conversions with their evidence, so
//!   that you can property-test your own rules; its docs show a property of
//!   a user's policy.
//!
//! [proptest]: https://docs.rs/proptest
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attributor;
mod binding;
mod clicks;
mod code;
pub mod conformance;
mod conversion;
mod decision;
mod experiment;
mod ids;
mod ledger;
#[cfg(feature = "postback")]
mod link;
mod memory;
mod policy;
#[cfg(feature = "postback")]
mod postback;
#[cfg(feature = "postgres")]
mod postgres;
mod registry;
mod resolve;
mod rules;
mod step;
#[cfg(feature = "proptest")]
pub mod strategies;
mod time;
#[cfg(feature = "tracing")]
mod trace;

pub use attributor::{AttributeAll, AttributeError, Attributor, AttributorError};
pub use binding::{Binding, BindingStore};
pub use clicks::{ClickError, ClickQuery, ClickStore};
pub use code::{CodeError, CouponCode, MAX_CODE_LEN, MIN_CODE_LEN, Skeleton};
pub use conversion::{
    Amount, Click, Conversion, Currency, EnteredCodes, EventKind, EventKinds, SubIds, ValueError,
};
/// The connection pool the PostgreSQL backend takes, re-exported so that
/// a pool you build has the version it expects.
#[cfg(feature = "postgres")]
pub use deadpool_postgres;
pub use decision::{
    Candidate, Candidates, Considered, ConsideredList, Credit, Credits, Decision, Duplicate, Outcome, Subject,
};
pub use experiment::{
    AffiliateTally, CodeSignal, Experiment, ExperimentError, ExperimentOptions, ExperimentReport, Money,
    MovedConversion, NearCodeTally, OptionsError, PolicyReport, ReasonTally, UncreditedReason,
};
pub use ids::{
    AffiliateId, Campaign, ClickId, ConversionId, CustomerId, Excerpt, IdError, Label, MAX_ID_LEN,
    MAX_LABEL_LEN, ProgramId, SubId,
};
pub use ledger::{Attributed, Ledger, Recorded, Recording};
#[cfg(feature = "postback")]
pub use link::{LinkError, LinkParams, TrackedLink};
pub use memory::*;
pub use policy::{
    BindingLifetime, ClickPick, Method, Policy, PolicyError, PolicyName, PolicySet, Priority, UniqueKey,
    Uniqueness,
};
#[cfg(feature = "postback")]
pub use postback::{
    DEFAULT_TOLERANCE, MAX_POSTBACK_CODES, Macro, PostbackError, PostbackParser, PostbackSigner,
    PostbackTemplate, PostbackVerifier, SIGNATURE_HEADER, SIGNATURE_PARAM, SIGNED_AT_PARAM, SignatureError,
    TIMESTAMP_HEADER, TemplateError,
};
#[cfg(feature = "postgres")]
pub use postgres::{
    CONNECTION_OPTIONS, ClickIngest, PgAttributor, PgBlockingStore, PgError, PgStore, SCHEMA_VERSION,
};
pub use registry::{
    CodeAssignment, CodeLookup, CodeRegistry, ConflictKind, CreditMode, ImportConflict, ImportMode,
    ImportOptions, ImportReport, ImportRow, NearCode, NearCodes, Nearness, RegistryError,
};
pub use resolve::{ClickEvidence, CodeEvidence, Evidence, resolve};
pub use step::{
    Attribution, BindWrite, BindingRead, ClickRead, CodeRead, FindRead, Finished, LedgerRead, NearRead,
    RecordWrite, Step,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
