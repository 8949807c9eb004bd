//! Administration on PostgreSQL: the code registry's writes under the
//! registry rules, clicks and bindings in bulk, and reads for reports.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Transaction};
use hashbrown::HashMap;
use smallvec::SmallVec;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::attribute::{query, recorded};
use super::error::{db, is_conflict};
use super::sql::{
    self, ASSIGNMENT_ROW, affiliate_column, affiliate_of, assignment_of, corrupt, get, instant, mode_column,
    optional_pair, pair,
};
use super::{CONFLICT_RETRIES, PgError, PgStore};
use crate::binding::Binding;
use crate::clicks::ClickError;
use crate::code::CouponCode;
use crate::conversion::{Click, SubIds};
use crate::decision::Decision;
use crate::ids::{AffiliateId, ClickId, ConversionId, CustomerId, SubId};
use crate::registry::{CodeAssignment, ImportMode, ImportOptions, ImportReport, ImportRow, RegistryError};
use crate::rules::{self, ImportCheck, Reassignment, View, keeps_all};

/// Rows a bulk write sends in one statement.
const CHUNK: usize = 5_000;

/// Clicks few enough to insert with the connection's generic plan.
const FEW: usize = 64;

/// What [`PgStore::insert_clicks`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClickIngest {
    /// The clicks added.
    pub added: u64,
    /// The clicks already stored, exactly as given: nothing to do.
    pub unchanged: u64,
    /// The positions (from zero) of the clicks refused because another
    /// click with their id is stored ([`ClickError::Conflict`]), in order.
    pub conflicts: Vec<usize>,
}

/// The assignments of the codes that share the locked skeletons, as the
/// registry rules see them, with the order each was made in.
#[derive(Debug, Default)]
struct Locked {
    /// By code, or family prefix, and whether it is a family.
    codes: HashMap<(CouponCode, bool), Made>,
}

/// A key's assignments, each with the order it was made in.
type Made = SmallVec<[(CodeAssignment, i32); 2]>;

impl Locked {
    fn made_next(&self, a: &CodeAssignment) -> i32 {
        self.codes
            .get(&(a.code, a.family))
            .and_then(|h| h.iter().map(|(_, made)| *made).max())
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn made_of(&self, a: &CodeAssignment) -> Option<i32> {
        self.codes
            .get(&(a.code, a.family))
            .and_then(|h| h.iter().find(|(b, _)| b == a))
            .map(|(_, made)| *made)
    }

    fn add(&mut self, a: CodeAssignment, made: i32) {
        let history = self.codes.entry((a.code, a.family)).or_default();
        if history.iter().any(|(_, m)| *m == made) {
            return; // read twice, as a code's and as one under a family
        }
        history.push((a, made));
        history.sort_by_key(|(a, made)| (a.valid_from, *made));
    }

    fn key_history(&self, code: &CouponCode, family: bool) -> SmallVec<[CodeAssignment; 2]> {
        self.codes
            .get(&(*code, family))
            .map(|h| h.iter().map(|(a, _)| *a).collect())
            .unwrap_or_default()
    }
}

impl View for Locked {
    fn history_of(&self, code: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.key_history(code, false)
    }

    fn family_history(&self, prefix: &CouponCode) -> SmallVec<[CodeAssignment; 2]> {
        self.key_history(prefix, true)
    }

    /// Everything read: the families, and for a family the codes under it.
    fn clashes_of(&self, new: &CodeAssignment) -> SmallVec<[CodeAssignment; 2]> {
        self.codes
            .iter()
            .filter(|((_, family), _)| *family || new.family)
            .flat_map(|(_, h)| h.iter().map(|(a, _)| *a))
            .filter(|a| a.meets(new))
            .collect()
    }

    fn twins_of(&self, code: &CouponCode) -> SmallVec<[CouponCode; 2]> {
        let skeleton = code.skeleton();
        self.codes
            .keys()
            .filter(|(c, family)| !family && c != code && c.skeleton() == skeleton)
            .map(|(c, _)| *c)
            .collect()
    }
}

/// The changes a registry write makes, once the rules allowed them.
#[derive(Debug, Default)]
struct Changes {
    inserts: Vec<(CodeAssignment, i32)>,
    /// An assignment, the order it was made in, and what it becomes.
    updates: Vec<(CodeAssignment, i32)>,
}

impl Changes {
    fn insert(&mut self, locked: &mut Locked, a: CodeAssignment) {
        let made = locked.made_next(&a);
        locked.add(a, made);
        self.inserts.push((a, made));
    }

    fn update(&mut self, locked: &Locked, old: &CodeAssignment, new: CodeAssignment) -> Result<(), PgError> {
        let made = locked.made_of(old).ok_or(RegistryError::NotActive {
            code: old.code,
            family: old.family,
            at: old.valid_from,
        })?;
        self.updates.push((new, made));
        Ok(())
    }
}

impl PgStore {
    /// Adds an assignment as given, of a code or of a family, under the
    /// registry rules that
    /// [`MemoryCodeRegistry::insert`](crate::MemoryCodeRegistry::insert)
    /// follows: the code's skeleton is locked in the database for the
    /// transaction, so that no other process can write a confusable code
    /// or an overlapping interval at the same time. Every registry write
    /// also takes one row of the program's in share mode, which a family's
    /// write takes alone: a family's write waits for the code writes under
    /// way, holds the others back while it reads the codes under its prefix,
    /// and so never misses one, nor one it.
    ///
    /// # Errors
    ///
    /// [`PgError::Registry`] with the rule broken (nothing is written), or
    /// a database error.
    pub async fn insert(&self, assignment: CodeAssignment) -> Result<(), PgError> {
        self.write_registry(&[(assignment.code, assignment.family)], |locked, changes| {
            rules::check(locked, &assignment, None, keeps_all)?;
            changes.insert(locked, assignment);
            Ok(())
        })
        .await
    }

    /// Gives `code` to `affiliate` from `from` on, open-ended, in
    /// [`CreditMode::Standard`](crate::CreditMode::Standard).
    ///
    /// # Errors
    ///
    /// As [`PgStore::insert`].
    pub async fn assign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        from: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.insert(CodeAssignment::new(code, affiliate, from)).await
    }

    /// Hands `code` to `affiliate` at `at`, as
    /// [`MemoryCodeRegistry::reassign`](crate::MemoryCodeRegistry::reassign)
    /// does.
    ///
    /// # Errors
    ///
    /// [`PgError::Registry`] ([`RegistryError::NotActive`] if no assignment
    /// is active at `at`, [`RegistryError::Confusable`] if the new owner
    /// would hold a code confusable with another affiliate's); nothing is
    /// written.
    pub async fn reassign(
        &self,
        code: CouponCode,
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.reassign_key((code, false), affiliate, at).await
    }

    /// Hands the family `prefix` to `affiliate` at `at`, as
    /// [`MemoryCodeRegistry::reassign_family`](crate::MemoryCodeRegistry::reassign_family)
    /// does.
    ///
    /// # Errors
    ///
    /// As [`PgStore::reassign`].
    pub async fn reassign_family(
        &self,
        prefix: CouponCode,
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.reassign_key((prefix, true), affiliate, at).await
    }

    async fn reassign_key(
        &self,
        key: (CouponCode, bool),
        affiliate: AffiliateId,
        at: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.write_registry(&[key], |locked, changes| {
            match rules::reassign(locked, key, affiliate, at, keeps_all)? {
                Reassignment::Replace { old, new } => changes.update(locked, &old, new),
                Reassignment::Cut { old, cut, next } => {
                    changes.update(locked, &old, cut)?;
                    changes.insert(locked, next);
                    Ok(())
                }
            }
        })
        .await
    }

    /// Revokes `code` at `at`, as
    /// [`MemoryCodeRegistry::revoke`](crate::MemoryCodeRegistry::revoke)
    /// does.
    ///
    /// # Errors
    ///
    /// [`PgError::Registry`] ([`RegistryError::NotActive`] if no assignment
    /// is active at `at`); nothing is written.
    pub async fn revoke(&self, code: CouponCode, at: DateTime<Utc>) -> Result<(), PgError> {
        self.revoke_key((code, false), at).await
    }

    /// Revokes the family `prefix` at `at`, as
    /// [`MemoryCodeRegistry::revoke_family`](crate::MemoryCodeRegistry::revoke_family)
    /// does.
    ///
    /// # Errors
    ///
    /// As [`PgStore::revoke`].
    pub async fn revoke_family(&self, prefix: CouponCode, at: DateTime<Utc>) -> Result<(), PgError> {
        self.revoke_key((prefix, true), at).await
    }

    async fn revoke_key(&self, key: (CouponCode, bool), at: DateTime<Utc>) -> Result<(), PgError> {
        self.write_registry(&[key], |locked, changes| {
            let (old, revoked) = rules::revoke(locked, key, at, keeps_all)?;
            changes.update(locked, &old, revoked)
        })
        .await
    }

    /// Loads many assignments at once, as
    /// [`MemoryCodeRegistry::import`](crate::MemoryCodeRegistry::import)
    /// does, with the same conflict report: every row is checked against
    /// the registry and the valid rows before it. The skeletons of all the
    /// rows' codes are locked for the transaction, and the valid rows
    /// written in one statement; in [`ImportMode::AllOrNothing`] nothing is
    /// written if any row conflicts. The rows are read, and
    /// [`ImportOptions::with_known_affiliates`] asked about each, before the
    /// returned future first runs.
    ///
    /// # Errors
    ///
    /// A database error; the transaction is then rolled back and nothing is
    /// applied.
    pub fn import<I>(
        &self,
        rows: I,
        options: ImportOptions<'_>,
    ) -> impl Future<Output = Result<ImportReport, PgError>> + Send + '_
    where
        I: IntoIterator<Item = ImportRow>,
    {
        let rows = options.known(rows);
        let mode = options.mode();
        async move {
            let codes: Vec<(CouponCode, bool)> = rows
                .iter()
                .filter_map(|(row, _)| match row.code.trim_end().strip_suffix('*') {
                    Some(prefix) => CouponCode::parse(prefix).ok().map(|p| (p, true)),
                    None => CouponCode::parse(&row.code).ok().map(|c| (c, false)),
                })
                .collect();
            self.write_registry(&codes, |locked, changes| {
                let total = rows.len();
                let ImportCheck { accepted, conflicts } =
                    rules::check_import(rows.clone(), &*locked, keeps_all);
                let apply = match mode {
                    ImportMode::AllOrNothing => conflicts.is_empty(),
                    ImportMode::ApplyValid => true,
                };
                let mut applied = 0;
                if apply {
                    for (_, a) in &accepted {
                        changes.insert(locked, *a);
                        applied += 1;
                    }
                }
                Ok(ImportReport {
                    rows: total,
                    applied,
                    conflicts,
                })
            })
            .await
        }
    }

    /// Every assignment of `code`, oldest first.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn history(&self, code: &CouponCode) -> Result<Vec<CodeAssignment>, PgError> {
        self.key_history(code, false).await
    }

    /// Every assignment of the family `prefix`, oldest first.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn family_history(&self, prefix: &CouponCode) -> Result<Vec<CodeAssignment>, PgError> {
        self.key_history(prefix, true).await
    }

    async fn key_history(&self, code: &CouponCode, family: bool) -> Result<Vec<CodeAssignment>, PgError> {
        let client = self.client().await?;
        let (skeleton, code) = sql::key_columns(code, family);
        let rows = query(
            &client,
            "history",
            sql::HISTORY,
            &[&self.program.as_str(), &skeleton, &code],
        )
        .await?;
        rows.iter()
            .map(|row| assignment_of(row, ASSIGNMENT_ROW).map(|(a, _)| a))
            .collect()
    }

    /// The codes `affiliate` has ever held, in canonical order.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn codes_of(&self, affiliate: AffiliateId) -> Result<Vec<CouponCode>, PgError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "codes of an affiliate",
            sql::CODES_OF,
            &[&self.program.as_str(), &affiliate_column(affiliate)],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let text: &str = get(row, 0, "attributor.code_assignments", &String::new)?;
                CouponCode::parse(text)
                    .map_err(|e| corrupt("attributor.code_assignments", text.to_owned(), &e.to_string()))
            })
            .collect()
    }

    /// Records a click. Recording the same click again changes nothing.
    ///
    /// # Errors
    ///
    /// [`PgError::Click`] with [`ClickError::Conflict`] if another click
    /// with this id is stored; a database error.
    pub async fn insert_click(&self, click: Click) -> Result<(), PgError> {
        let ingest = self.insert_clicks(std::slice::from_ref(&click)).await?;
        if ingest.conflicts.is_empty() {
            Ok(())
        } else {
            Err(ClickError::Conflict { id: click.id }.into())
        }
    }

    /// Records many clicks, a few thousand to a statement, each written to
    /// the clicks by id and, when it has a customer, by customer and time.
    /// A click stored already, exactly as given, is left as it is; one
    /// whose id is stored with other values is refused and reported; the
    /// others are added. Of two clicks with one id in `clicks`, the first
    /// counts.
    ///
    /// # Errors
    ///
    /// A database error: the statements before it stay written (each is
    /// atomic), and running the call again is safe.
    pub async fn insert_clicks(&self, clicks: &[Click]) -> Result<ClickIngest, PgError> {
        let mut client = self.client().await?;
        let mut ingest = ClickIngest::default();
        for (chunk_index, chunk) in clicks.chunks(CHUNK).enumerate() {
            let offset = chunk_index * CHUNK;
            let (refused, added) = insert_chunk(&mut client, self, chunk).await?;
            ingest.added += added;
            for n in refused {
                let Some(click) = chunk.get(n) else { continue };
                // A click stored by a racing call after the statement began
                // is not seen by it: look again before calling it a conflict.
                if self.click_on(&client, &click.id).await?.as_ref() != Some(click) {
                    ingest.conflicts.push(offset + n);
                }
            }
        }
        ingest.unchanged = (clicks.len() as u64)
            .saturating_sub(ingest.added)
            .saturating_sub(ingest.conflicts.len() as u64);
        Ok(ingest)
    }

    /// The click with this id, whole.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn click(&self, id: &ClickId) -> Result<Option<Click>, PgError> {
        let client = self.client().await?;
        self.click_on(&client, id).await
    }

    pub(crate) async fn click_on(&self, client: &Object, id: &ClickId) -> Result<Option<Click>, PgError> {
        const TABLE: &str = "attributor.clicks";
        let rows = query(
            client,
            "click",
            sql::CLICK,
            &[&self.program.as_str(), &id.as_str()],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key = || id.to_string();
        let customer: Option<&str> = get(row, 3, TABLE, &key)?;
        let mut sub_ids = SubIds::default();
        for n in 1..=5 {
            let sub: Option<&str> = get(row, 3 + n, TABLE, &key)?;
            if let Some(sub) = sub {
                let sub = SubId::new(sub).map_err(|e| corrupt(TABLE, key(), &format!("sub{n}: {e}")))?;
                sub_ids = sub_ids.with(n, sub);
            }
        }
        Ok(Some(Click {
            id: *id,
            affiliate: affiliate_of(get(row, 0, TABLE, &key)?),
            clicked_at: instant(get(row, 1, TABLE, &key)?, get(row, 2, TABLE, &key)?)
                .ok_or_else(|| corrupt(TABLE, key(), "clicked_at is not an instant"))?,
            customer: customer
                .map(CustomerId::new)
                .transpose()
                .map_err(|e| corrupt(TABLE, key(), &format!("customer: {e}")))?,
            sub_ids,
        }))
    }

    /// Adds a binding, replacing the one of its customer and conversion if
    /// there is one (the [`BindingStore`](crate::BindingStore) contract).
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn bind(&self, binding: &Binding) -> Result<(), PgError> {
        let client = self.client().await?;
        bind_all(&client, self, std::slice::from_ref(binding)).await
    }

    /// Writes many bindings, a few thousand to a statement, as a migration
    /// from another system brings them: each replaces the binding of its
    /// customer and conversion if there is one.
    ///
    /// # Errors
    ///
    /// A database error: the statements before it stay written, and running
    /// the call again is safe.
    pub async fn import_bindings(&self, bindings: &[Binding]) -> Result<(), PgError> {
        let client = self.client().await?;
        bind_all(&client, self, bindings).await
    }

    /// Who owned `code` at `at`, by the [`CodeRegistry`](crate::CodeRegistry)
    /// contract.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn lookup(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<crate::CodeLookup, PgError> {
        let client = self.client().await?;
        super::attribute::lookup(&client, self, code, at).await
    }

    /// The codes active at `at` that resemble `code`, by the
    /// [`CodeRegistry::near`](crate::CodeRegistry::near) contract: read
    /// through the near lookup keys' index, not by reading every code.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn near(&self, code: &CouponCode, at: DateTime<Utc>) -> Result<crate::NearCodes, PgError> {
        let client = self.client().await?;
        super::attribute::near(&client, self, code, at).await
    }

    /// The customer's latest binding made strictly before `at`, by the
    /// [`BindingStore`](crate::BindingStore) contract.
    ///
    /// # Errors
    ///
    /// A database error, or a row that cannot be read.
    pub async fn binding_before(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<Option<Binding>, PgError> {
        let client = self.client().await?;
        super::attribute::binding_before(&client, self, customer, at).await
    }

    /// The decision recorded for a conversion id.
    ///
    /// # Errors
    ///
    /// A database error, or a recorded decision that cannot be read.
    pub async fn decision(&self, id: &ConversionId) -> Result<Option<Decision>, PgError> {
        let client = self.client().await?;
        recorded(&client, self, id).await
    }

    /// Runs a registry write: locks the skeletons of `codes`, reads every
    /// assignment of a code with one of them, lets `decide` check the write
    /// under the registry rules and say what changes, writes that, and
    /// commits; all again on a serialization failure or deadlock.
    async fn write_registry<T, F>(&self, keys: &[(CouponCode, bool)], mut decide: F) -> Result<T, PgError>
    where
        F: FnMut(&mut Locked, &mut Changes) -> Result<T, PgError>,
    {
        let mut skeletons: Vec<String> = keys.iter().map(|(c, f)| sql::key_columns(c, *f).0).collect();
        skeletons.sort_unstable();
        skeletons.dedup();
        // The skeletons of the families written, whose codes are read.
        let mut under: Vec<String> = keys
            .iter()
            .filter(|(_, family)| *family)
            .map(|(c, _)| c.skeleton().as_str().to_owned())
            .collect();
        under.sort_unstable();
        under.dedup();
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            let result = self
                .write_registry_once(&mut client, &skeletons, &under, &mut decide)
                .await;
            match result {
                Err(PgError::Db { source, .. }) if is_conflict(&source) && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn write_registry_once<T, F>(
        &self,
        client: &mut Object,
        skeletons: &[String],
        under: &[String],
        decide: &mut F,
    ) -> Result<T, PgError>
    where
        F: FnMut(&mut Locked, &mut Changes) -> Result<T, PgError>,
    {
        const STATEMENT: &str = "registry write";
        let program = self.program.as_str();
        // Read committed, whatever the database's default: each statement
        // after the lock must see what the lock's last holder committed.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(db(STATEMENT))?;
        // The skeletons' rows, and the gate's that families and codes meet
        // at (`*` sorts before every skeleton).
        let mut rows_needed: Vec<&str> = vec!["*"];
        rows_needed.extend(skeletons.iter().map(String::as_str));
        let locks = tx
            .prepare_cached(sql::ADD_SKELETONS)
            .await
            .map_err(db(STATEMENT))?;
        tx.execute(&locks, &[&program, &rows_needed])
            .await
            .map_err(db(STATEMENT))?;
        // The gate first: a family's write holds it alone, a code's shares
        // it, so that neither misses the other. Then the skeletons.
        let gate = if under.is_empty() {
            format!("{} FOR SHARE", sql::FAMILY_GATE)
        } else {
            format!("{} FOR UPDATE", sql::FAMILY_GATE)
        };
        tx.query(&gate, &[&program]).await.map_err(db(STATEMENT))?;
        let lock = tx
            .prepare_cached(sql::LOCK_SKELETONS)
            .await
            .map_err(db(STATEMENT))?;
        tx.query(&lock, &[&program, &skeletons])
            .await
            .map_err(db(STATEMENT))?;
        let mut locked = Locked::default();
        let mut rows = read_in(&tx, sql::SKELETON_ROWS, &[&program, &skeletons]).await?;
        rows.extend(read_in(&tx, sql::FAMILY_ROWS, &[&program]).await?);
        if !under.is_empty() {
            rows.extend(read_in(&tx, sql::CODES_UNDER, &[&program, &under]).await?);
        }
        for row in &rows {
            let (a, made) = assignment_of(row, ASSIGNMENT_ROW)?;
            locked.add(a, made);
        }
        let mut changes = Changes::default();
        // A refusal drops the transaction unfinished: rolled back.
        let out = decide(&mut locked, &mut changes)?;
        if changes.inserts.is_empty() && changes.updates.is_empty() {
            tx.rollback().await.map_err(db(STATEMENT))?;
            return Ok(out);
        }
        write_changes(&tx, program, &changes).await?;
        tx.commit().await.map_err(db(STATEMENT))?;
        Ok(out)
    }
}

/// Runs a prepared statement in a registry write's transaction.
async fn read_in(
    tx: &Transaction<'_>,
    text: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    const STATEMENT: &str = "registry write";
    let statement = tx.prepare_cached(text).await.map_err(db(STATEMENT))?;
    tx.query(&statement, params).await.map_err(db(STATEMENT))
}

/// Writes a registry write's changes in its transaction.
async fn write_changes(tx: &Transaction<'_>, program: &str, changes: &Changes) -> Result<(), PgError> {
    const STATEMENT: &str = "registry write";
    for chunk in changes.inserts.chunks(CHUNK) {
        let mut skeleton = Vec::with_capacity(chunk.len());
        let mut code = Vec::with_capacity(chunk.len());
        let mut made = Vec::with_capacity(chunk.len());
        let mut affiliate = Vec::with_capacity(chunk.len());
        let (mut from_s, mut from_ns) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        let (mut until_s, mut until_ns) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        let mut revoked = Vec::with_capacity(chunk.len());
        let mut mode = Vec::with_capacity(chunk.len());
        let mut label = Vec::with_capacity(chunk.len());
        for (a, m) in chunk {
            let (skeleton_column, code_column) = sql::key_columns(&a.code, a.family);
            skeleton.push(skeleton_column);
            code.push(code_column);
            made.push(*m);
            affiliate.push(affiliate_column(a.affiliate));
            let (s, ns) = pair(a.valid_from);
            from_s.push(s);
            from_ns.push(ns);
            let (s, ns) = optional_pair(a.valid_until);
            until_s.push(s);
            until_ns.push(ns);
            revoked.push(a.revoked);
            mode.push(mode_column(a.mode));
            label.push(a.label.map(|l| l.as_str().to_owned()));
        }
        let insert = tx
            .prepare_cached(sql::INSERT_ASSIGNMENTS)
            .await
            .map_err(db(STATEMENT))?;
        let params: [&(dyn ToSql + Sync); 12] = [
            &program, &skeleton, &code, &made, &affiliate, &from_s, &from_ns, &until_s, &until_ns, &revoked,
            &mode, &label,
        ];
        tx.execute(&insert, &params).await.map_err(db(STATEMENT))?;
        // The near lookup keys of the codes (those there already stay).
        let (mut keys, mut key_skeletons, mut key_codes) = (Vec::new(), Vec::new(), Vec::new());
        // (A family has none: its codes are not near lookups' answers.)
        for ((a, _), skeleton) in chunk.iter().zip(&skeleton).filter(|((a, _), _)| !a.family) {
            for key in a.code.near_keys() {
                keys.push(key);
                key_skeletons.push(skeleton.as_str());
                key_codes.push(a.code.as_str());
            }
        }
        let add_keys = tx.prepare_cached(sql::ADD_KEYS).await.map_err(db(STATEMENT))?;
        tx.execute(&add_keys, &[&program, &keys, &key_skeletons, &key_codes])
            .await
            .map_err(db(STATEMENT))?;
    }
    for (a, made) in &changes.updates {
        let update = tx
            .prepare_cached(sql::UPDATE_ASSIGNMENT)
            .await
            .map_err(db(STATEMENT))?;
        let (until_s, until_ns) = optional_pair(a.valid_until);
        let (skeleton, code) = sql::key_columns(&a.code, a.family);
        let params: [&(dyn ToSql + Sync); 8] = [
            &program,
            &skeleton,
            &code,
            made,
            &affiliate_column(a.affiliate),
            &until_s,
            &until_ns,
            &a.revoked,
        ];
        tx.execute(&update, &params).await.map_err(db(STATEMENT))?;
    }
    Ok(())
}

/// Sends one chunk of clicks; returns the positions in the chunk of the
/// rows the statement saw conflict, and how many it added.
async fn insert_chunk(
    client: &mut Object,
    store: &PgStore,
    chunk: &[Click],
) -> Result<(Vec<usize>, u64), PgError> {
    let mut id = Vec::with_capacity(chunk.len());
    let mut affiliate = Vec::with_capacity(chunk.len());
    let (mut s, mut ns) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
    let mut customer = Vec::with_capacity(chunk.len());
    let mut subs: [Vec<Option<&str>>; 5] = Default::default();
    for click in chunk {
        id.push(click.id.as_str());
        affiliate.push(affiliate_column(click.affiliate));
        let (secs, nanos) = pair(click.clicked_at);
        s.push(secs);
        ns.push(nanos);
        customer.push(click.customer.as_ref().map(CustomerId::as_str));
        for (n, column) in subs.iter_mut().enumerate() {
            column.push(click.sub_ids.get(n + 1).map(SubId::as_str));
        }
    }
    let [sub1, sub2, sub3, sub4, sub5] = &subs;
    let params: [&(dyn ToSql + Sync); 11] = [
        &store.program.as_str(),
        &id,
        &affiliate,
        &s,
        &ns,
        &customer,
        sub1,
        sub2,
        sub3,
        sub4,
        sub5,
    ];
    let mut attempt = 0;
    let rows = loop {
        match insert_chunk_once(client, chunk.len(), &params).await {
            Err(e) if is_conflict(&e) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
            }
            other => break other.map_err(db("insert clicks"))?,
        }
    };
    let mut refused = Vec::new();
    let mut added = 0;
    for row in &rows {
        let n: i64 = get(row, 0, "attributor.clicks", &String::new)?;
        let count: i64 = get(row, 1, "attributor.clicks", &String::new)?;
        added = u64::try_from(count).unwrap_or(0);
        if let Some(position) = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)) {
            refused.push(position);
        }
    }
    Ok((refused, added))
}

/// Runs the click insert. A chunk of a few thousand rows runs in a
/// transaction of its own planned for the arrays it is given: the generic
/// plans the connection's options ask for ([`CONNECTION_OPTIONS`]) suit the
/// attribution statements, not a statement that joins thousands of rows it
/// unnests. A few rows take the generic plan, in one round trip.
///
/// [`CONNECTION_OPTIONS`]: super::CONNECTION_OPTIONS
async fn insert_chunk_once(
    client: &mut Object,
    rows: usize,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    if rows <= FEW {
        let statement = client.prepare_cached(sql::INSERT_CLICKS).await?;
        return client.query(&statement, params).await;
    }
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await?;
    tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")
        .await?;
    let statement = tx.prepare_cached(sql::INSERT_CLICKS).await?;
    let rows = tx.query(&statement, params).await?;
    tx.commit().await?;
    Ok(rows)
}

/// Writes bindings, a chunk to a statement.
pub(crate) async fn bind_all(client: &Object, store: &PgStore, bindings: &[Binding]) -> Result<(), PgError> {
    // A statement may write a row once: of two bindings of one customer and
    // conversion, the later replaces the earlier, as two writes would.
    let mut last: HashMap<(&CustomerId, &ConversionId), usize> = HashMap::new();
    for (i, b) in bindings.iter().enumerate() {
        last.insert((&b.customer, &b.conversion), i);
    }
    let kept: Vec<&Binding> = bindings
        .iter()
        .enumerate()
        .filter(|(i, b)| last.get(&(&b.customer, &b.conversion)) == Some(i))
        .map(|(_, b)| b)
        .collect();
    for chunk in kept.chunks(CHUNK) {
        let mut customer = Vec::with_capacity(chunk.len());
        let mut conversion = Vec::with_capacity(chunk.len());
        let mut affiliate = Vec::with_capacity(chunk.len());
        let (mut bound_s, mut bound_ns) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        let (mut expires_s, mut expires_ns) =
            (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        let mut event = Vec::with_capacity(chunk.len());
        for b in chunk {
            customer.push(b.customer.as_str());
            conversion.push(b.conversion.as_str());
            affiliate.push(affiliate_column(b.affiliate));
            let (s, ns) = pair(b.bound_at);
            bound_s.push(s);
            bound_ns.push(ns);
            let (s, ns) = optional_pair(b.expires_at);
            expires_s.push(s);
            expires_ns.push(ns);
            event.push(b.event.name());
        }
        query(
            client,
            "bind",
            sql::BIND,
            &[
                &store.program.as_str(),
                &customer,
                &conversion,
                &affiliate,
                &bound_s,
                &bound_ns,
                &expires_s,
                &expires_ns,
                &event,
            ],
        )
        .await?;
    }
    Ok(())
}
